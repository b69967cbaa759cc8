"""Spatial sampling: GridGenerator, BilinearSampler, SpatialTransformer."""
