"""``mx.AttrScope``: attributes given to every symbol created inside a ``with`` block."""
import threading

__all__ = ['AttrScope', 'current']

_local = threading.local()


class AttrScope:
    """Example: ``with mx.AttrScope(ctx_group='dev1'): fc = mx.sym.FullyConnected(...)``."""

    def __init__(self, **kwargs):
        for v in kwargs.values():
            if not isinstance(v, str):
                raise ValueError('attributes need to be strings')
        self._attr = kwargs
        self._old = None

    def get(self, attr):
        """The scope's attributes, overridden by ``attr``."""
        if not self._attr:
            return dict(attr) if attr else {}
        out = dict(self._attr)
        if attr:
            out.update(attr)
        return out

    def __enter__(self):
        self._old = current()
        merged = AttrScope(**self._old._attr) if self._old._attr else AttrScope()
        merged._attr.update(self._attr)
        _local.value = merged
        return self

    def __exit__(self, *exc):
        _local.value = self._old


_global = AttrScope()


def current():
    return getattr(_local, 'value', None) or _global
