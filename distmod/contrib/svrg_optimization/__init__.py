"""``mx.contrib.svrg_optimization``: SVRG (stochastic variance-reduced gradient) training for
the Module API, as MXNet 1.9's: ``svrg_module.SVRGModule`` and ``svrg_optimizer``."""
from . import svrg_module, svrg_optimizer     # noqa: F401
from .svrg_module import SVRGModule           # noqa: F401
