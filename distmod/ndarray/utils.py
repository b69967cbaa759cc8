"""``mx.nd.save`` and ``mx.nd.load`` in MXNet's binary format (see distmod.serialization)."""
from ..base import MXNetError
from .. import serialization
from .ndarray import NDArray, array


def save(fname, data):
    """Save an NDArray, a list of them, or a dict name -> NDArray, in MXNet's format."""
    if isinstance(data, NDArray):
        data = [data]
    if isinstance(data, dict):
        bad = [k for k, v in data.items() if not isinstance(v, NDArray)]
        if bad:
            raise MXNetError('mx.nd.save: values of %s are not NDArrays' % bad)
        payload = {k: v.asnumpy() for k, v in data.items()}
    elif isinstance(data, (list, tuple)):
        if not all(isinstance(v, NDArray) for v in data):
            raise MXNetError('mx.nd.save: every element must be an NDArray')
        payload = [v.asnumpy() for v in data]
    else:
        raise MXNetError('mx.nd.save takes an NDArray, a list or a dict, not %s' % type(data))
    serialization.save_arrays(fname, payload)


def load(fname, ctx=None):
    """Load what ``mx.nd.save`` (ours or MXNet's) wrote: a list or a dict of NDArrays."""
    got = serialization.load_arrays(fname)
    if isinstance(got, dict):
        return {k: array(v, ctx=ctx, dtype=v.dtype) for k, v in got.items()}
    return [array(v, ctx=ctx, dtype=v.dtype) for v in got]
