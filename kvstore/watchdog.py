"""The watchdog: every collective a distributed store makes has a deadline, and a job in which
one rank fails in any way (raises, dies, hangs, is stopped, leaves early) ends, naming it.

How it works, per process (one :class:`Watchdog`, made with the first distributed store):

* Every collective is counted on its *channel* (a communicator; ranks make the collectives of
  a channel in the same order, so the counts match across ranks) and waited for by
  :meth:`Watchdog.wait`: a non-blocking request tested with a short spin then a sleep
  back-off (a rank waiting for a late one uses no CPU), until its deadline.  The gradient
  reduction keeps MPI's faster blocking calls behind a :meth:`Watchdog.gate` (a non-blocking
  barrier, waited for the same way, so the wait for a late rank happens there), and every
  blocking call is registered (:meth:`Watchdog.blocking`): the watchdog's thread watches its
  deadline.
* The deadline is ``DISTMOD_TIMEOUT`` seconds (default 60) once the first training step is
  done, ``DISTMOD_FIRST_TIMEOUT`` (default 300, or ``DISTMOD_TIMEOUT`` when only that is set)
  before, which covers binding and the first step's set-up.
* A wait of ``_PROBE_S`` (15 s) asks the other ranks' watchdog threads whether they are
  there at all: a rank that cannot answer (stopped, dead, stuck in native code holding the
  interpreter) ends the job then, within about 17 s, whatever the deadline.
* When a deadline passes, the waiting rank asks every other rank's watchdog thread, on a
  communicator of its own, where it is.  A rank that is busy with work every rank expects
  (rank 0 writing a checkpoint: :meth:`Watchdog.busy`) extends the wait; otherwise the rank
  prints one error naming the ranks that did not arrive, what they are doing (outside
  distmod since how long, last seen where) or that they did not answer (stopped, dead, or
  stuck in native code), the collective (its phase, epoch and batch) and how long it waited,
  then aborts the job (``MPI_Abort``), which ends every rank.
* A rank that leaves (its script ends, or ``sys.exit`` inside ``fit``) tells the others, with
  how far it got on each channel: a rank waiting in, or later starting, a collective the
  leaver never made fails at once, naming it.  A rank that leaves after its last collective
  is the normal end of a job and changes nothing.

The fit loop says where it is (``where(epoch=..., batch=...)``) and when its first step is
done (``first_step_done``); the messages name those.
"""
import atexit
import json
import os
import select
import signal
import sys
import threading
import time

from ._common import launched_by_mpi

__all__ = ['Watchdog', 'get', 'enabled', 'deadlines', 'JobFailure', 'import_mpi']

_TAG_QUERY, _TAG_ANSWER, _TAG_LEFT, _TAG_HELLO, _TAG_GO = 7101, 7102, 7103, 7104, 7105
_SPIN_S = 0.002                # how long a wait tests before it sleeps (s)
_MAX_SLEEP = 0.002             # the back-off's longest sleep (s)
_SERVE_S = 0.25               # how often the watchdog thread looks for queries and deadlines
_ANSWER_GRACE = 2.0            # how long a rank whose deadline passed waits for the answers
_PROBE_S = 15.0                # a wait this long asks the others: a silent rank fails it now


class JobFailure(RuntimeError):
    """Another rank failed: the job cannot go on (raised where aborting is not possible)."""


def deadlines(env=None):
    """``(first, steady)``: the seconds a collective may wait before and after the first
    training step (``DISTMOD_FIRST_TIMEOUT``/``DISTMOD_TIMEOUT``)."""
    env = os.environ if env is None else env

    def read(name):
        text = env.get(name)
        if text in (None, ''):
            return None
        try:
            value = float(text)
        except ValueError:
            raise ValueError('%s=%r is not a number of seconds' % (name, text)) from None
        if value <= 0:
            raise ValueError('%s=%r must be positive' % (name, text))
        return value
    steady = read('DISTMOD_TIMEOUT')
    first = read('DISTMOD_FIRST_TIMEOUT')
    if first is None:
        first = steady if steady is not None else 300.0
    return first, steady if steady is not None else 60.0


def _ago(t):
    return '%.1f s' % max(0.0, time.monotonic() - t)


class _Call:
    """A collective in progress on this rank."""
    __slots__ = ('channel', 'seq', 'what', 'since', 'where', 'blocking', 'deadline', 'probe')

    def __init__(self, channel, seq, what, where, blocking, deadline):
        self.channel, self.seq, self.what = channel, seq, what
        self.since = time.monotonic()
        self.where, self.blocking, self.deadline = where, blocking, deadline
        self.probe = self.since + _PROBE_S


class Watchdog:
    """See the module.  ``comm``: the job's communicator (its size and ranks are the job's);
    the watchdog talks on a duplicate of it."""

    def __init__(self, comm, MPI):
        self.MPI = MPI
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.first, self.steady = deadlines()
        self.started = False            # the first training step is done
        self.seq = {}                   # channel -> collectives started on it
        self.calls = {}                 # id -> _Call in progress (main and reducer threads)
        self.left = {}                  # rank -> its goodbye (seq, where)
        self.location = {}              # epoch, batch, phase as the fit loop says
        self.last = None                # (what, where, when) of the latest collective ended
        self.busy_what = None           # (what, since) of expected one-rank work
        self.failed = False
        self._lock = threading.Lock()
        self._query_lock = threading.Lock()
        self._closing = False
        self._pending = []              # our small messages not yet sent
        self._send_lock = threading.Lock()
        self._status_obj = MPI.Status()
        rendezvous(comm, MPI, self.first, 'making the first distributed kvstore')
        self.comm = comm.Dup()          # safe now: every rank is here
        self._thread = threading.Thread(target=self._serve, name='distmod-watchdog',
                                        daemon=True)
        self._thread.start()
        atexit.register(self.leave)

    # ---- what the training loop says -----------------------------------------------------
    def where(self, **fields):
        """Record where the caller is (``epoch=``, ``batch=``, ``phase=``); None removes."""
        for k, v in fields.items():
            if v is None:
                self.location.pop(k, None)
            else:
                self.location[k] = v

    def first_step_done(self):
        self.started = True

    def timeout(self):
        return self.steady if self.started else self.first

    def busy(self, what):
        """A context: this rank does ``what``, work the others wait for (rank 0 writing a
        checkpoint): their deadlines are extended while it lasts."""
        dog = self

        class _Busy:
            def __enter__(self):
                self.saved = dog.busy_what
                dog.busy_what = (what, time.monotonic())

            def __exit__(self, *exc):
                dog.busy_what = self.saved
        return _Busy()

    # ---- collectives -------------------------------------------------------------------
    def _start(self, channel, what, blocking):
        with self._lock:
            seq = self.seq[channel] = self.seq.get(channel, 0) + 1
            call = _Call(channel, seq, what, dict(self.location), blocking,
                         time.monotonic() + self.timeout())
            self.calls[id(call)] = call
        self._check_left(call)
        return call

    def _end(self, call):
        with self._lock:
            self.calls.pop(id(call), None)
            self.last = (call.what, call.where, time.monotonic())

    def wait(self, req, channel, what):
        """Wait for non-blocking request ``req`` (one collective on ``channel``) within the
        deadline, without spinning; ``what`` names it in errors."""
        if req.Test():                  # the usual case: every rank was already there
            self._count(channel, what)
            return
        call = self._start(channel, what, False)
        try:
            # spin (testing) for up to _SPIN_S: a rank a step's jitter late costs no sleep's
            # overshoot; then sleep, backing off to _MAX_SLEEP, so a long wait costs no CPU
            spin_end = time.perf_counter() + _SPIN_S
            tests, pause = 0, 5e-5
            while not req.Test():
                tests += 1
                if tests & 15 == 0:
                    if self.left:
                        self._check_left(call)
                    if time.perf_counter() < spin_end:
                        continue
                    self._check(call)
                if time.perf_counter() < spin_end:
                    continue
                time.sleep(pause)
                pause = min(pause * 2, _MAX_SLEEP)
        finally:
            self._end(call)

    def _count(self, channel, what):
        """A collective on ``channel`` that ended at once (its sequence number still counts;
        the other ranks' goodbyes are checked as for any other)."""
        with self._lock:
            seq = self.seq[channel] = self.seq.get(channel, 0) + 1
            self.last = (what, dict(self.location), time.monotonic())
        if self.left:
            self._check_left(_Call(channel, seq, what, dict(self.location), False, 0))

    def waitall(self, reqs, channel, what):
        """:meth:`wait` for several requests that together make one collective."""
        self.wait(_All(self.MPI, reqs), channel, what)

    def gate(self, comm, channel, what):
        """Every rank reaches ``what`` before the blocking calls that follow (a non-blocking
        barrier on ``comm``, waited for as :meth:`wait`)."""
        self.wait(comm.Ibarrier(), channel, what)

    def blocking(self, channel, what):
        """A context around one blocking collective on ``channel``: the watchdog's thread
        watches its deadline."""
        return _Blocking(self, channel, what)

    # ---- deadlines ---------------------------------------------------------------------
    def _check_left(self, call):
        for r, bye in list(self.left.items()):
            if bye['seq'].get(call.channel, 0) < call.seq:
                self._fail(call, 'rank %d left the job (%s) before this collective; it got as '
                                 'far as %s' % (r, bye['how'], _describe_where(bye)),
                           waited=False)

    def _check(self, call):
        """Fail ``call`` if some rank left before it or its deadline passed (the waiting
        thread, or the watchdog's for blocking calls, calls this)."""
        if self.left:
            self._check_left(call)
        now = time.monotonic()
        if now < call.deadline:
            if now >= call.probe:
                # long enough to ask: a rank that cannot answer at all (stopped, dead, stuck
                # outside Python) ends the job now, not at the deadline
                call.probe = now + _PROBE_S
                answers = self._ask()
                if any(a is None for a in answers.values()):
                    self._fail(call, '; '.join(self._words(call, answers)[0]) +
                               ' (asked after %.0f s of waiting)' % (now - call.since))
            return
        missing = self._diagnose(call)
        if missing is None:          # the late ranks are at expected work: wait longer
            call.deadline = time.monotonic() + self.timeout()
            return
        self._fail(call, missing)

    def _diagnose(self, call):
        """Ask the other ranks where they are; None when those not here yet are busy with
        expected work, else the words naming the ranks that did not arrive."""
        parts, expected = self._words(call, self._ask())
        if expected:
            return None
        return '; '.join(parts) if parts else 'no rank answered'

    def _ask(self):
        """``{rank: its status, or None when it did not answer within the grace}``."""
        in_server = threading.current_thread() is self._thread
        with self._query_lock:
            answers = {}
            for r in range(self.size):
                if r != self.rank:
                    self._send(None, r, _TAG_QUERY)
            end = time.monotonic() + _ANSWER_GRACE
            tags = (_TAG_ANSWER, _TAG_QUERY, _TAG_LEFT) if in_server else (_TAG_ANSWER,)
            while time.monotonic() < end and len(answers) < self.size - 1:
                for src, tag, data in self._poll(tags):
                    if tag == _TAG_ANSWER:
                        answers[src] = json.loads(data)
                    else:
                        self._handle(src, tag, data)
                time.sleep(0.01)
        return {r: answers.get(r) for r in range(self.size) if r != self.rank}

    def _words(self, call, answers):
        """``(parts, expected)``: words for each rank not in ``call``, and whether all of
        those are at expected work (busy)."""
        parts, expected = [], True
        for r in range(self.size):
            if r == self.rank:
                continue
            a = answers.get(r)
            if a is None:
                bye = self.left.get(r)
                parts.append('rank %d %s' % (r, 'left the job (%s)' % bye['how'] if bye else
                                             'did not answer (stopped, dead, or stuck outside '
                                             'Python)'))
                expected = False
                continue
            if any(c['channel'] == call.channel and c['seq'] == call.seq for c in a['calls']):
                continue          # it is in this very collective: not the one missing
            if a.get('busy'):
                parts.append('rank %d is %s (for %.1f s)' % (r, a['busy'][0], a['busy'][1]))
                continue
            expected = False
            if a['calls']:
                c = a['calls'][0]
                parts.append('rank %d waits in %s (collective #%d on %s%s; for %.1f s)'
                             % (r, c['what'], c['seq'], c['channel'],
                                ', ' + _describe(c['where']) if c['where'] else '', c['age']))
            elif a['last']:
                parts.append("rank %d is outside distmod's collectives since %.1f s (its last "
                             'was %s%s)' % (r, a['last'][2], a['last'][0],
                                            ', ' + _describe(a['last'][1])
                                            if a['last'][1] else ''))
            else:
                parts.append('rank %d has made no collective yet (%s)'
                             % (r, _describe(a['where']) or 'it has not reached fit'))
        return parts, expected

    def _fail(self, call, why, waited=True):
        if self.failed:
            return
        self.failed = True
        waited_s = time.monotonic() - call.since
        msg = ('distmod: rank %d of %d ends the job: %s%s%s (collective #%d on %s)%s: %s\n'
               % (self.rank, self.size, 'waited %.1f s in ' % waited_s if waited else 'in ',
                  call.what, ', ' + _describe(call.where) if call.where else '', call.seq,
                  call.channel, '' if not waited else ', deadline %.0f s'
                  % (self.timeout()), why))
        _abort(self.comm, msg)

    # ---- the watchdog's thread: answers, goodbyes, blocking deadlines -------------------
    def _status(self):
        now = time.monotonic()
        with self._lock:
            calls = [{'channel': c.channel, 'seq': c.seq, 'what': c.what, 'where': c.where,
                      'age': now - c.since} for c in self.calls.values()]
            last = None if self.last is None else \
                [self.last[0], self.last[1], now - self.last[2]]
        busy = None if self.busy_what is None else \
            [self.busy_what[0], now - self.busy_what[1]]
        return {'calls': calls, 'last': last, 'where': dict(self.location), 'busy': busy,
                'seq': dict(self.seq)}

    def _send(self, obj, dest, tag):
        """A small non-blocking message (kept until sent)."""
        with self._send_lock:
            self._pending = [r for r in self._pending if not r.Test()]
            req = self.comm.isend(obj, dest=dest, tag=tag)
            self._pending.append(req)
        return req

    def _poll(self, tags):
        """The messages with these tags that have arrived: ``(source, tag, data)``."""
        out = []
        MPI = self.MPI
        for tag in tags:
            while True:
                msg = self.comm.improbe(source=MPI.ANY_SOURCE, tag=tag, status=self._status_obj)
                if msg is None:
                    break
                src = self._status_obj.Get_source()
                out.append((src, tag, msg.recv()))
        return out

    def _handle(self, src, tag, data):
        if tag == _TAG_QUERY:
            self._send(json.dumps(self._status()), src, _TAG_ANSWER)
        elif tag == _TAG_LEFT:
            self.left[src] = json.loads(data)

    def _serve(self):
        while not self._closing:
            try:
                for src, tag, data in self._poll((_TAG_QUERY, _TAG_LEFT)):
                    self._handle(src, tag, data)
                for call in list(self.calls.values()):
                    if call.blocking:
                        self._check(call)
            except Exception:            # noqa: BLE001  MPI finalised under us: we are done
                if self._closing:
                    return
                raise
            time.sleep(_SERVE_S)

    def leave(self):
        """At exit: tell the other ranks how far this one got (see the module)."""
        if self._closing or self.failed:
            return
        inside, left = self.location.get('phase'), self.location.get('left')
        how = 'it left %s by %s' % (inside, left) if inside and left else \
            'it exited inside %s' % inside if inside else 'its script ended'
        bye = json.dumps({'seq': dict(self.seq), 'where': dict(self.location), 'how': how})
        reqs = [self._send(bye, r, _TAG_LEFT) for r in range(self.size) if r != self.rank]
        end = time.monotonic() + 1.0
        while time.monotonic() < end and not all(r.Test() for r in reqs):
            time.sleep(0.005)
        self._closing = True
        self._thread.join(timeout=1.0)


class _Blocking:
    """The context :meth:`Watchdog.blocking` gives (made per call: no class per call)."""
    __slots__ = ('dog', 'channel', 'what', 'call')

    def __init__(self, dog, channel, what):
        self.dog, self.channel, self.what = dog, channel, what

    def __enter__(self):
        self.call = self.dog._start(self.channel, self.what, True)

    def __exit__(self, *exc):
        self.dog._end(self.call)


class _All:
    """Several requests tested as one."""
    __slots__ = ('MPI', 'reqs')

    def __init__(self, MPI, reqs):
        self.MPI, self.reqs = MPI, reqs

    def Test(self):
        return self.MPI.Request.Testall(self.reqs)


class _Idle:
    """``busy`` where there is no watchdog (one process)."""
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _describe(where):
    if not where:
        return ''
    parts = []
    if 'phase' in where:
        parts.append(str(where['phase']))
    if 'epoch' in where:
        parts.append('epoch %s' % where['epoch'])
    if 'batch' in where:
        parts.append('batch %s' % where['batch'])
    return ' '.join(parts)


def _describe_where(bye):
    where = _describe(bye.get('where'))
    return where or 'outside fit'


def rendezvous(comm, MPI, timeout, what):
    """Every rank of ``comm`` reaches ``what`` within ``timeout`` seconds, else the job ends
    naming the ranks that did not.  A non-blocking barrier waited for without spinning (it
    guards the blocking collectives that make communicators); only past the deadline do the
    ranks that arrived tell rank 0 so, point to point, for the error to name the others."""
    rank, size = comm.Get_rank(), comm.Get_size()
    if size == 1:
        return
    end = time.monotonic() + timeout
    req = comm.Ibarrier()
    pause = 1e-4
    while not req.Test():
        if time.monotonic() > end:
            _missed(comm, rank, size, timeout, what)
        time.sleep(pause)
        pause = min(2 * pause, _MAX_SLEEP * 5)


def _missed(comm, rank, size, timeout, what):
    """The rendezvous's deadline passed: rank 0 names the ranks that did not say they are
    here within the grace; every rank ends the job."""
    import numpy as np
    if rank != 0:
        comm.Isend(np.ones(1, dtype=np.int32), dest=0, tag=_TAG_HELLO)
        time.sleep(2 * _ANSWER_GRACE)        # rank 0 speaks first, naming the missing
        _abort(comm, 'distmod: rank %d of %d ends the job: not every rank reached %s within '
                     '%.0f s (DISTMOD_FIRST_TIMEOUT/DISTMOD_TIMEOUT)\n'
               % (rank, size, what, timeout))
    flags = np.zeros(size, dtype=np.int32)
    reqs = {r: comm.Irecv(flags[r:r + 1], source=r, tag=_TAG_HELLO) for r in range(1, size)}
    here = set()
    grace = time.monotonic() + _ANSWER_GRACE
    while len(here) < size - 1 and time.monotonic() < grace:
        here.update(r for r, q in reqs.items() if r not in here and q.Test())
        time.sleep(0.01)
    missing = sorted(set(reqs) - here)
    _abort(comm, 'distmod: rank 0 of %d ends the job: rank%s %s did not reach %s within %.0f s '
                 '(DISTMOD_FIRST_TIMEOUT/DISTMOD_TIMEOUT): %s\n'
           % (size, 's' if len(missing) != 1 else '', ', '.join(map(str, missing)) or '(none '
              'named: they arrived too late to say so)', what, timeout,
              'a rank that never reaches fit, or is stuck before it'))


def _abort(comm, msg):
    try:
        sys.stderr.write(msg)
        sys.stderr.flush()
        sys.stdout.flush()
    finally:
        comm.Abort(1)


def import_mpi():
    """mpi4py's ``MPI``, initialised under the first deadline.

    ``MPI_Init`` (at mpi4py's import) waits for every rank of the job to reach it, in C,
    where no thread of this process can watch it.  So a sentinel process, forked before the
    import (no MPI state exists yet), waits ``DISTMOD_FIRST_TIMEOUT`` seconds for the import
    to end; past that it prints one line naming this rank and what it waited for, and ends
    this process (SIGTERM, SIGKILL 2 s later): the MPI launcher then ends the whole job.
    """
    mod = sys.modules.get('mpi4py.MPI')
    if mod is not None:
        return mod
    first, _ = deadlines()
    if not launched_by_mpi() or not hasattr(os, 'fork'):
        from mpi4py import MPI
        return MPI
    rank = _env_rank()
    parent = os.getpid()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                    # the sentinel: os calls only, then _exit
        code = 0
        try:
            os.close(w)
            ready, _, _ = select.select([r], [], [], first)
            if not ready:
                os.write(2, ('distmod: rank %s ends the job: MPI_Init waited %.0f s for the '
                             'other ranks (DISTMOD_FIRST_TIMEOUT): some rank never reached its '
                             'first distributed kvstore (a rank that never reaches fit, or is '
                             'stuck before it)\n' % (rank, first)).encode())
                os.kill(parent, signal.SIGTERM)
                end = time.monotonic() + 2.0
                while time.monotonic() < end:
                    time.sleep(0.05)
                    try:
                        os.kill(parent, 0)
                    except OSError:
                        break
                else:
                    os.kill(parent, signal.SIGKILL)
        except BaseException:        # noqa: BLE001  nothing may escape a forked child
            code = 1
        finally:
            os._exit(code)
    os.close(r)
    try:
        from mpi4py import MPI
    finally:
        os.close(w)                 # the sentinel sees end of file and exits
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    return MPI


def _env_rank():
    for name in ('OMPI_COMM_WORLD_RANK', 'PMIX_RANK', 'PMI_RANK', 'SLURM_PROCID'):
        if os.environ.get(name, '').strip():
            return os.environ[name]
    return '?'


_DOG = []


def enabled(env=None):
    """False when ``DISTMOD_WATCHDOG=0``: collectives then wait without deadlines (MPI's
    own blocking calls), for measuring the watchdog's cost; never for a real job."""
    env = os.environ if env is None else env
    return env.get('DISTMOD_WATCHDOG', '1').strip() not in ('0', 'false', 'no', 'off')


def get(comm=None, MPI=None):
    """This process's watchdog (made on the first call, with ``comm``; collective then), or
    None where ``DISTMOD_WATCHDOG=0`` turns it off."""
    if not enabled():
        return None
    if not _DOG:
        if comm is None:
            return None
        _DOG.append(Watchdog(comm, MPI))
    return _DOG[0]
