"""``mx.contrib``: MXNet 1.9's contributed pieces that Module-era programs use.

* ``mx.contrib.amp``: automatic mixed precision (``convert_symbol``, ``convert_model``,
  ``convert_bucketing_module``, ``init``...).
* ``mx.contrib.svrg_optimization``: ``SVRGModule``, a Module trained with SVRG.
* ``mx.contrib.symbol`` / ``mx.contrib.ndarray`` (``sym`` / ``nd``): the contrib operators,
  as in ``mx.sym.contrib`` / ``mx.nd.contrib``.
* ``mx.contrib.tensorboard``: ``LogMetricsCallback``.

Not in distmod (the names exist and say so when used): ``autograd`` (distmod has no
imperative autograd), ``quantization`` (INT8 graphs need MKL-DNN/cuDNN kernels), ``onnx`` (no
ONNX dependency), ``text`` (vocabularies and pretrained embeddings are downloaded data,
outside the Module API) and ``io`` (its DataLoaderIter wraps a Gluon DataLoader).
"""
import sys as _sys
import types as _types

from ..base import MXNetError as _MXNetError
from . import symbol, ndarray            # noqa: F401
from . import symbol as sym              # noqa: F401
from . import ndarray as nd              # noqa: F401
from . import tensorboard                # noqa: F401
from . import amp                        # noqa: F401
from . import svrg_optimization          # noqa: F401


class UnsupportedError(_MXNetError, AttributeError):
    """A piece of ``mx.contrib`` that distmod does not have."""


def _unsupported(name, why):
    module = _types.ModuleType('%s.%s' % (__name__, name),
                               'mx.contrib.%s: not in distmod (%s).' % (name, why))

    def __getattr__(attr):
        if attr.startswith('__'):
            raise AttributeError(attr)
        raise UnsupportedError('mx.contrib.%s.%s is not available in distmod: %s'
                               % (name, attr, why))
    module.__getattr__ = __getattr__
    _sys.modules[module.__name__] = module
    return module


autograd = _unsupported('autograd', 'distmod has no imperative autograd; train with the '
                                    'Module API (forward/backward/update)')
quantization = quant = _unsupported('quantization', 'INT8 quantized graphs need MKL-DNN or '
                                                    'cuDNN kernels; keep the float32 model')
onnx = _unsupported('onnx', 'distmod does not read or write ONNX; convert with MXNet 1.9 '
                            'and load its prefix-symbol.json / .params here')
text = _unsupported('text', 'vocabularies and pretrained embeddings are not part of distmod')
io = _unsupported('io', 'DataLoaderIter wraps a Gluon DataLoader, and distmod has no Gluon; '
                        'use mx.io iterators')
