"""``mx.module.executor_group``: MXNet's home of ``DataParallelExecutorGroup`` (distmod's
``distmod.executor.ExecutorGroup``)."""
from ..executor.group import DataParallelExecutorGroup, ExecutorGroup, split_batch  # noqa: F401

__all__ = ['DataParallelExecutorGroup']
