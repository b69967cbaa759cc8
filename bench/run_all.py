"""Every speed figure in one run: each bench in its own subprocess, one after the other, then
one table of ratios (distmod against MXNet 1.9.1, PyTorch 2.13 and raw MPI) with the machine
it ran on.  The README's Performance section quotes this table.

Run: ``python bench/run_all.py [--quick]``  (``--quick``: skip the long LSTM and compression
benches).  Each bench's full output is kept in ``bench/last_run/NAME.txt``.
"""
import os
import platform
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NUM = r'([0-9.]+)'

# (bench, arguments, [(row label, regex with groups distmod, reference, ratio), ...],
#  reference name, goal)
BENCHES = [
    ('bench_mlp.py', [], [
        ('executor step, MLP batch 100', r'numpy step:\s+' + NUM + r' steps/s\n\s+distmod '
         r'executor step:\s+' + NUM + r' steps/s\n\s+ratio distmod/numpy:\s+' + NUM,
         'hand NumPy', '>= 0.85', (1, 0, 2))]),
    ('bench_module.py', [], [
        ('Module.%s, MLP batch 100' % w, r'  ' + w + r'\s+distmod\s+' + NUM +
         r'\s+mxnet 1.9.1\s+' + NUM + r'\s+ratio\s+' + NUM, 'MXNet 1.9.1', '', (0, 1, 2))
        for w in ('fit', 'predict', 'score')]),
    ('bench_torch.py', [], [
        ('%s fit, %d thread%s' % (m, t, 's' if t > 1 else ''),
         r'  ' + m + r'\s+batch\s+\d+, ' + str(t) + r' threads?\s+distmod\s+' + NUM +
         r'\s+torch\s+' + NUM + r'\s+ratio\s+' + NUM, 'PyTorch 2.13 eager',
         '>= 1.2' if m == 'mlp' else '>= 1.0', (0, 1, 2))
        for m in ('mlp', 'lenet') for t in (1, 2)]),
    ('bench_lenet.py', [], [
        ('LeNet fit, %d thread%s' % (t, 's' if t > 1 else ''),
         r'  ' + str(t) + r' threads?\s+distmod\s+' + NUM + r'\s+mxnet 1.9.1\s+' + NUM +
         r'\s+ratio\s+' + NUM, 'MXNet 1.9.1', '>= 1.0', (0, 1, 2)) for t in (1, 2)]),
    ('bench_convnet.py', ['default', '1'], [
        ('stochastic-depth convnet fit, %s threads' % t,
         r'threads ' + t + r'\s+distmod\s+' + NUM + r'\s+mxnet 1.9.1\s+' + NUM +
         r'\s+ratio\s+' + NUM, 'MXNet 1.9.1', '>= 1.0', (0, 1, 2)) for t in ('default', '1')]),
    ('bench_bucketing.py', [], [
        ('bucketing LSTM LM tokens/s', r'  distmod\s+' + NUM + r'\s+mxnet 1.9.1\s+' + NUM +
         r'\s+ratio\s+' + NUM, 'MXNet 1.9.1', '>= 1.0', (0, 1, 2))]),
    ('bench_dist.py', [], [
        ('allreduce %s (us)' % w, r'allreduce ' + w + r'\s+\d+ bytes: kvstore\s+' + NUM +
         r' us, raw mpi4py Allreduce\s+' + NUM + r' us, ratio ' + NUM, 'raw mpi4py',
         '<= 1.05', (0, 1, 2)) for w in ('mlp', '4M')] + [
        ('MLP fit 2 ranks vs 1 (samples/s)', r'1 rank ' + NUM + r' samples/s, 2 ranks ' + NUM +
         r' samples/s, scaling efficiency ' + NUM, '1 rank', '>= 0.9', (1, 0, 2)),
        ('MLP fit: 2 independent 1-rank fits at once vs 1 (the ceiling without communication)',
         r'fits at once ' + NUM + r' samples/s in all, efficiency ' + NUM, '1 rank', '',
         None),
        ('MLP fit 2 ranks vs PyTorch DDP 2 ranks', r'scaling ' + NUM +
         r'; distmod 2 ranks / torch 2 ranks = ' + NUM, 'DDP gloo', '', None)]),
    # root and network namespaces (else its rows say "not measured"); the ratio is how many
    # times faster distmod's step is than DDP's on the same shaped links
    ('bench_scaling.py', [], [
        ('ResNet-size step (s), %d hosts at %s' % (n, rate.replace('gbit', ' Gbit/s')),
         r'  %d hosts %s\s+distmod %s \(no overlap [0-9.]+, compute [0-9.]+\)\s+DDP %s\s+'
         r'distmod faster by %sx' % (n, rate, NUM, NUM, NUM), 'DDP gloo',
         '>= 1.3' if rate == '1gbit' else '', (0, 1, 2))
        for n in (2, 3, 4) for rate in ('1gbit', '10gbit')] + [
        # MXNet's 2bit compression against DDP's own (float16 gradients)
        ('ResNet-size step (s) with 2bit, %d hosts at %s' % (n, rate.replace('gbit', ' Gbit/s')),
         r'  %d hosts %s\s+compressed: distmod 2bit %s\s+DDP fp16 hook %s\s+distmod faster by '
         r'%sx' % (n, rate, NUM, NUM, NUM), 'DDP gloo fp16 hook', '', (0, 1, 2))
        for n in (2, 3, 4) for rate in ('1gbit', '10gbit')]),
]
QUICK_SKIP = {'bench_bucketing.py'}


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    import numpy
    return '%s, %d logical CPUs, Python %s, NumPy %s, %s' % (
        cpu, os.cpu_count() or 1, platform.python_version(), numpy.__version__,
        time.strftime('%Y-%m-%d'))


def run(name, args, quick):
    env = dict(os.environ)
    if quick:
        env['BENCH_QUICK'] = '1'
    t = time.time()
    proc = subprocess.run([sys.executable, os.path.join(HERE, name)] + args, cwd=HERE,
                          env=env, capture_output=True, text=True, timeout=3600)
    out = proc.stdout + ('\n' + proc.stderr if proc.returncode else '')
    os.makedirs(os.path.join(HERE, 'last_run'), exist_ok=True)
    with open(os.path.join(HERE, 'last_run', name.replace('.py', '.txt')), 'w') as f:
        f.write(out)
    print('ran %s in %.0f s%s' % (name, time.time() - t,
                                  '' if proc.returncode == 0 else ' (exit %d)' % proc.returncode),
          flush=True)
    return out


def rows_of(name, out, specs):
    rows = []
    for label, pattern, ref, goal, order in specs:
        m = re.search(pattern, out)
        if m is None:
            rows.append((label, '-', '-', ref, 'not measured (see bench/last_run/%s)'
                         % name.replace('.py', '.txt'), goal))
            continue
        g = m.groups()
        if order is None:               # only a ratio: distmod / reference
            rows.append((label, '', '', ref, g[-1], goal))
        else:
            rows.append((label, g[order[0]], g[order[1]], ref, g[order[2]], goal))
    return rows


def main():
    quick = '--quick' in sys.argv
    print('machine: %s' % machine(), flush=True)
    table = []
    for name, args, specs in BENCHES:
        if quick and name in QUICK_SKIP:
            continue
        table += rows_of(name, run(name, args, quick), specs)
    print()
    print('| what | distmod | reference | reference system | ratio | goal |')
    print('|---|---|---|---|---|---|')
    for label, ours, theirs, ref, ratio, goal in table:
        print('| %s | %s | %s | %s | %s | %s |' % (label, ours, theirs, ref, ratio, goal))


if __name__ == '__main__':
    main()
