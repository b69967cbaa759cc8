"""Errors and small helpers shared by every layer of distmod."""
import numpy as np

__all__ = ['MXNetError', 'DistmodError', 'NotImplementedForSymbol', 'register_by_name',
           'string_types', 'numeric_types', 'integer_types', 'mx_real_t', 'py_str', 'dtype_np',
           'dtype_name']


class MXNetError(RuntimeError):
    """The error distmod raises for bad graphs, shapes, files and arguments.

    Named as in MXNet so that ``except mx.base.MXNetError`` in users' scripts keeps working.
    """


DistmodError = MXNetError


class NotImplementedForSymbol(MXNetError):
    """A function that exists for NDArrays but not for Symbols (MXNet's error).

    ``function`` is the function, ``alias`` the operator it stands for (or None), ``args`` the
    arguments it was given.
    """

    def __init__(self, function, alias=None, *args):
        super().__init__()
        self.function = getattr(function, '__name__', str(function))
        self.alias = alias
        self.args = [str(type(a)) for a in args]

    def __str__(self):
        msg = 'Function {}'.format(self.function)
        if self.alias:
            msg += ' (namely operator "{}")'.format(self.alias)
        if self.args:
            msg += ' with arguments ({})'.format(', '.join(self.args))
        return msg + ' is not implemented for Symbol and only available in NDArray.'


#: MXNet's default real type.
mx_real_t = np.float32


def py_str(x):
    """``bytes`` (a C string) as ``str``; a ``str`` is returned as it is."""
    return x.decode('utf-8') if isinstance(x, (bytes, bytearray)) else x

string_types = (str,)
numeric_types = (float, int, np.generic)
integer_types = (int, np.integer)

# MXNet's type flags (include/mshadow/base.h), used by .params files and symbol JSON.
_DTYPE_FLAGS = ['float32', 'float64', 'float16', 'uint8', 'int32', 'int8', 'int64', 'bool',
                'int16', 'uint16', 'uint32', 'uint64', 'bfloat16']
DTYPE_TO_FLAG = {name: i for i, name in enumerate(_DTYPE_FLAGS)}
FLAG_TO_DTYPE = dict(enumerate(_DTYPE_FLAGS))


def dtype_np(dtype):
    """A NumPy dtype from anything MXNet users pass: 'float32', np.float32, np.dtype, None."""
    if dtype is None:
        return np.dtype(np.float32)
    if isinstance(dtype, str) and dtype == 'bfloat16':
        raise MXNetError("dtype 'bfloat16' is not supported by distmod's NumPy backend")
    try:
        return np.dtype(dtype)
    except TypeError as e:
        raise MXNetError('unknown dtype %r' % (dtype,)) from e


def dtype_name(dtype):
    """MXNet's name for a dtype: 'float32', 'int64', ..."""
    return np.dtype(dtype).name


#: (rank, size) variable pairs that MPI launchers (Open MPI, MPICH/Hydra), torchrun-style
#: launchers (distmod-launch sets these too) and Slurm job steps give each process.
LAUNCH_VARIABLES = (('OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE'), ('PMI_RANK', 'PMI_SIZE'),
                    ('RANK', 'WORLD_SIZE'), ('SLURM_PROCID', 'SLURM_STEP_NUM_TASKS'))


def launched_world(env=None):
    """``(rank, size)`` of this process as its launcher's environment gives them, before
    any MPI call; ``(0, 1)`` for a process started alone."""
    import os
    env = os.environ if env is None else env
    for rank, size in LAUNCH_VARIABLES:
        try:
            r, n = int(env[rank]), int(env[size])
        except (KeyError, ValueError):
            continue
        if 0 <= r < n:
            return r, n
    return 0, 1


#: This process's rank and the number of ranks: from the launcher's environment at import,
#: then as the last distributed kvstore created saw them.  Only rank 0 logs progress and
#: writes checkpoints, whatever the kvstore.
WORLD = dict(zip(('rank', 'num_workers'), launched_world()))


def is_root_rank():
    """True in a single process and on rank 0 of a data-parallel job."""
    return WORLD['rank'] == 0


def register_by_name(registry, klass, what, error=TypeError):
    """Put class ``klass`` in ``registry`` under its lower-cased name (MXNet's registration of
    optimizers, initializers, stores...); replacing another class warns.  Returns ``klass``,
    so that it serves as a class decorator."""
    import warnings
    if not isinstance(klass, type):
        raise error('register expects a %s class, not %r' % (what, klass))
    name = klass.__name__.lower()
    old = registry.get(name)
    if old is not None and old is not klass:
        warnings.warn('New %s %s.%s is overriding existing %s %s.%s'
                      % (what, klass.__module__, klass.__name__, what, old.__module__,
                         old.__name__))
    registry[name] = klass
    return klass
