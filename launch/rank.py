"""Per-rank wrapper: ``python -m launch.rank -- COMMAND [ARGS...]``.

``distmod-launch`` starts every rank through this wrapper.  It runs COMMAND as a child
process (same environment, so MPI/PMIx variables reach it and ``MPI_Init`` works as
usual), forwards termination signals to it, and passes its exit code through.  When the
command fails on its own (not because the launcher asked the rank to stop), it prints::

    distmod-launch: rank R on HOST exited with code C

to stderr, which ``distmod-launch`` reads to report the first failing rank.  The rank
comes from OMPI_COMM_WORLD_RANK, PMIX_RANK, PMI_RANK or SLURM_PROCID.
"""
import os
import signal
import socket
import subprocess
import sys

__all__ = ['rank_from_env', 'run_child', 'in_terminal_foreground', 'main']

RANK_VARIABLES = ('OMPI_COMM_WORLD_RANK', 'PMIX_RANK', 'PMI_RANK', 'SLURM_PROCID')
FORWARDED_SIGNALS = ('SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2')


def rank_from_env(env=None):
    """The rank of this process as a string, from the launcher's variables ('?' if none)."""
    env = os.environ if env is None else env
    for name in RANK_VARIABLES:
        if env.get(name, '').strip():
            return env[name].strip()
    return '?'


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


def run_child(argv, env=None):
    """Run ``argv`` as a child, forwarding signals; return ``(code, received_signal)``.

    ``code`` is the child's exit code, or 128+N when it died of signal N (127 when the
    command cannot be found, 126 when it cannot be executed).  ``received_signal`` is the
    first signal this process was sent while the child ran (None if none).
    """
    try:
        child = subprocess.Popen(argv, env=env,
                                 preexec_fn=_die_with_parent if sys.platform.startswith('linux') else None)
    except FileNotFoundError:
        print('distmod-launch: command not found: %s' % argv[0], file=sys.stderr)
        return 127, None
    except PermissionError:
        print('distmod-launch: permission denied: %s' % argv[0], file=sys.stderr)
        return 126, None
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
    code = 128 - returncode if returncode < 0 else returncode
    return code, (received[0] if received else None)


def _describe(code):
    if code > 128:
        try:
            return 'was killed by signal %s (exit code %d)' % (signal.Signals(code - 128).name, code)
        except ValueError:
            pass
    return 'exited with code %d' % code


def main(argv=None):
    """Entry point of ``python -m launch.rank -- COMMAND [ARGS...]``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == '--':
        argv = argv[1:]
    if not argv:
        print('usage: python -m launch.rank -- COMMAND [ARGS...]', file=sys.stderr)
        return 2
    code, received = run_child(argv)
    if code != 0 and received is None:
        print('distmod-launch: rank %s on %s %s' % (rank_from_env(), socket.gethostname(), _describe(code)),
              file=sys.stderr, flush=True)
    return code


if __name__ == '__main__':
    sys.exit(main())
