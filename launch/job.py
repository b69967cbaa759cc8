"""The launcher owns its job: every process it starts ends with it, on every host.

``distmod-launch`` may die any way, SIGKILL included; then mpiexec (prterun and its prted
daemons), srun, and every rank with whatever it started end within a few seconds.  Four
mechanisms, each covering what the one before it cannot:

1. **Parent-death signal.**  mpiexec/srun (or, for one process, the rank wrapper) is started
   with ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` (Linux): when the launcher dies, the kernel
   sends it SIGTERM and it ends the job its own way.  Open MPI 5's prterun then tells the
   remote prted daemons to kill their ranks and exits (SIGKILL after about 1.5 s for a rank
   that ignores SIGTERM); measured 0.8 s for one rank on each of two hosts.
2. **The lifeline.**  The launcher listens on a TCP port (:class:`Lifeline`); every rank's
   wrapper (``launch.rank``) connects to it, using the addresses in ``DISTMOD_LIFELINE``
   (the ``--network-interface`` one first), and watches the connection from a thread
   (:func:`connect_lifeline`).  End of file: the launcher is gone, and the wrapper stops its
   command (SIGTERM, SIGKILL after :data:`LIFELINE_GRACE_S`).  A ``kill`` line: the
   launcher ends the job now (an attempt is over, or its stop timeout ran out), and the
   wrapper kills at once.  This reaches the ranks on every host whatever the MPI launcher
   does with its daemons; a wrapper that cannot connect (a firewall) keeps the others.
3. **The wrapper watches its parent**, the MPI daemon (prterun on the launcher's host,
   prted, hydra_pmi_proxy or slurmstepd elsewhere): once it is reparented its daemon is
   gone, and the rank goes too.  A SIGKILLed prterun leaves its local ranks running
   otherwise (measured), though its remote daemons notice and end theirs.
4. **The job's marker.**  Every process of the job carries ``DISTMOD_JOB_ID`` (one random
   id per ``distmod-launch``) and ``DISTMOD_RESTART`` (the attempt) in its environment, and
   so does whatever it starts, in any process group or session; a rank's command also
   carries ``DISTMOD_WRAPPER``, its wrapper's pid.  When an attempt ends the launcher ends
   whatever on its host still carries them; a wrapper whose lifeline breaks or whose daemon
   is gone does the same on its host (sparing its own ancestors, so that a local prterun
   can still end its remote daemons in order); a wrapper whose command ends ends what that
   command left behind; and a guard process forked by each wrapper (:func:`start_guard`)
   does that too once the wrapper is gone, even if it was SIGKILLed.  The scan is
   :func:`end_job_processes`, of ``/proc/*/environ``; "on this host" means in this
   process's network and UTS namespaces, so that simulated hosts on one machine stay apart.
"""
import errno
import shutil
import stat
import ipaddress
import os
import select
import signal
import socket
import sys
import threading
import time
import uuid

__all__ = ['JOB_ID', 'RESTART', 'LIFELINE', 'WRAPPER', 'LIFELINE_GRACE_S', 'new_job_id', 'parent_death_signal',
           'ancestors', 'job_processes', 'end_job_processes', 'sweep_mpi_session_dirs', 'group_processes', 'start_guard', 'Lifeline', 'lifeline_addresses',
           'connect_lifeline', 'lifeline_broken']

JOB_ID = 'DISTMOD_JOB_ID'
RESTART = 'DISTMOD_RESTART'
LIFELINE = 'DISTMOD_LIFELINE'
#: Set by each rank's wrapper for its command: the wrapper's pid, so that it can end what its
#: own rank left behind without touching the other ranks on the host.
WRAPPER = 'DISTMOD_WRAPPER'
#: How long a wrapper whose launcher is gone gives its command between SIGTERM and SIGKILL.
LIFELINE_GRACE_S = 2.0
HELLO = b'distmod-lifeline'
KILL = b'kill'
CONNECT_TIMEOUT_S = 1.5
PR_SET_PDEATHSIG = 1


def new_job_id():
    """A fresh random job id: 12 hex digits."""
    return uuid.uuid4().hex[:12]


def parent_death_signal(signum=signal.SIGTERM):
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets ``signum`` when this process
    dies (Linux ``PR_SET_PDEATHSIG``; kept across exec); None where that does not exist.

    The kernel sends it when the *thread* that forked the child ends, so start the child
    from the main thread.  A parent that died before the ``prctl`` took is caught too.
    """
    if not sys.platform.startswith('linux'):
        return None
    try:
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent, signum = os.getpid(), int(signum)

    def preexec():
        prctl(PR_SET_PDEATHSIG, signum)
        if os.getppid() != parent:
            os.kill(os.getpid(), signum)
    return preexec


# --- the process table ----------------------------------------------------------------------

def _namespaces(pid):
    try:
        return tuple(os.readlink('/proc/%s/ns/%s' % (pid, name)) for name in ('net', 'uts'))
    except OSError:
        return None


def _stat(pid):
    """``(state, ppid, pgrp)`` from ``/proc/PID/stat``, or None."""
    try:
        with open('/proc/%s/stat' % pid, 'rb') as f:
            fields = f.read().rpartition(b')')[2].split()
        return fields[0].decode(), int(fields[1]), int(fields[2])
    except (OSError, IndexError, ValueError):
        return None


def _pids():
    try:
        return [int(name) for name in os.listdir('/proc') if name.isdigit()]
    except OSError:
        return []


def ancestors():
    """PIDs of this process's parent, its parent's parent, and so on."""
    found, pid = [], os.getppid()
    while pid > 1 and pid not in found:
        found.append(pid)
        stat = _stat(pid)
        pid = stat[1] if stat is not None else 0
    return found


def job_processes(job_id, restart=None, wrapper=None, exclude=()):
    """PIDs of the live processes on this host whose environment carries
    ``DISTMOD_JOB_ID=job_id`` (and ``DISTMOD_RESTART=restart``, ``DISTMOD_WRAPPER=wrapper``
    unless None), this one and ``exclude`` excepted.  Empty where there is no ``/proc``."""
    marks = [('%s=%s' % (name, value)).encode()
             for name, value in ((JOB_ID, job_id), (RESTART, restart), (WRAPPER, wrapper)) if value is not None]
    me, mine, found = os.getpid(), _namespaces('self'), []
    for pid in _pids():
        if pid == me or pid in exclude:
            continue
        try:
            with open('/proc/%d/environ' % pid, 'rb') as f:
                items = f.read().split(b'\0')
        except OSError:
            continue
        if not all(mark in items for mark in marks):
            continue
        stat = _stat(pid)
        if stat is None or stat[0] in ('Z', 'X'):
            continue
        if mine is not None and _namespaces(pid) != mine:
            continue                # another (simulated) host's process
        found.append(pid)
    return found


def group_processes(pgrp):
    """PIDs of the live processes of process group ``pgrp``, this one excepted."""
    me, found = os.getpid(), []
    for pid in _pids():
        stat = _stat(pid) if pid != me else None
        if stat is not None and stat[2] == pgrp and stat[0] not in ('Z', 'X'):
            found.append(pid)
    return found


def _signal_all(pids, signum):
    for pid in pids:
        try:
            os.kill(pid, signum)
        except OSError:
            pass


def end_job_processes(job_id, restart=None, wrapper=None, grace=2.0, kill_now=False, exclude=()):
    """End the job's processes on this host (see :func:`job_processes`): SIGTERM, then SIGKILL
    for those left after ``grace`` seconds (at once with ``kill_now``).  Returns how many
    there were."""
    pids = job_processes(job_id, restart, wrapper, exclude)
    if not pids:
        return 0
    if not kill_now:
        _signal_all(pids, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and job_processes(job_id, restart, wrapper, exclude):
            time.sleep(0.05)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        left = job_processes(job_id, restart, wrapper, exclude)
        if not left:
            break
        _signal_all(left, signal.SIGKILL)
        time.sleep(0.05)
    return len(pids)


def start_guard(job_id, restart, wrapper):
    """Fork a guard for a rank: a process in a session of its own that waits for this one
    (the wrapper, pid ``wrapper``) to end, however it ends, SIGKILL included (an MPI daemon
    that loses its launcher kills its ranks so), then ends what the rank's command left
    behind (``DISTMOD_WRAPPER=wrapper``), and exits.  Call it before any thread starts.
    Returns the pipe end to keep open for as long as this process lives, or None (no /proc)."""
    if not os.path.isdir('/proc') or not hasattr(os, 'fork'):
        return None
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    if pid:
        os.close(read_end)
        return write_end
    try:                                    # the guard
        os.setsid()                         # out of the rank's process group, which is killed whole
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)               # holds none of the rank's output streams open
        os.closerange(3, read_end)
        os.closerange(read_end + 1, 65536)
        while True:
            try:
                if not os.read(read_end, 1):
                    break
            except InterruptedError:
                continue
            except OSError:
                break
        end_job_processes(job_id, restart, wrapper, grace=1.0)
    finally:
        os._exit(0)


# --- Open MPI's session directories ------------------------------------------------------

def _started_at(pid):
    """When process ``pid`` started (seconds since the epoch), or None if there is none."""
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            ticks = int(f.read().rpartition(b')')[2].split()[19])
        with open('/proc/stat', 'rb') as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith(b'btime '))
        return boot + ticks / os.sysconf('SC_CLK_TCK')
    except (OSError, IndexError, ValueError, StopIteration):
        return None


def _session_tmpdirs(env):
    """Where Open MPI 5's prterun makes its session directory: ``$TMPDIR`` (else ``$TEMP``,
    ``$TMP``), and ``/tmp``."""
    dirs = []
    for name in ('TMPDIR', 'TEMP', 'TMP'):
        if env.get(name):
            dirs.append(env[name])
            break
    dirs.append('/tmp')
    return list(dict.fromkeys(os.path.realpath(d) for d in dirs))


def sweep_mpi_session_dirs(env=None):
    """Remove the session directories that killed Open MPI 5 launchers left behind.

    prterun keeps its session in ``TMPDIR/ompi.PID`` (PID its own), with the PMIx rendezvous
    files ``pmix.HOST.tool.PID`` in it, and removes it when it ends, unless it is killed
    (SIGKILL, the OOM killer).  A later prterun that is given the same PID then finds the
    old files and stops at once: "The PMIx server's listener thread failed to start"
    (measured with Open MPI 5.0: reproduced every time by reusing the PID of a leftover).
    A directory is left over when it is ours, was made on this host, and its PID has no
    process, or has one that started after the directory was last changed (a reused PID).
    Returns the paths removed."""
    env = os.environ if env is None else env
    host, uid, removed = socket.gethostname(), os.getuid(), []
    for base in _session_tmpdirs(env):
        try:
            entries = list(os.scandir(base))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if not name.startswith('ompi.') or not name[5:].isdigit():
                continue
            try:
                st = entry.stat(follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid:
                    continue
                files = os.listdir(entry.path)
            except OSError:
                continue
            pid = int(name[5:])
            if files and not any(f.startswith('pmix.%s.' % host) for f in files):
                continue                # another host's (a shared /tmp), or not prterun's
            started = _started_at(pid)
            if started is not None and started <= st.st_mtime + 1.0:
                continue                # its prterun is running
            shutil.rmtree(entry.path, ignore_errors=True)
            if not os.path.exists(entry.path):
                removed.append(entry.path)
    return removed


# --- the lifeline -----------------------------------------------------------------------------

def _interface_addresses():
    """``[(interface, IPv4 address)]`` of this host (Linux's SIOCGIFADDR; empty elsewhere)."""
    try:
        import fcntl
        import struct
        names = [name for _, name in socket.if_nameindex()]
    except (ImportError, OSError, AttributeError):
        return []
    found = []
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for name in names:
            try:
                data = fcntl.ioctl(s.fileno(), 0x8915, struct.pack('256s', name.encode()[:15]))
            except OSError:
                continue
            found.append((name, socket.inet_ntoa(data[20:24])))
    finally:
        s.close()
    return found


def lifeline_addresses(network_interface=None, limit=6):
    """This host's IPv4 addresses for the other hosts to reach it by, best first: those on
    ``network_interface`` (an interface name or a CIDR), the host name's, the other
    interfaces', and last 127.0.0.1."""
    interfaces = _interface_addresses()
    preferred = []
    if network_interface:
        try:
            net = ipaddress.ip_network(network_interface, strict=False) if '/' in network_interface else None
        except ValueError:
            net = None
        preferred = [a for name, a in interfaces
                     if (net is not None and ipaddress.ip_address(a) in net) or name == network_interface]
    try:
        by_name = [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    except OSError:
        by_name = []
    ordered = []
    for address in preferred + by_name + [a for _, a in interfaces]:
        if address not in ordered and not address.startswith('127.'):
            ordered.append(address)
    return ordered[:limit - 1] + ['127.0.0.1']


def _keepalive(sock):
    """Notice a peer that vanished without closing (a host powered off) within about 30 s."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (('TCP_KEEPIDLE', 10), ('TCP_KEEPINTVL', 5), ('TCP_KEEPCNT', 3)):
            if hasattr(socket, name):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
    except OSError:
        pass


def _read_line(sock, limit=256):
    data = b''
    while not data.endswith(b'\n') and len(data) < limit:
        chunk = sock.recv(limit - len(data))
        if not chunk:
            break
        data += chunk
    return data.strip()


class Lifeline:
    """The launcher's end of the lifeline: a TCP port (all interfaces) that every rank's
    wrapper connects to and holds while its command runs.

    A wrapper says ``distmod-lifeline JOB_ID RESTART``; the launcher answers ``ok`` when that
    is this job's current attempt and keeps the connection, else ``kill``.  :meth:`cut` sends
    ``kill`` on every connection and closes it (the wrappers kill their commands) and admits
    the next attempt's; when the launcher dies, the kernel closes them all.
    """

    def __init__(self, job_id, network_interface=None):
        self.job_id = job_id
        self.restart = 0
        self._lock = threading.Lock()
        self._connections = []
        self._closed = False
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(('0.0.0.0', 0))
        self._sock.listen(1024)
        self.port = self._sock.getsockname()[1]
        self.addresses = lifeline_addresses(network_interface)
        threading.Thread(target=self._serve, name='distmod-lifeline', daemon=True).start()

    def environment(self):
        """``{'DISTMOD_LIFELINE': 'ADDRESS:PORT,...'}`` for the ranks."""
        return {LIFELINE: ','.join('%s:%d' % (address, self.port) for address in self.addresses)}

    def connected(self):
        """How many wrappers hold a connection now."""
        with self._lock:
            return len(self._connections)

    def _serve(self):
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError as e:
                if e.errno in (errno.EINTR, errno.ECONNABORTED, errno.EMFILE, errno.ENFILE):
                    time.sleep(0.05)
                    continue
                return              # closed
            try:
                conn.settimeout(2.0)
                words = _read_line(conn).split()
                with self._lock:
                    current = (not self._closed and len(words) == 3 and words[0] == HELLO
                               and words[1] == self.job_id.encode() and words[2] == str(self.restart).encode())
                    if current:
                        _keepalive(conn)
                        conn.sendall(b'ok\n')
                        conn.settimeout(None)
                        self._connections.append(conn)
                        continue
                if words[:2] == [HELLO, self.job_id.encode()]:
                    conn.sendall(KILL + b'\n')          # a wrapper of an attempt that is over
            except OSError:
                pass
            conn.close()

    def cut(self, next_restart=None):
        """Tell every connected wrapper to kill its command now, and close the connections;
        from now on only wrappers of attempt ``next_restart`` (when given) are admitted."""
        with self._lock:
            connections, self._connections = self._connections, []
            if next_restart is not None:
                self.restart = next_restart
        for conn in connections:
            try:
                conn.sendall(KILL + b'\n')
            except OSError:
                pass
            conn.close()

    def close(self):
        """:meth:`cut`, and stop listening."""
        with self._lock:
            self._closed = True
        self.cut()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()


def connect_lifeline(spec, job_id, restart, timeout=CONNECT_TIMEOUT_S):
    """The wrapper's end: a socket connected to the launcher at one of the ``ADDRESS:PORT``
    of ``spec`` (tried in order) and admitted; ``'kill'`` when the launcher says this
    attempt is over; None when none answers."""
    hello = b'%s %s %s\n' % (HELLO, str(job_id).encode(), str(restart).encode())
    for item in (spec or '').split(','):
        host, _, port = item.strip().rpartition(':')
        if not host or not port.isdigit():
            continue
        try:
            sock = socket.create_connection((host, int(port)), timeout=timeout)
        except OSError:
            continue
        try:
            sock.sendall(hello)
            reply = _read_line(sock)
        except OSError:
            reply = b''
        if reply == b'ok':
            sock.settimeout(None)
            _keepalive(sock)
            return sock
        sock.close()
        if reply == KILL:
            return 'kill'
    return None


def lifeline_broken(sock, timeout):
    """Wait up to ``timeout`` s on the lifeline: None while it holds, ``'gone'`` (end of
    file: the launcher died) or ``'kill'`` (the launcher ends the job)."""
    try:
        if not select.select([sock], [], [], timeout)[0]:
            return None
        data = sock.recv(64)
    except OSError:
        return 'gone'
    if not data:
        return 'gone'
    return 'kill' if KILL in data else None
