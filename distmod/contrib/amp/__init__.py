"""``mx.contrib.amp``: automatic mixed precision (``from mxnet.contrib.amp import amp`` works)."""
from . import amp, lists          # noqa: F401
from .amp import *                # noqa: F401,F403
from .amp import __all__          # noqa: F401
