"""An E-step over several batches of sequences runs the batches on the threads
at once (fastem.families.hmm.HMMFamily._statistics_on_threads): the fit must
not depend on the thread count, nor on whether batches ran at once."""
import numpy as np
import pytest

import fastem.families.hmm as families
from fastem import hmm


def _case(covariance_type="diag", seed=0, n_seq=30):
    rng = np.random.RandomState(seed)
    lengths = list(rng.randint(1, 90, n_seq))
    states = np.repeat(rng.randint(0, 3, sum(lengths) // 7 + 1), 7)[:sum(lengths)]
    X = rng.randn(sum(lengths), 2) + 3.0 * rng.randn(3, 2)[states]
    start = {"startprob_": np.array([0.5, 0.3, 0.2]),
             "transmat_": rng.dirichlet(np.ones(3) * 2, size=3),
             "means_": rng.randn(3, 2) * 2,
             "covars_": (rng.uniform(1, 2, (3, 2)) if covariance_type == "diag"
                         else np.tile(np.eye(2) * 1.5 + 0.3, (3, 1, 1)))}
    return X, lengths, start


def _fit(X, lengths, start, n_jobs, **kwargs):
    model = hmm.GaussianHMM(3, n_iter=4, tol=0, init_params="", n_jobs=n_jobs, **kwargs)
    for attr, value in start.items():
        setattr(model, attr, value.copy())
    return model.fit(X, lengths)


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_batches_on_threads_bit_identical(covariance_type, monkeypatch):
    X, lengths, start = _case(covariance_type)
    monkeypatch.setattr(families, "BATCH_ROWS", 150)  # about 10 batches
    assert len(families.batches(families.sequence_starts(lengths))) >= 8
    fits = [_fit(X, lengths, start, n_jobs, covariance_type=covariance_type)
            for n_jobs in (1, 2, 3)]
    # one batch on the threads inside its kernels: the same sums in the same order
    monkeypatch.setattr(families, "BATCH_ROWS", 10 ** 9)
    fits.append(_fit(X, lengths, start, 2, covariance_type=covariance_type))
    for attr in ("startprob_", "transmat_", "means_", "_covars_"):
        for fit in fits[1:3]:
            np.testing.assert_array_equal(getattr(fit, attr), getattr(fits[0], attr))
        # other batches: other sums, equal to round-off
        np.testing.assert_allclose(getattr(fits[3], attr), getattr(fits[0], attr), rtol=1e-10)
    assert fits[1].lower_bounds_ == fits[0].lower_bounds_ == fits[2].lower_bounds_
    np.testing.assert_allclose(fits[3].lower_bounds_, fits[0].lower_bounds_, rtol=1e-12)


def test_impossible_sequence_in_a_later_batch(monkeypatch):
    """The error names the first impossible sequence, whichever thread met it."""
    monkeypatch.setattr(families, "BATCH_ROWS", 4)
    model = hmm.CategoricalHMM(2, init_params="", n_iter=1, n_jobs=2)
    model.startprob_ = np.array([1.0, 0.0])
    model.transmat_ = np.array([[1.0, 0.0], [0.0, 1.0]])
    X = np.zeros((40, 1), dtype=np.int64)
    X[[21, 22, 23, 33], 0] = 1  # sequence 5 (rows 20-23) and 8 (32-35): state 0 only
    model.emissionprob_ = np.array([[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="Sequence 5 of X has zero probability"):
        model.fit(X, [4] * 10)
