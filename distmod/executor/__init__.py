"""The executor: a symbol compiled once into a plan, run over preallocated buffers.

- :mod:`.plan`: the compile step (operator calls of forward and backward over fixed
  buffers, gradient-ready points, the order backward finishes gradients in);
- :mod:`.executor`: :class:`Executor` (MXNet's ``forward``/``backward``/dicts/``reshape``) and
  ``simple_bind``;
- :mod:`.group`: :class:`ExecutorGroup`, one executor per local device taking its slice of
  the batch, with the parameter gradients born in flat per-dtype buffers.

The executor reads the graph through :meth:`Symbol.graph` and knows nothing of modules or
kvstores.
"""
from .executor import Executor, simple_bind, bind_shapes_and_types
from .group import ExecutorGroup, DataParallelExecutorGroup, GradientBuffers, split_batch

__all__ = ['Executor', 'simple_bind', 'bind_shapes_and_types', 'ExecutorGroup',
           'DataParallelExecutorGroup', 'GradientBuffers', 'split_batch']
