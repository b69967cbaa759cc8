"""Peer benchmark for distmod data-parallel training: the same MLP job in PyTorch DDP.

What it measures
----------------
Training throughput (samples/s summed over ranks) of PyTorch DistributedDataParallel,
gloo backend, CPU only, with 1 rank and with 2 ranks, 1 thread per rank
(``torch.set_num_threads(1)`` and ``OMP_NUM_THREADS=1`` in every rank).  The job mirrors
distmod's data-parallel MLP benchmark:

* MLP 784-128-64-10 (Linear+ReLU, Linear+ReLU, Linear), softmax cross-entropy loss;
* SGD, lr 0.05, momentum 0.9;
* 12,000 random MNIST-shaped float32 samples from ``np.random.RandomState(0)``, labels
  ``randint(0, 10)``; each of the N ranks trains on its own shard of 12000/N samples with
  a batch of 100 per rank per step (Horovod-style: the global batch is 100*N);
* 1 warm-up epoch, then 2 timed epochs.  Rank 0 times the 2 epochs, with a barrier before
  starting and before stopping the clock; samples/s = samples processed by all ranks /
  rank 0's wall time.  ``scaling`` = sps(2 ranks) / (2 * sps(1 rank)), 1.0 being linear.

Ranks are started with ``torch.multiprocessing.spawn``, rendezvous via ``env://`` with
MASTER_ADDR=127.0.0.1 and a free MASTER_PORT.

Where torch comes from
----------------------
The project venv must not get torch, so the workload runs in a separate venv:
``/tmp/torch-venv`` by default (set ``TORCH_VENV`` to use another path).  If that venv has
no importable torch, the script creates it with ``python3 -m venv <path>`` and then
``<path>/bin/pip install torch==2.13.0 numpy`` (the pinned version is the CPU wheel; do not
install unpinned ``torch``, which pulls a multi-GB CUDA build).  If that fails, the script
prints ``skipped: <reason>`` and exits 0.  This script then re-runs itself under the
venv's interpreter (``--worker N``) once per world size and reads back one JSON line.

Run
---
    python bench/bench_ddp_torch.py

Output: a JSON line ``{"torch_ddp": {"1": sps1, "2": sps2, "scaling": sps2/(2*sps1)}}``
followed by a human-readable line.  Other bench scripts can ``import bench_ddp_torch`` and
call ``measure(ranks_list=(1, 2))``; importing this module does not import torch (the
importing interpreter never needs it).  ``measure`` returns ``{"torch_ddp": {...}}`` or
``{"skipped": reason}``.
"""
import json
import os
import socket
import subprocess
import sys
import time

HERE = os.path.abspath(__file__)
DEFAULT_VENV = '/tmp/torch-venv'
TORCH_PIN = 'torch==2.13.0'

N_SAMPLES, N_FEATURES, N_CLASSES = 12000, 784, 10
BATCH_PER_RANK = 100
WARMUP_EPOCHS, TIMED_EPOCHS = 1, 2
LR, MOMENTUM = 0.05, 0.9
RESULT_TAG = 'DDP_RESULT '


# --------------------------------------------------------------------------- venv handling

def venv_dir():
    return os.environ.get('TORCH_VENV', DEFAULT_VENV)


def venv_python(venv=None):
    return os.path.join(venv or venv_dir(), 'bin', 'python')


def _has_torch(py):
    if not os.path.exists(py):
        return False
    r = subprocess.run([py, '-c', 'import torch, numpy'], capture_output=True)
    return r.returncode == 0


def ensure_venv():
    """Return (python_path, None) for a venv with torch+numpy, or (None, reason)."""
    venv = venv_dir()
    py = venv_python(venv)
    if _has_torch(py):
        return py, None
    try:
        if not os.path.exists(py):
            r = subprocess.run(['python3', '-m', 'venv', venv], capture_output=True, text=True)
            if r.returncode != 0:
                return None, 'python3 -m venv %s failed: %s' % (venv, r.stderr.strip()[-300:])
        r = subprocess.run([py, '-m', 'pip', 'install', '-q', TORCH_PIN, 'numpy'],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return None, 'pip install %s numpy failed: %s' % (TORCH_PIN,
                                                             r.stderr.strip()[-300:])
    except OSError as e:
        return None, 'could not create venv %s: %s' % (venv, e)
    if not _has_torch(py):
        return None, 'torch still not importable in %s' % venv
    return py, None


# --------------------------------------------------------------------------- worker side
# Everything below that touches torch runs only inside the venv interpreter (--worker).

def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _rank_main(rank, world, port, queue):
    os.environ['OMP_NUM_THREADS'] = '1'
    os.environ['MASTER_ADDR'] = '127.0.0.1'
    os.environ['MASTER_PORT'] = str(port)
    import numpy as np
    import torch
    import torch.distributed as dist
    import torch.nn as nn
    from torch.nn.parallel import DistributedDataParallel as DDP

    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method='env://', rank=rank, world_size=world)

    rs = np.random.RandomState(0)
    data = rs.rand(N_SAMPLES, N_FEATURES).astype(np.float32)
    labels = rs.randint(0, N_CLASSES, size=N_SAMPLES).astype(np.int64)
    shard = N_SAMPLES // world
    x = torch.from_numpy(data[rank * shard:(rank + 1) * shard].copy())
    y = torch.from_numpy(labels[rank * shard:(rank + 1) * shard].copy())
    steps = shard // BATCH_PER_RANK

    torch.manual_seed(0)  # same init on every rank (DDP also broadcasts rank 0's params)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(),
                          nn.Linear(128, 64), nn.ReLU(),
                          nn.Linear(64, 10))
    ddp = DDP(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = nn.CrossEntropyLoss()

    def epoch():
        loss = None
        for i in range(steps):
            xb = x[i * BATCH_PER_RANK:(i + 1) * BATCH_PER_RANK]
            yb = y[i * BATCH_PER_RANK:(i + 1) * BATCH_PER_RANK]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(ddp(xb), yb)
            loss.backward()
            opt.step()
        return loss

    for _ in range(WARMUP_EPOCHS):
        epoch()
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(TIMED_EPOCHS):
        loss = epoch()
    dist.barrier()
    elapsed = time.perf_counter() - t0
    if rank == 0:
        total = world * steps * BATCH_PER_RANK * TIMED_EPOCHS
        queue.put({'world': world, 'samples': total, 'seconds': elapsed,
                   'sps': total / elapsed, 'final_loss': float(loss)})
    dist.destroy_process_group()


def _worker(world):
    os.environ['OMP_NUM_THREADS'] = '1'
    import torch
    import torch.multiprocessing as mp
    torch.set_num_threads(1)
    ctx = mp.get_context('spawn')
    queue = ctx.SimpleQueue()
    mp.spawn(_rank_main, args=(world, _free_port(), queue), nprocs=world, join=True)
    res = queue.get()
    res['torch'] = torch.__version__
    print(RESULT_TAG + json.dumps(res), flush=True)


# --------------------------------------------------------------------------- driver side

def _run_world(py, world, timeout=900):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    r = subprocess.run([py, HERE, '--worker', str(world)], capture_output=True, text=True,
                       env=env, timeout=timeout)
    for line in r.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):]), None
    return None, 'worker for %d rank(s) failed (rc %d): %s' % (
        world, r.returncode, (r.stderr or r.stdout).strip()[-500:])


def measure(ranks_list=(1, 2)):
    """Run the DDP job for each world size in ranks_list inside the torch venv.

    Returns {"torch_ddp": {"1": sps, "2": sps, ..., "scaling": sps2/(2*sps1)}} (scaling only
    when 1 and 2 were both measured), or {"skipped": reason} if torch is unavailable.
    """
    py, why = ensure_venv()
    if py is None:
        return {'skipped': why}
    out = {}
    for world in ranks_list:
        try:
            res, err = _run_world(py, world)
        except subprocess.TimeoutExpired:
            res, err = None, 'worker for %d rank(s) timed out' % world
        if res is None:
            return {'skipped': err}
        out[str(world)] = round(res['sps'], 1)
    if '1' in out and '2' in out:
        out['scaling'] = round(out['2'] / (2 * out['1']), 3)
    return {'torch_ddp': out}


def main():
    t0 = time.time()
    res = measure()
    if 'skipped' in res:
        print('skipped: %s' % res['skipped'])
        return 0
    print(json.dumps(res))
    r = res['torch_ddp']
    print('torch DDP (gloo, CPU, 1 thread/rank) MLP 784-128-64-10, batch %d/rank: '
          '1 rank %.0f samples/s, 2 ranks %.0f samples/s, scaling %.2f  (%.0f s total)'
          % (BATCH_PER_RANK, r.get('1', float('nan')), r.get('2', float('nan')),
             r.get('scaling', float('nan')), time.time() - t0))
    return 0


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--worker':
        _worker(int(sys.argv[2]))
    else:
        sys.exit(main())
