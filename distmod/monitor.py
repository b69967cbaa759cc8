"""``mx.monitor.Monitor``: statistics of every operator output every ``interval`` batches."""
import logging
import re
from math import sqrt

import numpy as np

from .ndarray.ndarray import NDArray

__all__ = ['Monitor']


class Monitor:
    """Collect ``stat_func(array)`` of outputs whose names match ``pattern``.

    Example::

        >>> mon = mx.monitor.Monitor(100, pattern='.*weight')       # doctest: +SKIP
        >>> mod.fit(train, num_epoch=1, monitor=mon)                 # doctest: +SKIP
    """

    def __init__(self, interval, stat_func=None, pattern='.*', sort=False, monitor_all=False):
        if stat_func is None:
            def stat_func(x):
                """Root mean square: ||x|| / sqrt(size)."""
                a = x.asnumpy()
                return NDArray(np.array([np.linalg.norm(a) / sqrt(max(a.size, 1))],
                                        dtype=np.float32))
        self.stat_func = stat_func
        self.interval = interval
        self.activated = False
        self.queue = []
        self.step = 0
        self.exes = []
        self.re_prog = re.compile(pattern)
        self.sort = sort
        self.monitor_all = monitor_all

    def stat_helper(self, name, array):
        if not self.activated or not self.re_prog.match(name):
            return
        self.queue.append((self.step, name, self.stat_func(array)))

    def install(self, exe):
        exe.set_monitor_callback(self.stat_helper, self.monitor_all)
        self.exes.append(exe)

    def tic(self):
        """Start collecting if this batch is one of every ``interval``."""
        if self.step % self.interval == 0:
            self.queue = []
            self.activated = True
        self.step += 1

    def toc(self):
        """Stop collecting; returns [(step, name, stat string)] including the arguments."""
        if not self.activated:
            return []
        for exe in self.exes:
            for name, array in zip(exe._arg_names, exe.arg_arrays):
                if self.re_prog.match(name):
                    self.queue.append((self.step, name, self.stat_func(array)))
        self.activated = False
        res = []
        queue = sorted(self.queue, key=lambda x: x[1]) if self.sort else self.queue
        for n, k, v_list in queue:
            if isinstance(v_list, NDArray):
                v_list = [v_list]
            s = ''
            for v in v_list:
                s += str(v.asnumpy().ravel()[0] if v.size == 1 else v.asnumpy()) + '\t'
            res.append((n, k, s))
        self.queue = []
        return res

    def toc_print(self):
        for n, k, v in self.toc():
            logging.info('Batch: {:7d} {:30s} {:s}'.format(n, k, v))
