"""distmod: MXNet's Module API, alive, on NumPy/CuPy and MPI.  ``import distmod as mx``."""
__version__ = '0.1.0'

from . import base
from .base import MXNetError
from . import _blas
try:            # NumPy's BLAS threads as MXNet sizes its pool (never an import error)
    _blas.apply_default()
except Exception:   # noqa: BLE001
    pass
from . import context
from .context import Context, cpu, gpu, cpu_pinned, current_context, num_gpus
from . import random
from . import ops
from . import name
from . import attribute
from .attribute import AttrScope
from . import ndarray
from . import ndarray as nd
from . import symbol
from . import symbol as sym
from . import executor
from .executor import Executor
from . import model
from . import io
from . import metric
from . import initializer
from . import initializer as init
from . import optimizer
from . import callback
from . import module
from . import module as mod
model.FeedForward = module.FeedForward    # MXNet's home of the older interface
from . import lr_scheduler
from . import monitor
from . import monitor as mon
from . import kvstore
from . import kvstore as kv
from . import rnn
from . import test_utils
from . import util
from .util import np_shape, is_np_shape, set_np_shape, use_np_shape
from . import operator
from . import contrib
from . import recordio
from . import image
from . import image as img
from . import profiler
from . import visualization
from . import visualization as viz
