"""``_CrossDeviceCopy``: the copy the executor inserts where a graph crosses devices.

Model parallelism (``ctx_group`` attributes with ``group2ctx``) places operators on several
contexts; where an operator reads a value made on another context, the executor's placement
puts this copy in between, as MXNet does.  Forward copies the value to the consumer's device,
backward copies the gradient back.
"""
from .registry import Operator, Sample, register


def copy_across(dst, src):
    """``dst[...] = src`` between any two of: NumPy arrays, CuPy arrays on any devices."""
    src_host = not hasattr(src, 'device') or type(src).__module__.startswith('numpy')
    dst_host = not hasattr(dst, 'device') or type(dst).__module__.startswith('numpy')
    if src_host and dst_host:
        dst[...] = src
    elif dst_host:
        src.get(out=dst)
    elif src_host:
        dst.set(src)
    elif src.device == dst.device:
        dst[...] = src
    else:
        dst.data.copy_from_device(src.data, src.nbytes)


@register
class CrossDeviceCopy(Operator):
    """Copy ``data`` to this node's device (the executor places it); the gradient goes back."""
    name = '_CrossDeviceCopy'
    retain_inputs = retain_outputs = ()
    samples = (Sample({}, {'data': (2, 3)}),)

    def forward(self, xp, ins, outs, aux, is_train):
        copy_across(outs[0], ins[0])

    def backward(self, xp, ograds, ins, outs, igrads, aux):
        if igrads[0] is not None:
            copy_across(igrads[0], ograds[0])
