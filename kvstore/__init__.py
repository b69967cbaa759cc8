"""kvstore: distmod's communication layer (local, device, dist_sync over MPI).

It moves raw NumPy/CuPy buffers and never imports distmod (see DESIGN.md).  The stores
themselves arrive with the distributed-training issue; ``distmod.kvstore`` will be the
MXNet-compatible face over this package.
"""
