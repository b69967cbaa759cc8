"""``distmod-launch``: start a distmod job with mpiexec (Open MPI or MPICH), srun, or directly.

Usage::

    distmod-launch [-n N | -np N] [--nproc-per-node N] [--nnodes M]
                   [-H host[:slots],...] [--hostfile FILE]
                   [--launcher auto|local|mpi|slurm] [--rsh-agent CMD]
                   [--network-interface IFACE_OR_CIDR] [-x NAME[=VALUE]]...
                   [--max-restarts N] [--checkpoint PREFIX] [--timeout S]
                   [--first-timeout S] [--stop-timeout S]
                   [--tag-output] [--verbose] [--dry-run] COMMAND [ARGS...]

How many ranks: ``-n N`` (``-np N``, mpirun's spelling), or torchrun's ``--nproc-per-node N``
(``--nproc_per_node``) ranks on each of ``--nnodes M`` nodes (N x M in all).  With hosts
(``-H``, horovodrun's ``host:slots``, or a host file) ``--nnodes M`` takes the first M of them
and ``--nproc-per-node N`` starts N ranks on each; without ``-n`` the hosts' slots add up to
the count (a host without ``:slots`` counts as one slot).  Under Slurm ``--nnodes`` and
``--nproc-per-node`` become srun's ``--nodes`` and ``--ntasks-per-node``; with neither nor
``-n`` the allocation decides.

``--launcher auto`` (the default) runs COMMAND directly when one rank is asked for with no
hosts, uses ``srun`` inside a Slurm job (SLURM_JOB_ID set and srun on PATH), else ``mpiexec``
(the one next to the Python interpreter first, then PATH; ``mpiexec --version`` tells Open
MPI from MPICH/Hydra).  More than one rank with no launcher to be found is an error that
names the ``mpi`` extra to install (``pip install 'distmod[mpi]'``), not one process.

Each rank runs ``python -m launch.rank -- COMMAND ARGS`` (see ``launch.rank``), which sets
torchrun's RANK, LOCAL_RANK, WORLD_SIZE and LOCAL_WORLD_SIZE from the MPI launcher's own
variables (0, 0, 1, 1 for the one direct process), prefixes every output line with ``[R] ``
under ``--tag-output`` (the same on every launcher, unlike mpirun's ``--tag-output``,
Hydra's ``-prepend-rank`` and srun's ``--label``), and names the rank and its error when the
command fails.  The exit code is the first failing rank's.  Open MPI's mpiexec already
returns the first abnormal exit status and kills the other ranks; MPICH's Hydra kills the
other ranks too (its default auto-cleanup) but returns the bitwise OR of the exit codes it
collected, and srun returns the highest task exit code, so ``distmod-launch`` reads the
``rank R on HOST exited with code C`` line from the ranks' stderr and returns that C.

A rank that exits with an error after ``MPI_Init`` would otherwise hang in ``MPI_Finalize``
while the others wait in a collective.  So when COMMAND is ``python [opts] SCRIPT|-m MOD|-c``
and that interpreter has mpi4py, ranks run ``python [opts] -m mpi4py ...``: mpi4py then calls
``MPI_Abort`` with the exit code on an uncaught exception or ``sys.exit(N)``, and the job ends.
Ranks on other hosts need the same Python (``sys.executable``) with this package installed.

What a failure looks like: the ranks' stderr passes through ``launch.output.JobStderr``, so a
script that raises the same error on every rank shows its traceback once (without mpi4py's
runner frames), then one line::

    distmod-launch: rank 0 on HOST failed: NameError: name 'foo' is not defined (exit code 1)

and Open MPI's "MPI_ABORT was invoked" / "prterun has exited due to" boxes are left out
(shown when no rank's line arrived, since they are then all there is).  ``--verbose`` shows
the ranks' stderr as it came.  Standard output is not touched (except by ``--tag-output``).
Output streams line by line; a line still without its newline (a progress bar redrawn with
``\\r``) is passed on after a fraction of a second by the wrapper and the launcher, but Open
MPI 5's own forwarding holds it until its newline comes (``mpiexec --output :raw`` would not).

The launcher owns its job (see ``launch.job``): if ``distmod-launch`` dies, even by
SIGKILL, mpiexec or srun, its daemons and every rank with what it started end within a few
seconds, on every host (a parent-death signal for mpiexec, a TCP lifeline every rank's
wrapper holds, the wrappers watching their MPI daemon, and the ``DISTMOD_JOB_ID`` marker in
every process's environment for a last sweep).  SIGINT, SIGTERM or SIGHUP stop the job:
the signal goes on to mpiexec/srun (SIGINT from a terminal reaches them already), and what
is left after ``--stop-timeout`` seconds (default 10; at once on a second signal) is
killed; the exit code is then 128 + the signal's number, whatever the ranks returned.

``--max-restarts N`` runs a failed job (a non-zero exit code, a rank killed) again, up to N
times, saying so in one line each time::

    distmod-launch: the job failed (rank 1 on HOST killed by SIGKILL); restart 1 of 2 from checkpoint ckpt/mlp-0003 (newest complete)

and gives up with the last run's exit code.  With ``--checkpoint PREFIX`` every run (the
first too) resumes from the newest complete ``PREFIX-NNNN.params``: every rank finds
DISTMOD_RESUME_PREFIX and DISTMOD_RESUME_EPOCH (and DISTMOD_RESUME_STATES) in its
environment (see ``launch.resume`` for the rule and the contract); the script only saves
with ``mx.callback.do_checkpoint(PREFIX)``.  Nothing passed depends on the rank, so a job
run again with another ``-n`` resumes the same way.  A stopped job is not restarted.

Environment: ``OMP_NUM_THREADS`` is set to max(1, cores // ranks per host) unless given in the
environment or with ``-x``; as root under Open MPI the OMPI_ALLOW_RUN_AS_ROOT variables are
set; ``-x NAME[=VALUE]`` exports a variable to every rank (Open MPI ``-x NAME``, MPICH
``-genv NAME VALUE``, srun ``--export=ALL``).  Read: SLURM_JOB_ID (a Slurm job: use srun),
PATH (where mpiexec and srun are looked for), OMP_NUM_THREADS (kept when set).
"""
import argparse
import ipaddress
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading

from launch import job
from launch.resume import RESUME_VARIABLES, newest_complete_checkpoint, resume_environment

__all__ = ['parse_args', 'parse_hosts', 'parse_hostfile', 'resolve_hosts', 'find_mpiexec',
           'detect_mpi_flavour', 'choose_launcher', 'python_has_mpi4py', 'rank_layout',
           'requested_ranks', 'build_command', 'format_command', 'describe_failure', 'main', 'LaunchError']

FLAVOURS = ('openmpi', 'openmpi4', 'mpich', 'slurm', 'local')
PYTHON = re.compile(r'^python[0-9.]*$')
STOP_SIGNALS = ('SIGINT', 'SIGTERM', 'SIGHUP')
#: What the launcher sets for every rank of a job (besides the MPI launcher's own names).
JOB_VARIABLES = (job.JOB_ID, job.RESTART, 'DISTMOD_MAX_RESTARTS', job.LIFELINE) + RESUME_VARIABLES


#: ``--bind-to`` policies, and srun's ``--cpu-bind`` spelling of each.
BIND_POLICIES = ('none', 'hwthread', 'core', 'numa')
_SRUN_BIND = {'none': 'none', 'hwthread': 'threads', 'core': 'cores', 'numa': 'ldoms'}


class LaunchError(Exception):
    """A launch that cannot be built or started; its message is shown to the user."""


EPILOG = """\
examples:
  one host, 4 ranks:
    distmod-launch -n 4 python train.py --lr 0.1
  two hosts with 4 slots each (passwordless ssh; the same Python and files on each):
    distmod-launch -H node1:4,node2:4 python train.py
  a host file ("node1 slots=4" or "node1:4" lines):
    distmod-launch --hostfile hosts python train.py
  Slurm, inside salloc/sbatch (srun starts the ranks; no -n: the allocation decides):
    distmod-launch python train.py
    distmod-launch --nnodes 2 --nproc-per-node 4 python train.py
  GPUs, one rank per GPU (each rank trains on mx.gpu(int(os.environ['LOCAL_RANK']))):
    distmod-launch --nproc-per-node 4 python examples/mnist_mlp.py --gpu
  restart a failed job up to 3 times, each run resuming from the newest complete checkpoint:
    distmod-launch -n 4 --max-restarts 3 --checkpoint ckpt/mlp python train.py
  see the command without running it:
    distmod-launch --dry-run -n 2 python train.py

environment set for every rank:
  RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE
                      torchrun's names, from the MPI launcher's own (OMPI_COMM_WORLD_*,
                      PMI_RANK/PMI_SIZE/MPI_LOCALRANKID/MPI_LOCALNRANKS, SLURM_PROCID/...);
                      0, 0, 1, 1 for one process run directly
  OMP_NUM_THREADS     cores // ranks per host, unless already set (or given with -x)
  OMPI_ALLOW_RUN_AS_ROOT, OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
                      1, when run as root under Open MPI
  NAME                every -x NAME[=VALUE]
  DISTMOD_JOB_ID      this job's id: one per distmod-launch, the same on every restart; every
                      process of the job carries it, which is how leftovers are found and ended
  DISTMOD_RESTART     0 on the first run, K on the K-th restart (DISTMOD_MAX_RESTARTS: N)
  DISTMOD_RESUME_PREFIX, DISTMOD_RESUME_EPOCH
                      with --checkpoint PREFIX, when a complete checkpoint exists: PREFIX, and
                      the epoch N of the newest PREFIX-NNNN.params (complete: not empty and,
                      where the prefix has PREFIX-NNNN.json manifests, with its manifest):
                      mx.model.load_checkpoint(PREFIX, N), fit(begin_epoch=N); unset otherwise
  DISTMOD_RESUME_STATES
                      PREFIX-NNNN.states of that epoch, when the file exists
  DISTMOD_LIFELINE    ADDRESS:PORT,... where each rank's wrapper reaches the launcher
  DISTMOD_TIMEOUT, DISTMOD_FIRST_TIMEOUT
                      with --timeout S / --first-timeout S: the watchdog's deadlines (a
                      collective that waits longer for some rank ends the job, naming it)
  DISTMOD_GPUS_PER_HOST
                      with --gpus-per-host G: a Module given no context trains on
                      mx.gpu(LOCAL_RANK % G), this rank's GPU
environment read:
  SLURM_JOB_ID        set: a Slurm job, so srun starts the ranks (--launcher overrides)
  PATH                where mpiexec (after the one next to this Python) and srun are found
  OMP_NUM_THREADS     kept as it is when set

exit status: the first failing rank's exit code (128+N: killed by signal N), 0 when every
rank succeeded; 128+N when SIGINT, SIGTERM or SIGHUP (N) stopped the job; 2 for a launch
that cannot be built.  If distmod-launch itself dies, the whole job ends with it.

More than one rank needs an MPI launcher: pip install 'distmod[mpi]' (mpi4py and Open MPI),
or your cluster's MPI or Slurm.
"""


class _StoreCount(argparse.Action):
    """Store an int option and remember how the user spelled it (``-np``), for messages."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        setattr(namespace, self.dest + '_option', option_string)


def parse_args(argv=None):
    """Parse the command line into an ``argparse.Namespace`` (COMMAND in ``.command``)."""
    p = argparse.ArgumentParser(
        prog='distmod-launch', epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Start a distmod job: mpiexec (Open MPI or MPICH), srun, or one local process.')
    p.add_argument('-n', '-np', '--np', dest='n', type=int, default=None, action=_StoreCount,
                   help='number of ranks (default: the total slots of the hosts, else 1; srun: the allocation)')
    p.add_argument('--nproc-per-node', '--nproc_per_node', dest='nproc_per_node', type=int, default=None,
                   action=_StoreCount, metavar='N', help='ranks on each node (torchrun\'s spelling)')
    p.add_argument('--nnodes', type=int, default=None, action=_StoreCount, metavar='M',
                   help='number of nodes: the first M hosts given, or srun --nodes=M')
    p.add_argument('-H', '--hosts', dest='hosts', action='append', default=[], metavar='HOST[:SLOTS],...',
                   help='hosts to run on, comma-separated, each with an optional slot count')
    p.add_argument('--hostfile', help='host file: Open MPI ("host slots=N") or MPICH ("host:N") format')
    p.add_argument('--launcher', choices=('auto', 'local', 'mpi', 'slurm'), default='auto')
    p.add_argument('--rsh-agent', metavar='CMD', help='how ranks start on other hosts (default: ssh)')
    p.add_argument('--network-interface', metavar='IFACE_OR_CIDR',
                   help="pin MPI's TCP traffic to this interface (MPICH: an interface name)")
    p.add_argument('-x', dest='exports', action='append', default=[], metavar='NAME[=VALUE]',
                   help='export an environment variable to every rank (repeatable)')
    p.add_argument('--max-restarts', type=int, default=0, metavar='N',
                   help='run a job that failed again, up to N times (default 0)')
    p.add_argument('--checkpoint', metavar='PREFIX',
                   help='resume every run from the newest complete PREFIX-NNNN.params (the prefix the '
                        'script gives mx.callback.do_checkpoint); see DISTMOD_RESUME_* below')
    p.add_argument('--timeout', type=float, default=None, metavar='S',
                   help="the watchdog's deadline: a collective that waits S seconds for a rank "
                        'ends the job naming it (sets DISTMOD_TIMEOUT; default 60, 300 before the '
                        'first step)')
    p.add_argument('--first-timeout', type=float, default=None, metavar='S',
                   help='the deadline before the first training step (start-up, binding); sets '
                        'DISTMOD_FIRST_TIMEOUT (default 300, or --timeout when only that is given)')
    p.add_argument('--gpus-per-host', type=int, default=None, metavar='G',
                   help="give each rank one of its host's G GPUs, GPU LOCAL_RANK %% G: a script "
                        'that names no context (Module(net)) trains on it (sets '
                        'DISTMOD_GPUS_PER_HOST)')
    p.add_argument('--bind-to', choices=BIND_POLICIES, default=None,
                   help="pin each rank to a core, a hardware thread, a NUMA node, or to none "
                        "(Open MPI --bind-to, MPICH -bind-to, srun --cpu-bind; default: the MPI "
                        "launcher's own). Use none when the \"hosts\" share one machine's cores "
                        "(containers, network namespaces): each host's daemon binds its first "
                        "rank to core 0, and ranks that wait spinning on one core take turns "
                        "of a scheduler tick (4 ms per message, against 16 us unbound)")
    p.add_argument('--stop-timeout', type=float, default=10.0, metavar='S',
                   help='after SIGINT/SIGTERM/SIGHUP, kill what is left of the job after S seconds (default 10)')
    p.add_argument('--tag-output', action='store_true',
                   help='begin every line of output with "[R] ", R the rank that printed it')
    p.add_argument('--verbose', action='store_true',
                   help="show the ranks' stderr as it comes: every traceback, MPI's own messages")
    p.add_argument('--dry-run', action='store_true', help='print the command and exit')
    p.add_argument('command', nargs=argparse.REMAINDER, metavar='COMMAND [ARGS...]')
    args = p.parse_args(argv)
    if args.command and args.command[0] == '--':
        args.command = args.command[1:]
    if not args.command:
        p.error('a COMMAND to run is required')
    for name in ('n', 'nproc_per_node', 'nnodes'):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error('%s must be at least 1' % getattr(args, name + '_option'))
    if args.max_restarts < 0:
        p.error('--max-restarts must be 0 or more')
    if args.stop_timeout < 0:
        p.error('--stop-timeout must be 0 or more')
    for name in ('timeout', 'first_timeout'):
        if getattr(args, name) is not None and not getattr(args, name) > 0:
            p.error('--%s must be a positive number of seconds' % name.replace('_', '-'))
    return args


def parse_hosts(spec):
    """``'a:2,b'`` -> ``[('a', 2), ('b', None)]``."""
    hosts = []
    for item in spec.split(','):
        item = item.strip()
        if not item:
            continue
        name, slots = item.split(':') if item.count(':') == 1 else (item, '')   # IPv6: no slots
        if slots and not slots.isdigit():
            raise LaunchError('bad host %r: the slot count after ":" must be a number' % item)
        hosts.append((name, int(slots) if slots else None))
    return hosts


def parse_hostfile(text):
    """Hosts from a host file's text: Open MPI ``host slots=N`` or MPICH ``host:N`` lines.

    Comments (``#``) and blank lines are skipped; other keywords (``max_slots=``) are ignored.
    """
    hosts = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        words = line.split()
        name, slots = words[0], None
        if ':' in name:
            name, _, count = name.partition(':')
            if not count.isdigit():
                raise LaunchError('host file line %d: bad slot count in %r' % (number, words[0]))
            slots = int(count)
        for word in words[1:]:
            key, _, value = word.partition('=')
            if key in ('slots', 'cpu', 'cpus'):
                if not value.isdigit():
                    raise LaunchError('host file line %d: bad %r' % (number, word))
                slots = int(value)
        hosts.append((name, slots))
    return hosts


def _merge_hosts(hosts):
    """Merge repeated host names (summing slots), keeping first-seen order."""
    merged = {}
    for name, slots in hosts:
        merged[name] = merged.get(name, 0) + (1 if slots is None else slots)
    return list(merged.items())


def _ranks_per_host(n, slots):
    """How many of ``n`` ranks land on each host, filling slots in order, then round-robin."""
    placed = [0] * len(slots)
    left = n
    for i, s in enumerate(slots):
        take = min(s, left)
        placed[i] += take
        left -= take
    i = 0
    while left > 0:
        placed[i % len(slots)] += 1
        left -= 1
        i += 1
    return placed


def _is_cidr(value):
    if '/' not in value:
        return False
    try:
        ipaddress.ip_network(value, strict=False)
        return True
    except ValueError:
        return False


def _exports(specs, env):
    """Apply ``-x NAME[=VALUE]`` to ``env`` (in place); return the exported names in order."""
    names = []
    for spec in specs:
        name, sep, value = spec.partition('=')
        if not re.match(r'^[A-Za-z_][A-Za-z0-9_]*$', name):
            raise LaunchError('-x %s: %r is not a variable name' % (spec, name))
        if sep:
            env[name] = value
        elif name not in env:
            raise LaunchError('-x %s: %s is not set in the environment (use -x %s=VALUE)' % (spec, name, name))
        if name not in names:
            names.append(name)
    return names


def _python_program_index(command):
    """Index of the script, ``-m``, ``-c`` or ``-`` of a ``python [options] ...`` command, else None."""
    if not command or not PYTHON.match(os.path.basename(command[0])):
        return None
    i = 1
    while i < len(command):
        token = command[i]
        if token == '--':
            return i + 1 if i + 1 < len(command) else None
        if token in ('-m', '-c'):
            if i + 1 >= len(command) or command[i + 1] == 'mpi4py':
                return None
            return i
        if token == '-' or not token.startswith('-'):
            return i
        if not token.startswith('--') and ('m' in token or 'c' in token):
            return None         # -mMOD, -cCODE or -um MOD: leave such a command alone
        i += 2 if token in ('-W', '-X', '--check-hash-based-pycs') else 1
    return None


def _spelled(args, name, default):
    """How the user wrote option ``name`` (``-np``, ``--nproc_per_node``), for messages."""
    return getattr(args, name + '_option', None) or default


def rank_layout(args, hosts, slurm=False):
    """``(n, hosts)`` after ``--nproc-per-node`` and ``--nnodes``; pure.

    ``n`` is the total number of ranks (None: left to the Slurm allocation, or not given),
    ``hosts`` the ``(name, slots)`` hosts to use: the first ``--nnodes`` of them, each with
    ``--nproc-per-node`` slots when that is given.
    """
    per_node, nnodes, n = getattr(args, 'nproc_per_node', None), getattr(args, 'nnodes', None), args.n
    if nnodes is not None and hosts:
        if len(hosts) < nnodes:
            raise LaunchError('%s %d asks for %d hosts but %d %s given (-H/--hostfile)' % (
                _spelled(args, 'nnodes', '--nnodes'), nnodes, nnodes, len(hosts),
                'was' if len(hosts) == 1 else 'were'))
        hosts = hosts[:nnodes]
    total = None
    if per_node is not None:
        hosts = [(name, per_node) for name, _ in hosts]
        if hosts:
            total = per_node * len(hosts)
        elif nnodes is not None or not slurm:
            total = per_node * (nnodes or 1)
    elif nnodes is not None and n is None:      # torchrun's default: one rank per node
        if hosts:
            total = sum(slots for _, slots in hosts)
        elif not slurm:
            total = nnodes
    if n is not None and total is not None and n != total:
        raise LaunchError('%s %d disagrees with %s (%d ranks); give one or the other' % (
            _spelled(args, 'n', '-n'), n, _describe_per_node(args, len(hosts)), total))
    return (n if n is not None else total), hosts


def _describe_per_node(args, nhosts):
    parts = []
    if getattr(args, 'nproc_per_node', None) is not None:
        parts.append('%s %d' % (_spelled(args, 'nproc_per_node', '--nproc-per-node'), args.nproc_per_node))
    if getattr(args, 'nnodes', None) is not None:
        parts.append('%s %d' % (_spelled(args, 'nnodes', '--nnodes'), args.nnodes))
    elif nhosts and parts:
        parts.append('on %d host%s' % (nhosts, '' if nhosts == 1 else 's'))
    return ' '.join(parts)


def timeout_environment(args):
    """The watchdog's deadlines for every rank, from ``--timeout``/``--first-timeout``."""
    env = {}
    if getattr(args, 'timeout', None) is not None:
        env['DISTMOD_TIMEOUT'] = '%g' % args.timeout
    if getattr(args, 'first_timeout', None) is not None:
        env['DISTMOD_FIRST_TIMEOUT'] = '%g' % args.first_timeout
    return env


def device_environment(args):
    """``DISTMOD_GPUS_PER_HOST`` for every rank, from ``--gpus-per-host``."""
    g = getattr(args, 'gpus_per_host', None)
    if g is None:
        return {}
    if g < 1:
        raise LaunchError('--gpus-per-host %d: give the number of GPUs on each host (1 or more)'
                          % g)
    return {'DISTMOD_GPUS_PER_HOST': str(g)}


def build_command(args, env, mpi_flavour, program=None, cores=None, is_root=None, job_env=None):
    """Build the launch: return ``(argv, env)`` for ``subprocess``; pure, no I/O.

    ``args`` is a namespace like ``parse_args`` returns, with ``hosts`` already a list of
    ``(name, slots)`` pairs (``-H`` and the host file merged; see ``resolve_hosts``).
    ``mpi_flavour`` is one of 'openmpi' (5+, PRRTE), 'openmpi4', 'mpich', 'slurm', 'local'.
    ``program`` is the mpiexec/srun path (default the bare name), ``cores`` the cores per
    host (default ``os.cpu_count()``), ``is_root`` whether we run as root (default euid 0).
    ``job_env`` (a dict, or None to leave them alone) are the launcher's own variables for
    every rank (``JOB_VARIABLES``: DISTMOD_JOB_ID, DISTMOD_RESTART, DISTMOD_RESUME_*, ...):
    set and exported; those of ``JOB_VARIABLES`` it lacks are removed.
    The returned env is a new dict: ``env`` plus what the launch adds.  The one local process
    runs inside ``python -m launch.rank --direct`` too, which ends it with the launcher.
    """
    if mpi_flavour not in FLAVOURS:
        raise LaunchError('unknown MPI flavour %r (one of %s)' % (mpi_flavour, ', '.join(FLAVOURS)))
    cores = (os.cpu_count() or 1) if cores is None else cores
    is_root = (hasattr(os, 'geteuid') and os.geteuid() == 0) if is_root is None else is_root
    env = dict(env)
    user_set_omp = 'OMP_NUM_THREADS' in env or any(
        x.partition('=')[0] == 'OMP_NUM_THREADS' for x in args.exports)
    exports = _exports(args.exports, env)
    if job_env is not None:
        for name in JOB_VARIABLES:
            env.pop(name, None)
        env.update(job_env)
    n, hosts = rank_layout(args, _merge_hosts(getattr(args, 'hosts', None) or []), mpi_flavour == 'slurm')
    command = list(args.command)

    if mpi_flavour == 'local':
        if n not in (None, 1) or hosts:
            raise LaunchError('the local launcher runs one process; use -n 1 or an MPI launcher')
        if not user_set_omp:
            env['OMP_NUM_THREADS'] = str(max(1, cores))
        env.update(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', LOCAL_WORLD_SIZE='1')
        tag = ['--tag-output'] if getattr(args, 'tag_output', False) else []
        return [sys.executable, '-m', 'launch.rank', '--direct'] + tag + ['--'] + command, env

    nnodes = getattr(args, 'nnodes', None)
    if mpi_flavour != 'slurm' and nnodes not in (None, 1) and not hosts:
        raise LaunchError('%s %d needs the hosts to run on: give -H HOST,... or --hostfile FILE '
                          '(or run inside a Slurm allocation)' % (_spelled(args, 'nnodes', '--nnodes'), nnodes))
    if n is None and hosts:
        n = sum(s for _, s in hosts)
    if n is None and mpi_flavour != 'slurm':
        n = 1
    if hosts and n:
        per_host = _ranks_per_host(n, [s for _, s in hosts])
    elif getattr(args, 'nproc_per_node', None):
        per_host = [args.nproc_per_node]
    else:       # no hosts: all n on this host (or, under Slurm, as many as we know of)
        per_host = [n or 1]
    if not user_set_omp:
        env['OMP_NUM_THREADS'] = str(max(1, cores // max(1, max(per_host))))
        exports.append('OMP_NUM_THREADS')
    where = _python_program_index(command) if getattr(args, 'mpi4py_run', False) else None
    if where is not None:       # a failing rank calls MPI_Abort instead of hanging in MPI_Finalize
        command[where:where] = ['-m', 'mpi4py']
    for name in sorted(job_env or ()):
        if name not in exports:
            exports.append(name)
    wrapper_options = [option for option, wanted in (('--tag-output', getattr(args, 'tag_output', False)),
                                                     ('--verbose', getattr(args, 'verbose', False))) if wanted]
    wrapped = [sys.executable, '-m', 'launch.rank'] + wrapper_options + ['--'] + command
    iface = args.network_interface
    bind = getattr(args, 'bind_to', None)

    if mpi_flavour == 'slurm':
        if args.rsh_agent:
            raise LaunchError('--rsh-agent has no meaning under Slurm: srun starts the ranks')
        argv = [program or 'srun']
        if n is not None:
            argv.append('--ntasks=%d' % n)
        if nnodes is not None:
            argv.append('--nodes=%d' % nnodes)
        if getattr(args, 'nproc_per_node', None) is not None:
            argv.append('--ntasks-per-node=%d' % args.nproc_per_node)
        if hosts:
            argv.append('--nodelist=%s' % ','.join(h for h, _ in hosts))
        if bind:
            argv.append('--cpu-bind=%s' % _SRUN_BIND[bind])
        argv += ['--kill-on-bad-exit=1', '--export=ALL']
        if iface:       # read by Open MPI ranks; srun has no option of its own for it
            env['OMPI_MCA_btl_tcp_if_include'] = iface
        return argv + wrapped, env

    if mpi_flavour == 'mpich':
        argv = [program or 'mpiexec', '-n', str(n)]
        if hosts:
            argv += ['-hosts', ','.join('%s:%d' % h for h in hosts)]
        if args.rsh_agent:
            argv += ['-launcher', 'ssh', '-launcher-exec', args.rsh_agent]
        if bind:
            argv += ['-bind-to', bind]
        if iface:
            if _is_cidr(iface):
                raise LaunchError("MPICH's -iface takes an interface name (e.g. eth0), not a CIDR: %s" % iface)
            argv += ['-iface', iface]
        for name in exports:
            argv += ['-genv', name, env[name]]
        return argv + wrapped, env

    # Open MPI
    argv = [program or 'mpiexec', '-n', str(n)]
    if is_root:
        env['OMPI_ALLOW_RUN_AS_ROOT'] = '1'
        env['OMPI_ALLOW_RUN_AS_ROOT_CONFIRM'] = '1'
        argv.append('--allow-run-as-root')
    total_slots = sum(s for _, s in hosts) if hosts else cores
    if n > total_slots or max(per_host) > cores:
        argv.append('--oversubscribe')
    if hosts:
        argv += ['-H', ','.join('%s:%d' % h for h in hosts)]
    if bind:
        argv += ['--bind-to', bind]
    if args.rsh_agent:
        if mpi_flavour == 'openmpi':
            argv += ['--prtemca', 'plm_ssh_agent', args.rsh_agent]
        else:
            argv += ['--mca', 'plm_rsh_agent', args.rsh_agent]
    if iface:
        argv += ['--mca', 'btl_tcp_if_include', iface, '--mca', 'oob_tcp_if_include', iface]
    for name in exports:
        argv += ['-x', name]
    return argv + wrapped, env


def resolve_hosts(args):
    """Set ``args.hosts`` to the ``(name, slots)`` list from ``-H`` and ``--hostfile``."""
    hosts = []
    args.host_specs = [spec for spec in args.hosts or [] if isinstance(spec, str)]
    for spec in args.hosts or []:
        hosts += parse_hosts(spec) if isinstance(spec, str) else [spec]
    if args.hostfile:
        try:
            with open(args.hostfile) as f:
                hosts += parse_hostfile(f.read())
        except OSError as e:
            raise LaunchError('cannot read host file %s: %s' % (args.hostfile, e.strerror))
    args.hosts = hosts
    return args


def python_has_mpi4py(command):
    """True when COMMAND is ``python ...`` whose interpreter can import mpi4py."""
    if _python_program_index(command) is None:
        return False
    exe = shutil.which(command[0])
    if exe and os.path.realpath(exe) == os.path.realpath(sys.executable):
        import importlib.util
        return importlib.util.find_spec('mpi4py') is not None
    try:
        return subprocess.run([command[0], '-c', 'import mpi4py'], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def find_mpiexec(env=None):
    """Path of ``mpiexec``: next to ``sys.executable`` first (a venv's bin), then PATH; or None."""
    env = os.environ if env is None else env
    local = os.path.join(os.path.dirname(sys.executable), 'mpiexec')
    if os.path.isfile(local) and os.access(local, os.X_OK):
        return local
    return shutil.which('mpiexec', path=env.get('PATH'))


def detect_mpi_flavour(mpiexec):
    """'openmpi' (5+), 'openmpi4' or 'mpich', from ``mpiexec --version``."""
    try:
        out = subprocess.run([mpiexec, '--version'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, timeout=30, universal_newlines=True).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        raise LaunchError('cannot run %s --version: %s' % (mpiexec, e))
    if 'Open MPI' in out or 'OpenRTE' in out:
        m = re.search(r'(?:Open MPI|OpenRTE)\)?\s+(\d+)', out)
        return 'openmpi' if m is None or int(m.group(1)) >= 5 else 'openmpi4'
    if 'HYDRA' in out or 'MPICH' in out or 'Intel(R) MPI' in out:
        return 'mpich'
    raise LaunchError('%s is neither Open MPI nor MPICH (--version said: %s)'
                      % (mpiexec, out.strip().splitlines()[0] if out.strip() else 'nothing'))


def requested_ranks(args):
    """``(ranks, description)``: how many ranks the command line asks for (None: Slurm's
    allocation decides) and the options that ask, as the user wrote them (``-np 2``)."""
    hosts = _merge_hosts(args.hosts or [])
    n, hosts = rank_layout(args, hosts)
    if n is None and hosts:
        n = sum(s for _, s in hosts)
    parts = []
    if args.n is not None:
        parts.append('%s %d' % (_spelled(args, 'n', '-n'), args.n))
    per_node = _describe_per_node(args, 0)
    if per_node:
        parts.append(per_node)
    listed = ','.join('%s:%d' % h for h in hosts)
    if hosts and not parts:
        parts += ['-H %s' % spec for spec in getattr(args, 'host_specs', [])]
        if getattr(args, 'hostfile', None):
            parts.append('--hostfile %s (%s)' % (args.hostfile, listed))
        parts = parts or ['the hosts %s' % listed]
    elif hosts:
        parts.append('on %d host%s (%s)' % (len(hosts), '' if len(hosts) == 1 else 's', listed))
    return n, ' '.join(parts)


def choose_launcher(args, env=None):
    """Return ``(flavour, program)`` for this machine: local, slurm, or the mpiexec found.

    Raises ``LaunchError`` when more than one rank (or any host) is asked for and neither
    mpiexec nor srun is to be had: one process in place of N would hide the mistake.
    """
    env = os.environ if env is None else env
    n, _ = rank_layout(args, _merge_hosts(args.hosts or []))
    single = n in (None, 1) and not args.hosts
    srun = shutil.which('srun', path=env.get('PATH'))
    if args.launcher == 'local' or (args.launcher == 'auto' and n == 1 and not args.hosts):
        return 'local', None
    if args.launcher == 'slurm' or (args.launcher == 'auto' and env.get('SLURM_JOB_ID') and srun):
        if not srun:
            raise LaunchError('--launcher slurm: srun is not on PATH')
        return 'slurm', srun
    if args.launcher == 'auto' and single:
        return 'local', None
    mpiexec = find_mpiexec(env)
    if mpiexec is None:
        if args.launcher == 'mpi':
            raise LaunchError('--launcher mpi: no mpiexec found next to %s or on PATH '
                              '(pip install "distmod[mpi]" or load an MPI module)' % sys.executable)
        ranks, asked = requested_ranks(args)
        raise LaunchError("%s asks for %s rank%s but no mpiexec or srun was found (mpiexec: next to %s "
                          "or on PATH; srun: on PATH inside a Slurm job); install the MPI extra: "
                          "pip install 'distmod[mpi]'" % (asked, ranks if ranks is not None else 'several',
                                                           '' if ranks == 1 else 's', sys.executable))
    return detect_mpi_flavour(mpiexec), mpiexec


def format_command(argv, env, base_env):
    """The shell-quoted command line, preceded by the variables it adds or changes."""
    added = ['%s=%s' % (k, shlex.quote(v)) for k, v in sorted(env.items()) if base_env.get(k) != v]
    return ' '.join(added + [shlex.quote(a) for a in argv])


def _say(text):
    """One line of the launcher's own on stderr (safe inside a signal handler)."""
    from launch.output import write_all
    try:
        write_all(2, ('distmod-launch: %s\n' % text).encode('utf-8', 'replace'))
    except OSError:
        pass


def describe_failure(failure, code):
    """``rank 1 on HOST killed by SIGKILL`` for a ``(rank, host, code, error)`` failure line
    (``exit code C`` when no rank said why)."""
    if failure is None:
        return 'exit code %d' % code
    rank, host, code = failure[:3]
    if code > 128:
        try:
            return 'rank %s on %s killed by %s' % (rank, host, signal.Signals(code - 128).name)
        except ValueError:
            pass
    return 'rank %s on %s exited with code %d' % (rank, host, code)


def _resuming(args, checkpoint):
    if checkpoint is not None:
        return 'from checkpoint %s (newest complete)' % checkpoint.name
    if args.checkpoint:
        return 'from the beginning (no complete checkpoint %s-NNNN.params yet)' % args.checkpoint
    return 'from the beginning'


class _Supervisor:
    """Runs a job, restarts included, and owns it: the signal handlers, the parent-death
    signal of each run's mpiexec/srun/wrapper, the lifeline, the ``DISTMOD_JOB_ID`` sweeps."""

    def __init__(self, args, flavour, program, ranks):
        self.args, self.flavour, self.program, self.ranks = args, flavour, program, ranks
        self.job_id = job.new_job_id()
        self.stop_signal = None
        self.proc = None
        self.job_stderr = None
        self._lock = threading.RLock()      # RLock: the signal handlers run on the main thread
        self._timer = None
        self._killed = False
        from launch.rank import in_terminal_foreground     # not at import: python -m launch.rank
        self._stop_begun = False
        self._foreground = in_terminal_foreground()
        self.lifeline = job.Lifeline(self.job_id, args.network_interface) if flavour != 'local' else None

    def job_env(self, restart, checkpoint):
        env = {job.JOB_ID: self.job_id, job.RESTART: str(restart),
               'DISTMOD_MAX_RESTARTS': str(self.args.max_restarts)}
        if self.lifeline is not None:
            env.update(self.lifeline.environment())
        env.update(resume_environment(checkpoint))
        env.update(timeout_environment(self.args))
        env.update(device_environment(self.args))
        return env

    def run(self, checkpoint):
        previous = {}
        for name in STOP_SIGNALS:
            signum = getattr(signal, name, None)
            if signum is not None:
                previous[signum] = signal.signal(signum, self._on_signal)
        try:
            return self._run(checkpoint)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if self._timer is not None:
                self._timer.cancel()
            if self.lifeline is not None:
                self.lifeline.close()

    def _run(self, checkpoint):
        args, restart = self.args, 0
        if checkpoint is not None:
            _say('resuming from checkpoint %s (newest complete)' % checkpoint.name)
        while True:
            cmd, env = build_command(args, os.environ, self.flavour, program=self.program,
                                     job_env=self.job_env(restart, checkpoint))
            code, failure = self._attempt(cmd, env, restart)
            if self.stop_signal is not None:
                return 128 + self.stop_signal
            if code == 0:
                return 0
            what = describe_failure(failure, code)
            if restart >= args.max_restarts:
                if args.max_restarts:
                    _say('the job failed (%s); no restarts left (--max-restarts %d): giving up with exit code %d'
                         % (what, args.max_restarts, code))
                return code
            restart += 1
            checkpoint = newest_complete_checkpoint(args.checkpoint) if args.checkpoint else None
            _say('the job failed (%s); restart %d of %d %s' % (what, restart, args.max_restarts,
                                                              _resuming(args, checkpoint)))

    def _attempt(self, cmd, env, restart):
        """Run once; ``(exit code, the first failing rank's (rank, host, code, error) or None)``."""
        from launch.output import JobStderr, pump
        if self.stop_signal is not None:
            return 128 + self.stop_signal, None
        watch_ranks = self.flavour != 'local'
        if self.flavour == 'openmpi':
            job.sweep_mpi_session_dirs(env)     # a killed prterun's files stop the next one of its PID
        try:
            proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE if watch_ranks else None,
                                    preexec_fn=job.parent_death_signal(signal.SIGTERM))
        except OSError as e:
            raise LaunchError('cannot start %s: %s' % (cmd[0], e))
        reader = job_stderr = None
        if watch_ranks:
            job_stderr = JobStderr(sys.stderr.fileno(), ranks=self.ranks, verbose=self.args.verbose,
                                   tagged=self.args.tag_output)
            reader = threading.Thread(target=pump, args=(os.dup(proc.stderr.fileno()), job_stderr), daemon=True)
            proc.stderr.close()
            reader.start()
        with self._lock:
            self.proc, self.job_stderr = proc, job_stderr
            pending = self.stop_signal
        if pending is not None:         # it came while the run was starting
            if job_stderr is not None:
                job_stderr.stopped = True
            self._begin_stop(pending)
        returncode = proc.wait()
        with self._lock:
            self.proc = None
        if reader is not None:
            reader.join(timeout=5)
        # The run is over: what is left of it ends now, on every host (the lifeline's kill) and here.
        if self.lifeline is not None:
            self.lifeline.cut(next_restart=restart + 1)
        job.end_job_processes(self.job_id, restart, kill_now=self._killed)
        if self.flavour == 'openmpi':
            job.sweep_mpi_session_dirs(env)
        code = 128 - returncode if returncode < 0 else returncode
        if job_stderr is not None and job_stderr.failures:
            failure = job_stderr.failures[0]
            return failure[2], failure
        if code != 0 and not watch_ranks:
            return code, ('0', socket.gethostname(), code, None)
        return code, None

    def _forward(self, signum):
        proc = self.proc
        if proc is None or (signum == signal.SIGINT and self._foreground):
            return          # Ctrl-C reached mpiexec/srun (or the one process) through the terminal already
        try:
            proc.send_signal(signum)
        except OSError:
            pass

    def _on_signal(self, signum, frame):
        name = signal.Signals(signum).name
        with self._lock:
            first = self.stop_signal is None
            if first:
                self.stop_signal = signum
                if self.job_stderr is not None:
                    self.job_stderr.stopped = True
        if not first:
            threading.Thread(target=self._kill, args=('%s again' % name,), daemon=True).start()
        elif self.proc is not None:
            self._begin_stop(signum)

    def _begin_stop(self, signum):
        """Pass the stop on to the run, and kill what is left of it after --stop-timeout."""
        with self._lock:
            if self._stop_begun:
                return
            self._stop_begun = True
        name, timeout = signal.Signals(signum).name, self.args.stop_timeout
        _say('%s: stopping the job (what is left of it is killed in %g s)' % (name, timeout))
        self._forward(signum)
        self._timer = threading.Timer(timeout, self._kill,
                                      args=('the job did not end within %g s of %s' % (timeout, name),))
        self._timer.daemon = True
        self._timer.start()

    def _kill(self, why):
        with self._lock:
            proc = self.proc
            if proc is None or self._killed:
                return
            self._killed = True
        _say('%s: killing it' % why)
        if self.lifeline is not None:
            self.lifeline.cut()
        try:
            proc.kill()
        except OSError:
            pass
        job.end_job_processes(self.job_id, kill_now=True)


def main(argv=None):
    """Entry point of ``distmod-launch`` and ``python -m launch``; returns the exit code."""
    args = parse_args(argv)
    try:
        resolve_hosts(args)
        flavour, program = choose_launcher(args)
        args.mpi4py_run = flavour != 'local' and python_has_mpi4py(args.command)
        checkpoint = newest_complete_checkpoint(args.checkpoint) if args.checkpoint else None
        cmd, env = build_command(args, os.environ, flavour, program=program,
                                 job_env=dict(resume_environment(checkpoint),
                                              **timeout_environment(args),
                                              **device_environment(args)))
    except LaunchError as e:
        print('distmod-launch: error: %s' % e, file=sys.stderr)
        return 2
    if args.dry_run:
        print(format_command(cmd, env, os.environ))
        return 0
    try:
        ranks = rank_layout(args, _merge_hosts(args.hosts), flavour == 'slurm')[0]
        return _Supervisor(args, flavour, program, ranks).run(checkpoint)
    except LaunchError as e:
        print('distmod-launch: error: %s' % e, file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
