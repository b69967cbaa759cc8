"""Executor memory on the Fashion-MNIST ResNet example: what the operator outputs and their
gradients take with one buffer each (as the executor did before it reused the memory of dead
values; ``DISTMOD_SHARE_MEMORY=0``) and with reuse, for training (backward keeps only what
the operators declare they read) and for inference; also the peak of every NumPy allocation
during bind + forward + backward (tracemalloc), both ways, measured in the same run.

Run: ``python bench/bench_memory.py [batch] [units_per_stage]`` (defaults 64 and 1)
"""
import os
import sys
import tracemalloc

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'examples'))
import distmod as mx  # noqa: E402
from distmod.executor import plan as _plan  # noqa: E402
from fashion_resnet import resnet  # noqa: E402


def measure(net, batch, for_training, share):
    _plan.SHARE_MEMORY = share
    tracemalloc.start()
    exe = net.simple_bind(mx.cpu(), grad_req='write' if for_training else 'null',
                          data=(batch, 1, 28, 28), softmax_label=(batch,))
    exe.arg_dict['data'][:] = np.random.rand(batch, 1, 28, 28)
    exe.forward(is_train=for_training)
    if for_training:
        exe.backward()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    plan = exe._plan
    return plan.bytes, plan.unshared_bytes, peak


def main():
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    units = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    net = resnet(units=units)
    mb = 1 / 2.0 ** 20
    print('ResNet (units per stage %d), batch %d: operator outputs and peak NumPy memory'
          % (units, batch))
    for for_training in (True, False):
        shared, unshared, peak_shared = measure(net, batch, for_training, True)
        _, _, peak_unshared = measure(net, batch, for_training, False)
        what = 'training ' if for_training else 'inference'
        print('  %s: outputs and gradients %6.1f MB reused vs %6.1f MB one buffer each '
              '(%.2fx less); peak %6.1f MB vs %6.1f MB (%.2fx)'
              % (what, shared * mb, unshared * mb, unshared / float(shared),
                 peak_shared * mb, peak_unshared * mb, peak_unshared / float(peak_shared)))
    _plan.SHARE_MEMORY = True


if __name__ == '__main__':
    main()
