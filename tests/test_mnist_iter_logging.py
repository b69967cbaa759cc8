"""MXNet's MNISTIter reports the images it loaded from C++, on stderr: a script that builds
its iterators before ``logging.basicConfig(level=logging.DEBUG)`` (MXNet's stochastic-depth
example) still gets its fit logs.  Here the line goes to stderr too, and the root logger is
left unconfigured (``logging.info`` would have configured it at WARNING)."""
import struct
import subprocess
import sys
import textwrap

import numpy as np


def _write_idx(path, arr, magic):
    with open(path, 'wb') as f:
        f.write(struct.pack('>i', magic))
        f.write(struct.pack('>%di' % arr.ndim, *arr.shape))
        f.write(arr.astype(np.uint8).tobytes())


def test_mnist_iter_does_not_configure_logging_before_the_script_does(tmp_path):
    _write_idx(str(tmp_path / 'img'), np.arange(8 * 28 * 28).reshape(8, 28, 28) % 256, 2051)
    _write_idx(str(tmp_path / 'lab'), np.arange(8) % 10, 2049)
    script = textwrap.dedent('''
        import logging, sys
        import distmod as mx
        it = mx.io.MNISTIter(image=sys.argv[1], label=sys.argv[2], batch_size=4)
        assert logging.getLogger().handlers == [], logging.getLogger().handlers
        logging.basicConfig(level=logging.DEBUG)
        logging.info('the script logs')
    ''')
    res = subprocess.run([sys.executable, '-c', script, str(tmp_path / 'img'),
                          str(tmp_path / 'lab')], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert 'MNISTIter: load 8 images, shuffle=0, shape=(4, 1, 28, 28)' in res.stderr
    assert 'INFO:root:the script logs' in res.stderr, res.stderr
