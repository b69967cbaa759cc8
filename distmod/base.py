"""Errors and small helpers shared by every layer of distmod."""
import numpy as np

__all__ = ['MXNetError', 'DistmodError', 'string_types', 'numeric_types', 'integer_types',
           'dtype_np', 'dtype_name']


class MXNetError(RuntimeError):
    """The error distmod raises for bad graphs, shapes, files and arguments.

    Named as in MXNet so that ``except mx.base.MXNetError`` in users' scripts keeps working.
    """


DistmodError = MXNetError

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


#: This process's rank and the number of ranks, as the last distributed kvstore created saw
#: them; logging callbacks print only on rank 0.
WORLD = {'rank': 0, 'num_workers': 1}


def is_root_rank():
    """True in a single process and on rank 0 of a data-parallel job."""
    return WORLD['rank'] == 0
