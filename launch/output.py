"""Line-level handling of a job's output, shared by ``launch.rank`` and ``distmod-launch``.

``LineGrouper`` cuts a byte stream into lines and hands them on, keeping a Python traceback
(a chained one counts as one) and, when asked, an Open MPI help box (the text between two
rules of 74 dashes) together as one group.  Nothing waits long: a line whose newline has not
come within ``HOLD_S`` is passed on as it is (a progress bar redrawn with ``\\r`` never ends
its line), and so is a group that stops growing.

``launch.rank`` copies its command's stderr through one: it notes the error line that ends
the last traceback (for its ``rank R on HOST exited with code C: ERROR`` line), drops the
leading frames of runpy and mpi4py's runner (``python -m mpi4py`` is the launcher's doing,
not the user's), and writes every traceback in one piece, so that the tracebacks of several
ranks reach mpiexec whole rather than interleaved line by line.

``JobStderr`` is what ``distmod-launch`` makes of the ranks' merged stderr: the first
failing rank's line becomes ``distmod-launch: rank R on HOST failed: ERROR (exit code C)``;
a traceback identical to one shown moments before (every rank raising the same error) is
shown once (unless ``tagged``: ``--tag-output`` asks for every rank's lines); Open MPI's
boxes that only repeat that a rank failed or called MPI_Abort are dropped (and shown at the
end after all when no rank's failure line arrived, since they are then the only account);
NUL bytes are dropped (prterun ends the MPI_ABORT box it forwards from a rank with the C
string's terminating NUL, which makes grep call a captured log binary).  With ``verbose``
everything but the NUL bytes is passed on as it came.  Standard output is never read here:
user output on stdout goes straight through.
"""
import errno
import os
import re
import select
import time

__all__ = ['HOLD_S', 'LineGrouper', 'JobStderr', 'RANK_FAILURE', 'error_of_traceback',
           'trim_runner_frames', 'pump', 'write_all']

HOLD_S = 0.2
MAX_GROUP_LINES = 5000
TRACEBACK_HEADER = 'Traceback (most recent call last):'
CHAIN_LINES = ('During handling of the above exception, another exception occurred:',
               'The above exception was the direct cause of the following exception:')
FRAME = re.compile(r'^  File "(.*)", line \d+')
OPEN_MPI_RULE = '-' * 74
TAG = re.compile(r'^\[(?:\d+|\?)\] ')      # launch.rank --tag-output
#: The per-rank wrapper's failure line (see ``launch.rank``).
RANK_FAILURE = re.compile(r'distmod-launch: rank (\S+) on (\S+) '
                          r'(exited with code (\d+)|was killed by signal \S+ \(exit code (\d+)\))'
                          r'(?:: (.*))?$')
#: Open MPI boxes that only say, at length, that a rank failed or aborted (Open MPI 5 and 4).
FAILURE_BOXES = re.compile(r'MPI_ABORT was invoked on rank'
                           r'|has exited due to process rank'
                           r'|detected that one or more processes exited with non-zero status'
                           r'|Primary job\s+terminated normally'
                           r'|noticed that process rank')


def _text(line):
    return line.decode('utf-8', 'replace').rstrip('\n').rstrip('\r')


def write_all(fd, data):
    """``os.write`` until all of ``data`` is written (a pipe may take it in parts)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except InterruptedError:        # pragma: no cover - PEP 475 retries anyway
            continue


class LineGrouper:
    """Cuts a byte stream into lines and groups; calls ``emit(kind, lines)`` in stream order.

    ``kind`` is 'line' (complete lines, not grouped), 'text' (bytes of a line passed on
    before its newline arrived; the rest of that line follows as 'text' too), 'traceback'
    (a complete Python traceback) or 'box' (an Open MPI help box; only with ``boxes``).
    ``lines`` is a list of bytes, each with its newline.  ``strip`` is a regex of a prefix
    (a rank tag) to ignore when recognising a line.  Call ``poll`` when ``deadline``
    (a ``clock`` time, or None) has passed, and ``close`` at the end of the stream.
    """

    def __init__(self, emit, boxes=False, strip=None, hold_s=HOLD_S, clock=time.monotonic):
        self._emit = emit
        self._boxes = boxes
        self._strip = strip
        self._hold_s = hold_s
        self._clock = clock
        self._partial = b''
        self._partial_since = None
        self._midline = False       # a line already passed on in part: its rest goes as 'text'
        self._group = []
        self._kind = None           # 'traceback' or 'box' while a group is open
        self._state = None          # traceback: 'frames', 'error', 'blank', 'chain'
        self._tail = []             # lines after a traceback's error that may still belong to it
        self._group_since = None

    def feed(self, data):
        now = self._clock()
        lines = (self._partial + data).split(b'\n')
        self._partial = lines.pop()
        if lines:
            self._partial_since = None
        for line in lines:
            line += b'\n'
            if self._midline:
                self._midline = False
                self._emit('text', [line])
            else:
                self._line(line, now)
        if self._partial:
            if self._midline:
                self._emit('text', [self._partial])
                self._partial = b''
            elif self._partial_since is None:
                self._partial_since = now

    def deadline(self):
        times = []
        if self._kind is not None:
            times.append(self._group_since + self._hold_s)
        if self._partial:
            times.append(self._partial_since + self._hold_s)
        return min(times) if times else None

    def poll(self):
        now = self._clock()
        if self._kind is not None and now >= self._group_since + self._hold_s:
            self._end_group()
        if self._partial and now >= self._partial_since + self._hold_s:
            if self._kind is not None:
                self._end_group()
            self._emit('text', [self._partial])
            self._partial, self._partial_since, self._midline = b'', None, True

    def close(self):
        """End of the stream.  A last line without its newline (a process killed between a
        line and its newline) is ended with one, so that what follows starts a line of its own;
        when it was not passed on in part, it is taken as a whole line (a rank's failure line
        is recognised).  (A line passed on in part leaves nothing held: ``feed`` passes the
        rest of it on at once.)"""
        if self._partial:
            self._line(self._partial + b'\n', self._clock())
            self._partial, self._partial_since = b'', None
        if self._kind is not None:
            self._end_group()
        if self._midline:
            self._emit('text', [b'\n'])
            self._midline = False

    def _line(self, line, now):
        text = _text(line)
        if self._strip is not None:
            text = self._strip.sub('', text, count=1)
        if self._kind == 'box':
            self._group.append(line)
            self._group_since = now
            if text == OPEN_MPI_RULE or len(self._group) >= MAX_GROUP_LINES:
                self._end_group()
            return
        if self._kind == 'traceback':
            if self._traceback_line(text, line):
                self._group_since = now
                return
            self._end_group()           # it ended before this line: look at the line afresh
        if self._boxes and text == OPEN_MPI_RULE:
            self._open('box', line, now)
        elif text == TRACEBACK_HEADER or FRAME.match(text):    # FRAME: a bare SyntaxError
            self._open('traceback', line, now)
            self._state = 'frames'
        else:
            self._emit('line', [line])

    def _open(self, kind, line, now):
        self._kind, self._group, self._group_since = kind, [line], now

    def _traceback_line(self, text, line):
        """Take ``line`` into the open traceback; False when the traceback ended before it."""
        if len(self._group) >= MAX_GROUP_LINES:
            return False
        if self._state == 'frames':
            if text[:1] in (' ', '\t'):
                self._group.append(line)
                return True
            if not text or text == TRACEBACK_HEADER:
                return False
            self._group.append(line)        # the exception line: ``NameError: ...``
            self._state = 'error'
            return True
        if self._state == 'error' and not text:
            self._tail.append(line)
            self._state = 'blank'
            return True
        if self._state == 'blank' and text in CHAIN_LINES:
            self._group += self._tail + [line]
            self._tail, self._state = [], 'chain'
            return True
        if self._state == 'chain':
            if not text or text == TRACEBACK_HEADER:
                self._group.append(line)
                self._state = 'frames' if text else 'chain'
                return True
        return False

    def _end_group(self):
        kind, group, tail, state = self._kind, self._group, self._tail, self._state
        self._kind, self._group, self._tail, self._state, self._group_since = None, [], [], None, None
        complete = ((kind == 'box' and len(group) > 1 and _text(group[-1]).endswith(OPEN_MPI_RULE))
                    or (kind == 'traceback' and state in ('error', 'blank')))
        self._emit(kind if complete else 'line', group)
        if tail:
            self._emit('line', tail)


def error_of_traceback(lines):
    """The error a traceback's lines end with (``NameError: name 'foo' is not defined``)."""
    for line in reversed(lines):
        text = _text(line).strip()
        if text:
            return text
    return None


def _is_runner_file(name):
    base = os.path.basename(name)
    return (name == '<frozen runpy>' or base == 'runpy.py'
            or os.path.basename(os.path.dirname(name)) == 'mpi4py' and base in ('__main__.py', 'run.py'))


def trim_runner_frames(lines):
    """Drop a traceback's leading frames of runpy and mpi4py's runner (``python -m mpi4py``).

    Left as it is unless an mpi4py frame is among them and a frame of the user's follows.
    """
    if not lines or _text(lines[0]) != TRACEBACK_HEADER:
        return lines
    i, saw_mpi4py = 1, False
    while i < len(lines):
        m = FRAME.match(_text(lines[i]))
        if not m or not _is_runner_file(m.group(1)):
            break
        saw_mpi4py = saw_mpi4py or 'mpi4py' in m.group(1)
        i += 1
        while i < len(lines) and _text(lines[i]).startswith('    '):
            i += 1
    if not saw_mpi4py or i >= len(lines) or not FRAME.match(_text(lines[i])):
        return lines
    return lines[:1] + lines[i:]


def pump(fd, grouper):
    """Read ``fd`` to its end into ``grouper``, polling it on time; then close both."""
    try:
        while True:
            deadline = grouper.deadline()
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            if timeout is not None and not select.select([fd], [], [], timeout)[0]:
                grouper.poll()
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError as e:
                if e.errno != errno.EIO:        # EIO: a pty whose other end is closed
                    raise
                chunk = b''
            if not chunk:
                break
            grouper.feed(chunk)
            grouper.poll()
    finally:
        grouper.close()
        os.close(fd)


class JobStderr:
    """The ranks' merged stderr as ``distmod-launch`` shows it (see the module docstring).

    Feed it with ``feed``; ``failures`` lists ``(rank, host, code, error)`` in the order the
    ranks' failure lines came.  ``ranks`` (None: unknown) bounds how many copies of one
    traceback count as "every rank raising the same error"; ``tagged`` says lines begin with
    a ``[R] `` tag (and keeps every rank's traceback).  ``out_fd`` is where it all goes.
    Set ``stopped`` when the launcher stops the job (a signal): the held boxes, which then
    only say that the ranks were told to end, are not shown at the end.
    """

    #: Copies of one traceback further apart than this are not the ranks failing together.
    SAME_FAILURE_S = 30.0

    def __init__(self, out_fd, ranks=None, verbose=False, tagged=False, clock=time.monotonic):
        self.failures = []
        self.stopped = False
        self._fd = out_fd
        self._ranks = ranks
        self._verbose = verbose
        self._tagged = tagged
        self._clock = clock
        self._boxes_held = []
        self._tracebacks = {}           # traceback text -> (first seen, copies dropped)
        self._errors_shown = set()
        self._grouper = LineGrouper(self._take, boxes=not verbose, strip=TAG if tagged else None,
                                    clock=clock)

    def feed(self, data):
        self._grouper.feed(data.replace(b'\0', b''))

    def deadline(self):
        return self._grouper.deadline()

    def poll(self):
        self._grouper.poll()

    def close(self):
        """End of the stream: show the held boxes if no rank's failure line explained the end."""
        self._grouper.close()
        if not self.failures and not self.stopped:
            for box in self._boxes_held:
                self._write(box)
        self._boxes_held = []

    def _write(self, lines):
        write_all(self._fd, b''.join(lines))

    def _take(self, kind, lines):
        if self._verbose:
            for line in lines:
                m = RANK_FAILURE.search(_text(line))
                if m:
                    self._summary(m)
            self._write(lines)
        elif kind == 'traceback':
            if self._tagged or not self._seen_before(lines):    # tagged: the user asked for every rank's lines
                self._write(lines)
        elif kind == 'box' and FAILURE_BOXES.search(b''.join(lines).decode('utf-8', 'replace')):
            self._boxes_held.append(lines)
        elif kind == 'text':
            self._write(lines)
        else:
            shown = []
            for line in lines:
                m = RANK_FAILURE.search(_text(line))
                shown.append(line if m is None else self._summary(m))
            self._write(shown)

    def _summary(self, m):
        """Record a rank's failure line; return what to show for it (b'' for nothing)."""
        rank, host, how, code_a, code_b, error = m.groups()
        code = int(code_a or code_b)
        first = not self.failures
        self.failures.append((rank, host, code, error))
        if first and error:
            text = 'rank %s on %s failed: %s (exit code %d)' % (rank, host, error, code)
        elif first:
            text = 'rank %s on %s %s' % (rank, host, how)
        elif error and error not in self._errors_shown:
            text = 'rank %s on %s also failed: %s (exit code %d)' % (rank, host, error, code)
        else:
            return b''          # the same error again, from another rank
        if error:
            self._errors_shown.add(error)
        return ('distmod-launch: %s\n' % text).encode('utf-8', 'replace')

    def _seen_before(self, lines):
        key = b''.join(lines)
        now = self._clock()
        first, dropped = self._tracebacks.get(key, (None, 0))
        if first is None or now - first > self.SAME_FAILURE_S:
            self._tracebacks[key] = (now, 0)
            return False
        if self._ranks is not None and dropped + 1 >= self._ranks:
            return False            # more copies than ranks: this is output, not a shared failure
        self._tracebacks[key] = (first, dropped + 1)
        return True
