"""Automatic names for symbols: ``fullyconnected0``, ``activation1``... and ``Prefix``."""
import threading

__all__ = ['NameManager', 'Prefix', 'current']

_local = threading.local()


class NameManager:
    """Gives each unnamed operator ``<hint><n>``, counting per hint; a ``with`` scope."""

    def __init__(self):
        self._counter = {}
        self._old = None

    def get(self, name, hint):
        if name:
            return name
        n = self._counter.get(hint, 0)
        self._counter[hint] = n + 1
        return '%s%d' % (hint, n)

    def __enter__(self):
        self._old = current()
        _local.value = self
        return self

    def __exit__(self, *exc):
        _local.value = self._old


class Prefix(NameManager):
    """Prefix every name made in its scope: ``with mx.name.Prefix('net_'):``."""

    def __init__(self, prefix):
        super().__init__()
        self._prefix = prefix

    def get(self, name, hint):
        return self._prefix + super().get(name, hint)


_global = NameManager()


def current():
    return getattr(_local, 'value', None) or _global
