"""Per-rank wrapper: ``python -m launch.rank [--tag-output] [--verbose] [--direct] -- COMMAND [ARGS...]``.

``distmod-launch`` starts every rank through this wrapper.  It runs COMMAND as a child
process with the same environment (so MPI/PMIx variables reach it and ``MPI_Init`` works as
usual) plus torchrun's names for where the rank stands::

    RANK  LOCAL_RANK  WORLD_SIZE  LOCAL_WORLD_SIZE

taken from Open MPI's OMPI_COMM_WORLD_{RANK,LOCAL_RANK,SIZE,LOCAL_SIZE}, MPICH/Hydra's and
Intel MPI's PMI_RANK, MPI_LOCALRANKID, PMI_SIZE, MPI_LOCALNRANKS, Slurm's SLURM_PROCID,
SLURM_LOCALID, SLURM_STEP_NUM_TASKS and SLURM_STEP_TASKS_PER_NODE (SLURM_NTASKS and
SLURM_TASKS_PER_NODE outside a step), or PMIX_RANK alone (a value no launcher gives is left
unset).  It forwards termination signals to the child and passes its exit code through.

The child's stderr passes through the wrapper line by line (see ``launch.output``): each
Python traceback is written in one piece, without the leading frames of runpy and mpi4py's
runner (kept with ``--verbose``), and its last line is remembered.  With ``--tag-output``
every line of stdout and stderr starts with ``[R] ``, R the rank (the child's stdout is then
a pty when the wrapper's is one, as under Open MPI, so that it stays line-buffered).

When the command fails on its own (not because the launcher asked the rank to stop), the
wrapper prints::

    distmod-launch: rank R on HOST exited with code C[: ERROR]

to stderr, ERROR being the last line of the child's last traceback; ``distmod-launch`` reads
it to report the first failing rank.  A child that printed a traceback and exited with an
ordinary code (< 128) counts as failing on its own even when a stop signal came meanwhile:
a rank that calls MPI_Abort is told to stop by mpiexec while it is exiting.

Under ``distmod-launch`` (``DISTMOD_JOB_ID`` set) a thread watches for the job's end (see
``launch.job``): the launcher's lifeline (``DISTMOD_LIFELINE``) closing, or a ``kill`` on
it, and this process being reparented (its MPI daemon, or for ``--direct`` the launcher,
is gone).  Then the command gets SIGTERM (with its process group when the wrapper leads
one, as under Open MPI), SIGKILL after ``launch.job.LIFELINE_GRACE_S`` (at once on a
``kill``), and so does every process on this host that still carries this attempt's
``DISTMOD_JOB_ID`` and ``DISTMOD_RESTART`` (the wrapper's ancestors aside); no failure line
is printed for it.  When the command ends on its own, what it left behind (the processes
carrying ``DISTMOD_WRAPPER``, this wrapper's pid, which the command's environment gets) is
ended; a guard process forked at the start does the same once the wrapper is gone, even if
the wrapper was SIGKILLed.

``--direct`` is how ``distmod-launch`` runs one process without MPI: the command's output
is left alone (not relayed, no failure line; ``--tag-output`` still tags it ``[0] ``).
"""
import os
import signal
import socket
import subprocess
import sys
import threading

from launch import job
from launch.output import LineGrouper, error_of_traceback, pump, trim_runner_frames, write_all

__all__ = ['rank_from_env', 'rank_environment', 'run_child', 'failed_on_its_own', 'in_terminal_foreground',
           'JobWatch', 'main']

#: Last, torchrun's RANK: what distmod-launch sets for the one process it runs directly.
RANK_VARIABLES = ('OMPI_COMM_WORLD_RANK', 'PMIX_RANK', 'PMI_RANK', 'SLURM_PROCID', 'RANK')
FORWARDED_SIGNALS = ('SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2')
#: Where each launcher says where a rank stands: (rank, local rank, world size, local world
#: size), each a variable name, a tuple of names to try in order, or None.  First found wins;
#: a later launcher's values fill gaps only where it agrees on the rank.
LAUNCHER_VARIABLES = (
    ('OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_LOCAL_RANK', 'OMPI_COMM_WORLD_SIZE',
     'OMPI_COMM_WORLD_LOCAL_SIZE'),
    ('PMI_RANK', 'MPI_LOCALRANKID', 'PMI_SIZE', 'MPI_LOCALNRANKS'),
    ('SLURM_PROCID', 'SLURM_LOCALID', ('SLURM_STEP_NUM_TASKS', 'SLURM_NTASKS'), None),
    ('PMIX_RANK', None, None, None),
)
TORCH_NAMES = ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE')


def rank_from_env(env=None):
    """The rank of this process as a string, from the launcher's variables ('?' if none)."""
    env = os.environ if env is None else env
    for name in RANK_VARIABLES:
        if env.get(name, '').strip():
            return env[name].strip()
    return '?'


def _number(env, names):
    for name in (names,) if isinstance(names, str) else names or ():
        value = env.get(name, '').strip()
        if value.isdigit():
            return value
    return None


def _slurm_tasks_on_this_node(env):
    """This node's task count from SLURM_STEP_TASKS_PER_NODE (``2(x3),1``) and SLURM_NODEID."""
    for name in ('SLURM_STEP_TASKS_PER_NODE', 'SLURM_TASKS_PER_NODE'):
        spec, node = env.get(name, '').strip(), env.get('SLURM_NODEID', '').strip()
        if not spec or not node.isdigit():
            continue
        counts = []
        for part in spec.split(','):
            count, _, repeat = part.partition('(x')
            if not count.isdigit() or (repeat and not repeat.rstrip(')').isdigit()):
                counts = []
                break
            counts += [count] * (int(repeat.rstrip(')')) if repeat else 1)
        if int(node) < len(counts):
            return counts[int(node)]
    return _number(env, 'SLURM_NTASKS_PER_NODE')


def rank_environment(env=None):
    """``{'RANK': ..., 'LOCAL_RANK': ..., 'WORLD_SIZE': ..., 'LOCAL_WORLD_SIZE': ...}`` (strings)
    from the launcher's variables in ``env``; a name no launcher gives is missing, and the
    dict is empty outside a launcher."""
    env = os.environ if env is None else env
    found, rank = {}, None
    for variables in LAUNCHER_VARIABLES:
        this_rank = _number(env, variables[0])
        if this_rank is None or (rank is not None and this_rank != rank):
            continue            # not this launcher, or another launcher's (stale) variables
        rank = this_rank
        values = [this_rank] + [_number(env, names) for names in variables[1:]]
        if variables[0] == 'SLURM_PROCID':
            values[3] = _slurm_tasks_on_this_node(env)
        for name, value in zip(TORCH_NAMES, values):
            if value is not None:
                found.setdefault(name, value)
    return found


def _die_with_parent():
    """In the child, before exec: be killed if the wrapper itself is SIGKILLed (Linux)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)        # PR_SET_PDEATHSIG
    except Exception:                         # not Linux: best effort only
        pass


def in_terminal_foreground():
    """True when our process group gets the terminal's signals (Ctrl-C) directly."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


def _stream_pair(like_fd):
    """``(read end, write end)`` for a child's output: a pty when ``like_fd`` is a terminal
    (the child then line-buffers as it would have), else a pipe."""
    try:
        is_tty = os.isatty(like_fd)
    except OSError:
        is_tty = False
    if is_tty:
        try:
            import pty
            import termios
            master, slave = pty.openpty()
            attrs = termios.tcgetattr(slave)
            attrs[1] &= ~termios.OPOST          # no '\n' -> '\r\n' on the way through
            termios.tcsetattr(slave, termios.TCSANOW, attrs)
            return master, slave
        except (ImportError, OSError):
            pass
    return os.pipe()


class _Relay:
    """Copies one output stream of the child to ``out_fd``, tagging lines with ``prefix``
    and noting the error that ends the last traceback."""

    def __init__(self, out_fd, prefix=b'', trim_tracebacks=False):
        self.error = None
        self._fd = out_fd
        self._prefix = prefix
        self._trim = trim_tracebacks
        self._at_line_start = True
        self.grouper = LineGrouper(self._emit)

    def _emit(self, kind, lines):
        if kind == 'traceback':
            self.error = error_of_traceback(lines)
            if self._trim:
                lines = trim_runner_frames(lines)
        elif any(line.strip() for line in lines):
            self.error = None       # output after a traceback: it was not the one that ended the run
        if not self._prefix:
            write_all(self._fd, b''.join(lines))
            return
        parts = []
        for piece in lines:
            if self._at_line_start:
                parts.append(self._prefix)
            parts.append(piece)
            self._at_line_start = piece.endswith(b'\n')
        write_all(self._fd, b''.join(parts))


class JobWatch:
    """Ends the command when its job ends around it (see the module docstring).

    Make it early in the wrapper's life, before any thread (it notes the parent's pid and
    forks the rank's guard, see ``launch.job.start_guard``), give the command
    :meth:`child_environment`, :meth:`start` it with the child and call :meth:`finish` once
    the child is reaped; ``triggered`` then says why it stopped the command, if it did.
    """

    POLL_S = 0.25
    #: What a command that ended on its own left behind (its rank's processes only) gets.
    LEFTOVER_GRACE_S = 1.0

    def __init__(self, env, grace=job.LIFELINE_GRACE_S, verbose=False, guard=True):
        self.job_id = env.get(job.JOB_ID)
        self.restart = env.get(job.RESTART, '0')
        self.lifeline = env.get(job.LIFELINE)
        self.grace = grace
        self.verbose = verbose
        self.triggered = None
        self._parent = os.getppid()
        self._exited = threading.Event()
        self._thread = None
        self._child = None
        self._sock = None
        self._lead_group = os.getpgrp() == os.getpid()
        self._guard = job.start_guard(self.job_id, self.restart, str(os.getpid())) if guard else None

    @classmethod
    def from_environment(cls, env, **kw):
        """A watch for a rank of a distmod-launch job, or None outside one."""
        return cls(env, **kw) if env.get(job.JOB_ID) else None

    def child_environment(self):
        """What the command's environment gets: the marker of this rank's processes."""
        return {job.WRAPPER: str(os.getpid())}

    def start(self, child):
        self._child = child
        self._thread = threading.Thread(target=self._watch, name='distmod-job-watch', daemon=True)
        self._thread.start()

    def finish(self):
        """The child is reaped: stop watching, and end what is left: everything of this attempt
        on this host when the launcher or the daemon is gone (the child may have ended of the
        SIGTERM that came with that before the watch saw it), else what this rank left."""
        self._exited.set()
        if self._thread is not None:
            self._thread.join(timeout=self.grace + 5)
            if self._thread.is_alive():     # still trying to reach the launcher: leave it be
                return
        if not self.triggered:
            gone = self._gone(0)
            if gone is not None:
                self.triggered, kill_now = gone
                job.end_job_processes(self.job_id, self.restart, grace=self.grace, kill_now=kill_now,
                                      exclude=job.ancestors())
        if self._sock is not None:
            self._sock.close()
        if not self.triggered:
            job.end_job_processes(self.job_id, self.restart, str(os.getpid()), grace=self.LEFTOVER_GRACE_S)

    def _gone(self, timeout):
        """``(why, kill now)`` once the job is over around this rank (None while it is not),
        waiting up to ``timeout`` seconds for it."""
        if self._sock is not None:
            broken = job.lifeline_broken(self._sock, timeout)
            if broken is not None:
                self._sock.close()
                self._sock = None
                return ('the launcher is gone', False) if broken == 'gone' else ('the launcher ends the job', True)
        elif timeout:
            self._exited.wait(timeout)
        if os.getppid() != self._parent:
            return 'its parent (pid %d) is gone' % self._parent, False
        return None

    def _watch(self):
        if self.lifeline:
            sock = job.connect_lifeline(self.lifeline, self.job_id, self.restart)
            if sock == 'kill':
                return self._stop('the launcher ended this attempt', kill_now=True)
            if sock is None and self.verbose:
                self._say('cannot reach the launcher at %s; watching the MPI daemon only' % self.lifeline)
            self._sock = sock
        while not self._exited.is_set():
            gone = self._gone(self.POLL_S)
            if gone is not None:
                return self._stop(*gone)

    def _say(self, text):
        try:
            write_all(2, ('distmod-launch: rank %s on %s: %s\n' % (rank_from_env(), socket.gethostname(), text))
                      .encode('utf-8', 'replace'))
        except OSError:
            pass

    def _signal_command(self, signum):
        pids = [] if self._exited.is_set() else [self._child.pid]
        if self._lead_group:            # the command's process group is ours (Open MPI makes one per rank)
            pids += [pid for pid in job.group_processes(os.getpgrp()) if pid not in pids]
        for pid in pids:
            try:
                os.kill(pid, signum)
            except OSError:
                pass

    def _stop(self, why, kill_now):
        self.triggered = why
        if self.verbose:
            self._say('%s: %s the command' % (why, 'killing' if kill_now else 'stopping'))
        if not kill_now:
            self._signal_command(signal.SIGTERM)
            self._exited.wait(self.grace)
        self._signal_command(signal.SIGKILL)
        job.end_job_processes(self.job_id, self.restart, kill_now=True, exclude=job.ancestors())


def run_child(argv, env=None, tag=None, relay_stderr=False, trim_tracebacks=False, watch=None):
    """Run ``argv`` as a child, forwarding signals; return ``(code, received_signal, error)``.

    ``code`` is the child's exit code, or 128+N when it died of signal N (127 when the
    command cannot be found, 126 when it cannot be executed).  ``received_signal`` is the
    first signal this process was sent while the child ran (None if none).  With
    ``relay_stderr`` (or a ``tag``, bytes put before every line of stdout and stderr) the
    child's output passes through ``launch.output``'s line handling, and ``error`` is the last
    line of the last traceback it printed on stderr (else None).  ``watch``, a
    :class:`JobWatch`, ends the child when its job ends (``received`` is then SIGTERM).
    """
    relays, child_ends, parent_ends = [], {}, []
    if relay_stderr or tag:
        for name, fd in (('stdout', 1), ('stderr', 2)):
            if name == 'stdout' and not tag:
                continue
            read_end, write_end = _stream_pair(fd)
            child_ends[name] = write_end
            parent_ends.append(read_end)
            relays.append(_Relay(fd, prefix=tag or b'', trim_tracebacks=trim_tracebacks))
    if watch is not None:
        env = dict(os.environ if env is None else env, **watch.child_environment())
    try:
        try:
            child = subprocess.Popen(argv, env=env, **child_ends,
                                     preexec_fn=_die_with_parent if sys.platform.startswith('linux') else None)
        finally:
            for fd in child_ends.values():
                os.close(fd)
    except FileNotFoundError:
        for fd in parent_ends:
            os.close(fd)
        print('distmod-launch: command not found: %s' % argv[0], file=sys.stderr)
        return 127, None, None
    except PermissionError:
        for fd in parent_ends:
            os.close(fd)
        print('distmod-launch: permission denied: %s' % argv[0], file=sys.stderr)
        return 126, None, None
    if watch is not None:
        watch.start(child)
    readers = [threading.Thread(target=pump, args=(fd, relay.grouper), daemon=True)
               for fd, relay in zip(parent_ends, relays)]
    for reader in readers:
        reader.start()
    received = []
    foreground = in_terminal_foreground()

    def forward(signum, frame):
        if not received:
            received.append(signum)
        # Ctrl-C already reached the child through the terminal's process group.
        if signum == signal.SIGINT and foreground:
            return
        try:
            child.send_signal(signum)
        except OSError:
            pass

    previous = {}
    for name in FORWARDED_SIGNALS:
        signum = getattr(signal, name, None)
        if signum is not None:
            previous[signum] = signal.signal(signum, forward)
    try:
        while True:
            try:
                returncode = child.wait()
                break
            except InterruptedError:          # pragma: no cover - PEP 475 retries anyway
                continue
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if watch is not None:
        watch.finish()
        if watch.triggered and not received:
            received.append(signal.SIGTERM)
    for reader in readers:      # a grandchild may hold the stream open: do not wait for it long
        reader.join(timeout=2)
    code = 128 - returncode if returncode < 0 else returncode
    error = relays[-1].error if relays else None
    return code, (received[0] if received else None), error


def _describe(code):
    if code > 128:
        try:
            return 'was killed by signal %s (exit code %d)' % (signal.Signals(code - 128).name, code)
        except ValueError:
            pass
    return 'exited with code %d' % code


def failed_on_its_own(code, received, error):
    """Whether a child's exit is its own failure rather than the launcher stopping it."""
    if code == 0:
        return False
    if received is None:
        return True
    # A rank that raised and called MPI_Abort gets mpiexec's stop signal while exiting.
    return error is not None and code < 128 and received != signal.SIGINT


def main(argv=None):
    """Entry point of ``python -m launch.rank [--tag-output] [--verbose] [--direct] -- COMMAND [ARGS...]``."""
    env = dict(os.environ)
    argv = list(sys.argv[1:] if argv is None else argv)
    options = set()
    while argv and argv[0] in ('--tag-output', '--verbose', '--direct'):
        options.add(argv.pop(0))
    if argv and argv[0] == '--':
        argv = argv[1:]
    if not argv:
        print('usage: python -m launch.rank [--tag-output] [--verbose] [--direct] -- COMMAND [ARGS...]',
              file=sys.stderr)
        return 2
    verbose, direct = '--verbose' in options, '--direct' in options
    watch = JobWatch.from_environment(env, verbose=verbose)
    if env.get('OMPI_COMM_WORLD_LOCAL_RANK') == '0':
        job.sweep_mpi_session_dirs(env)     # a killed prted's leftovers on this host, for the next job
    env.update(rank_environment(env))
    tag = ('[%s] ' % rank_from_env()).encode() if '--tag-output' in options else None
    code, received, error = run_child(argv, env, tag=tag, relay_stderr=not direct, trim_tracebacks=not verbose,
                                      watch=watch)
    if not direct and failed_on_its_own(code, received, error):
        line = 'distmod-launch: rank %s on %s %s%s\n' % (rank_from_env(), socket.gethostname(), _describe(code),
                                                         ': %s' % error if error else '')
        sys.stderr.flush()
        write_all(2, line.encode('utf-8', 'replace'))   # one write: a signal cannot split the line
    return code


if __name__ == '__main__':
    sys.exit(main())
