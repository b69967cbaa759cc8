"""Across ranks (``mpiexec -n 2``, ``pytest --with-mpi``): the LSTM bucketing run of
tests/rnn/bucketing_fit_case.py with each rank training on its B/N rows of every batch gives
MXNet's one-process run with batch B (tests/fixtures/mxnet/bucketing_fit.npz): gradients
summed over ranks and rescaled by 1/(B/N x N) are the one-process mean, and the validation
perplexity every rank's eval_end_callback sees is over the whole validation data.

So N ranks with batch b per rank train as one process with batch N x b: after an epoch they
have made 1/N as many updates, which is why examples/lstm_bucketing.py's perplexity after
one epoch is higher on 2 ranks than in one process with the same per-rank batch."""
import os

import numpy as np
import pytest

pytestmark = pytest.mark.mpi(min_size=2)

FIXTURE = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'mxnet',
                       'bucketing_fit.npz')


@pytest.mark.parametrize('opt', ['sgd', 'adam'])
def test_n_ranks_with_batch_b_over_n_give_mxnets_one_process_run(opt):
    import distmod as mx
    from mpi4py import MPI
    from tests.rnn.bucketing_fit_case import BATCH, run
    comm = MPI.COMM_WORLD
    if BATCH % comm.size:
        pytest.skip('batch %d does not split over %d ranks' % (BATCH, comm.size))
    ref = np.load(FIXTURE)
    got = run(mx, opt, part_index=comm.rank, num_parts=comm.size)
    np.testing.assert_allclose(got['val_ppl'], ref[opt + '/val_ppl'], rtol=1e-4)
    for name in ref.files:
        if name.startswith(opt + '/arg:'):
            np.testing.assert_allclose(got[name[len(opt) + 1:]], ref[name], rtol=1e-3,
                                       atol=2e-5 if opt == 'sgd' else 1e-3, err_msg=name)
    # the replicas are bit-identical
    first = comm.bcast(got['arg:pred_weight'])
    assert np.array_equal(first, got['arg:pred_weight'])
