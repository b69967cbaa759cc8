"""Module.fit samples/s against PyTorch 2.13's strongest plain eager loop on the same CPU,
same run: the MLP 784-128-64-10 at batch 100 and LeNet at batch 64 (as bench_lenet.py), SGD
lr 0.05 momentum 0.9, 6400 random MNIST-shaped samples, the best of 3 timed epochs after a
warm-up epoch, at 1 thread and at 2 (``OMP_NUM_THREADS`` and ``torch.set_num_threads``).

PyTorch's loop is written as one would to make it fast: the data as two tensors sliced per
batch (no DataLoader), ``zero_grad(set_to_none=True)``, accuracy summed on a tensor and read
once per epoch, ``torch.no_grad`` nowhere needed.  torch comes from its own venv, never the
project's (bench_ddp_torch.ensure_venv: /tmp/torch-venv, TORCH_VENV overrides).

Run: ``python bench/bench_torch.py [THREADS ...]`` (default: 1 2)
"""
import json
import os
import subprocess
import sys
import textwrap

from bench_ddp_torch import ensure_venv
from reference import ROOT

N, EPOCHS = 6400, 3
BATCH = {'mlp': 100, 'lenet': 64}

DISTMOD = textwrap.dedent('''
    import json, logging, sys, time
    import numpy as np
    import distmod as mx
    logging.disable(logging.CRITICAL)
    model, batch, n, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    gpu = len(sys.argv) > 6 and sys.argv[6] == 'gpu'
    rng = np.random.RandomState(0)
    shape = (784,) if model == 'mlp' else (1, 28, 28)
    x = rng.rand(n, *shape).astype(np.float32)
    y = rng.randint(0, 10, n).astype(np.float32)
    net = mx.sym.Variable('data')
    if model == 'mlp':
        for i, h in enumerate((128, 64)):
            net = mx.sym.Activation(mx.sym.FullyConnected(net, num_hidden=h), act_type='relu')
    else:
        for f in (20, 50):
            net = mx.sym.Convolution(net, kernel=(5, 5), num_filter=f)
            net = mx.sym.Activation(net, act_type='tanh')
            net = mx.sym.Pooling(net, pool_type='max', kernel=(2, 2), stride=(2, 2))
        net = mx.sym.Activation(mx.sym.FullyConnected(mx.sym.Flatten(net), num_hidden=500),
                                act_type='tanh')
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(net, num_hidden=10), name='softmax')
    mod = mx.mod.Module(net, context=mx.gpu(0) if gpu else mx.cpu())
    stamps = []
    def tick(*args):
        mx.nd.waitall()
        stamps.append(time.perf_counter())
    tick()
    mod.fit(mx.io.NDArrayIter(x, y, batch_size=batch), num_epoch=epochs + 1, optimizer='sgd',
            optimizer_params={'learning_rate': 0.05, 'momentum': 0.9},
            initializer=mx.init.Xavier(magnitude=2.0), epoch_end_callback=tick)
    res = {'sps': n / min(b - a for a, b in zip(stamps[1:], stamps[2:]))}
    if gpu:
        import cupy
        res['peak_bytes'] = cupy.get_default_memory_pool().total_bytes()
    print(json.dumps(res))
''')

TORCH = textwrap.dedent('''
    import json, sys, time
    import numpy as np
    import torch
    from torch import nn
    model, batch, n, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(int(sys.argv[5]))
    gpu = len(sys.argv) > 6 and sys.argv[6] == 'gpu'
    dev = torch.device('cuda:0' if gpu else 'cpu')
    sync = torch.cuda.synchronize if gpu else (lambda: None)
    rng = np.random.RandomState(0)
    shape = (784,) if model == 'mlp' else (1, 28, 28)
    x = torch.from_numpy(rng.rand(n, *shape).astype(np.float32)).to(dev)
    y = torch.from_numpy(rng.randint(0, 10, n).astype(np.int64)).to(dev)
    if model == 'mlp':
        net = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                            nn.Linear(64, 10))
    else:
        net = nn.Sequential(nn.Conv2d(1, 20, 5), nn.Tanh(), nn.MaxPool2d(2),
                            nn.Conv2d(20, 50, 5), nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(),
                            nn.Linear(800, 500), nn.Tanh(), nn.Linear(500, 10))
    net = net.to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for _ in range(epochs + 1):
        sync()
        t = time.perf_counter()
        correct = torch.zeros((), dtype=torch.int64, device=dev)
        for i in range(0, n - batch + 1, batch):
            xb, yb = x[i:i + batch], y[i:i + batch]
            out = net(xb)
            loss = loss_fn(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            correct += (out.argmax(1) == yb).sum()
        correct.item()
        sync()
        times.append(time.perf_counter() - t)
    res = {'sps': n / min(times[1:])}
    if gpu:
        res['peak_bytes'] = torch.cuda.max_memory_allocated(dev)
    print(json.dumps(res))
''')


def run_code(python, code, args, threads, distmod):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    env.pop('PYTHONPATH', None)
    if distmod:
        env['PYTHONPATH'] = ROOT
    out = subprocess.run([python, '-c', code] + [str(a) for a in args], env=env, check=True,
                         capture_output=True, text=True, timeout=1800).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(model, threads, torch_py):
    """(distmod samples/s, PyTorch samples/s) for ``model`` at ``threads``."""
    args = [model, BATCH[model], N, EPOCHS]
    ours = run_code(sys.executable, DISTMOD, args, threads, True)['sps']
    theirs = run_code(torch_py, TORCH, args + [threads], threads, False)['sps']
    return ours, theirs


def main():
    torch_py, reason = ensure_venv()
    if torch_py is None:
        print('skipped: %s' % reason)
        return
    threads = [int(t) for t in sys.argv[1:]] or [1, 2]
    print('Module.fit vs PyTorch 2.13 eager, %d samples/epoch, best of %d epochs (samples/s)'
          % (N, EPOCHS))
    for model in ('mlp', 'lenet'):
        for t in threads:
            ours, theirs = measure(model, t, torch_py)
            print('  %-5s batch %3d, %d thread%s  distmod %7.0f   torch %7.0f   ratio %.2f'
                  % (model, BATCH[model], t, ' ' if t == 1 else 's', ours, theirs,
                     ours / theirs), flush=True)


if __name__ == '__main__':
    main()
