"""Fused statistics passes for discrete mixtures (Numba).

Two passes cover the four discrete families:

- :func:`linear_lanes` — families whose log-density is linear in ``x``:
  ``log w_k + log p(x | k) = x . A[:, k] + b[k] + c(x)`` (Bernoulli, Binomial:
  ``A = log p - log(1-p)``, ``b = log w + n sum log(1-p)``, ``c = sum log C(n, x)``;
  Poisson: ``A = log rate``, ``b = log w - sum rate``, ``c = -sum log x!``).
  Per block of rows the log-densities are one small GEMM ``A^T X_b^T``
  (component-major, (K, n)) and the statistics ``sum r x`` a second one,
  ``R_b^T X_b``; the log-sum-exp runs along the block's rows so that it
  vectorizes.
- :func:`categorical_lanes` — latent class analysis: per row, a gather of
  log-probabilities per group of features (joint code); statistics are
  per-(group, joint code) sums of responsibilities.

The row constant ``c(x)`` does not depend on the parameters; it is computed
only when asked (``want_const``), tabulated: ``table[x]`` for ``x <
len(table)`` and ``-lgamma(x + 1)`` (Poisson's ``-log x!``) beyond.

Rows are split into fixed blocks; each block's statistics are added to its
lane's (a fixed run of consecutive blocks) and the lanes are summed in order,
so results are bit-identical for any thread count. A pass kernel processes a
range of lanes without the GIL; :func:`fastem._threads.lane_pass` runs it on
a few Python threads. Each call allocates its scratch buffers once, not per
block: allocating them per block is
slow where malloc returns memory to the system eagerly (Dask workers run with
``MALLOC_TRIM_THRESHOLD_=65536``, which turns every allocation above ~64 KB
into an mmap with fresh page faults). Arguments marked IN are read, OUT are
written; outputs a caller does not want are zero-length arrays.
"""
import math

import numpy as np
from numba import njit, types
from numba.extending import overload

from ._compile import INNER, move_into
from ._math import exp_nonpositive, running_max

_NEG_INF = -np.inf


def _float64_rows(X, start, stop, buf):
    """Rows ``start:stop`` of ``X`` as a float64 (n, D) array: a view of a
    float64 ``X``, else a copy into ``buf`` ((block, D) float64 scratch)."""
    return np.ascontiguousarray(X[start:stop], dtype=np.float64)


@overload(_float64_rows, jit_options={"cache": True, "nogil": True})
def _float64_rows_impl(X, start, stop, buf):
    if X.dtype == types.float64:
        def view(X, start, stop, buf):  # no copy: a C-ordered slice
            return X[start:stop]
        return view

    def copy(X, start, stop, buf):
        out = buf[:stop - start]
        for i in range(stop - start):
            for d in range(X.shape[1]):
                out[i, d] = X[start + i, d]
        return out
    return copy


@njit(**INNER)
def _normalize_block(lpT, b, w, start, use_w, ll, best, m, tot):
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
    m, tot : (n,) float64 — scratch
    """
    K, n = lpT.shape
    first = 2 - K % 2  # the first sweep takes one or two, so the rest pair up
    for i in range(n):
        t, j = lpT[0, i] + b[0], 0
        lpT[0, i] = t
        if first == 2:
            v = lpT[1, i] + b[1]
            lpT[1, i] = v
            t, j = running_max(1, v, t, j)
        m[i], best[i] = t, j
    for k in range(first, K, 2):
        bk, bl = b[k], b[k + 1]
        for i in range(n):
            u = lpT[k, i] + bk
            v = lpT[k + 1, i] + bl
            lpT[k, i], lpT[k + 1, i] = u, v
            t, j = running_max(k, u, m[i], best[i])
            m[i], best[i] = running_max(k + 1, v, t, j)
    for i in range(n):
        ll[i] = m[i]
        m[i] = m[i] if np.isfinite(m[i]) else 0.0
        tot[i] = 0.0
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
@njit(cache=True, nogil=True, inline="always")
def _linear_rows(X, w, AT, b, table, start, stop, want_stats, want_const,
                 nk, sx, row_logp, labels, resp, xbuf, lpbuf, vec, best, ones):
    """Rows ``start:stop`` of a family with log-density linear in x.

    Parameters
    ----------
    X : (N, D) float32/float64 IN — validated counts, C-ordered
    w : (N,) float64 IN — sample weights (unused unless ``want_stats``)
    AT : (K, D) float64 IN; b : (K,) float64 IN — see module docstring
    table : (T,) float64 IN — per-value row constant, see module docstring
    want_stats : bool — accumulate statistics (fit) or not (predict)
    want_const : bool — compute the row constants
    nk : (K,) OUT, sx : (K, D) OUT — this block's statistics (overwritten)
    row_logp, labels, resp : (N,), (N,), (N, K) or zero-length OUT
    xbuf : (block, D), lpbuf : (K * block,), vec : (3, block) float64,
        best : (block,) int64 — the calling thread's scratch
    ones : (block,) float64 IN — all ones

    Returns
    -------
    loglik : float — sum of w * logsumexp over the block, without constants
    const : float — sum of w * c(x) (0 unless ``want_const``)
    n_bad : int — rows with zero likelihood under every component
    """
    K, D = AT.shape
    n = stop - start
    xb = _float64_rows(X, start, stop, xbuf)
    lpT = lpbuf[:K * n].reshape((K, n))
    np.dot(AT, xb.T, lpT)  # (K, n): one small GEMM
    ll = vec[0, :n]
    best = best[:n]
    _normalize_block(lpT, b, w, start, want_stats, ll, best, vec[1, :n], vec[2, :n])
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
        np.dot(lpT, ones[:n], nk)
        np.dot(lpT, xb, sx)  # (K, D): the second GEMM
    return loglik, const, n_bad


@njit(cache=True, nogil=True)
def _linear_block(X, w, AT, b, table, start, stop, want_stats, want_const,
                  nk, sx, row_logp, labels, resp):
    """:func:`_linear_rows` with its own scratch (one block, for tests)."""
    K, D = AT.shape
    n = stop - start
    return _linear_rows(X, w, AT, b, table, start, stop, want_stats, want_const,
                        nk, sx, row_logp, labels, resp, np.empty((n, D)),
                        np.empty(K * n), np.empty((3, n)),
                        np.empty(n, dtype=np.int64), np.ones(n))


@njit(cache=True, nogil=True)
def linear_lanes(X, w, AT, b, table, block, want_stats, want_const, row_logp, labels,
                 resp, nk, sx, block_sums, bad, lane_lo, lane_hi):
    """Pass for a linear family over the blocks of lanes ``lane_lo:lane_hi``.

    Run by :func:`fastem._threads.lane_pass`, one call per thread, each on its
    own run of lanes and with its own scratch buffers.

    Parameters
    ----------
    X : (N, D) IN; w : (N,) IN; AT : (K, D) IN; b : (K,) IN; table : (T,) IN
    block : int — rows per block (fixes the summation order)
    want_stats, want_const : bool
    row_logp, labels, resp : OUT, see ``_linear_rows``
    nk : (n_lanes, K), sx : (n_lanes, K, D) float64 OUT — each lane's
        ``sum w r`` and ``sum w r x`` (written only if ``want_stats``)
    block_sums : (n_blocks, 2) float64 OUT — each block's
        ``sum w log sum_k exp(x . A_k + b_k)`` (no constants) and, if
        ``want_const``, ``sum w c(x)``
    bad : (n_blocks,) int64 OUT — each block's rows of zero likelihood
    lane_lo, lane_hi : int — the lanes this call processes
    """
    N = X.shape[0]
    K, D = AT.shape
    n_blocks, n_lanes = block_sums.shape[0], nk.shape[0]
    xbuf = np.empty((block, D))  # touched only for float32 X
    lpbuf = np.empty(K * block)
    vec = np.empty((3, block))
    best = np.empty(block, dtype=np.int64)
    ones = np.ones(block)
    nk_b, sx_b = np.zeros(K), np.zeros((K, D))
    for lane in range(lane_lo, lane_hi):
        for bl in range(lane * n_blocks // n_lanes, (lane + 1) * n_blocks // n_lanes):
            start = bl * block
            block_sums[bl, 0], block_sums[bl, 1], bad[bl] = _linear_rows(
                X, w, AT, b, table, start, min(start + block, N), want_stats,
                want_const, nk_b, sx_b, row_logp, labels, resp, xbuf, lpbuf, vec, best,
                ones)
            if want_stats:
                move_into(nk[lane], nk_b)
                move_into(sx[lane], sx_b)


# ------------------------------------------------------------ categorical
@njit(cache=True, nogil=True, inline="always")
def _categorical_block(codes, w, group, stride, offsets, logp, log_w, start, stop,
                       want_stats, nk, counts, row_logp, labels, resp,
                       idxbuf, lpbuf, rbuf, vec, best):
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
    nk : (K,) OUT, counts : (C, K) OUT — this block's statistics (added to):
        ``sum w r`` and per (group, joint code) ``sum w r``
    row_logp, labels, resp : OUT, zero-length when unwanted
    idxbuf : (block, G) int64, lpbuf : (K * block,), rbuf : (block, K),
        vec : (3, block) float64, best : (block,) int64 — the calling
        thread's scratch

    Returns
    -------
    loglik : float, n_bad : int
    """
    G = offsets.shape[0]
    K = log_w.shape[0]
    n = stop - start
    idx = idxbuf[:n]
    lp = rbuf[:n]  # (n, K) row-major for the gather
    lp[:, :] = 0.0
    for i in range(n):
        for g in range(G):
            j = offsets[g]
            for d in range(group[g], group[g + 1]):
                j += codes[start + i, d] * stride[d]
            idx[i, g] = j
            for k in range(K):
                lp[i, k] += logp[j, k]
    lpT = lpbuf[:K * n].reshape((K, n))  # component-major for the normalization
    for k in range(K):
        for i in range(n):
            lpT[k, i] = lp[i, k]
    ll = vec[0, :n]
    best = best[:n]
    _normalize_block(lpT, log_w, w, start, want_stats, ll, best, vec[1, :n], vec[2, :n])
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
        r = lp  # back to (n, K) row-major for the scatter below
        for i in range(n):
            for k in range(K):
                r[i, k] = lpT[k, i]
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


@njit(cache=True, nogil=True)
def categorical_lanes(codes, w, group, stride, offsets, logp, log_w, block, want_stats,
                      row_logp, labels, resp, nk, counts, block_sums, bad, lane_lo,
                      lane_hi):
    """Categorical pass over the blocks of lanes ``lane_lo:lane_hi``; see
    ``_categorical_block`` for the inputs and :func:`linear_lanes` for the rest.

    Parameters
    ----------
    counts : (n_lanes, C, K) float64 OUT — each lane's per (group, joint code)
        ``sum w r``
    block_sums : (n_blocks, 2) float64 OUT — column 0 each block's
        ``sum w log p(x)``; column 1 unused (no row constant)
    """
    N = codes.shape[0]
    C, K = logp.shape
    G = offsets.shape[0]
    n_blocks, n_lanes = block_sums.shape[0], nk.shape[0]
    idxbuf = np.empty((block, G), dtype=np.int64)
    lpbuf = np.empty(K * block)
    rbuf = np.empty((block, K))
    vec = np.empty((3, block))
    best = np.empty(block, dtype=np.int64)
    nk_b, counts_b = np.zeros(K), np.zeros((C, K))
    for lane in range(lane_lo, lane_hi):
        for bl in range(lane * n_blocks // n_lanes, (lane + 1) * n_blocks // n_lanes):
            start = bl * block
            block_sums[bl, 0], bad[bl] = _categorical_block(
                codes, w, group, stride, offsets, logp, log_w, start,
                min(start + block, N), want_stats, nk_b, counts_b, row_logp, labels,
                resp, idxbuf, lpbuf, rbuf, vec, best)
            if want_stats:
                move_into(nk[lane], nk_b)
                move_into(counts[lane], counts_b)


# ------------------------------------------------------------- validation
@njit(cache=True, nogil=True)
def first_invalid_count(X, high):
    """First entry of ``X`` that is not an integer in ``[0, high[d]]``; NaN
    entries (missing values, accepted only with ``missing='marginalize'``)
    are skipped.

    Parameters
    ----------
    X : (N, D) float32/float64 IN — finite values or NaN
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
            if x != x:  # NaN: missing, not a value
                continue
            if x < 0:
                return 1, i, d
            if x != math.floor(x):
                return 2, i, d
            if x > high[d]:
                return 3, i, d
    return 0, -1, -1
