"""Operators without inputs that make arrays: _ones, _full, _arange, _linspace."""
