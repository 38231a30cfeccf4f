"""The 8-wide recursions of models of at most 8 states (fastem.kernels._simd8).

They must give what the scalar recursions (kept for K > 8) give, through
their occasional rescaling too, and a fit on either side of K = 8 must
equal hmmlearn's.
"""
import logging

import numpy as np
import pytest

from fastem import hmm
from fastem.families.hmm import transition_operands
from fastem.kernels import hmm as kernels

hmmlearn_hmm = pytest.importorskip("hmmlearn.hmm")
logging.getLogger("hmmlearn").setLevel(logging.ERROR)


def _lattice_case(K, n, seed):
    """A frame, transitions and start of K states; some rows make every
    state nearly impossible (1e-60: beyond 2^-64, so the 8-wide forward
    rescales, and within the scalar forward's range)."""
    rng = np.random.default_rng(seed)
    frame = rng.random((n, K)) + 1e-3
    frame[rng.random(n) < 0.05] *= 1e-60
    transmat = rng.dirichlet(np.ones(K), size=K)
    startprob = rng.dirichlet(np.ones(K))
    return frame, np.arange(n, dtype=np.int64), rng.normal(size=n), startprob, transmat


@pytest.mark.parametrize("K", [1, 5, 8])
def test_vector_recursions_equal_scalar_ones(K):
    n, weight = 400, 1.75
    frame, rows, offset, startprob, transmat = _lattice_case(K, n, seed=K)
    # scalar: forward, backward, combine
    alpha, scale, gamma = np.empty((n, K)), np.empty(n), np.empty((n, K))
    ll = kernels._forward(frame, rows, offset, 0, n, startprob, np.ascontiguousarray(transmat.T),
                          alpha, scale, np.empty(K))
    kernels._backward(frame, rows, 0, n, transmat, gamma, np.empty(K))
    xi = np.zeros((K, K))
    kernels._combine(frame, rows, 0, 0, n, alpha, scale, gamma, weight, True, xi,
                     np.empty((K, kernels._XI_TILE)), np.empty((kernels._XI_TILE, K)))
    xi *= weight * transmat
    # 8-wide: forward, then backward and combine in one sweep
    alpha8, scale8, gamma8 = np.empty((n, K)), np.empty(n), np.empty((n, K))
    ll8 = kernels._forward8(frame, rows, offset, 0, n, startprob,
                            transition_operands(transmat)[0], alpha8, scale8, np.zeros((2, 8)))
    assert (scale8 != 1.0).sum() >= 3  # the rescaling path ran
    xi8 = np.zeros((8, 8))
    kernels._backward_combine8(frame, rows, 0, n, alpha8, scale8,
                               transition_operands(transmat)[1], weight, True, gamma8, xi8,
                               np.zeros((2, 8)))
    np.testing.assert_allclose(ll8, ll, rtol=1e-13)
    np.testing.assert_allclose(gamma8, gamma, rtol=1e-11, atol=1e-300)
    np.testing.assert_allclose(weight * transmat * xi8[:K, :K], xi, rtol=1e-11)
    assert not xi8[K:].any() and not xi8[:, K:].any()  # the padding stays zero
    # the 8-wide backward lattice (each row up to its own scale)
    beta8 = np.empty((n, K))
    kernels._backward8(frame, rows, 0, n, transition_operands(transmat)[1], beta8,
                       np.zeros((2, 8)))
    posterior8 = alpha8 * beta8 / (alpha8 * beta8).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(weight * posterior8, gamma, rtol=1e-11, atol=1e-300)


def test_vector_forward_impossible_sequence():
    frame, rows, offset, startprob, transmat = _lattice_case(4, 50, seed=0)
    frame[30] = 0.0
    ll = kernels._forward8(frame, rows, offset, 0, 50, startprob,
                           transition_operands(transmat)[0], np.empty((50, 4)), np.empty(50),
                           np.zeros((2, 8)))
    assert ll == -np.inf


@pytest.mark.parametrize("n_components", [1, 8, 9])
def test_fit_equal_to_hmmlearn_either_side_of_8_states(n_components):
    """200 x 3 rows in sequences of several lengths (one of 1,200 rows: the
    forward rescales), 8 and 9 states: the 8-wide and the scalar recursions."""
    rng = np.random.RandomState(n_components)
    K = n_components
    lengths = [1200, 1, 300, 17]
    states = np.repeat(rng.randint(0, K, sum(lengths) // 20 + 1), 20)[:sum(lengths)]
    X = rng.randn(sum(lengths), 3) + 4.0 * rng.randn(K, 3)[states]
    start = {"startprob_": rng.dirichlet(np.ones(K)),
             "transmat_": rng.dirichlet(np.ones(K) * 2, size=K),
             "means_": rng.randn(K, 3) * 3, "covars_": rng.uniform(1, 2, (K, 3))}
    fitted = []
    for module in (hmmlearn_hmm, hmm):
        model = module.GaussianHMM(K, covariance_type="diag", init_params="", n_iter=4,
                                   tol=0, implementation="scaling")
        for attr, value in start.items():
            setattr(model, attr, value.copy())
        fitted.append(model.fit(X, lengths))
    ref, ours = fitted
    for attr in ("startprob_", "transmat_", "means_", "_covars_"):
        np.testing.assert_allclose(getattr(ours, attr), getattr(ref, attr), rtol=1e-8,
                                   atol=1e-12, err_msg=attr)
    np.testing.assert_allclose(ours.score(X, lengths), ref.score(X, lengths), rtol=1e-8)
    np.testing.assert_allclose(ours.predict_proba(X, lengths), ref.predict_proba(X, lengths),
                               rtol=1e-8, atol=1e-10)
