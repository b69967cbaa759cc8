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
