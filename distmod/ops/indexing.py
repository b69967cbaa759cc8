"""Indexing and sorting: take, batch_take, pick, one_hot, gather_nd, scatter_nd, argmax, argmin, argsort, sort, topk."""
