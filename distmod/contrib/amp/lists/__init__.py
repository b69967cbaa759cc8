"""MXNet's AMP operator lists for the symbolic API: ``symbol_fp16`` and ``symbol_bf16``."""
from . import symbol_fp16, symbol_bf16   # noqa: F401
