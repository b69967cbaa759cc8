"""Raw mpi4py, no distmod: one 437 KB Allreduce (the MLP's gradients) per iteration on 2 ranks,
best of 7 rounds of 500, with optional extras between them (MODE: plain, gate, nb, nb+same,
bgate, dup+ibar+gate+nb, p2p+gate+nb). Run it several times: on a 2-vCPU machine plain alone
takes 60-85 us in most launches and about 170 us in some, which is why bench_dist's fit-level
watchdog comparison is noisy.

    mpiexec -n 2 --bind-to core python bench/mpi_allreduce_noise.py plain
"""
import os, sys, time
import numpy as np
from mpi4py import MPI
comm = MPI.COMM_WORLD
mode = sys.argv[1]
g = comm.Dup()
if 'dup' in mode:
    extra = comm.Dup()
if 'ibar' in mode:
    req = comm.Ibarrier()
    while not req.Test():
        time.sleep(1e-4)
if 'p2p' in mode:
    if comm.rank == 0:
        comm.recv(source=1, tag=5)
    else:
        comm.send(1, dest=0, tag=5)
buf = np.zeros(109386, np.float32)
flag = np.zeros(1, np.int32)
best = 1e9
for r in range(7):
    comm.Barrier()
    t = time.perf_counter()
    for i in range(500):
        if 'gate' in mode:
            q = g.Ibarrier()
            while not q.Test():
                pass
        g.Allreduce(MPI.IN_PLACE, buf, MPI.SUM)
        if 'bgate' in mode:          # tiny allreduce blocking, behind an Ibarrier gate
            q = comm.Ibarrier()
            while not q.Test():
                pass
            comm.Allreduce(MPI.IN_PLACE, flag, op=MPI.MIN)
        if 'nb' in mode:
            q = (g if 'same' in mode else comm).Iallreduce(MPI.IN_PLACE, flag, op=MPI.MIN)
            while not q.Test():
                pass
    comm.Barrier()
    best = min(best, (time.perf_counter() - t) / 500)
if comm.rank == 0:
    print(mode, '%.1f us' % (best * 1e6))
