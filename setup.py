"""The optional native kernels: ``distmod/_native/shiftconv.c``, a plain C shared object that
distmod loads with ctypes (no Python API).  ``optional=True``: where no C compiler is found the
install goes on without it and the convolution keeps its BLAS path.  Everything else is in
pyproject.toml."""
import sys

from setuptools import Extension, setup

_FLAGS = [] if sys.platform == 'win32' else ['-O3', '-std=c99', '-fno-strict-aliasing']

setup(ext_modules=[Extension('distmod._native._shiftconv', ['distmod/_native/shiftconv.c'],
                             extra_compile_args=_FLAGS, optional=True)])
