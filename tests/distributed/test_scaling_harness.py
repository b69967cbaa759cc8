"""The many-host harness of bench/bench_scaling.py: namespaced hosts on one bridge whose links
tc shapes, and the alpha-beta model fitted to what they measure.  Skipped, with the reason,
where namespaces or tc are missing."""
import os
import socket
import subprocess
import sys

import pytest

from tests.distributed.netns import (many_hosts, netem_unavailable_reason,
                                     tc_unavailable_reason)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), 'bench'))
import bench_scaling  # noqa: E402

SINK = '''
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5601)); s.listen(1); c, _ = s.accept()
while c.recv(1 << 20):
    pass
'''
SOURCE = '''
import socket, sys, time
for _ in range(100):
    try:
        c = socket.create_connection((sys.argv[1], 5601)); break
    except OSError:
        time.sleep(0.05)
block = b"x" * (1 << 20); t = time.perf_counter()
for _ in range(int(sys.argv[2])):
    c.sendall(block)
c.close(); print("%.1f" % (int(sys.argv[2]) / (time.perf_counter() - t)))
'''


def _throughput_mb_s(h, src, dst, megabytes):
    sink = subprocess.Popen(h.wrap(dst, [sys.executable, '-c', SINK]), env=h.base_env())
    try:
        r = h.run_on(src, [sys.executable, '-c', SOURCE, h.ips[dst], str(megabytes)],
                     timeout=60)
    finally:
        sink.kill()
        sink.wait()
    assert r.returncode == 0, r.stderr
    return float(r.stdout.split()[-1])


def test_three_hosts_on_a_bridge_have_their_links_shaped():
    reason = tc_unavailable_reason()
    if reason:
        pytest.skip(reason)
    with many_hosts(3) as h:
        names = set(h.namespaces)
        assert h.bridge is not None
        # every host reaches every other one over the bridge, under its own hostname
        r = h.run_on(2, [sys.executable, '-c', 'import socket; print(socket.gethostname())'])
        assert r.stdout.strip() == h.hostnames[2]
        h.shape('1gbit')
        shaped = _throughput_mb_s(h, 0, 2, 60)
        assert 60 < shaped < 160, shaped            # 1 Gbit/s is 125 MB/s
        h.shape(None)
        assert _throughput_mb_s(h, 1, 0, 60) > 1.5 * shaped
        if netem_unavailable_reason():
            with pytest.raises(ValueError, match='netem'):
                h.shape('1gbit', delay_ms=2)
        bridge = h.bridge
    listed = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True).stdout
    assert not any(n in listed for n in names)
    assert not os.path.exists('/sys/class/net/' + bridge)


def test_the_alpha_beta_model_recovers_a_ring_allreduce_and_predicts_held_out_hosts():
    alpha, beta = 60e-6, 118e6
    rows = []
    for hosts in (2, 3, 4):
        times = {str(n * 4): bench_scaling.predict(alpha, beta, hosts, n * 4.0) * (1.03 if
                 hosts == 3 else 1.0) for n in bench_scaling.SIZES}
        rows.append({'hosts': hosts, 'rate': '1gbit',
                     'distmod': {'allreduce_s': times, 'compute_s': 0.05, 'step_s': 0.4}})
        rows.append({'hosts': hosts, 'rate': '10gbit',
                     'distmod': {'allreduce_s': {k: v / 8 for k, v in times.items()},
                                 'compute_s': 0.05, 'step_s': 0.1}})
    fitted = bench_scaling.model({'rows': rows})
    f = fitted['fits']['1gbit']
    assert abs(f['alpha_us'] - 60) < 1 and abs(f['beta_MBps'] - 118) < 0.5
    assert fitted['checks'] and all(abs(c['error'] + 0.03 / 1.03) < 1e-3
                                    for c in fitted['checks'] if c['rate'] == '1gbit')
    big = [e for e in fitted['extrapolation'] if e['rate'] == '1gbit' and e['hosts'] == 256
           and e['latency_ms'] == 0]
    # 2 x 255/256 x 44.4 MB at 118 MB/s is 0.75 s of allreduce against 0.05 s of compute
    assert 0.04 < big[0]['efficiency_no_overlap'] < 0.08
    assert big[0]['efficiency_overlap'] >= big[0]['efficiency_no_overlap']
    slower = [e for e in fitted['extrapolation'] if e['rate'] == '1gbit' and e['hosts'] == 256
              and e['latency_ms'] == 2.0]
    assert slower[0]['allreduce_s'] > big[0]['allreduce_s'] + 2 * 255 * 2e-3 * 0.99


def test_simulated_hosts_run_unbound_and_yield_when_they_outnumber_the_cores():
    assert bench_scaling.shared_core_options(2, cores=2) == ['--bind-to', 'none']
    assert bench_scaling.shared_core_options(4, cores=2) == [
        '--bind-to', 'none', '-x', 'OMPI_MCA_mpi_yield_when_idle=1']


def test_the_2bit_model_adds_the_codec_and_the_codes_reduction_to_the_compute():
    alpha, beta = 60e-6, 118e6
    codes = bench_scaling.code_bytes()
    rows = []
    for hosts in (2, 3, 4):
        times = {str(n * 4): bench_scaling.predict(alpha, beta, hosts, n * 4.0)
                 for n in bench_scaling.SIZES}
        # up to 5 hosts the codes are allgathered and every rank counts every rank's codes
        step = 0.05 + 0.02 + hosts * 0.002 + 0.004 + (hosts - 1) * (alpha + codes / beta)
        for rate in bench_scaling.RATES:
            rows.append({'hosts': hosts, 'rate': rate, 'distmod_2bit': step * 1.1,
                         'distmod': {'allreduce_s': times, 'compute_s': 0.05, 'step_s': 0.4,
                                     'encode_s': 0.02, 'count_s': 0.002, 'finish_s': 0.004}})
    fitted = bench_scaling.model({'rows': rows})
    # nothing of it is fitted: every measured layout is checked
    assert len(fitted['checks_2bit']) == 6
    assert all(abs(c['error'] + 0.1 / 1.1) < 1e-6 for c in fitted['checks_2bit'])
    # 44.7 MB of float32 gradients travel as 2.8 MB of codes
    assert abs(codes - 4 * bench_scaling.n_params() / 16) < 4
    e = {(x['hosts'], x['rate']): x for x in fitted['extrapolation'] if x['latency_ms'] == 0}
    assert e[(2, '1gbit')]['step_2bit_s'] < e[(2, '1gbit')]['step_no_overlap_s'] / 3
    # from 6 hosts each rank receives (p - 1) / p of the codes and of the one-byte counts:
    # the step stops growing with the hosts, well under the exact ring's
    n = bench_scaling.n_params()
    want = 0.05 + 0.02 + 0.002 + 0.004 + 2 * 63 * alpha + 63 / 64. * (codes + n) / beta
    assert abs(e[(64, '1gbit')]['step_2bit_s'] - want) < 1e-9
    # past 127 ranks a count takes two bytes
    want = 0.05 + 0.02 + 0.004 + 0.004 + 2 * 255 * alpha + 255 / 256. * (codes + 2 * n) / beta
    assert abs(e[(256, '1gbit')]['step_2bit_s'] - want) < 1e-9
    assert e[(256, '1gbit')]['step_2bit_s'] < e[(256, '1gbit')]['step_no_overlap_s'] / 2
