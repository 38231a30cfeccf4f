"""64-bit row indices: block kernels address rows past 2**31 correctly.

Each test runs one block whose rows start past row 2**31 of a zero-stride
view (every row the same, nothing allocated) and the same rows as a block
at index 0; the results must be equal. Per-row outputs are zero-stride
writable views too (all rows write one element, in the same order in both
runs). Companion of the Gaussian, inertia and discrete-linear tests in
``test_reliability.py``.
"""
import warnings

import numpy as np
import pytest

BIG_N = 2 ** 31 + 3 * 1024


def _rows(row, n, writeable=False):
    """An (n, ...) view repeating ``row`` (an array): no memory for n rows."""
    row = np.asarray(row)
    return np.lib.stride_tricks.as_strided(row, shape=(n,) + row.shape,
                                           strides=(0,) + row.strides,
                                           writeable=writeable)


def _far_and_near(run, B):
    """``run(n, start, stop)`` on a block past 2**31 and at index 0."""
    start = BIG_N - B
    assert start > 2 ** 31
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumbaPerformanceWarning: strided views
        return run(BIG_N, start, BIG_N), run(B, 0, B)


def _assert_equal(far, near):
    for a, b in zip(far, near):
        np.testing.assert_array_equal(a, b)


def _kmeans_problem():
    rng = np.random.default_rng(11)
    D, K = 3, 4
    row = rng.standard_normal(D)
    centers = np.ascontiguousarray(rng.standard_normal((K, D)))
    return row, centers, (centers ** 2).sum(axis=1)


def test_kmeans_lloyd_block_past_2_31_rows():
    from fastem.kernels import kmeans as kk
    row, centers, centers_sq = _kmeans_problem()
    K, D = centers.shape
    B = 2048
    shift = np.full(D, 0.25)

    def run(n, start, stop):
        label = np.full(1, -1, np.int32)
        sums, weights = np.empty((K, D)), np.empty(K)
        centered = np.tile(row - shift, (stop - start, 1))  # _centered_block's output
        out = kk._lloyd_block(
            centered, _rows(np.float64(1.5), n), centers, centers_sq,
            _rows(label, n, writeable=True)[:, 0], start, True, sums, weights,
            np.empty(K * B), np.empty(B, np.int32), np.empty(B))
        return out, sums, weights, label
    far, near = _far_and_near(run, B)
    assert far[2].sum() == 1.5 * B  # every row counted once
    _assert_equal(far, near)


@pytest.mark.parametrize("bounded_rows", [False, True])
def test_kmeans_bounded_block_past_2_31_rows(bounded_rows):
    from fastem.kernels import kmeans as kk
    row, centers, centers_sq = _kmeans_problem()
    K, D = centers.shape
    B = 2048
    shift = np.zeros(D)
    drift = np.full(K, 1e-3)
    first = int(((row - centers) ** 2).sum(axis=1).argmin())

    def run(n, start, stop):
        # bounded_rows: a known label and a large lower bound, so rows pass
        # the bound test (the per-row state is one shared element)
        label = np.full(1, first if bounded_rows else -1, np.int32)
        lower = np.full(1, 100.0)
        upper = np.full(1, np.sqrt(((row - centers[first]) ** 2).sum()))
        sums, weights, counts = np.empty((K, D)), np.empty(K), np.empty(K, np.int64)
        norms = np.sqrt(centers_sq)
        X = _rows(row, n)
        rows32 = _rows((row - shift).astype(np.float32), n).T  # kept feature by feature
        row_sq = _rows(np.full(1, float(((row - shift) ** 2).sum())), n)[:, 0]
        scoring = kk._scoring_scratch(
            X, kk.float32_screen(X, centers, centers_sq, rows32, row_sq), K, B)
        out = kk._bounded_block(
            X, _rows(np.float64(1.0), n), shift, centers, centers_sq, norms,
            _rows(label, n, writeable=True)[:, 0], _rows(lower, n, writeable=True)[:, 0],
            _rows(upper, n, writeable=True)[:, 0], drift, (0, 1e-3, 1e-3), 1e-12, 1e-12,
            (1e-12, 1e-12, 1e-12), start, stop, False, True, False, sums, weights, counts,
            scoring, np.empty(B, np.int64), np.empty(B, np.int32), np.empty((2, B)))
        return out, sums, weights, counts, label, lower, upper
    far, near = _far_and_near(run, B)
    n_scored = far[0][1]
    assert n_scored == (0 if bounded_rows else B)
    assert far[2].sum() == B
    _assert_equal(far, near)


def test_categorical_block_past_2_31_rows():
    from fastem.kernels import discrete as kd
    rng = np.random.default_rng(12)
    K, B = 2, 1024
    codes_row = np.array([2, 1], np.int32)  # two features of 3 categories
    group = np.array([0, 2], np.int64)  # one group holding both
    stride = np.array([1, 3], np.int64)
    offsets = np.zeros(1, np.int64)
    logp = np.log(rng.dirichlet(np.ones(9), size=K).T.copy())  # (9 joint codes, K)
    log_w = np.log(np.array([0.4, 0.6]))

    def run(n, start, stop):
        nk, counts = np.zeros(K), np.zeros((9, K))
        label, row_logp = np.full(1, -1, np.int64), np.zeros(1)
        out = kd._categorical_block(
            _rows(codes_row, n), _rows(np.float64(1.0), n), group, stride, offsets,
            logp, log_w, start, stop, True, nk, counts,
            _rows(row_logp, n, writeable=True)[:, 0],
            _rows(label, n, writeable=True)[:, 0], np.empty((0, K)),
            np.empty((B, 1), np.int64), np.empty(K * B), np.empty((B, K)),
            np.empty((3, B)), np.empty(B, np.int64))
        return out, nk, counts, label, row_logp
    far, near = _far_and_near(run, B)
    assert far[0][1] == 0 and far[3][0] >= 0  # no bad row; a label written
    np.testing.assert_allclose(far[1].sum(), B)
    _assert_equal(far, near)
