"""What the benches that compare with real MXNet 1.9.1 share: where its venv is, and running
one workload under a given interpreter in a subprocess that prints one JSON line.

The MXNet venv comes from ../shared/anchors/mxnet-venv.sh; ``MXNET_VENV`` overrides
/tmp/mxnet-anchor.
"""
import json
import os
import subprocess
import sys

VENV_PY = os.path.join(os.environ.get('MXNET_VENV', '/tmp/mxnet-anchor'), 'bin', 'python')
ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))


def require_mxnet():
    """Exit with how to build it when the reference venv is missing."""
    if not os.path.exists(VENV_PY):
        sys.exit('reference MXNet venv not found at %s; build it with '
                 '../shared/anchors/mxnet-venv.sh' % VENV_PY)


def run_workload(python, code, threads=1, distmod=False, env=None, drop=(), timeout=1800):
    """Run ``code`` with ``python`` using ``threads`` BLAS/OpenMP threads; the last line it
    prints, as JSON.  ``distmod``: put this checkout first on PYTHONPATH; ``env`` adds
    variables, ``drop`` removes inherited ones."""
    full = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
                MKL_NUM_THREADS=str(threads), **(env or {}))
    for name in drop:
        full.pop(name, None)
    if distmod:
        full['PYTHONPATH'] = ROOT
    out = subprocess.run([python, '-c', code], env=full, check=True, capture_output=True,
                         text=True, timeout=timeout).stdout
    return json.loads(out.strip().splitlines()[-1])


#: The start of a workload on random MNIST-shaped data: {n} samples of 1x28x28 with labels
#: 0-9 in ``train``, an NDArrayIter of batch {batch}, and ``mx`` the library {module}.
RANDOM_MNIST = """
import json, logging, time
import numpy as np
import {module} as mx
logging.disable(logging.CRITICAL)
rng = np.random.RandomState(0)
x = rng.rand({n}, 1, 28, 28).astype(np.float32)
y = rng.randint(0, 10, {n}).astype(np.float32)
train = mx.io.NDArrayIter(x, y, batch_size={batch})
"""

#: The end of a workload that times ``mod.fit`` of ``net`` over ``train`` (both defined before
#: it, with ``mx``, ``json`` and ``time`` imported): {epochs} + 1 epochs of SGD momentum at
#: {lr}, the first a warm-up; prints samples/s of the best epoch ({n} samples per epoch).
TIMED_FIT = """
mod = mx.mod.Module(net, context=mx.cpu())
stamps = []
def tick(*args):
    mx.nd.waitall()
    stamps.append(time.perf_counter())
tick()
mod.fit(train, num_epoch={epochs} + 1, optimizer='sgd',
        optimizer_params={'learning_rate': {lr}, 'momentum': 0.9},
        initializer=mx.init.Xavier(magnitude=2.0), epoch_end_callback=tick)
times = [b - a for a, b in zip(stamps[1:], stamps[2:])]
print(json.dumps({'fit': {n} / min(times), 'epochs_s': times,
                  'warmup_s': stamps[1] - stamps[0]}))
"""
