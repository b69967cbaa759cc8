"""launch.output: lines and groups of a job's output, and what distmod-launch makes of the
ranks' merged stderr (with a hand-driven clock, so that holding times are exact)."""
import os

from launch.output import HOLD_S, JobStderr, LineGrouper, error_of_traceback, trim_runner_frames

RULE = b'-' * 74 + b'\n'
TRACEBACK = (b'Traceback (most recent call last):\n'
             b'  File "/x/train.py", line 3, in <module>\n'
             b'    foo\n'
             b"NameError: name 'foo' is not defined\n")
MPI4PY_TRACEBACK = (b'Traceback (most recent call last):\n'
                    b'  File "<frozen runpy>", line 198, in _run_module_as_main\n'
                    b'  File "/v/lib/python3.11/site-packages/mpi4py/__main__.py", line 8, in <module>\n'
                    b'    main()\n'
                    b'  File "/v/lib/python3.11/site-packages/mpi4py/run.py", line 53, in run_command_line\n'
                    b'    run_path(sys.argv[0], run_name="__main__")\n'
                    b'  File "<frozen runpy>", line 291, in run_path\n'
                    b'  File "/x/train.py", line 3, in <module>\n'
                    b'    foo\n'
                    b"NameError: name 'foo' is not defined\n")
ABORT_BOX = (RULE + b'MPI_ABORT was invoked on rank 1 in communicator MPI_COMM_WORLD\n'
             b'  Proc: [[1,1],1]\n  Errorcode: 1\n' + RULE)
FAILED_1 = b"distmod-launch: rank 1 on vm exited with code 1: NameError: name 'foo' is not defined\n"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def grouper(**kw):
    got, clock = [], Clock()
    return LineGrouper(lambda kind, lines: got.append((kind, b''.join(lines))), clock=clock, **kw), got, clock


def test_a_traceback_is_one_group_even_when_it_comes_in_pieces():
    g, got, _ = grouper()
    g.feed(b'before\n' + TRACEBACK[:30])
    g.feed(TRACEBACK[30:] + b'after\n')
    assert got == [('line', b'before\n'), ('traceback', TRACEBACK), ('line', b'after\n')]


def test_a_chained_traceback_is_one_group():
    chained = TRACEBACK + (b'\nDuring handling of the above exception, another exception occurred:\n\n'
                           + TRACEBACK.replace(b'NameError', b'KeyError'))
    g, got, _ = grouper()
    g.feed(chained)
    g.close()
    assert got == [('traceback', chained)]
    assert error_of_traceback(chained.splitlines(True)) == "KeyError: name 'foo' is not defined"


def test_an_unfinished_line_is_passed_on_after_the_hold_time():
    g, got, clock = grouper()
    g.feed(b'\rprogress 10%')
    g.poll()
    assert got == [] and g.deadline() == HOLD_S
    clock.now = HOLD_S
    g.poll()
    g.feed(b'\rprogress 20%')           # the rest of a line already begun goes straight on
    g.feed(b' done\nnext\n')
    assert got == [('text', b'\rprogress 10%'), ('text', b'\rprogress 20%'), ('text', b' done\n'),
                   ('line', b'next\n')]


def test_a_last_line_without_its_newline_is_ended_at_the_close():
    g, got, clock = grouper()
    g.feed(b'a\nlast')                 # a process killed between a line and its newline
    g.close()
    assert got == [('line', b'a\n'), ('line', b'last\n')]
    g, got, clock = grouper()
    g.feed(b'progress 10%')
    clock.now = HOLD_S
    g.poll()                            # passed on in part: only the newline is added
    g.close()
    assert got == [('text', b'progress 10%'), ('text', b'\n')]


def test_a_rank_failure_line_cut_before_its_newline_still_counts():
    stderr, r, w, _ = job(ranks=2)
    stderr.feed(b'distmod-launch: rank 1 on vm exited with code 10\n'
                b'distmod-launch: rank 0 on vm exited with code 10')
    out = finish(stderr, r, w)
    assert out == b'distmod-launch: rank 1 on vm exited with code 10\n'
    assert [f[:3] for f in stderr.failures] == [('1', 'vm', 10), ('0', 'vm', 10)]


def test_a_group_that_stops_growing_is_passed_on_as_plain_lines():
    g, got, clock = grouper(boxes=True)
    g.feed(RULE + b'a line of the user between rules?\n')
    clock.now = HOLD_S
    g.poll()
    assert got == [('line', RULE + b'a line of the user between rules?\n')]


def test_runner_frames_are_dropped_only_when_mpi4py_put_them_there():
    trimmed = b''.join(trim_runner_frames(MPI4PY_TRACEBACK.splitlines(True)))
    assert trimmed == TRACEBACK
    assert trim_runner_frames(TRACEBACK.splitlines(True)) == TRACEBACK.splitlines(True)
    runpy_only = (b'Traceback (most recent call last):\n  File "<frozen runpy>", line 198, in _run_module_as_main\n'
                  b'  File "/x/mod.py", line 1, in <module>\nValueError\n').splitlines(True)
    assert trim_runner_frames(runpy_only) == runpy_only       # python -m mod: the user's own runpy


def job(**kw):
    read_end, write_end = os.pipe()
    clock = Clock()
    return JobStderr(write_end, clock=clock, **kw), read_end, write_end, clock


def finish(stderr, read_end, write_end):
    stderr.close()
    os.close(write_end)
    with os.fdopen(read_end, 'rb') as f:
        return f.read()


def test_job_stderr_shows_a_shared_traceback_once_and_names_the_first_failing_rank():
    stderr, r, w, _ = job(ranks=2)
    stderr.feed(TRACEBACK + TRACEBACK + ABORT_BOX + b'\0' + FAILED_1 +
                b"distmod-launch: rank 0 on vm exited with code 1: NameError: name 'foo' is not defined\n" +
                RULE + b'prterun has exited due to process rank 1 with PID 0 on node vm calling\n' + RULE)
    out = finish(stderr, r, w)
    assert out == TRACEBACK + b"distmod-launch: rank 1 on vm failed: NameError: name 'foo' is not defined " \
                              b"(exit code 1)\n"
    assert stderr.failures[0] == ('1', 'vm', 1, "NameError: name 'foo' is not defined")


def test_job_stderr_names_a_second_rank_whose_error_differs():
    stderr, r, w, _ = job(ranks=2)
    stderr.feed(FAILED_1 + b'distmod-launch: rank 0 on vm exited with code 2: KeyError: 3\n')
    assert finish(stderr, r, w).splitlines()[1] == b'distmod-launch: rank 0 on vm also failed: KeyError: 3 ' \
                                                   b'(exit code 2)'


def test_job_stderr_keeps_repeats_beyond_the_rank_count_or_the_time_window():
    stderr, r, w, clock = job(ranks=2)
    stderr.feed(TRACEBACK * 3 + b'x\n')             # 3 copies from 2 ranks: one is the user's own
    clock.now = JobStderr.SAME_FAILURE_S + 1
    stderr.feed(TRACEBACK)                          # much later: not the same failure
    assert finish(stderr, r, w) == TRACEBACK * 2 + b'x\n' + TRACEBACK


def test_job_stderr_shows_the_boxes_when_no_rank_said_why_and_drops_nul_bytes():
    stderr, r, w, _ = job(ranks=2)
    stderr.feed(ABORT_BOX + b'\0')
    assert finish(stderr, r, w) == ABORT_BOX


def test_job_stderr_verbose_passes_everything_but_nul_bytes():
    stderr, r, w, _ = job(ranks=2, verbose=True)
    data = TRACEBACK + TRACEBACK + ABORT_BOX + FAILED_1
    stderr.feed(data[:100] + b'\0' + data[100:])
    assert finish(stderr, r, w) == data and stderr.failures[0][:3] == ('1', 'vm', 1)


def test_job_stderr_passes_other_open_mpi_boxes_at_once():
    stderr, r, w, _ = job(ranks=2)
    box = RULE + b'There are not enough slots available in the system to satisfy the 9\n' + RULE
    stderr.feed(box + FAILED_1)
    assert finish(stderr, r, w).startswith(box)
