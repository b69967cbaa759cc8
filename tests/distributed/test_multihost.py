"""One MPI rank on each of two simulated hosts (network namespaces), Open MPI over an rsh agent."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.distributed.netns import (netns_unavailable_reason, openmpi_flags, two_hosts,
                              BIN_DIR)

_REASON = netns_unavailable_reason()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=str(_REASON))

SCRIPT = textwrap.dedent("""
    import os, socket
    import numpy as np
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    a = np.arange(10, dtype=np.float64) * (rank + 1)
    out = np.empty_like(a)
    comm.Allreduce(a, out, op=MPI.SUM)
    print("RESULT rank=%d size=%d host=%s omp=%s sum=%s" % (
        rank, size, socket.gethostname(), os.environ.get("OMP_NUM_THREADS"),
        ",".join(repr(float(x)) for x in out)), flush=True)
""")


def _parse(stdout):
    rows = []
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            rows.append(dict(kv.split("=", 1) for kv in line.split()[1:]))
    return rows


def test_allreduce_across_two_namespaced_hosts():
    mpiexec = os.path.join(BIN_DIR, "mpiexec")
    if not os.path.exists(mpiexec):
        pytest.skip("no mpiexec next to %s" % sys.executable)
    # a dead second network on both hosts: the run only passes if the
    # interface-pinning flags keep MPI traffic on the veth subnet
    with two_hosts(decoy_subnet="10.231.8.0/24") as h:
        script = os.path.join(h.tmpdir, "allreduce.py")
        with open(script, "w") as f:
            f.write(SCRIPT)
        argv = ([mpiexec, "-n", "2", "-H", "%s:1,%s:1" % h.hostnames]
                + openmpi_flags(h.agent, h.cidr)
                + [sys.executable, script])
        try:
            r = h.run_on_a(argv, env={"OMP_NUM_THREADS": "1"}, timeout=90)
        except subprocess.TimeoutExpired as e:
            pytest.fail("mpiexec timed out after %ss\nstdout:\n%s\nstderr:\n%s"
                        % (e.timeout, e.output, e.stderr))
        msg = "argv: %s\nrc=%s\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(argv), r.returncode, r.stdout, r.stderr)
        assert r.returncode == 0, msg
        rows = sorted(_parse(r.stdout), key=lambda d: int(d["rank"]))
        assert [d["rank"] for d in rows] == ["0", "1"], msg
        assert all(d["size"] == "2" for d in rows), msg
        hosts = [d["host"] for d in rows]
        assert len(set(hosts)) == 2, msg
        assert set(hosts) == set(h.hostnames), msg
        assert all(d["omp"] == "1" for d in rows), msg
        expected = np.arange(10, dtype=np.float64) * (1 + 2)
        for d in rows:
            got = np.array([float(x) for x in d["sum"].split(",")])
            np.testing.assert_array_equal(got, expected, err_msg=msg)
        assert h.pids() == [], "processes left in the namespaces: %s" % h.pids()
    # two_hosts() cleaned up after itself
    r = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, text=True)
    assert not any(ns in r.stdout.split() for ns in h.namespaces), r.stdout
    assert not any(os.path.exists(os.path.join("/etc/netns", ns)) for ns in h.namespaces)
    assert not os.path.exists(h.tmpdir)


TRAIN = textwrap.dedent("""
    import hashlib, socket
    import numpy as np
    import distmod as mx
    from kvstore import buckets
    pieces = []                                   # the ring's message sizes between hosts
    real_ring = buckets.ring_allreduce
    buckets.ring_allreduce = lambda c, a, s=None, piece=0: pieces.append(piece) or real_ring(
        c, a, s, piece=piece)
    kv = mx.kv.create('dist_sync')
    mx.random.seed(kv.rank)                       # replicas start apart; rank 0's params win
    rng = np.random.RandomState(0)
    x = rng.rand(400, 8).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 1).astype(np.float32)
    data = mx.sym.Variable('data')
    net = mx.sym.FullyConnected(data, num_hidden=16, name='fc1')
    net = mx.sym.Activation(net, act_type='tanh')
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(net, num_hidden=2, name='fc2'),
                               name='softmax')
    mod = mx.mod.Module(net)
    mod.fit(mx.io.NDArrayIter(x, y, batch_size=20, shuffle=True), num_epoch=25, kvstore=kv,
            optimizer='sgd', optimizer_params={'learning_rate': 0.2, 'momentum': 0.9})
    arg, _ = mod.get_params()
    digest = hashlib.sha256(b''.join(arg[k].asnumpy().tobytes() for k in sorted(arg)))
    acc = mod.score(mx.io.NDArrayIter(x, y, batch_size=20), 'acc')[0][1]
    print('TRAINED rank=%d host=%s params=%s acc=%.3f pieces=%s' % (
        kv.rank, socket.gethostname(), digest.hexdigest(), acc, sorted(set(pieces))), flush=True)
""")


def test_training_across_two_hosts_through_distmod_launch_gives_identical_replicas():
    if not os.path.exists(os.path.join(BIN_DIR, "mpiexec")):
        pytest.skip("no mpiexec next to %s" % sys.executable)
    with two_hosts(decoy_subnet="10.231.8.0/24") as h:
        script = os.path.join(h.tmpdir, "train.py")
        with open(script, "w") as f:
            f.write(TRAIN)
        argv = [sys.executable, "-m", "launch", "-n", "2", "-H", "%s:1,%s:1" % h.hostnames,
                "--rsh-agent", h.agent, "--network-interface", h.cidr,
                "--bind-to", "none",        # the two "hosts" share this machine's cores
                # every float bucket round the ring, in messages of 4 floats between the hosts
                "-x", "DISTMOD_RING_BYTES=1", "-x", "DISTMOD_RING_PIECE_BYTES=16",
                sys.executable, script]
        try:
            r = h.run_on_a(argv, timeout=120)
        except subprocess.TimeoutExpired as e:
            pytest.fail("distmod-launch timed out after %ss\nstdout:\n%s\nstderr:\n%s"
                        % (e.timeout, e.output, e.stderr))
        msg = "argv: %s\nrc=%s\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(argv), r.returncode, r.stdout, r.stderr[-4000:])
        assert r.returncode == 0, msg
        rows = [dict(kv.split("=", 1) for kv in line.split()[1:])
                for line in r.stdout.splitlines() if line.startswith("TRAINED ")]
        assert sorted(d["rank"] for d in rows) == ["0", "1"], msg
        assert {d["host"] for d in rows} == set(h.hostnames), msg
        assert rows[0]["params"] == rows[1]["params"], msg       # bit-identical replicas
        assert float(rows[0]["acc"]) > 0.9, msg
        assert rows[0]["pieces"] == rows[1]["pieces"] == "[4]", msg
