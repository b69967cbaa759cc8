"""Operators of sparse storage (``row_sparse``, ``csr``)."""
