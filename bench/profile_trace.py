"""Profile one LeNet training step with ``mx.profiler`` and draw its trace (docs/profiler_trace.png).

LeNet as in bench_lenet.py, batch 64 of random MNIST-shaped data, SGD with momentum, bound by
``mx.mod.Module``.  Two steps warm up, then one step (forward, backward, update) runs under
``mx.profiler`` with ``profile_all=True``; the script also marks the step and its three phases
with ``mx.profiler.Event`` spans.  ``mx.profiler.dump()`` writes ``profile.json`` (Chrome trace
format: open it in chrome://tracing or https://ui.perfetto.dev).

There is no network here to fetch Perfetto's UI, and chrome://tracing loads files only by hand,
so the picture is drawn by a small self-contained page this script writes next to the trace
(``trace.html``: the trace's processes and threads as lanes, every complete and async span
as a slice, a time axis in milliseconds, and ``mx.profiler.dumps()``'s operator table), then
photographed by headless Chromium (``apt-get install chromium``) when it is installed.

Run: ``python bench/profile_trace.py [--out docs/profiler_trace.png] [--dir DIR]``
"""
import argparse
import html
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import distmod as mx  # noqa: E402

BATCH = 64


def lenet():
    data = mx.sym.Variable('data')
    net = mx.sym.Convolution(data, kernel=(5, 5), num_filter=20, name='conv1')
    net = mx.sym.Activation(net, act_type='tanh', name='tanh1')
    net = mx.sym.Pooling(net, pool_type='max', kernel=(2, 2), stride=(2, 2), name='pool1')
    net = mx.sym.Convolution(net, kernel=(5, 5), num_filter=50, name='conv2')
    net = mx.sym.Activation(net, act_type='tanh', name='tanh2')
    net = mx.sym.Pooling(net, pool_type='max', kernel=(2, 2), stride=(2, 2), name='pool2')
    net = mx.sym.Flatten(net, name='flatten')
    net = mx.sym.FullyConnected(net, num_hidden=500, name='fc1')
    net = mx.sym.Activation(net, act_type='tanh', name='tanh3')
    net = mx.sym.FullyConnected(net, num_hidden=10, name='fc2')
    return mx.sym.SoftmaxOutput(net, name='softmax')


def profile_one_step(folder):
    """Train LeNet for three steps, the last one profiled; returns (trace path, table)."""
    logging.disable(logging.CRITICAL)
    rng = np.random.RandomState(0)
    batch = mx.io.DataBatch([mx.nd.array(rng.rand(BATCH, 1, 28, 28))],
                            [mx.nd.array(rng.randint(0, 10, BATCH))])
    mod = mx.mod.Module(lenet(), context=mx.cpu())
    mod.bind(data_shapes=[('data', (BATCH, 1, 28, 28))],
             label_shapes=[('softmax_label', (BATCH,))])
    mod.init_params(mx.init.Xavier(magnitude=2.0))
    mod.init_optimizer(optimizer='sgd',
                       optimizer_params={'learning_rate': 0.05, 'momentum': 0.9})
    for _ in range(2):
        mod.forward_backward(batch)
        mod.update()
    path = os.path.join(folder, 'profile.json')
    mx.profiler.set_config(profile_all=True, filename=path, aggregate_stats=True)
    events = {n: mx.profiler.Event(n) for n in ('training step', 'forward', 'backward',
                                                'update')}
    mx.profiler.set_state('run')
    events['training step'].start()
    for phase, run in (('forward', lambda: mod.forward(batch, is_train=True)),
                       ('backward', mod.backward), ('update', mod.update)):
        events[phase].start()
        run()
        events[phase].stop()
    events['training step'].stop()
    mx.profiler.set_state('stop')
    table = mx.profiler.dumps()
    mx.profiler.dump()
    return path, table


# ---- drawing ------------------------------------------------------------------------------
PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#b07aa1', '#edc948',
           '#9c755f', '#ff9da7', '#86bcb6', '#8cd17d', '#d37295', '#bab0ac', '#499894']
_COLOURS = {}


def _colour(name):
    """One colour per operator (its backward shares it) or span name, in order of first use."""
    base = name[len('_backward_'):] if name.startswith('_backward_') else name
    if base not in _COLOURS:
        _COLOURS[base] = PALETTE[len(_COLOURS) % len(PALETTE)]
    return _COLOURS[base]


def _fits(text, width):
    return width > 6.3 * len(text) + 6


def _lanes(events):
    """[(process name, thread name, [(start_us, dur_us, name, depth, args)])] from a trace."""
    procs = {e['pid']: e['args']['name'] for e in events
             if e['ph'] == 'M' and e['name'] == 'process_name'}
    threads = {(e['pid'], e['tid']): e['args']['name'] for e in events
               if e['ph'] == 'M' and e['name'] == 'thread_name'}
    spans = {}
    opened = {}
    for e in events:
        key = (e.get('pid'), e.get('tid'))
        if e['ph'] == 'X':
            spans.setdefault(key, []).append((e['ts'], e['dur'], e['name'], e.get('args', {})))
        elif e['ph'] == 'b':
            opened[(key, e['id'], e['name'])] = e['ts']
        elif e['ph'] == 'e':
            begin = opened.pop((key, e['id'], e['name']))
            spans.setdefault(key, []).append((begin, e['ts'] - begin, e['name'], {}))
    lanes = []
    for key in sorted(spans, key=lambda k: (k[0], k[1])):
        rows, stack = [], []
        for start, dur, name, args in sorted(spans[key], key=lambda s: (s[0], -s[1])):
            while stack and stack[-1] <= start + 1e-3:
                stack.pop()
            rows.append((start, dur, name, len(stack), args))
            stack.append(start + dur)
        lanes.append((procs.get(key[0], str(key[0])), threads.get(key, str(key[1])), rows))
    return lanes


def _svg(lanes, width):
    """The lanes as an SVG timeline ``width`` pixels wide; returns (svg text, height)."""
    t0 = min(s[0] for _, _, rows in lanes for s in rows)
    t1 = max(s[0] + s[1] for _, _, rows in lanes for s in rows)
    left, right, row_h, top = 150, 16, 30, 34
    scale = (width - left - right) / (t1 - t0)

    def x(t):
        return left + (t - t0) * scale
    parts, y = [], top
    step = next(s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
                if (t1 - t0) / 1e3 / s <= 14)
    layout = []
    for proc, thread, rows in lanes:
        depth = max(r[3] for r in rows) + 1
        layout.append((proc, thread, rows, y, depth))
        y += 20 + depth * row_h + 8
    height = y + 4
    k = 0
    while k * step * 1e3 <= (t1 - t0):
        tx = x(t0 + k * step * 1e3)
        parts.append('<line x1="%.1f" y1="22" x2="%.1f" y2="%d" class="grid"/>' %
                     (tx, tx, height))
        if tx + 44 < width:
            parts.append('<text x="%.1f" y="16" class="tick">%g ms</text>' % (tx + 3, k * step))
        k += 1
    for proc, thread, rows, ly, depth in layout:
        parts.append('<rect x="0" y="%d" width="%d" height="%d" class="band"/>' %
                     (ly, width, 20 + depth * row_h + 4))
        parts.append('<text x="8" y="%d" class="proc">%s</text>' % (ly + 15, html.escape(proc)))
        parts.append('<text x="16" y="%d" class="thread">%s</text>' %
                     (ly + 20 + row_h - 7, html.escape(thread)))
        for start, dur, name, d, args in rows:
            sx, sw = x(start), max(dur * scale, 1.0)
            sy = ly + 20 + d * row_h
            title = '%s%s: %.3f ms' % (name, ' (%s)' % args['name'] if 'name' in args else '',
                                       dur / 1e3)
            backward = name.startswith('_backward_')
            parts.append('<rect x="%.2f" y="%d" width="%.2f" height="%d" fill="%s" '
                         'class="slice%s"><title>%s</title></rect>' %
                         (sx, sy, sw, row_h - 3, _colour(name), ' bwd' if backward else '',
                          html.escape(title)))
            node = args.get('name')
            choices = [name + ' ' + node, name, node] if node else [name]
            label = next((c for c in choices if _fits(c, sw)), None)
            if label:
                parts.append('<text x="%.2f" y="%d" class="label">%s</text>' %
                             (sx + 3, sy + row_h - 10, html.escape(label)))
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d">%s</svg>'
            % (width, height, ''.join(parts)), height)


def page(trace_path, table, width=1400):
    with open(trace_path) as f:
        events = json.load(f)['traceEvents']
    lanes = _lanes(events)
    svg, _ = _svg(lanes, width - 24)
    ops = [e for e in events if e.get('cat') == 'operator']
    step = next(s for _, _, rows in lanes for s in rows if s[2] == 'training step')
    busy = sum(e['dur'] for e in ops)
    lines = table.split('\n')
    start = lines.index('operator')
    op_table = '\n'.join(lines[start:start + 4 + len({e['name'] for e in ops})])
    seen = []
    for e in ops:
        base = e['name'].replace('_backward_', '')
        if base not in seen:
            seen.append(base)
    first = min(e['ts'] for e in ops)
    calls = 'cpu/0 MainThread: %d slices, one per operator call (ph X)\n' % len(ops)
    calls += '%-26s %-9s %10s %10s\n' % ('name', 'node', 'start ms', 'dur ms')
    calls += ''.join('%-26s %-9s %10.3f %10.3f\n' % (e['name'], e['args']['name'],
                                                     (e['ts'] - first) / 1e3, e['dur'] / 1e3)
                     for e in ops)
    legend = ''.join('<span><i style="background:%s"></i>%s</span>' % (_colour(b), b)
                     for b in seen) + \
        '<span>(lighter: its _backward_ operator)</span>'

    return '''<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>distmod profile</title><style>
body {{ margin: 0; padding: 10px 12px; font: 13px "DejaVu Sans", sans-serif; background: #fff;
       color: #222; }}
h1 {{ font-size: 16px; margin: 0 0 4px 0; }}
.meta {{ color: #555; margin-bottom: 8px; }}
.grid {{ stroke: #ddd; stroke-width: 1; }}
.tick {{ font-size: 11px; fill: #666; }}
.band {{ fill: #f6f7f9; stroke: #e3e5e8; }}
.proc {{ font-weight: bold; font-size: 12px; }}
.thread {{ font-size: 11px; fill: #555; }}
.slice {{ stroke: #fff; stroke-width: 0.6; }}
.bwd {{ fill-opacity: 0.72; }}
.legend span {{ display: inline-block; margin: 6px 14px 0 0; font-size: 12px; }}
.legend i {{ display: inline-block; width: 12px; height: 12px; margin-right: 4px;
            vertical-align: -1px; }}
.label {{ font-size: 11px; fill: #fff; pointer-events: none; }}
pre {{ font: 11.5px "DejaVu Sans Mono", monospace; background: #f6f7f9; padding: 6px 8px;
       border: 1px solid #e3e5e8; margin: 8px 8px 0 0; line-height: 1.22; }}
.panes {{ display: flex; align-items: flex-start; }}
</style></head><body>
<h1>mx.profiler trace of one LeNet training step (distmod, NumPy on CPU, batch {batch})</h1>
<div class="meta">{file}: {n} operator calls ({nf} forward, {nb} backward) taking
{busy:.2f} ms of the {step:.2f} ms step; Events mark the step and its phases;
MXNET_C_API holds Executor.forward/backward. Drawn from the JSON by bench/profile_trace.py.</div>
{svg}
<div class="legend">{legend}</div>
<div class="panes"><pre>mx.profiler.dumps()  (aggregate_stats=True)
{table}</pre>
<pre>{calls}</pre></div>
</body></html>'''.format(batch=BATCH, file=html.escape(os.path.basename(trace_path)),
                         n=len(ops), nf=sum(not e['name'].startswith('_backward') for e in ops),
                         nb=sum(e['name'].startswith('_backward') for e in ops),
                         busy=busy / 1e3, step=step[1] / 1e3, svg=svg,
                         table=html.escape(op_table), legend=legend,
                         calls=html.escape(calls))


def screenshot(html_path, png_path, size=(1400, 800)):
    browser = next((shutil.which(b) for b in ('chromium', 'chromium-browser', 'google-chrome')
                    if shutil.which(b)), None)
    if browser is None:
        print('no Chromium found (apt-get install chromium): open %s yourself' % html_path)
        return False
    profile = tempfile.mkdtemp(prefix='chromium-')
    try:
        subprocess.run([browser, '--headless', '--no-sandbox', '--disable-gpu',
                        '--disable-background-networking', '--disable-component-update',
                        '--disable-sync', '--no-first-run', '--hide-scrollbars',
                        '--user-data-dir=' + profile, '--screenshot=' + png_path,
                        '--window-size=%d,%d' % size, 'file://' + html_path],
                       check=True, timeout=120, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=os.path.join(ROOT, 'docs', 'profiler_trace.png'))
    parser.add_argument('--dir', default=None, help='keep profile.json and trace.html here')
    args = parser.parse_args()
    folder = args.dir or tempfile.mkdtemp(prefix='distmod-trace-')
    os.makedirs(folder, exist_ok=True)
    t = time.perf_counter()
    trace, table = profile_one_step(folder)
    html_path = os.path.abspath(os.path.join(folder, 'trace.html'))
    with open(html_path, 'w') as f:
        f.write(page(trace, table))
    print(table)
    print('trace: %s\npage:  %s  (%.1f s)' % (trace, html_path, time.perf_counter() - t))
    if screenshot(html_path, os.path.abspath(args.out)):
        print('screenshot: %s' % args.out)


if __name__ == '__main__':
    main()
