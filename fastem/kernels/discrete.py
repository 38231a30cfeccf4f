"""Fused statistics passes for discrete mixtures (Numba).

Two passes cover the four discrete families:

- :func:`linear_pass` — families whose log-density is linear in ``x``:
  ``log w_k + log p(x | k) = x . A[:, k] + b[k] + c(x)`` (Bernoulli, Binomial:
  ``A = log p - log(1-p)``, ``b = log w + n sum log(1-p)``, ``c = sum log C(n, x)``;
  Poisson: ``A = log rate``, ``b = log w - sum rate``, ``c = -sum log x!``).
  Per block of rows the log-densities are one small GEMM ``X_b A`` and the
  statistics ``sum r x`` a second one, ``R_b^T X_b``.
- :func:`categorical_pass` — latent class analysis: per row, a gather of
  log-probabilities per (feature, code); statistics are per-(feature, code)
  sums of responsibilities.

The row constant ``c(x)`` does not depend on the parameters; it is computed
only when asked (``want_const``), tabulated: ``table[x]`` for ``x <
len(table)`` and ``-lgamma(x + 1)`` (Poisson's ``-log x!``) beyond.

Rows are split into fixed blocks; each block writes its own statistics slot
and the slots are summed in block order, so results are bit-identical for any
thread count. Each pass has a parallel and a serial twin that run the same
block function. Arguments marked IN are read, OUT are written; outputs a
caller does not want are zero-length arrays.
"""
import math

import numpy as np
from numba import njit, prange

from ._math import exp_nonpositive

_NEG_INF = -np.inf


@njit(cache=True, nogil=True)
def _normalize_row(lp, w_i):
    """Log-densities ``lp`` (K,) -> responsibilities times ``w_i``, in place.

    Returns ``log sum exp lp`` (-inf when no component is finite, or NaN/inf
    appeared).
    """
    K = lp.shape[0]
    m = lp[0]
    for k in range(1, K):
        if lp[k] > m:
            m = lp[k]
    if not np.isfinite(m):
        return _NEG_INF
    for k in range(K):  # apart from the sum so that it vectorizes
        lp[k] = exp_nonpositive(lp[k] - m)
    total = 0.0
    for k in range(K):
        total += lp[k]
    scale = w_i / total
    for k in range(K):
        lp[k] *= scale
    return m + np.log(total)


@njit(cache=True, nogil=True)
def _argmax(v):
    best = 0
    for k in range(1, v.shape[0]):
        if v[k] > v[best]:
            best = k
    return best


# ----------------------------------------------------------------- linear
@njit(cache=True, nogil=True)
def _linear_block(X, w, A, b, table, start, stop, want_stats, want_const,
                  nk, sx, row_logp, labels, resp):
    """Rows ``start:stop`` of a family with log-density linear in x.

    Parameters
    ----------
    X : (N, D) float32/float64 IN — validated counts
    w : (N,) float64 IN — sample weights (unused unless ``want_stats``)
    A : (D, K) float64 IN; b : (K,) float64 IN — see module docstring
    table : (T,) float64 IN — per-value row constant, see module docstring
    want_stats : bool — accumulate statistics (fit) or not (predict)
    want_const : bool — compute the row constants
    nk : (K,) OUT, sx : (K, D) OUT — this block's slot (overwritten)
    row_logp, labels, resp : (N,), (N,), (N, K) or zero-length OUT

    Returns
    -------
    loglik : float — sum of w * logsumexp over the block, without constants
    const : float — sum of w * c(x) (0 unless ``want_const``)
    n_bad : int — rows with zero likelihood under every component
    """
    D, K = A.shape
    n = stop - start
    xb = np.empty((n, D))
    for i in range(n):
        for d in range(D):
            xb[i, d] = X[start + i, d]
    lp = np.dot(xb, A)
    T = table.shape[0]
    loglik = 0.0
    const = 0.0
    n_bad = 0
    for i in range(n):
        row = lp[i]
        for k in range(K):
            row[k] += b[k]
        if labels.shape[0] > 0:
            labels[start + i] = _argmax(row)
        w_i = w[start + i] if want_stats else 1.0
        ll_i = _normalize_row(row, w_i)
        c_i = 0.0
        if want_const:
            for d in range(D):
                x = xb[i, d]
                if x < T:
                    c_i += table[np.int64(x)]
                else:
                    c_i -= math.lgamma(x + 1.0)
        if not ll_i > _NEG_INF:
            n_bad += 1
            for k in range(K):
                row[k] = 0.0
            if row_logp.shape[0] > 0:
                row_logp[start + i] = _NEG_INF
            continue
        if row_logp.shape[0] > 0:
            row_logp[start + i] = ll_i + c_i
        if resp.shape[0] > 0:
            for k in range(K):
                resp[start + i, k] = row[k]
        loglik += w_i * ll_i
        const += w_i * c_i
    if want_stats:
        for k in range(K):
            nk[k] = 0.0
        for i in range(n):
            for k in range(K):
                nk[k] += lp[i, k]
        sx[:, :] = np.dot(lp.T, xb)
    return loglik, const, n_bad


@njit(parallel=True, cache=True, nogil=True)
def linear_pass(X, w, A, b, table, block, want_stats, want_const,
                row_logp, labels, resp):
    """Parallel pass for a linear family over all rows of ``X``.

    Parameters
    ----------
    X : (N, D) IN; w : (N,) IN; A : (D, K) IN; b : (K,) IN; table : (T,) IN
    block : int — rows per block (fixes the summation order)
    want_stats, want_const : bool
    row_logp, labels, resp : OUT, see ``_linear_block``

    Returns
    -------
    nk : (K,), sx : (K, D) float64 — ``sum w r`` and ``sum w r x``
    loglik : float — ``sum w log sum_k exp(x . A_k + b_k)`` (no constants)
    const : float — ``sum w c(x)`` if ``want_const`` else 0
    n_bad : int
    """
    N = X.shape[0]
    D, K = A.shape
    n_blocks = (N + block - 1) // block
    n_slots = n_blocks if want_stats else 1
    nk = np.zeros((n_slots, K))
    sx = np.zeros((n_slots, K, D))
    ll = np.zeros(n_blocks)
    cs = np.zeros(n_blocks)
    bad = np.zeros(n_blocks, dtype=np.int64)
    for bl in prange(n_blocks):
        start = bl * block
        stop = min(start + block, N)
        s = min(np.int64(bl), n_slots - 1)
        ll[bl], cs[bl], bad[bl] = _linear_block(
            X, w, A, b, table, start, stop, want_stats, want_const,
            nk[s], sx[s], row_logp, labels, resp)
    return _sum_slots(nk, sx, ll, cs, bad, want_stats)


@njit(cache=True, nogil=True)
def linear_pass_serial(X, w, A, b, table, block, want_stats, want_const,
                       row_logp, labels, resp):
    """Serial twin of :func:`linear_pass` (same blocks, same result)."""
    N = X.shape[0]
    D, K = A.shape
    n_blocks = (N + block - 1) // block
    n_slots = n_blocks if want_stats else 1
    nk = np.zeros((n_slots, K))
    sx = np.zeros((n_slots, K, D))
    ll = np.zeros(n_blocks)
    cs = np.zeros(n_blocks)
    bad = np.zeros(n_blocks, dtype=np.int64)
    for bl in range(n_blocks):
        start = bl * block
        stop = min(start + block, N)
        s = min(np.int64(bl), n_slots - 1)
        ll[bl], cs[bl], bad[bl] = _linear_block(
            X, w, A, b, table, start, stop, want_stats, want_const,
            nk[s], sx[s], row_logp, labels, resp)
    return _sum_slots(nk, sx, ll, cs, bad, want_stats)


@njit(cache=True, nogil=True)
def _sum_slots(nk, s2, ll, cs, bad, want_stats):
    """Sum per-block slots in block order."""
    nk_tot = np.zeros(nk.shape[1])
    s2_tot = np.zeros(s2.shape[1:])
    if want_stats:
        for bl in range(nk.shape[0]):
            nk_tot += nk[bl]
            s2_tot += s2[bl]
    loglik = 0.0
    const = 0.0
    n_bad = 0
    for bl in range(ll.shape[0]):
        loglik += ll[bl]
        const += cs[bl]
        n_bad += bad[bl]
    return nk_tot, s2_tot, loglik, const, n_bad


# ------------------------------------------------------------ categorical
@njit(cache=True, nogil=True)
def _categorical_block(codes, w, offsets, logpT, log_w, start, stop, want_stats,
                       nk, counts, row_logp, labels, resp):
    """Rows ``start:stop`` of a categorical (latent class) mixture.

    Parameters
    ----------
    codes : (N, D) int32 IN — validated category codes
    w : (N,) float64 IN
    offsets : (D,) int64 IN — row of feature d's category 0 in ``logpT``
    logpT : (C, K) float64 IN — log-probabilities, all features' categories
        stacked (C = total number of categories)
    log_w : (K,) float64 IN — log mixing weights
    nk : (K,) OUT, counts : (C, K) OUT — this block's slot (accumulated)
    row_logp, labels, resp : OUT, zero-length when unwanted

    Returns
    -------
    loglik : float, n_bad : int
    """
    D = codes.shape[1]
    K = log_w.shape[0]
    acc = np.empty(K)
    loglik = 0.0
    n_bad = 0
    for i in range(start, stop):
        for k in range(K):
            acc[k] = log_w[k]
        for d in range(D):
            j = offsets[d] + codes[i, d]
            for k in range(K):
                acc[k] += logpT[j, k]
        if labels.shape[0] > 0:
            labels[i] = _argmax(acc)
        w_i = w[i] if want_stats else 1.0
        ll_i = _normalize_row(acc, w_i)
        if not ll_i > _NEG_INF:
            n_bad += 1
            if row_logp.shape[0] > 0:
                row_logp[i] = _NEG_INF
            continue
        if row_logp.shape[0] > 0:
            row_logp[i] = ll_i
        if resp.shape[0] > 0:
            for k in range(K):
                resp[i, k] = acc[k]
        if want_stats:
            loglik += w_i * ll_i
            for k in range(K):
                nk[k] += acc[k]
            for d in range(D):
                j = offsets[d] + codes[i, d]
                for k in range(K):
                    counts[j, k] += acc[k]
    return loglik, n_bad


@njit(parallel=True, cache=True, nogil=True)
def categorical_pass(codes, w, offsets, logpT, log_w, block, want_stats,
                     row_logp, labels, resp):
    """Parallel categorical pass; see ``_categorical_block`` for arguments.

    Returns
    -------
    nk : (K,), counts : (C, K) float64 — ``sum w r`` and per-category
    ``sum w r``; loglik : float; const : float (always 0); n_bad : int
    """
    N = codes.shape[0]
    C, K = logpT.shape
    n_blocks = (N + block - 1) // block
    n_slots = n_blocks if want_stats else 1
    nk = np.zeros((n_slots, K))
    counts = np.zeros((n_slots, C, K))
    ll = np.zeros(n_blocks)
    cs = np.zeros(n_blocks)
    bad = np.zeros(n_blocks, dtype=np.int64)
    for bl in prange(n_blocks):
        start = bl * block
        stop = min(start + block, N)
        s = min(np.int64(bl), n_slots - 1)
        ll[bl], bad[bl] = _categorical_block(
            codes, w, offsets, logpT, log_w, start, stop, want_stats,
            nk[s], counts[s], row_logp, labels, resp)
    return _sum_slots(nk, counts, ll, cs, bad, want_stats)


@njit(cache=True, nogil=True)
def categorical_pass_serial(codes, w, offsets, logpT, log_w, block, want_stats,
                            row_logp, labels, resp):
    """Serial twin of :func:`categorical_pass`."""
    N = codes.shape[0]
    C, K = logpT.shape
    n_blocks = (N + block - 1) // block
    n_slots = n_blocks if want_stats else 1
    nk = np.zeros((n_slots, K))
    counts = np.zeros((n_slots, C, K))
    ll = np.zeros(n_blocks)
    cs = np.zeros(n_blocks)
    bad = np.zeros(n_blocks, dtype=np.int64)
    for bl in range(n_blocks):
        start = bl * block
        stop = min(start + block, N)
        s = min(np.int64(bl), n_slots - 1)
        ll[bl], bad[bl] = _categorical_block(
            codes, w, offsets, logpT, log_w, start, stop, want_stats,
            nk[s], counts[s], row_logp, labels, resp)
    return _sum_slots(nk, counts, ll, cs, bad, want_stats)


# ------------------------------------------------------------- validation
@njit(cache=True, nogil=True)
def first_invalid_count(X, high):
    """First entry of ``X`` that is not an integer in ``[0, high[d]]``.

    Parameters
    ----------
    X : (N, D) float32/float64 IN — finite values
    high : (D,) float64 IN — largest allowed value per feature (may be inf)

    Returns
    -------
    (kind, row, col) : kind 0 = all valid, 1 = negative, 2 = not an integer,
    3 = above ``high``
    """
    N, D = X.shape
    for i in range(N):
        for d in range(D):
            x = X[i, d]
            if x < 0:
                return 1, i, d
            if x != math.floor(x):
                return 2, i, d
            if x > high[d]:
                return 3, i, d
    return 0, -1, -1


@njit(cache=True, nogil=True)
def column_max(X):
    """Largest value of each column of a 2-D array, float64 (D,)."""
    D = X.shape[1]
    out = np.full(D, -np.inf)
    for i in range(X.shape[0]):
        for d in range(D):
            if X[i, d] > out[d]:
                out[d] = X[i, d]
    return out
