"""The operator registry and every operator family (importing a family registers it)."""
from .registry import (Param, Operator, Sample, InferError, register, get, find, all_ops,
                       all_names, REQUIRED)
from . import nn, loss, shape, elemwise, reduce, linalg, rnn, norm, conv, random   # noqa: F401  (registration)
