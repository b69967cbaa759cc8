"""The LSTM bucketing language model (examples/lstm_bucketing.py in miniature) trained by
``BucketingModule.fit`` from the same parameters on the same batches gives MXNet 1.9.1's
perplexities and parameters (tests/fixtures/mxnet/bucketing_fit.npz, from
tests/fixtures/make_bucketing_fit_fixtures.py).

The example's own perplexity, compared between the libraries over random seeds, scatters by
tens of percent (initial parameters, batch order, a validation set of a few batches); this
pins the training itself, with nothing random on either side."""
import os

import numpy as np
import pytest

import distmod as mx
from tests.rnn.bucketing_fit_case import OPTIMIZERS, run

FIXTURE = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'mxnet', 'bucketing_fit.npz')
#: Adam divides by sqrt(v): the parameters whose gradients are tiny move by ~lr whatever
#: their last float32 digits, so after 40 steps they agree to ~1e-4 (sgd to ~1e-6)
PARAM_ATOL = {'sgd': 2e-5, 'adam': 1e-3}


@pytest.mark.parametrize('opt', sorted(OPTIMIZERS))
def test_bucketing_fit_gives_mxnets_perplexities_and_parameters(opt):
    ref = np.load(FIXTURE)
    got = run(mx, opt)
    names = sorted(k[len(opt) + 1:] for k in ref.files if k.startswith(opt + '/'))
    assert sorted(got) == names
    np.testing.assert_allclose(got['train_ppl'], ref[opt + '/train_ppl'], rtol=1e-4)
    np.testing.assert_allclose(got['val_ppl'], ref[opt + '/val_ppl'], rtol=1e-4)
    assert got['val_ppl'][-1] < got['val_ppl'][0]       # it learns something
    for name in names:
        if name.startswith('arg:'):
            np.testing.assert_allclose(got[name], ref[opt + '/' + name], rtol=1e-3,
                                       atol=PARAM_ATOL[opt], err_msg=name)
