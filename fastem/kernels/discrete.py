"""Fused statistics passes for discrete mixtures (Numba).

Two passes cover the four discrete families:

- :func:`linear_pass` — families whose log-density is linear in ``x``:
  ``log w_k + log p(x | k) = x . A[:, k] + b[k] + c(x)`` (Bernoulli, Binomial:
  ``A = log p - log(1-p)``, ``b = log w + n sum log(1-p)``, ``c = sum log C(n, x)``;
  Poisson: ``A = log rate``, ``b = log w - sum rate``, ``c = -sum log x!``).
  Per block of rows the log-densities are one small GEMM ``A^T X_b^T``
  (component-major, (K, n)) and the statistics ``sum r x`` a second one,
  ``R_b^T X_b``; the log-sum-exp runs along the block's rows so that it
  vectorizes.
- :func:`categorical_pass` — latent class analysis: per row, a gather of
  log-probabilities per group of features (joint code); statistics are
  per-(group, joint code) sums of responsibilities.

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
from numba import njit, prange, types
from numba.extending import overload

from ._math import exp_nonpositive

_NEG_INF = -np.inf


def _float64_rows(X, start, stop):
    """Rows ``start:stop`` of ``X`` as a C-ordered float64 (n, D) array."""
    return np.ascontiguousarray(X[start:stop], dtype=np.float64)


@overload(_float64_rows, jit_options={"cache": True, "nogil": True})
def _float64_rows_impl(X, start, stop):
    if X.dtype == types.float64:
        def view(X, start, stop):  # no copy: a C-ordered slice
            return X[start:stop]
        return view

    def copy(X, start, stop):
        out = np.empty((stop - start, X.shape[1]))
        for i in range(stop - start):
            for d in range(X.shape[1]):
                out[i, d] = X[start + i, d]
        return out
    return copy


@njit(cache=True, nogil=True)
def _normalize_block(lpT, b, w, start, use_w, ll, best):
    """Log-densities of a block, component-major, into responsibilities.

    Works along rows (the inner loops run over the block's rows), so every
    loop vectorizes without reassociating a sum.

    Parameters
    ----------
    lpT : (K, n) float64 IN/OUT — ``x . A_k`` (or gathered log-probabilities)
        in; ``w_i r_ik`` out (0 for bad rows)
    b : (K,) float64 IN — per-component constant added first (log weights...)
    w : (N,) float64 IN — sample weights, row ``i`` of the block is
        ``start + i`` (ignored unless ``use_w``)
    ll : (n,) float64 OUT — ``log sum_k exp`` per row; -inf for a row with
        zero (or undefined) likelihood under every component
    best : (n,) int64 OUT — most probable component per row (first maximum)
    """
    K, n = lpT.shape
    m = np.empty(n)
    for i in range(n):
        v = lpT[0, i] + b[0]
        lpT[0, i] = v
        m[i] = v
        best[i] = 0
    for k in range(1, K):
        bk = b[k]
        for i in range(n):
            v = lpT[k, i] + bk
            lpT[k, i] = v
            c = v > m[i]
            m[i] = v if c else m[i]
            best[i] = k if c else best[i]
    for i in range(n):
        ll[i] = m[i]
        m[i] = m[i] if np.isfinite(m[i]) else 0.0
    tot = np.zeros(n)
    for k in range(K):
        for i in range(n):
            e = exp_nonpositive(lpT[k, i] - m[i])
            lpT[k, i] = e
            tot[i] += e
    for i in range(n):
        if np.isfinite(ll[i]) and np.isfinite(tot[i]):
            ll[i] = m[i] + np.log(tot[i])
            tot[i] = (w[start + i] if use_w else 1.0) / tot[i]
        else:
            ll[i] = _NEG_INF
            tot[i] = 0.0
    for k in range(K):
        for i in range(n):
            lpT[k, i] *= tot[i]


# ----------------------------------------------------------------- linear
@njit(cache=True, nogil=True)
def _linear_block(X, w, AT, b, table, start, stop, want_stats, want_const,
                  nk, sx, row_logp, labels, resp):
    """Rows ``start:stop`` of a family with log-density linear in x.

    Parameters
    ----------
    X : (N, D) float32/float64 IN — validated counts, C-ordered
    w : (N,) float64 IN — sample weights (unused unless ``want_stats``)
    AT : (K, D) float64 IN; b : (K,) float64 IN — see module docstring
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
    K, D = AT.shape
    n = stop - start
    xb = _float64_rows(X, start, stop)
    lpT = np.dot(AT, xb.T)  # (K, n): one small GEMM
    ll = np.empty(n)
    best = np.empty(n, dtype=np.int64)
    _normalize_block(lpT, b, w, start, want_stats, ll, best)
    T = table.shape[0]
    loglik = 0.0
    const = 0.0
    n_bad = 0
    for i in range(n):
        if labels.shape[0] > 0:
            labels[start + i] = best[i]
        c_i = 0.0
        if want_const:
            for d in range(D):
                x = xb[i, d]
                if x < T:
                    c_i += table[np.int64(x)]
                else:
                    c_i -= math.lgamma(x + 1.0)
        if not ll[i] > _NEG_INF:
            n_bad += 1
            if row_logp.shape[0] > 0:
                row_logp[start + i] = _NEG_INF
            continue
        if row_logp.shape[0] > 0:
            row_logp[start + i] = ll[i] + c_i
        w_i = w[start + i] if want_stats else 1.0
        loglik += w_i * ll[i]
        const += w_i * c_i
    if resp.shape[0] > 0:
        for i in range(n):
            for k in range(K):
                resp[start + i, k] = lpT[k, i]
    if want_stats:
        nk[:] = np.dot(lpT, np.ones(n))
        sx[:, :] = np.dot(lpT, xb)  # (K, D): the second GEMM
    return loglik, const, n_bad


@njit(parallel=True, cache=True, nogil=True)
def linear_pass(X, w, AT, b, table, block, want_stats, want_const,
                row_logp, labels, resp):
    """Parallel pass for a linear family over all rows of ``X``.

    Parameters
    ----------
    X : (N, D) IN; w : (N,) IN; AT : (K, D) IN; b : (K,) IN; table : (T,) IN
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
    K, D = AT.shape
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
            X, w, AT, b, table, start, stop, want_stats, want_const,
            nk[s], sx[s], row_logp, labels, resp)
    return _sum_slots(nk, sx, ll, cs, bad, want_stats)


@njit(cache=True, nogil=True)
def linear_pass_serial(X, w, AT, b, table, block, want_stats, want_const,
                       row_logp, labels, resp):
    """Serial twin of :func:`linear_pass` (same blocks, same result)."""
    N = X.shape[0]
    K, D = AT.shape
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
            X, w, AT, b, table, start, stop, want_stats, want_const,
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
def _categorical_block(codes, w, group, stride, offsets, logp, log_w, start, stop,
                       want_stats, nk, counts, row_logp, labels, resp):
    """Rows ``start:stop`` of a categorical (latent class) mixture.

    Features are gathered in groups: a group's joint code
    ``offsets[g] + sum_{d in g} codes[i, d] * stride[d]`` indexes one row of
    ``logp`` holding the sum of its features' log-probabilities, so a row
    costs one K-vector gather (and one scatter) per group, not per feature.

    Parameters
    ----------
    codes : (N, D) int32 IN — validated category codes
    w : (N,) float64 IN
    group : (G + 1,) int64 IN — group g holds features ``group[g]:group[g+1]``
    stride : (D,) int64 IN
    offsets : (G,) int64 IN — first row of each group in ``logp``
    logp : (C, K) float64 IN — per (group, joint code) log-probabilities
    log_w : (K,) float64 IN — log mixing weights
    nk : (K,) OUT, counts : (C, K) OUT — this block's slot (accumulated):
        ``sum w r`` and per (group, joint code) ``sum w r``
    row_logp, labels, resp : OUT, zero-length when unwanted

    Returns
    -------
    loglik : float, n_bad : int
    """
    G = offsets.shape[0]
    K = log_w.shape[0]
    n = stop - start
    idx = np.empty((n, G), dtype=np.int64)
    lp = np.zeros((n, K))
    for i in range(n):
        for g in range(G):
            j = offsets[g]
            for d in range(group[g], group[g + 1]):
                j += codes[start + i, d] * stride[d]
            idx[i, g] = j
            for k in range(K):
                lp[i, k] += logp[j, k]
    lpT = np.ascontiguousarray(lp.T)
    ll = np.empty(n)
    best = np.empty(n, dtype=np.int64)
    _normalize_block(lpT, log_w, w, start, want_stats, ll, best)
    loglik = 0.0
    n_bad = 0
    for i in range(n):
        if labels.shape[0] > 0:
            labels[start + i] = best[i]
        if row_logp.shape[0] > 0:
            row_logp[start + i] = ll[i]
        if not ll[i] > _NEG_INF:
            n_bad += 1
        elif want_stats:
            loglik += w[start + i] * ll[i]
    if resp.shape[0] > 0 or want_stats:
        r = np.ascontiguousarray(lpT.T)  # (n, K)
        if resp.shape[0] > 0:
            for i in range(n):
                for k in range(K):
                    resp[start + i, k] = r[i, k]
        if want_stats:
            for i in range(n):
                for k in range(K):
                    nk[k] += r[i, k]
                for g in range(G):
                    j = idx[i, g]
                    for k in range(K):
                        counts[j, k] += r[i, k]
    return loglik, n_bad


@njit(parallel=True, cache=True, nogil=True)
def categorical_pass(codes, w, group, stride, offsets, logp, log_w, block, want_stats,
                     row_logp, labels, resp):
    """Parallel categorical pass; see ``_categorical_block`` for arguments.

    Returns
    -------
    nk : (K,), counts : (C, K) float64 — ``sum w r`` and per (group, joint
    code)
    ``sum w r``; loglik : float; const : float (always 0); n_bad : int
    """
    N = codes.shape[0]
    C, K = logp.shape
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
            codes, w, group, stride, offsets, logp, log_w, start, stop, want_stats,
            nk[s], counts[s], row_logp, labels, resp)
    return _sum_slots(nk, counts, ll, cs, bad, want_stats)


@njit(cache=True, nogil=True)
def categorical_pass_serial(codes, w, group, stride, offsets, logp, log_w, block,
                            want_stats,
                            row_logp, labels, resp):
    """Serial twin of :func:`categorical_pass`."""
    N = codes.shape[0]
    C, K = logp.shape
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
            codes, w, group, stride, offsets, logp, log_w, start, stop, want_stats,
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
