"""One door to the other ranks: a trace of ``fit`` on N ranks finds every MPI call made from
``kvstore/``, reached from the module layer through ``distmod/kvstore.py`` and no other route.

The store is given a communicator that records the Python stack of every call made on it
(and on the communicators it duplicates); mpi4py's methods are not visible to
``sys.setprofile``.  That nothing else imports mpi4py is tests/test_layering.py's part.
"""
import os
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.mpi(min_size=2)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _project_chain(frame):
    """The project files on the stack, innermost first (relative to the checkout)."""
    out = []
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if path.startswith(ROOT + os.sep) and os.sep + 'tests' + os.sep not in path and \
                'site-packages' not in path:
            rel = os.path.relpath(path, ROOT).replace(os.sep, '/')
            if not out or out[-1] != rel:
                out.append(rel)
        frame = frame.f_back
    return out


def test_a_fit_step_reaches_mpi_only_through_the_kvstore():
    import distmod as mx
    rng = np.random.RandomState(0)
    x = rng.rand(64, 6).astype(np.float32)
    y = (x.sum(1) > 3).astype(np.float32)
    data = mx.sym.Variable('data')
    net = mx.sym.FullyConnected(data, num_hidden=8, name='fc1')
    net = mx.sym.BatchNorm(net, name='bn')
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(net, num_hidden=2, name='fc2'),
                               name='softmax')
    from mpi4py import MPI
    import kvstore
    chains = []

    class Recording:
        def __init__(self, comm):
            self._comm = comm

        def __getattr__(self, name):
            attr = getattr(self._comm, name)
            if not callable(attr):
                return attr

            def call(*args, **kwargs):
                chains.append((name, _project_chain(sys._getframe(1))))
                out = attr(*args, **kwargs)
                return Recording(out) if isinstance(out, MPI.Comm) else out
            return call
    kv = mx.kv.KVStore(kvstore.create('dist_sync', comm=Recording(MPI.COMM_WORLD)))
    mod = mx.mod.Module(net)
    mod.fit(mx.io.NDArrayIter(x, y, batch_size=8), eval_data=mx.io.NDArrayIter(x, y, 8),
            num_epoch=1, kvstore=kv, optimizer_params={'learning_rate': 0.1})
    calls = {name for name, _ in chains}
    # parameter broadcast, gradients, aux averaging, "every rank has a batch", metric sums
    # (the watchdog waits for the non-blocking forms; the gradient buckets' blocking calls
    # run behind its gate: on one host, kvstore/shm.py's barriers around sums in shared
    # memory, on a host communicator split from the store's; else MPI's Allreduce)
    assert {'Ibcast', 'Iallgather', 'Ibarrier'} <= calls, calls
    assert {'Split_type', 'Barrier'} <= calls or 'Allreduce' in calls, calls
    from_module = 0
    for name, chain in chains:
        assert chain and chain[0].startswith('kvstore/'), (name, chain)
        distmod_files = [f for f in chain if f.startswith('distmod/')]
        if any(f.startswith('distmod/module/') for f in distmod_files):
            from_module += 1
            # the first distmod frame above kvstore/ is the mx.kv face
            assert distmod_files[0] == 'distmod/kvstore.py', (name, chain)
    assert from_module >= 5, chains
    if os.environ.get("SHOW_TRACE"):
        print(sorted({(n, tuple(c[:3])) for n, c in chains}))
