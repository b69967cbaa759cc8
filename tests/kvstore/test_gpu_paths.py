"""kvstore.gpu: which path GPU gradients take across ranks, agreed from every rank's
capabilities; CUDA-aware MPI detection; NCCL's bootstrap.  (The paths themselves run under
mpiexec in tests/distributed/test_mpi_device_staging.py.)"""
import logging

import numpy as np
import pytest

from kvstore import KVStoreError, gpu

GPU_NCCL_MPI = (0, True, True)
GPU_NCCL = (1, True, False)
GPU_ONLY = (0, False, False)
HOST = (None, False, False)


@pytest.mark.parametrize('everyone, path', [
    ([GPU_NCCL_MPI, GPU_NCCL], 'nccl'),
    ([GPU_NCCL_MPI, (1, False, True)], 'mpi'),
    ([GPU_NCCL, GPU_ONLY], 'staged'),
    ([GPU_NCCL, HOST], 'staged'),           # a CPU rank joins the GPU ranks through the host
    ([HOST, HOST], None),
    ([GPU_NCCL + ('a',), GPU_NCCL + ('a',)], 'staged'),    # two ranks on one GPU
    ([GPU_NCCL + ('a',), GPU_NCCL + ('b',)], 'nccl'),      # the same GPU number, two hosts
])
def test_the_path_every_rank_can_take(everyone, path):
    assert gpu.choose_path(everyone, 'auto') == path


def test_a_forced_path_names_the_ranks_that_cannot_take_it():
    assert gpu.choose_path([GPU_NCCL_MPI, GPU_NCCL], 'staged') == 'staged'
    with pytest.raises(KVStoreError, match=r'DISTMOD_GPU_REDUCE=mpi: rank 1 cannot'):
        gpu.choose_path([GPU_NCCL_MPI, GPU_NCCL], 'mpi')
    with pytest.raises(KVStoreError, match=r'ranks 1, 2 cannot \(no GPU buckets, no NCCL'):
        gpu.choose_path([GPU_NCCL, GPU_ONLY, HOST], 'nccl')
    with pytest.raises(KVStoreError, match='choose one of auto, nccl, mpi, staged'):
        gpu.choose_path([GPU_NCCL], 'gloo')


def test_the_environment_chooses(monkeypatch):
    monkeypatch.setenv('DISTMOD_GPU_REDUCE', 'staged')
    assert gpu.choose_path([GPU_NCCL_MPI, (1, True, True)]) == 'staged'
    monkeypatch.delenv('DISTMOD_GPU_REDUCE')
    assert gpu.choose_path([GPU_NCCL_MPI, (1, True, True)]) == 'nccl'


def test_cuda_aware_mpi_from_the_environment_or_the_library():
    assert gpu.cuda_aware_mpi({'DISTMOD_CUDA_AWARE_MPI': '1'}) is True
    assert gpu.cuda_aware_mpi({'DISTMOD_CUDA_AWARE_MPI': 'off', 'MPICH_GPU_SUPPORT_ENABLED': '1'}) is False
    assert gpu.cuda_aware_mpi({'MPICH_GPU_SUPPORT_ENABLED': '1'}) is True
    assert isinstance(gpu.cuda_aware_mpi({}), bool)


def test_open_mpi_is_asked_through_its_extension():
    MPI = pytest.importorskip('mpi4py.MPI')
    if 'Open MPI' not in MPI.Get_library_version():
        pytest.skip('not Open MPI')
    lib = gpu._libmpi()
    assert lib is not None and hasattr(lib, 'MPIX_Query_cuda_support')


def test_host_flats_probe_nothing():
    assert gpu.capabilities([np.zeros(3), np.zeros(2)])[:3] == (None, False, False)


def test_capabilities_of_device_flats():
    from tests.device_semantics import strictdev
    with strictdev.installed(), strictdev.Device(1):
        flat = strictdev.xp.zeros(4, dtype=np.float32)
        assert gpu.capabilities([np.zeros(3), flat],
                                env={'DISTMOD_CUDA_AWARE_MPI': '0'})[:3] == (1, False, False)
        strictdev.enable_nccl()
        try:
            assert gpu.capabilities([flat], env={'DISTMOD_CUDA_AWARE_MPI': '1'})[:3] == (1, True, True)
        finally:
            strictdev.enable_nccl(False)


def test_nccl_bootstrap_hands_rank_0s_id_to_every_rank():
    made = []

    class FakeNccl:
        @staticmethod
        def get_unique_id():
            return (7,) * 128

        class NcclCommunicator:
            def __init__(self, ndev, uid, rank):
                made.append((ndev, uid, rank))

    class Dev:
        def __enter__(self):
            made.append('device')

        def __exit__(self, *exc):
            return False

    sent = []
    gpu.nccl_communicator(FakeNccl, Dev(), 2, 0, lambda v: sent.append(v) or v)
    gpu.nccl_communicator(FakeNccl, Dev(), 2, 1, lambda v: sent[0])
    assert sent == [(7,) * 128]
    assert made == ['device', (2, (7,) * 128, 0), 'device', (2, (7,) * 128, 1)]


def test_rank_0_says_which_path_once(caplog):
    gpu._logged.discard('nccl')
    with caplog.at_level(logging.INFO, logger='kvstore'):
        gpu.log_path('nccl', 4, 0)
        gpu.log_path('nccl', 4, 0)
        gpu.log_path('nccl', 4, 1)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ['kvstore: GPU gradients are summed across 4 ranks by NCCL on the GPUs']
