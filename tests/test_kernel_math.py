"""The kernels' vectorizable scalar math (fastem.kernels._math) against libm."""
import numpy as np
import pytest
from numba import njit

from fastem.kernels._math import log_positive


def _log_loop(x, out):
    for i in range(x.shape[0]):
        out[i] = log_positive(x[i])


@pytest.mark.parametrize("flags", [{}, {"fastmath": {"contract"}, "error_model": "numpy"}],
                         ids=["plain", "as-in-the-pass"])
def test_log_positive_is_within_one_ulp_of_libm(flags):
    # the whole positive normal range, the pass's range (a sum of K exps, the
    # largest 1), and the edges of fdlibm's reduction (1 + f near sqrt(2))
    rng = np.random.default_rng(0)
    tiny, huge = np.finfo(np.float64).tiny, np.finfo(np.float64).max
    x = np.concatenate([
        np.logspace(-307, 308, 20001), rng.uniform(1.0, 64.0, 20000),
        rng.uniform(0.5, 2.0, 20000), np.sqrt(2) * (1 + np.linspace(-1e-12, 1e-12, 101)),
        [1.0, np.nextafter(1.0, 2.0), np.nextafter(1.0, 0.0), 2.0, 0.5, tiny, huge]])
    out = np.empty_like(x)
    njit(**flags)(_log_loop)(x, out)
    want = np.log(x)
    ulps = np.abs(out - want) / np.spacing(np.abs(want))
    assert np.max(ulps[want != 0]) <= 1.0
    assert out[np.flatnonzero(x == 1.0)[0]] == 0.0


def _diag_pass(X, WT, args, K, want_stats):
    """``diag_lanes`` over all of X in one call: (loglik, nk, sx, sxx, row_logp,
    labels, resp)."""
    from fastem.kernels.gaussian import diag_lanes
    N, D = X.shape
    block, n_lanes = 256, 4
    n_blocks = -(-N // block)
    nk, sx, sxx = np.zeros((n_lanes, K)), np.zeros((n_lanes, K, D)), np.zeros((n_lanes, K, D))
    block_sums, bad = np.zeros((n_blocks, 2)), np.zeros(n_blocks, np.int64)
    row_logp, labels, resp = np.empty(N), np.empty(N, np.int64), np.empty((N, K))
    if want_stats:
        row_logp, labels, resp = np.empty(0), np.empty(0, np.int64), np.empty((0, K))
    center, _, const, exact, means, prec, log_norm = args
    diag_lanes(X, np.ones(N), center, WT, const, exact, means, prec, log_norm, block,
               want_stats, row_logp, labels, resp, nk, sx, sxx, block_sums, bad, 0, n_lanes)
    assert bad.sum() == 0
    return (block_sums[:, 0].sum(), nk.sum(0), sx.sum(0), sxx.sum(0), row_logp, labels,
            resp)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_diag_pass_with_one_precision_per_component_equals_repeated_precisions(dtype):
    # spherical precisions reach the diag kernel as a (K, D + 1) operand (one
    # -p/2 column against |y|^2); the (K, 2 D) form with the precision repeated
    # per feature (the kernel's general contract) must give the same pass.
    # 300 rows: two full 128-row tiles and a short one
    from fastem.families.gaussian import GaussianFamily
    rng = np.random.default_rng(4)
    K, D = 3, 5
    X = (rng.standard_normal((300, D)) * 2.0 + rng.integers(0, 3, (300, 1))).astype(dtype)
    family = GaussianFamily(K, "spherical")
    params = {"weights": np.array([0.2, 0.5, 0.3]), "means": rng.standard_normal((K, D)),
              "precisions_cholesky": np.array([0.7, 1.0, 1.6])}
    args = family._kernel_args(params, X.dtype)
    WT_short = args[1]
    assert WT_short.shape == (K, D + 1)
    prec = args[5]
    offset = args[4] - args[0].astype(np.float64)
    WT_long = np.hstack([prec * offset, -0.5 * prec]).astype(dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for want_stats in (True, False):
        short = _diag_pass(X, WT_short, args, K, want_stats)
        long = _diag_pass(X, WT_long, args, K, want_stats)
        assert abs(short[0] - long[0]) <= tol * abs(long[0])
        # statistics with want_stats, else per-row log p(x) and responsibilities
        compared = (1, 2, 3) if want_stats else (4, 6)
        for i in compared:
            np.testing.assert_allclose(short[i], long[i], rtol=tol,
                                       atol=tol * np.abs(long[i]).max())
        np.testing.assert_array_equal(short[5], long[5])  # labels


def test_labels_take_the_first_maximum_and_zero_for_rows_of_zero_density():
    # ties go to the lower component (as argmax); a row whose log-densities
    # are all -inf is labelled 0 and counted as bad
    from fastem.kernels.gaussian import _TILE, _tile_responsibilities
    R = np.full((3, _TILE), -5.0)
    R[:, 1] = [-1.0, 0.0, 0.0]          # tie between components 1 and 2
    R[:, 2] = -np.inf                   # zero density under every component
    R[:, 3] = [-np.inf, -2.0, -np.inf]
    n = 4
    labels, row_logp = np.full(n, -1), np.empty(n)
    scratch = (np.empty(_TILE), np.empty(_TILE), np.empty(_TILE, np.int64),
               np.empty(_TILE, np.bool_))
    loglik, n_bad = _tile_responsibilities(R, n, 0, np.ones(0), False, row_logp, labels,
                                           np.empty((0, 3)), *scratch)
    assert labels.tolist() == [0, 1, 0, 1]
    assert n_bad == 1 and row_logp[2] == -np.inf
    assert np.isclose(row_logp[1], np.log(np.exp(-1.0) + 2.0))
    np.testing.assert_allclose(R[:, 1], [np.exp(-1.0), 1.0, 1.0] / (np.exp(-1.0) + 2.0))
    np.testing.assert_array_equal(R[:, 2], 0.0)
    assert np.isclose(loglik, row_logp[[0, 1, 3]].sum())
