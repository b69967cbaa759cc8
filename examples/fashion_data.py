"""Fashion-MNIST's original files (IDX, gzip-compressed), found or fetched once.

In order: Debian's package ``dataset-fashion-mnist`` where it is installed
(``/usr/share/datasets/fashion-mnist``); else the package fetched with ``apt-get download``
and unpacked with ``dpkg-deb -x`` into ``data/fashion-mnist`` (nothing is installed); else
the usual download.  Returns the paths MNISTIter needs.
"""
import glob
import os
import shutil
import subprocess
import tempfile
import urllib.request

FILES = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
         't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']
SYSTEM = '/usr/share/datasets/fashion-mnist'
MIRROR = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/'
HERE = os.path.dirname(os.path.abspath(__file__))


def _have(folder):
    return all(os.path.exists(os.path.join(folder, f)) for f in FILES)


def _from_debian(folder):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(['apt-get', 'download', 'dataset-fashion-mnist'], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900)
        deb = glob.glob(os.path.join(tmp, 'dataset-fashion-mnist_*.deb'))[0]
        subprocess.run(['dpkg-deb', '-x', deb, os.path.join(tmp, 'root')], check=True,
                       timeout=300)
        src = os.path.join(tmp, 'root', SYSTEM.lstrip('/'))
        for name in FILES:
            shutil.copy(os.path.join(src, name), os.path.join(folder, name))


def _from_web(folder):
    for name in FILES:
        with urllib.request.urlopen(MIRROR + name, timeout=120) as r, \
                open(os.path.join(folder, name), 'wb') as f:
            shutil.copyfileobj(r, f)


def get_fashion_mnist(folder=None):
    """Paths of the four Fashion-MNIST files, keyed by their names without ``.gz``."""
    if _have(SYSTEM):
        folder = SYSTEM
    else:
        folder = folder or os.path.join(HERE, '..', 'data', 'fashion-mnist')
        os.makedirs(folder, exist_ok=True)
        if not _have(folder):
            try:
                _from_debian(folder)
            except (OSError, IndexError, subprocess.SubprocessError):
                _from_web(folder)
    return {f[:-3]: os.path.join(folder, f) for f in FILES}
