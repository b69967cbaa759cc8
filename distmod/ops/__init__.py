"""The operator registry and every operator family (importing a family registers it).

``registry`` defines what an operator declares (see its docstring); ``infer`` runs shape and
type inference checked across a graph.  The families, one file each:

* ``nn``: FullyConnected, Activation, LeakyReLU, Dropout, Embedding, softmax, log_softmax,
  SoftmaxActivation;
* ``conv``: Convolution, Deconvolution, Pooling;
* ``norm``: BatchNorm, InstanceNorm, LayerNorm, GroupNorm, LRN, L2Normalization;
* ``image``: UpSampling, Pad, Crop;
* ``rnn``: the fused RNN and SequenceMask, SequenceLast, SequenceReverse;
* ``elemwise``: unary math (one implementation of the activations, shared with
  ``Activation``), same-shape and broadcasting binary operators, operators with a scalar,
  comparisons, clip, add_n;
* ``reduce``: sum, mean, max, min, prod, nansum, nanprod, norm;
* ``shape``: Flatten, Reshape, expand_dims, Concat, SliceChannel, slice, slice_axis,
  transpose, SwapAxis, Cast, zeros_like, ones_like, where, _zeros, reverse;
* ``linalg``: dot, batch_dot; ``lapack``: MXNet's ``linalg`` namespace (gemm, potrf, syevd...);
* ``loss``: SoftmaxOutput, the regression outputs, MakeLoss, make_loss, BlockGrad;
* ``random``: the samplers, _shuffle, _sample_multinomial.
"""
from .registry import (Param, Operator, Sample, InferError, register, get, find, all_ops,
                       all_names, REQUIRED, ALL)
from . import (nn, loss, shape, elemwise, reduce, linalg, rnn, norm, image, conv,   # noqa: F401
               random, spatial, sparse, contrib, custom, indexing, init, lapack,   # (registration)
               device)
