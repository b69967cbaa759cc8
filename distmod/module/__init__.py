"""``mx.mod``: the Module family: BaseModule, Module, BucketingModule, SequentialModule,
PythonModule and PythonLossModule."""
from .base_module import BaseModule
from .module import Module
from .bucketing_module import BucketingModule
from .sequential_module import SequentialModule
from .python_module import PythonModule, PythonLossModule
from . import executor_group   # noqa: E402,F401  (mx.module.executor_group)
from .feedforward import FeedForward   # noqa: E402,F401  (mx.model.FeedForward)
