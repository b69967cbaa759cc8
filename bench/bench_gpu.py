"""Module.fit samples/s on one GPU against PyTorch eager on the same GPU, same run (the lent
GPU machine: bench/gpu_check.sh).  bench_torch.py's two workloads with their device set to
GPU 0: the MLP 784-128-64-10 at batch 1024 and LeNet at batch 256, SGD momentum, the best of
3 timed epochs after a warm-up.  Also prints peak device memory (CuPy's pool against
torch.cuda.max_memory_allocated) and the GPU's utilisation during distmod's run, sampled by
nvidia-smi every 0.2 s.

Run: ``python bench/bench_gpu.py`` (torch from this interpreter: the device image has it)
"""
import json
import subprocess
import sys
import threading
import time

from bench_torch import DISTMOD, TORCH, run_code

N, EPOCHS, BATCH = 16384, 3, {'mlp': 1024, 'lenet': 256}


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
    threading.Thread(target=run, daemon=True).start()
    return samples, stop


def main():
    rows = []
    for model in ('mlp', 'lenet'):
        args = [model, BATCH[model], N, EPOCHS, 1, 'gpu']
        samples, stop = _util_sampler()
        ours = run_code(sys.executable, DISTMOD, args, 1, True)
        stop.set()
        theirs = run_code(sys.executable, TORCH, args, 1, False)
        util = sum(samples) / len(samples) if samples else float('nan')
        row = {'model': model, 'batch': BATCH[model], 'distmod': ours['sps'],
               'torch': theirs['sps'], 'ratio': ours['sps'] / theirs['sps'],
               'distmod_gpu_util_pct': util, 'distmod_peak_mb': ours['peak_bytes'] / 2 ** 20,
               'torch_peak_mb': theirs['peak_bytes'] / 2 ** 20}
        rows.append(row)
        print('%-6s batch %4d  distmod %9.0f  torch %9.0f samples/s  ratio %.2f  gpu util '
              '%.0f%%  peak MB distmod %.0f torch %.0f'
              % (model, row['batch'], row['distmod'], row['torch'], row['ratio'], util,
                 row['distmod_peak_mb'], row['torch_peak_mb']), flush=True)
    print(json.dumps(rows))


if __name__ == '__main__':
    main()
