"""What a user sees from the real ``distmod-launch`` under Open MPI: one traceback and one
line naming the failing rank, no MPI abort boxes, no NUL byte, streaming stderr, ``[R] ``
tags, torchrun's variables on every rank, and mpirun's/torchrun's spellings of the count."""
import os
import re
import select
import signal
import subprocess
import textwrap
import time

import pytest

from tests.launch.helpers import PY, launcher_command, launcher_env, openmpi_missing_reason, run_distmod_launch

SKIP = openmpi_missing_reason()
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or '')

TORCH_VARIABLES = 'echo $RANK $LOCAL_RANK $WORLD_SIZE $LOCAL_WORLD_SIZE'
SUMMARY = re.compile(r"^distmod-launch: rank [01] on \S+ failed: NameError: name 'foo' is not defined "
                     r"\(exit code 1\)$", re.M)


def typo_script(tmp_path, mpi_first):
    """A script that says hello, then dies of a typo on every rank (after MPI_Init or before)."""
    script = tmp_path / 'typo.py'
    script.write_text(('from mpi4py import MPI\n' if mpi_first else '') +
                      'print("hello from a rank", flush=True)\nfoo\n')
    return script


@pytest.mark.parametrize('mpi_first', [True, False], ids=['after-MPI_Init', 'before-MPI_Init'])
def test_typo_on_every_rank_shows_one_traceback_and_one_line_naming_the_rank(tmp_path, mpi_first):
    r = run_distmod_launch(['-n', '2', PY, str(typo_script(tmp_path, mpi_first))], timeout=60)
    assert r.returncode == 1, r.stderr
    assert r.stderr.count('Traceback (most recent call last):') == 1, r.stderr
    assert len(SUMMARY.findall(r.stderr)) == 1 and r.stderr.endswith('(exit code 1)\n'), r.stderr
    assert 'typo.py", line 3, in <module>' in r.stderr or 'typo.py", line 2, in <module>' in r.stderr
    # Open MPI's boxes, the wrappers' raw lines and the mpi4py runner's frames are gone
    for noise in ('MPI_ABORT', 'prterun', '-' * 20, 'exited with code', 'mpi4py', '<frozen runpy>'):
        assert noise not in r.stderr, (noise, r.stderr)
    assert 'hello from a rank' in r.stdout and 'Traceback' not in r.stdout


def test_failing_job_stderr_has_no_nul_byte(tmp_path):
    """prterun ends the MPI_ABORT box it forwards with a NUL (the C string's terminator)."""
    script = typo_script(tmp_path, mpi_first=True)
    for extra in ([], ['--verbose']):
        r = run_distmod_launch(extra + ['-n', '2', PY, str(script)], timeout=60, text=False)
        assert r.returncode == 1
        assert b'\0' not in r.stderr and b'\0' not in r.stdout, r.stderr
        assert b'NameError' in r.stderr


def test_verbose_shows_every_rank_and_open_mpis_messages(tmp_path):
    r = run_distmod_launch(['--verbose', '-n', '2', PY, str(typo_script(tmp_path, mpi_first=True))], timeout=60)
    assert r.returncode == 1
    assert 'MPI_ABORT was invoked' in r.stderr and 'mpi4py' in r.stderr
    assert re.search(r'distmod-launch: rank [01] on \S+ exited with code 1: NameError', r.stderr), r.stderr


def test_first_failing_ranks_exit_code_and_line_without_a_traceback():
    r = run_distmod_launch(['-n', '2', 'sh', '-c', 'if [ "$RANK" = 1 ]; then exit 7; fi; exec sleep 30'], timeout=60)
    assert r.returncode == 7
    assert re.search(r'^distmod-launch: rank 1 on \S+ exited with code 7$', r.stderr, re.M), r.stderr
    assert 'prterun' not in r.stderr


def test_open_mpi_box_is_kept_when_no_rank_could_say_why():
    """A wrapper killed outright prints nothing: prterun's box is then the only account."""
    r = run_distmod_launch(['-n', '2', 'sh', '-c', 'if [ "$RANK" = 1 ]; then kill -9 $PPID; fi; exec sleep 30'],
                           timeout=60)
    assert r.returncode == 137
    assert 'noticed that process rank 1' in r.stderr, r.stderr


def test_users_own_stderr_boxes_and_stdout_pass_unchanged():
    rule = '-' * 74
    code = textwrap.dedent('''
        import os, sys
        if os.environ["RANK"] == "0":
            print("%s\\nmy banner\\n%s", file=sys.stderr)
            print("Traceback (most recent call last):\\n  not really\\nError: on stdout")
    ''' % (rule, rule))
    r = run_distmod_launch(['-n', '2', PY, '-c', code], timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr == '%s\nmy banner\n%s\n' % (rule, rule)
    assert r.stdout == 'Traceback (most recent call last):\n  not really\nError: on stdout\n'


def _read_until(stream, wanted, timeout):
    """Bytes read from ``stream`` until ``wanted`` shows up or ``timeout`` passes."""
    got, end = b'', time.monotonic() + timeout
    while wanted not in got and time.monotonic() < end:
        if select.select([stream], [], [], max(0.0, end - time.monotonic()))[0]:
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            got += chunk
    return got


def _stream_stderr(argv, script, first, then, env=None):
    """Start ``argv``; assert ``first``, then ``then``, reach its stderr while it still runs."""
    proc = subprocess.Popen(argv + [PY, '-c', script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env or launcher_env())
    try:
        for wanted in (first, then):
            got = _read_until(proc.stderr, wanted, timeout=20)
            assert wanted in got and proc.poll() is None, (wanted, got)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        proc.stderr.close()


PROGRESS = ('import os, sys, time\n'
            'if os.environ.get("RANK", "0") == "0":\n'
            '    print("early line", file=sys.stderr, flush=True)\n'
            '    time.sleep(0.5)\n'
            '    sys.stderr.write("%s"); sys.stderr.flush()\n'
            'time.sleep(60)\n')


def test_launcher_streams_rank_stderr_line_by_line_while_ranks_run():
    _stream_stderr(launcher_command() + ['-n', '2'], PROGRESS % 'second line\\n', b'early line\n',
                   b'second line\n')


def test_rank_wrapper_passes_an_unfinished_line_on_while_the_command_runs():
    """A progress bar redrawn with \\r never ends its line.  (Open MPI's own forwarding holds
    such a line until its newline, so this is checked on the wrapper itself.)"""
    _stream_stderr([PY, '-m', 'launch.rank', '--'], PROGRESS % '\\rprogress 50%', b'early line\n',
                   b'\rprogress 50%')


def test_tag_output_prefixes_every_line_with_its_rank():
    code = 'import os, sys; r = os.environ["RANK"]; print("out", r); print("err", r, file=sys.stderr)'
    r = run_distmod_launch(['--tag-output', '-n', '2', PY, '-c', code], timeout=60)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == ['[0] out 0', '[1] out 1']
    assert sorted(r.stderr.splitlines()) == ['[0] err 0', '[1] err 1']
    one = run_distmod_launch(['--tag-output', PY, '-c', code], timeout=60)      # one process, directly
    assert (one.returncode, one.stdout, one.stderr) == (0, '[0] out 0\n', '[0] err 0\n')


def test_tag_output_keeps_a_failing_ranks_traceback_tagged(tmp_path):
    r = run_distmod_launch(['--tag-output', '-n', '2', PY, str(typo_script(tmp_path, mpi_first=True))],
                           timeout=60)
    assert r.returncode == 1
    assert re.search(r"^\[[01]\] NameError: name 'foo' is not defined$", r.stderr, re.M), r.stderr
    assert len(SUMMARY.findall(r.stderr)) == 1, r.stderr


def test_every_rank_gets_torchruns_variables():
    r = run_distmod_launch(['-n', '2', 'sh', '-c', TORCH_VARIABLES], timeout=60)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == ['0 0 2 2', '1 1 2 2']
    one = run_distmod_launch(['-n', '1', 'sh', '-c', TORCH_VARIABLES], timeout=60)
    assert one.stdout == '0 0 1 1\n'


@pytest.mark.parametrize('count', [['-np', '2'], ['--nproc-per-node', '2'], ['--nproc_per_node', '2'],
                                   ['--nnodes', '1', '--nproc-per-node', '2']])
def test_mpirun_and_torchrun_spellings_start_two_ranks(count):
    r = run_distmod_launch(count + ['sh', '-c', TORCH_VARIABLES], timeout=60)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == ['0 0 2 2', '1 1 2 2']


def test_nproc_per_node_on_each_of_nnodes_hosts(tmp_path):
    agent = tmp_path / 'fake-ssh'       # "another host" that is this one, reached without ssh
    agent.write_text('#!/bin/sh\nshift\nexec sh -c "$*"\n')
    agent.chmod(0o755)
    r = run_distmod_launch(['--nproc-per-node', '1', '--nnodes', '2', '-H', 'fakehost,localhost,unused',
                            '--rsh-agent', str(agent), 'sh', '-c', TORCH_VARIABLES], timeout=60)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == ['0 0 2 1', '1 0 2 1']      # one rank on each of 2 hosts


def test_rank_wrapper_sets_torchruns_variables_from_mpich_and_slurm():
    show = 'import os; print(*(os.environ.get(k) for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")))'
    for given, expected in (
            ({'PMI_RANK': '2', 'PMI_SIZE': '4', 'MPI_LOCALRANKID': '0', 'MPI_LOCALNRANKS': '2'}, '2 0 4 2'),
            ({'SLURM_PROCID': '3', 'SLURM_LOCALID': '1', 'SLURM_STEP_NUM_TASKS': '4',
              'SLURM_STEP_TASKS_PER_NODE': '2(x2)', 'SLURM_NODEID': '1'}, '3 1 4 2')):
        r = subprocess.run([PY, '-m', 'launch.rank', '--', PY, '-c', show], env=launcher_env(**given),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
        assert (r.returncode, r.stdout.strip()) == (0, expected), r.stderr


def test_help_ends_with_examples_and_the_environment():
    r = run_distmod_launch(['--help'])
    assert r.returncode == 0
    examples = r.stdout.index('examples:')
    assert r.stdout.index('--tag-output') < examples         # the options come first
    tail = r.stdout[examples:]
    for text in ('-H node1:4,node2:4', '--hostfile hosts', 'Slurm', 'one rank per GPU', "LOCAL_RANK",
                 'RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE', 'OMP_NUM_THREADS', 'OMPI_ALLOW_RUN_AS_ROOT',
                 'SLURM_JOB_ID', "pip install 'distmod[mpi]'"):
        assert text in tail, text
