"""The optional native kernels: ``distmod/_native/*.c`` (convolution, im2col, pooling,
elementwise, activations, the pool's threads), one plain C shared object that distmod loads
with ctypes (no Python API), and ``kvstore/_codec.c`` (gradient compression's encoder), the
kvstore's own.  ``optional=True``: where
no C compiler is found the install goes on without it, and distmod keeps its NumPy and BLAS
paths.  Everything else is in pyproject.toml."""
import sys

from setuptools import Extension, setup

# no contraction into FMAs: the elementwise kernels keep NumPy's roundings, bit for bit
_FLAGS = [] if sys.platform == 'win32' else ['-O3', '-std=c99', '-fno-strict-aliasing',
                                             '-ffp-contract=off']
_SOURCES = ['distmod/_native/shiftconv.c', 'distmod/_native/sameconv.c',
            'distmod/_native/elementwise.c', 'distmod/_native/pool.c',
            'distmod/_native/im2col.c', 'distmod/_native/activation.c',
            'distmod/_native/threads.c']

# threads.c: the native pool's threads
_LINK = [] if sys.platform == 'win32' else ['-pthread']

# kvstore's own: gradient compression's one-pass encoder (kvstore/_codec.c)
setup(ext_modules=[Extension('distmod._native._shiftconv', _SOURCES,
                             extra_compile_args=_FLAGS + _LINK, extra_link_args=_LINK,
                             optional=True),
                   Extension('kvstore._codec', ['kvstore/_codec.c'], extra_compile_args=_FLAGS,
                             optional=True)])
