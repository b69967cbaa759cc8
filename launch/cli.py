"""``distmod-launch``: start a distmod job with mpiexec (Open MPI or MPICH), srun, or directly.

Usage::

    distmod-launch [-n N | -np N] [--nproc-per-node N] [--nnodes M]
                   [-H host[:slots],...] [--hostfile FILE]
                   [--launcher auto|local|mpi|slurm] [--rsh-agent CMD]
                   [--network-interface IFACE_OR_CIDR] [-x NAME[=VALUE]]...
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
import subprocess
import sys
import threading

__all__ = ['parse_args', 'parse_hosts', 'parse_hostfile', 'resolve_hosts', 'find_mpiexec',
           'detect_mpi_flavour', 'choose_launcher', 'python_has_mpi4py', 'rank_layout',
           'requested_ranks', 'build_command', 'format_command', 'main', 'LaunchError']

FLAVOURS = ('openmpi', 'openmpi4', 'mpich', 'slurm', 'local')
PYTHON = re.compile(r'^python[0-9.]*$')


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
environment read:
  SLURM_JOB_ID        set: a Slurm job, so srun starts the ranks (--launcher overrides)
  PATH                where mpiexec (after the one next to this Python) and srun are found
  OMP_NUM_THREADS     kept as it is when set

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


def build_command(args, env, mpi_flavour, program=None, cores=None, is_root=None):
    """Build the launch: return ``(argv, env)`` for ``subprocess``; pure, no I/O.

    ``args`` is a namespace like ``parse_args`` returns, with ``hosts`` already a list of
    ``(name, slots)`` pairs (``-H`` and the host file merged; see ``resolve_hosts``).
    ``mpi_flavour`` is one of 'openmpi' (5+, PRRTE), 'openmpi4', 'mpich', 'slurm', 'local'.
    ``program`` is the mpiexec/srun path (default the bare name), ``cores`` the cores per
    host (default ``os.cpu_count()``), ``is_root`` whether we run as root (default euid 0).
    The returned env is a new dict: ``env`` plus what the launch adds.
    """
    if mpi_flavour not in FLAVOURS:
        raise LaunchError('unknown MPI flavour %r (one of %s)' % (mpi_flavour, ', '.join(FLAVOURS)))
    cores = (os.cpu_count() or 1) if cores is None else cores
    is_root = (hasattr(os, 'geteuid') and os.geteuid() == 0) if is_root is None else is_root
    env = dict(env)
    user_set_omp = 'OMP_NUM_THREADS' in env or any(
        x.partition('=')[0] == 'OMP_NUM_THREADS' for x in args.exports)
    exports = _exports(args.exports, env)
    n, hosts = rank_layout(args, _merge_hosts(getattr(args, 'hosts', None) or []), mpi_flavour == 'slurm')
    command = list(args.command)

    if mpi_flavour == 'local':
        if n not in (None, 1) or hosts:
            raise LaunchError('the local launcher runs one process; use -n 1 or an MPI launcher')
        if not user_set_omp:
            env['OMP_NUM_THREADS'] = str(max(1, cores))
        env.update(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', LOCAL_WORLD_SIZE='1')
        return command, env

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
    wrapper_options = [option for option, wanted in (('--tag-output', getattr(args, 'tag_output', False)),
                                                     ('--verbose', getattr(args, 'verbose', False))) if wanted]
    wrapped = [sys.executable, '-m', 'launch.rank'] + wrapper_options + ['--'] + command
    iface = args.network_interface

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


def _run(argv, env, watch_ranks, tag_output=False, verbose=False, ranks=None):
    """Run the launch, forwarding signals; return the first failing rank's exit code.

    Without ``watch_ranks`` (one process, run directly) the command runs in the foreground,
    its lines tagged ``[0] `` with ``tag_output``.  With it, mpiexec's or srun's stderr goes
    through ``launch.output.JobStderr`` (see there), which turns the wrappers'
    ``rank R on HOST exited with code C`` lines into the summary; the first gives the code.
    """
    from launch.output import JobStderr, pump
    from launch.rank import in_terminal_foreground, run_child
    if not watch_ranks:
        return run_child(argv, env, tag=b'[0] ' if tag_output else None)[0]
    try:
        proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE)
    except OSError as e:
        raise LaunchError('cannot start %s: %s' % (argv[0], e))
    job_stderr = JobStderr(sys.stderr.fileno(), ranks=ranks, verbose=verbose, tagged=tag_output)
    reader = threading.Thread(target=pump, args=(os.dup(proc.stderr.fileno()), job_stderr), daemon=True)
    proc.stderr.close()
    reader.start()
    foreground = in_terminal_foreground()

    def forward(signum, frame):
        if signum == signal.SIGINT and foreground:
            return          # Ctrl-C reached mpiexec/srun through the terminal already
        try:
            proc.send_signal(signum)
        except OSError:
            pass

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    try:
        returncode = proc.wait()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    reader.join(timeout=5)
    if job_stderr.failures:
        return job_stderr.failures[0][2]
    return 128 - returncode if returncode < 0 else returncode


def main(argv=None):
    """Entry point of ``distmod-launch`` and ``python -m launch``; returns the exit code."""
    args = parse_args(argv)
    try:
        resolve_hosts(args)
        flavour, program = choose_launcher(args)
        args.mpi4py_run = flavour != 'local' and python_has_mpi4py(args.command)
        cmd, env = build_command(args, os.environ, flavour, program=program)
    except LaunchError as e:
        print('distmod-launch: error: %s' % e, file=sys.stderr)
        return 2
    if args.dry_run:
        print(format_command(cmd, env, os.environ))
        return 0
    try:
        return _run(cmd, env, watch_ranks=flavour != 'local', tag_output=args.tag_output,
                    verbose=args.verbose, ranks=rank_layout(args, _merge_hosts(args.hosts), flavour == 'slurm')[0])
    except LaunchError as e:
        print('distmod-launch: error: %s' % e, file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
