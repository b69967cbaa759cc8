"""Module.fit samples/s on one GPU against PyTorch eager on the same GPU, same run (the lent
GPU machine: bench/gpu_check.sh).  MLP 784-128-64-10 at batch 1024 and LeNet at batch 256 on
random MNIST-shaped data, SGD momentum; the best of 3 timed epochs after a warm-up epoch.
PyTorch runs its strongest plain eager loop (tensors on the GPU, sliced per batch, accuracy on
the device).  Also prints peak device memory (CuPy's pool against
torch.cuda.max_memory_allocated) and the GPU's utilisation sampled by nvidia-smi.

Run: ``python bench/bench_gpu.py``
"""
import json
import subprocess
import threading
import time

import numpy as np

N, EPOCHS = 16384, 3


def _util_sampler():
    samples, stop = [], threading.Event()

    def run():
        while not stop.is_set():
            try:
                out = subprocess.run(['nvidia-smi', '--query-gpu=utilization.gpu',
                                      '--format=csv,noheader,nounits', '-i', '0'],
                                     capture_output=True, text=True, timeout=5).stdout
                samples.append(float(out.split()[0]))
            except Exception:
                return
            time.sleep(0.2)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return samples, stop


def _data(shape):
    rng = np.random.RandomState(0)
    return (rng.rand(N, *shape).astype(np.float32),
            rng.randint(0, 10, N).astype(np.float32))


def distmod_fit(model, batch):
    import cupy
    import distmod as mx
    shape = (784,) if model == 'mlp' else (1, 28, 28)
    x, y = _data(shape)
    data = mx.sym.Variable('data')
    if model == 'mlp':
        net = mx.sym.FullyConnected(data, num_hidden=128)
        net = mx.sym.Activation(net, act_type='relu')
        net = mx.sym.FullyConnected(net, num_hidden=64)
        net = mx.sym.Activation(net, act_type='relu')
    else:
        net = mx.sym.Convolution(data, kernel=(5, 5), num_filter=20)
        net = mx.sym.Activation(net, act_type='tanh')
        net = mx.sym.Pooling(net, pool_type='max', kernel=(2, 2), stride=(2, 2))
        net = mx.sym.Convolution(net, kernel=(5, 5), num_filter=50)
        net = mx.sym.Activation(net, act_type='tanh')
        net = mx.sym.Pooling(net, pool_type='max', kernel=(2, 2), stride=(2, 2))
        net = mx.sym.FullyConnected(mx.sym.Flatten(net), num_hidden=500)
        net = mx.sym.Activation(net, act_type='tanh')
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(net, num_hidden=10), name='softmax')
    mod = mx.mod.Module(net, context=mx.gpu(0))
    stamps = []

    def tick(*args):
        mx.nd.waitall()
        stamps.append(time.perf_counter())
    tick()
    mod.fit(mx.io.NDArrayIter(x, y, batch_size=batch), num_epoch=EPOCHS + 1,
            optimizer='sgd', optimizer_params={'learning_rate': 0.05, 'momentum': 0.9},
            initializer=mx.init.Xavier(), epoch_end_callback=tick)
    best = min(b - a for a, b in zip(stamps[1:], stamps[2:]))
    return N / best, cupy.get_default_memory_pool().total_bytes()


def torch_fit(model, batch):
    import torch
    from torch import nn
    dev = torch.device('cuda:0')
    shape = (784,) if model == 'mlp' else (1, 28, 28)
    x, y = _data(shape)
    x, y = torch.from_numpy(x).to(dev), torch.from_numpy(y).long().to(dev)
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
    torch.cuda.reset_peak_memory_stats(dev)
    times = []
    for _ in range(EPOCHS + 1):
        torch.cuda.synchronize()
        t = time.perf_counter()
        correct = torch.zeros((), device=dev)
        for i in range(0, N - batch + 1, batch):
            xb, yb = x[i:i + batch], y[i:i + batch]
            out = net(xb)
            loss = loss_fn(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            correct += (out.argmax(1) == yb).sum()
        correct.item()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return N / min(times[1:]), torch.cuda.max_memory_allocated(dev)


def main():
    rows = []
    for model, batch in (('mlp', 1024), ('lenet', 256)):
        samples, stop = _util_sampler()
        ours, our_mem = distmod_fit(model, batch)
        stop.set()
        util = float(np.mean(samples)) if samples else float('nan')
        theirs, their_mem = torch_fit(model, batch)
        rows.append({'model': model, 'batch': batch, 'distmod': ours, 'torch': theirs,
                     'ratio': ours / theirs, 'distmod_gpu_util_pct': util,
                     'distmod_peak_mb': our_mem / 2 ** 20,
                     'torch_peak_mb': their_mem / 2 ** 20})
        print('%-6s batch %4d  distmod %9.0f  torch %9.0f samples/s  ratio %.2f  '
              'gpu util %.0f%%  peak MB distmod %.0f torch %.0f'
              % (model, batch, ours, theirs, ours / theirs, util, our_mem / 2 ** 20,
                 their_mem / 2 ** 20), flush=True)
    print(json.dumps(rows))


if __name__ == '__main__':
    main()
