"""``mx.contrib.ndarray`` (``mx.contrib.nd``): the contrib operators on NDArrays, the same
functions as ``mx.nd.contrib`` (``mx.contrib.nd.box_nms``...)."""


def __getattr__(name):
    from ..ndarray import contrib
    try:
        return getattr(contrib, name)
    except AttributeError:
        raise AttributeError('mx.contrib.ndarray has no operator %r' % name) from None


def __dir__():
    from ..ndarray import contrib
    return sorted(n for n in vars(contrib) if not n.startswith('__'))
