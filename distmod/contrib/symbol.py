"""``mx.contrib.symbol`` (``mx.contrib.sym``): the contrib operators as symbol functions, the
same functions as ``mx.sym.contrib`` (``mx.contrib.sym.MultiBoxPrior``...)."""


def __getattr__(name):
    from ..symbol import contrib
    try:
        return getattr(contrib, name)
    except AttributeError:
        raise AttributeError('mx.contrib.symbol has no operator %r' % name) from None


def __dir__():
    from ..symbol import contrib
    return sorted(n for n in vars(contrib) if not n.startswith('__'))
