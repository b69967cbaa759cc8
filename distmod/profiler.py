"""``mx.profiler``: operator timings written as Chrome-trace JSON, and MXNet's statistics table.

While the profiler runs, every operator an executor calls (``profile_symbolic``: forward and
``_backward_NAME``) and every ``mx.nd`` operator call (``profile_imperative``) is timed, and
so are the user's own :class:`Task`, :class:`Frame` and :class:`Event` spans, :class:`Counter`
values and :class:`Marker` instants.  ``dump()`` writes them to ``filename`` in the Chrome
trace-event format (chrome://tracing, https://ui.perfetto.dev); ``dumps()`` returns MXNet's
aggregate table (per name: count, total, min, max and average time) when ``aggregate_stats``
is on.

The file is laid out as MXNet 1.9's ``profile.json``: one trace process per device
(``cpu/0``, ``gpu/0``) holding the operators of the thread that ran them, and one process per
category (``event``, ``MXNET_C_API``, a domain's name, ``DOMAIN,frame``,
``DOMAIN,instant_marker``), each named by ``process_name`` metadata (threads are named too).
Operators and events are complete events (``ph: 'X'``, ``ts`` and ``dur`` in microseconds)
where MXNet writes ``B``/``E`` pairs, which viewers draw identically; tasks and API calls are
async ``b``/``e`` pairs, counters ``C`` and markers instants ``i``.  An operator of a bound
symbol carries its node's name in ``args``.  ``ts`` counts from when distmod was imported;
``otherData.start_time_unix_us`` says when that was.

Example::

    >>> mx.profiler.set_config(profile_all=True, filename='profile.json',
    ...                        aggregate_stats=True)                       # doctest: +SKIP
    >>> mx.profiler.set_state('run')                                       # doctest: +SKIP
    >>> mod.forward(batch, is_train=True); mod.backward(); mod.update()    # doctest: +SKIP
    >>> mx.profiler.set_state('stop')                                      # doctest: +SKIP
    >>> print(mx.profiler.dumps())                                         # doctest: +SKIP
    >>> mx.profiler.dump()                                                 # doctest: +SKIP

What MXNet records and distmod does not: memory (``profile_memory`` is accepted; NumPy's
allocations are not seen) and a parameter server's process (there is none).  With
``profile_api`` the spans of ``Executor.forward`` and ``backward`` are recorded under the
names MXNet's C API gives them (``MXExecutorForward``, ``MXExecutorBackwardEx``).
"""
import atexit
import json
import os
import threading
import time
import warnings

from .base import MXNetError, WORLD

__all__ = ['set_config', 'profiler_set_config', 'set_state', 'profiler_set_state', 'dump',
           'dump_profile', 'dumps', 'pause', 'resume', 'Domain', 'Task', 'Frame', 'Event',
           'Counter', 'Marker']

#: While the profiler records the operators of executors: the recorder they report to (read
#: once per ``forward``/``backward`` call); None otherwise.
symbolic = None
#: While the profiler records ``mx.nd`` operator calls: the recorder; None otherwise.
imperative = None

# name: (default, type, help)
_PARAMS = {
    'profile_all': (False, bool, 'Profile all. Default is False.'),
    'profile_symbolic': (True, bool, 'Profile symbolic operators. Default is True.'),
    'profile_imperative': (True, bool, 'Profile imperative operators. Default is True.'),
    'profile_memory': (True, bool, 'Profile memory (accepted; distmod records no memory). '
                                   'Default is True.'),
    'profile_api': (True, bool, 'Profile API calls (Executor.forward/backward). Default is '
                                'True.'),
    'filename': ('profile.json', str, 'File name to write profiling info.'),
    'continuous_dump': (True, bool, 'Accepted; the trace is written by dump() and at exit.'),
    'dump_period': (1.0, float, 'Accepted with continuous_dump.'),
    'aggregate_stats': (False, bool, 'Maintain aggregate stats, required for dumps(). '
                                     'Default is False.'),
    'profile_process': ('worker', str, "'worker' (the training process) or 'server' (distmod "
                                       "has no parameter server: nothing to record)."),
}
_SORT_BY = ('total', 'avg', 'min', 'max', 'count')
_MARKER_SCOPES = {'global': 'g', 'process': 'p', 'marker': 'p', 'task': 'p', 'thread': 't'}

_clock = time.perf_counter_ns
# One instant read on both clocks: trace timestamps count from it.
_ORIGIN_NS = _clock()
_ORIGIN_UNIX_US = time.time_ns() // 1000


def _as_bool(name, value):
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ('1', 'true'):
            return True
        if low in ('0', 'false'):
            return False
        raise MXNetError("set_config: %s must be a boolean, got %r" % (name, value))
    return bool(value)


class _Recorder:
    """What one configured profiler holds: its settings and every record made so far.

    A record is a tuple ``(phase, category, name, process, thread, start_ns, end, extra)``;
    ``end`` is an end time (spans) or a value (counters); ``process`` is a process's name,
    numbered only when the file is written.  ``dump(finished=True)`` moves ``_trace_from``
    past what it wrote, ``dumps(reset=True)`` moves ``_stats_from``; records before both
    are dropped.
    """

    def __init__(self, config):
        self.config = config
        self.records = []
        self._trace_from = 0
        self._stats_from = 0
        self.dirty = False              # records the file does not have yet
        self.clock = _clock
        self._devices = {}              # Context -> (process name, sync or None)
        self._threads = {}              # native thread id -> thread name

    # ---- recording ---------------------------------------------------------------------
    def add(self, record):
        self.records.append(record)
        self.dirty = True
        tid = record[4]
        if tid not in self._threads:
            self._threads[tid] = threading.current_thread().name

    def device(self, ctx):
        """``(process name, sync)`` for a context: ``sync`` waits for its queued work (GPU
        kernels run asynchronously, so a timing must wait for them); None on the CPU."""
        found = self._devices.get(ctx)
        if found is None:
            sync = None
            if ctx.device_type == 'gpu':
                sync = ctx.xp.cuda.Device(ctx.device_id).synchronize
            found = self._devices[ctx] = ('%s/%d' % (ctx.device_type, ctx.device_id), sync)
        return found

    def operator_recorder(self, ctx):
        """A function ``record(op_name, node_name, start_ns)`` that records one operator call
        on ``ctx`` ending now (after waiting for the device)."""
        process, sync = self.device(ctx)
        add, clock, get_tid = self.add, self.clock, threading.get_native_id
        if sync is None:
            def record(name, node, start):
                add(('X', 'operator', name, process, get_tid(), start, clock(), node))
        else:
            def record(name, node, start):
                sync()
                add(('X', 'operator', name, process, get_tid(), start, clock(), node))
        return record

    def api(self, name, start):
        """An API call (``Executor.forward``...) that began at ``start`` and ends now."""
        if self.config['profile_api']:
            tid = threading.get_native_id()
            self.add(('b', 'MXNET_C_API', name, 'MXNET_C_API', tid, start, self.clock(), tid))

    # ---- reading -----------------------------------------------------------------------
    def trace_records(self):
        return self.records[self._trace_from:]

    def stats_records(self):
        return self.records[self._stats_from:]

    def mark_dumped(self, finished):
        self.dirty = False
        if finished:
            self._trace_from = len(self.records)
            self._compact()

    def reset_stats(self):
        self._stats_from = len(self.records)
        self._compact()

    def _compact(self):
        drop = min(self._trace_from, self._stats_from)
        if drop:
            del self.records[:drop]
            self._trace_from -= drop
            self._stats_from -= drop

    def threads(self):
        return dict(self._threads)


class _State:
    def __init__(self):
        self.configured = False         # set_config was called (dump needs it, as in MXNet)
        self.running = False
        self.paused = False
        self.recorder = _Recorder(_default_config())
        self.lock = threading.Lock()


def _default_config():
    return {k: v[0] for k, v in _PARAMS.items()}


_state = _State()


def _active():
    """The recorder when the profiler runs and is not paused, else None."""
    st = _state
    return st.recorder if st.running and not st.paused else None


def _update_hooks():
    global symbolic, imperative
    rec = _active()
    cfg = _state.recorder.config
    every = cfg['profile_all']
    worker = cfg['profile_process'] == 'worker'
    symbolic = rec if rec is not None and worker and (every or cfg['profile_symbolic']) \
        else None
    imperative = rec if rec is not None and worker and (every or cfg['profile_imperative']) \
        else None


def _check_process(profile_process):
    if profile_process not in ('worker', 'server'):
        raise MXNetError("profile_process must be 'worker' or 'server', got %r"
                         % (profile_process,))


# ---- configuration and state ---------------------------------------------------------------
def set_config(**kwargs):
    """Configure the profiler (each call starts again from the defaults).

    Parameters (all optional): ``profile_all`` (False: when True, everything below is
    recorded), ``profile_symbolic`` (True: executors' operators), ``profile_imperative``
    (True: ``mx.nd`` calls), ``profile_memory`` (True; accepted, nothing is recorded),
    ``profile_api`` (True: the spans of ``Executor.forward``/``backward``), ``filename``
    ('profile.json'), ``continuous_dump`` (True) and ``dump_period`` (1; accepted: the file
    is written by :func:`dump` and, for what was never dumped, when the process exits),
    ``aggregate_stats`` (False: when True, :func:`dumps` returns the table),
    ``profile_process`` ('worker').

    Example::

        >>> mx.profiler.set_config(profile_all=True, filename='trace.json',
        ...                        aggregate_stats=True)                 # doctest: +SKIP
    """
    unknown = [k for k in kwargs if k not in _PARAMS]
    if unknown:
        listing = '\n'.join('%s : %s, optional, default=%r\n    %s'
                            % (k, t.__name__, d, h) for k, (d, t, h) in _PARAMS.items())
        raise MXNetError("Cannot find argument '%s', Possible Arguments:\n----------------\n%s"
                         % (unknown[0], listing))
    config = _default_config()
    for key, value in kwargs.items():
        kind = _PARAMS[key][1]
        if kind is bool:
            value = _as_bool(key, value)
        elif kind is float:
            value = float(value)
        else:
            value = str(os.fspath(value)) if key == 'filename' else str(value)
        config[key] = value
    _check_process(config['profile_process'])
    if config['profile_process'] == 'server':
        warnings.warn("mx.profiler: distmod has no parameter server; "
                      "profile_process='server' records nothing", stacklevel=2)
    with _state.lock:
        _state.recorder.config = config
        _state.configured = True
    _update_hooks()


def profiler_set_config(mode='symbolic', filename='profile.json'):
    """Deprecated MXNet 0.x name: ``mode`` 'symbolic', 'imperative', 'api', 'memory' or 'all'
    turns on ``profile_<mode>``; use :func:`set_config`."""
    warnings.warn('profiler.profiler_set_config() is deprecated. '
                  'Please use profiler.set_config() instead', stacklevel=2)
    key = 'profile_' + str(mode)
    if key not in _PARAMS:
        raise MXNetError("profiler_set_config: mode must be one of 'symbolic', 'imperative', "
                         "'api', 'memory', 'all', got %r" % (mode,))
    set_config(**{key: True, 'filename': filename})


def set_state(state='stop', profile_process='worker'):
    """Start (``'run'``) or stop (``'stop'``) recording."""
    _check_process(profile_process)
    if state not in ('run', 'stop'):
        raise ValueError("set_state: state must be 'run' or 'stop', got %r" % (state,))
    _state.running = state == 'run'
    if state == 'run':
        _state.paused = False
    _update_hooks()


def profiler_set_state(state='stop'):
    """Deprecated MXNet 0.x name of :func:`set_state`."""
    warnings.warn('profiler.profiler_set_state() is deprecated. '
                  'Please use profiler.set_state() instead', stacklevel=2)
    set_state(state)


def pause(profile_process='worker'):
    """Stop recording for a while; :func:`resume` goes on (the state stays ``'run'``)."""
    _check_process(profile_process)
    _state.paused = True
    _update_hooks()


def resume(profile_process='worker'):
    """Go on recording after :func:`pause`."""
    _check_process(profile_process)
    _state.paused = False
    _update_hooks()


def _rank_filename(filename):
    """With several ranks on one host every rank would write the same file: rank r > 0
    writes ``NAME.rank<r>.json`` next to rank 0's ``NAME.json``."""
    rank, size = WORLD.get('rank', 0), WORLD.get('num_workers', 1)
    if size <= 1 or rank == 0:
        return filename
    stem, ext = os.path.splitext(filename)
    return '%s.rank%d%s' % (stem, rank, ext or '.json')


def dump(finished=True, profile_process='worker'):
    """Write the trace to the configured ``filename`` (Chrome-trace JSON).

    ``finished=True`` (the default) ends this trace: the next ``dump`` writes only what is
    recorded after it (into the same file, replacing it).  With ``finished=False`` the
    records are kept and the next ``dump`` writes them again, with what came since.
    """
    _check_process(profile_process)
    if not _state.configured:
        raise MXNetError("Profiler hasn't been run. Config and start profiler first")
    rec = _state.recorder
    with _state.lock:
        text = _trace_json(rec.trace_records(), rec.threads())
        rec.mark_dumped(finished)
    from .serialization import atomic_write
    atomic_write(_rank_filename(rec.config['filename']), text.encode('utf-8'))


def dump_profile():
    """Deprecated MXNet 0.x name of ``dump(True)``."""
    warnings.warn('profiler.dump_profile() is deprecated. '
                  'Please use profiler.dump() instead', stacklevel=2)
    dump(True)


def dumps(reset=False, format='table', sort_by='total', ascending=False):
    """MXNet's aggregate statistics: per category, each name's count and total, min, max and
    average time in milliseconds, as a table (``format='table'``) or JSON (``'json'``).

    Needs ``set_config(aggregate_stats=True)`` (else ``''``).  ``sort_by`` is one of
    'total', 'avg', 'min', 'max', 'count'; ``reset=True`` starts the statistics again
    (the trace file is not affected).
    """
    # pylint: disable=redefined-builtin
    if format not in ('table', 'json'):
        raise AssertionError("Invalid value provided for format: %s. Support: 'table', 'json'"
                             % (format,))
    if sort_by not in _SORT_BY:
        raise AssertionError('Invalid value provided for sort_by: %s. Support: %s'
                             % (sort_by, ', '.join("'%s'" % s for s in _SORT_BY)))
    rec = _state.recorder
    if not rec.config['aggregate_stats']:
        return ''
    with _state.lock:
        sections = _aggregate(rec.stats_records())
        if reset:
            rec.reset_stats()
    key = {'total': 1, 'min': 2, 'max': 3, 'avg': 4, 'count': 0}[sort_by]
    for rows in sections.values():
        rows.sort(key=lambda r: r[1][key], reverse=not ascending)
    if format == 'json':
        return _stats_json(sections)
    return _stats_table(sections)


# ---- the statistics ------------------------------------------------------------------------
def _aggregate(records):
    """{section: [(name, (count, total_ms, min_ms, max_ms, avg_ms))]} as MXNet groups them:
    by category, spans by duration, counters by their values."""
    spans, counters, sections = {}, {}, {}
    for ph, cat, name, _, _, start, end, _ in records:
        sections.setdefault(cat, None)
        if ph == 'C':
            counters.setdefault((cat, name), []).append(end)
        elif ph in ('X', 'b'):
            spans.setdefault((cat, name), []).append((end - start) / 1e6)
    out = {cat: [] for cat in sections}
    for (cat, name), ms in spans.items():
        total = sum(ms)
        out[cat].append((name, (len(ms), total, min(ms), max(ms), total / len(ms))))
    for (cat, name), values in counters.items():
        # MXNet reports a counter as if its values were microseconds: its last value as the
        # total, the smallest and largest, and half their difference as the "average".
        lo, hi = min(values), max(values)
        out[cat].append((name, (len(values), values[-1] / 1e3, lo / 1e3, hi / 1e3,
                                int((hi - lo) // 2) / 1e3)))
    return dict(sorted(out.items()))


def _stats_table(sections):
    lines = ['', 'Profile Statistics:', '\tNote the difference in units for different entries.']
    for cat, rows in sections.items():
        lines += [cat, '=================',
                  'Name                          Total Count        Time (ms)    Min Time (ms)'
                  '    Max Time (ms)    Avg Time (ms)',
                  '----                          -----------        ---------    -------------'
                  '    -------------    -------------']
        for name, (count, total, lo, hi, avg) in rows:
            lines.append('%-25s%16d%17.4f%17.4f%17.4f%17.4f' % (name, count, total, lo, hi, avg))
        lines.append('')
    return '\n'.join(lines) + '\n'


def _round4(x):
    """A number as MXNet's JSON statistics print it: four significant digits."""
    value = float('%.4g' % x)
    return int(value) if value.is_integer() else value


def _stats_json(sections):
    doc = {'Time': {cat: {name: {'Count': count, 'Total': _round4(total), 'Min': _round4(lo),
                                 'Max': _round4(hi), 'Avg': _round4(avg)}
                          for name, (count, total, lo, hi, avg) in rows}
                    for cat, rows in sections.items()},
           'Memory': {},
           'Unit': {'Time': 'ms', 'Memory': 'kB'}}
    return json.dumps(doc, indent=4)


# ---- the trace file ------------------------------------------------------------------------
def _us(ns):
    return round((ns - _ORIGIN_NS) / 1e3, 3)


def _trace_json(records, thread_names):
    """The Chrome-trace document for ``records``: metadata first, then one event per line."""
    pids = {'cpu/0': 0}
    for r in records:
        pids.setdefault(r[3], len(pids))
    events = [{'ph': 'M', 'args': {'name': name}, 'pid': pid, 'name': 'process_name'}
              for name, pid in pids.items()]
    events += [{'ph': 'M', 'args': {'sort_index': pid}, 'pid': pid,
                'name': 'process_sort_index'} for pid in pids.values()]
    seen = set()
    for r in records:
        key = (pids[r[3]], r[4])
        if key not in seen:
            seen.add(key)
            events.append({'ph': 'M', 'args': {'name': thread_names.get(r[4], str(r[4]))},
                           'pid': key[0], 'tid': key[1], 'name': 'thread_name'})
    for ph, cat, name, process, tid, start, end, extra in records:
        pid = pids[process]
        if ph == 'X':
            ev = {'name': name, 'cat': cat, 'ph': 'X', 'ts': _us(start),
                  'dur': round((end - start) / 1e3, 3), 'pid': pid, 'tid': tid}
            if extra is not None:
                ev['args'] = {'name': extra}
            events.append(ev)
        elif ph == 'b':
            events.append({'name': name, 'cat': cat, 'ph': 'b', 'ts': _us(start), 'id': extra,
                           'pid': pid, 'tid': tid})
            events.append({'name': name, 'cat': cat, 'ph': 'e', 'ts': _us(end), 'id': extra,
                           'pid': pid, 'tid': tid})
        elif ph == 'C':
            events.append({'name': name, 'cat': cat, 'ph': 'C', 'ts': _us(start),
                           'args': {name: end}, 'pid': pid, 'tid': tid})
        elif ph == 'i':
            events.append({'name': name, 'cat': cat, 'ph': 'i', 'ts': _us(start), 's': extra,
                           'pid': pid, 'tid': tid})
    body = ',\n'.join('        ' + json.dumps(e) for e in events)
    meta = json.dumps({'start_time_unix_us': _ORIGIN_UNIX_US, 'source': 'distmod'})
    return ('{\n    "traceEvents": [\n%s\n    ],\n    "displayTimeUnit": "ms",\n'
            '    "otherData": %s\n}\n' % (body, meta))


# ---- the imperative hook -------------------------------------------------------------------
def run_imperative(op, ctx, xp, ins, outs, aux):
    """Run one ``mx.nd`` operator call (``op.forward``, not training), timed while the
    profiler records imperative operators.  ``distmod.ndarray.op.invoke`` calls it."""
    rec = imperative
    if rec is None:
        op.forward(xp, ins, outs, aux, False)
        return
    record = rec.operator_recorder(ctx)
    start = rec.clock()
    op.forward(xp, ins, outs, aux, False)
    record(op.name, None, start)


# ---- the user's own spans, counters and markers ----------------------------------------------
class Domain:
    """A named group of tasks, frames, counters and markers (a process of its own in the
    trace)."""

    def __init__(self, name):
        self.name = str(name)

    def __str__(self):
        return self.name

    def new_task(self, name):
        return Task(self, name)

    def new_frame(self, name):
        return Frame(self, name)

    def new_counter(self, name, value=None):
        return Counter(self, name, value)

    def new_marker(self, name):
        return Marker(self, name)


_ids = iter(range(1, 1 << 62))


class _Span:
    """Something with ``start()``/``stop()``; recorded at ``stop`` if the profiler runs."""

    _phase = 'X'

    def __init__(self, category, name):
        self.name = str(name)
        self._category = category
        self._start = None
        self._id = next(_ids)

    def start(self):
        self._start = _clock()

    def stop(self):
        start, self._start = self._start, None
        rec = _active()
        if start is None or rec is None:
            return
        rec.add((self._phase, self._category, self.name, self._category,
                 threading.get_native_id(), start, _clock(),
                 self._id if self._phase == 'b' else None))

    def __str__(self):
        return self.name


class Task(_Span):
    """A span of work in a ``domain``: ``start()`` ... ``stop()`` (an async track)."""

    _phase = 'b'

    def __init__(self, domain, name):
        super().__init__(str(domain), name)
        self.domain = domain


class Frame(_Span):
    """A span in a ``domain``'s frames (an iteration, a batch): ``start()`` ... ``stop()``."""

    def __init__(self, domain, name):
        super().__init__('%s,frame' % domain, name)
        self.domain = domain


class Event(_Span):
    """A named span of the ``event`` category: ``start()`` ... ``stop()``."""

    def __init__(self, name):
        super().__init__('event', name)


class Counter:
    """A value in a ``domain`` drawn over time: ``set_value``, ``increment``, ``decrement``
    (or ``+=`` and ``-=``); each change is recorded while the profiler runs."""

    def __init__(self, domain, name, value=None):
        self.domain = domain
        self.name = str(name)
        self.value = 0
        if value is not None:
            self.set_value(value)

    def _record(self):
        rec = _active()
        if rec is not None:
            rec.add(('C', str(self.domain), self.name, str(self.domain),
                     threading.get_native_id(), _clock(), self.value, None))

    def set_value(self, value):
        self.value = int(value)
        self._record()

    def increment(self, delta=1):
        self.value += int(delta)
        self._record()

    def decrement(self, delta=1):
        self.value -= int(delta)
        self._record()

    def __iadd__(self, delta):
        self.increment(delta)
        return self

    def __isub__(self, delta):
        self.decrement(delta)
        return self

    def __str__(self):
        return self.name


class Marker:
    """An instant in a ``domain``: ``mark(scope)`` with scope 'process' (the default),
    'thread', 'global', 'task' or 'marker'."""

    def __init__(self, domain, name):
        self.domain = domain
        self.name = str(name)

    def mark(self, scope='process'):
        if scope not in _MARKER_SCOPES:
            raise MXNetError("Invalid Input: '%s', valid values are: {%s}"
                             % (scope, ', '.join("'%s'" % s for s in sorted(_MARKER_SCOPES))))
        rec = _active()
        if rec is not None:
            category = '%s,instant_marker' % self.domain
            rec.add(('i', category, self.name, category, threading.get_native_id(), _clock(),
                     None, _MARKER_SCOPES[scope]))


# ---- the process's end, and MXNET_PROFILER_AUTOSTART ---------------------------------------
def _dump_at_exit():
    """MXNet writes the trace when the process ends; so does distmod, for what no ``dump``
    wrote yet."""
    if _state.configured and _state.recorder.dirty:
        try:
            dump(True)
        except OSError as err:
            warnings.warn('mx.profiler: could not write %s at exit: %s'
                          % (_state.recorder.config['filename'], err))


def _reset():
    """Back to the state at import: stopped, unconfigured, nothing recorded (for tests)."""
    global _state
    _state = _State()
    _update_hooks()


atexit.register(_dump_at_exit)

if os.environ.get('MXNET_PROFILER_AUTOSTART', '0') == '1':
    # MXNET_PROFILER_MODE=1 records every operator, else only the symbolic ones (MXNet's rule)
    if os.environ.get('MXNET_PROFILER_MODE', '0') == '1':
        set_config(profile_all=True)
    else:
        set_config(profile_imperative=False)
    set_state('run')
