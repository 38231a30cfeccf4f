"""Statistics passes of the discrete families on rows with missing entries (Numba).

For Bernoulli, Binomial and Poisson the log-density of a component is a sum
over features, ``log w_k + sum_d [x_d A_kd + B_kd + c(x_d)]`` (Binomial:
``A = log p - log(1-p)``, ``B = n log(1-p)``; Poisson: ``A = log rate``,
``B = -rate``). A missing entry (NaN) drops out of the row's product, which
is the exact marginal of the observed entries: with the observed-entry mask
``m_d`` the log-density is ``log w_k + sum_d m_d (x_d A_kd + B_kd)`` plus the
row constant of the observed entries. So each block of rows is copied once
into ``[x0 | m]`` ((n, 2D) float64, ``x0`` = x with NaN read as 0) and the
log-densities are one small GEMM ``[A | B] [x0 | m]^T``; the statistics are
a second, ``R^T [x0 | m]``: ``sum w r x`` over observed entries and ``sum w r
m``, each feature's responsibility mass of the rows that observe it (what the
M-step divides by).

A row with no observed entry has likelihood 1 under every component: it is
ignored in the fit (it adds nothing to any statistic, nor to the
log-likelihood) and gets the mixing weights as responsibilities.

Rows are split into fixed blocks summed in lanes exactly as in
:mod:`fastem.kernels.discrete` (bit-identical for any thread count); the
normalization and row constants are that module's.
"""
import math

import numpy as np
from numba import njit

from ._compile import move_into
from .discrete import _categorical_block, _normalize_block

_NEG_INF = -np.inf


@njit(cache=True, nogil=True, inline="always")
def _missing_rows(X, w, ABT, log_w, table, start, stop, want_stats, want_const,
                  nk, sxm, row_logp, labels, resp, xmbuf, lpbuf, vec, best, ones):
    """Rows ``start:stop`` of a linear family with NaN marking missing entries.

    Parameters
    ----------
    X : (N, D) float32/float64 IN — validated counts, NaN where missing
    w : (N,) float64 IN — sample weights (unused unless ``want_stats``)
    ABT : (K, 2D) float64 IN — ``[A | B]``, see module docstring
    log_w : (K,) float64 IN — log mixing weights
    table : (T,) float64 IN — per-value row constant ``table[x]`` (beyond it
        ``-lgamma(x + 1)``), as in :mod:`fastem.kernels.discrete`;
        ``table[0]`` must be 0 (a missing entry reads as 0)
    want_stats, want_const : bool
    nk : (K,) OUT, sxm : (K, 2D) OUT — this block's ``sum w r`` and
        ``[sum w r x0 | sum w r m]`` (overwritten)
    row_logp, labels, resp : (N,), (N,), (N, K) or zero-length OUT
    xmbuf : (block, 2D), lpbuf : (K * block,), vec : (5, block) float64,
        best : (block,) int64 — the calling thread's scratch
    ones : (block,) float64 IN — all ones

    Returns
    -------
    loglik : float — sum of w * logsumexp over the block, without constants
    const : float — sum of w * c(x_observed) (0 unless ``want_const``)
    n_bad : int — rows with zero likelihood under every component
    """
    K = ABT.shape[0]
    D = X.shape[1]
    n = stop - start
    xm = xmbuf[:n]
    seen = vec[3, :n]  # observed entries per row
    for i in range(n):
        # two simple loops over one row's slices: they vectorize (one fused
        # loop writing both halves ran ~2x slower)
        row = X[start + i]
        out = xm[i]
        for d in range(D):
            x = np.float64(row[d])
            out[d] = x if x == x else 0.0
        c = 0
        for d in range(D):
            observed = row[d] == row[d]
            out[D + d] = 1.0 if observed else 0.0
            c += 1 if observed else 0
        seen[i] = c
    T = table.shape[0]
    consts = vec[4, :n]
    if want_const:
        # a missing entry reads as 0, whose constant is exactly 0 (log C(n, 0),
        # -log 0!): no branch on the mask
        for i in range(n):
            c_i = 0.0
            for d in range(D):
                x = xm[i, d]
                if x < T:
                    c_i += table[np.int64(x)]
                else:
                    c_i -= math.lgamma(x + 1.0)
            consts[i] = c_i
    lpT = lpbuf[:K * n].reshape((K, n))
    np.dot(ABT, xm.T, lpT)  # (K, n): one small GEMM
    ll = vec[0, :n]
    best = best[:n]
    _normalize_block(lpT, log_w, w, start, want_stats, ll, best, vec[1, :n], vec[2, :n])
    loglik = 0.0
    const = 0.0
    n_bad = 0
    for i in range(n):
        if labels.shape[0] > 0:
            labels[start + i] = best[i]
        c_i = consts[i] if want_const else 0.0
        if seen[i] == 0.0:
            # nothing observed: likelihood 1 (log sum_k w_k = 0, exactly), no
            # evidence, no statistics
            if row_logp.shape[0] > 0:
                row_logp[start + i] = 0.0
            if want_stats:
                for k in range(K):
                    lpT[k, i] = 0.0
            continue
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
        np.dot(lpT, xm, sxm)  # (K, 2D): the second GEMM
    return loglik, const, n_bad


@njit(cache=True, nogil=True)
def linear_missing_lanes(X, w, ABT, log_w, table, block, want_stats, want_const,
                         row_logp, labels, resp, nk, sxm, block_sums, bad, lane_lo,
                         lane_hi):
    """NaN-marginalizing pass of a linear family over the lanes ``lane_lo:lane_hi``.

    Run by :func:`fastem._threads.lane_pass`, one call per thread.

    Parameters
    ----------
    X, w, ABT, log_w, table : IN, see ``_missing_rows``
    block : int — rows per block (fixes the summation order)
    want_stats, want_const : bool
    row_logp, labels, resp : OUT, see ``_missing_rows``
    nk : (n_lanes, K), sxm : (n_lanes, K, 2D) float64 OUT — each lane's
        ``sum w r`` and ``[sum w r x0 | sum w r m]`` (if ``want_stats``)
    block_sums : (n_blocks, 2) float64 OUT — each block's log-likelihood
        (without constants) and row-constant sums
    bad : (n_blocks,) int64 OUT — each block's rows of zero likelihood
    lane_lo, lane_hi : int
    """
    N, D = X.shape
    K = ABT.shape[0]
    n_blocks, n_lanes = block_sums.shape[0], nk.shape[0]
    xmbuf = np.empty((block, 2 * D))
    lpbuf = np.empty(K * block)
    vec = np.empty((5, block))
    best = np.empty(block, dtype=np.int64)
    ones = np.ones(block)
    nk_b, sxm_b = np.zeros(K), np.zeros((K, 2 * D))
    for lane in range(lane_lo, lane_hi):
        for bl in range(lane * n_blocks // n_lanes, (lane + 1) * n_blocks // n_lanes):
            start = bl * block
            block_sums[bl, 0], block_sums[bl, 1], bad[bl] = _missing_rows(
                X, w, ABT, log_w, table, start, min(start + block, N), want_stats,
                want_const, nk_b, sxm_b, row_logp, labels, resp, xmbuf, lpbuf, vec,
                best, ones)
            if want_stats:
                move_into(nk[lane], nk_b)
                move_into(sxm[lane], sxm_b)


@njit(cache=True, nogil=True)
def categorical_missing_lanes(X, w, group, stride, offsets, logp, log_w, block,
                              want_stats, row_logp, labels, resp, nk, counts, block_sums,
                              bad, lane_lo, lane_hi):
    """Categorical pass over float codes with NaN marking missing entries, lanes
    ``lane_lo:lane_hi``.

    Each block's codes are read into int32, a missing one as ``-1``; the
    family's tables give it a level of its own with log-probability 0 (see
    :mod:`fastem.families.categorical`), so the block is then the complete
    data's pass, :func:`fastem.kernels.discrete._categorical_block`, with the
    weight of a row that observes nothing set to 0: such a row is ignored in
    the fit, its log-likelihood is 0 and its responsibilities are the mixing
    weights. Arguments as :func:`fastem.kernels.discrete.categorical_lanes`,
    except ``X`` : (N, D) float32/float64 IN — validated codes or NaN.
    """
    N, D = X.shape
    C, K = logp.shape
    G = offsets.shape[0]
    n_blocks, n_lanes = block_sums.shape[0], nk.shape[0]
    codebuf = np.empty((block, D), dtype=np.int32)
    idxbuf = np.empty((block, G), dtype=np.int64)
    lpbuf = np.empty(K * block)
    rbuf = np.empty((block, K))
    vec = np.empty((3, block))
    best = np.empty(block, dtype=np.int64)
    wbuf = np.empty(block)
    seen = np.empty(block, dtype=np.bool_)
    nk_b, counts_b = np.zeros(K), np.zeros((C, K))
    for lane in range(lane_lo, lane_hi):
        for bl in range(lane * n_blocks // n_lanes, (lane + 1) * n_blocks // n_lanes):
            start = bl * block
            n = min(start + block, N) - start
            codes = codebuf[:n]
            for i in range(n):
                any_seen = False
                for d in range(D):
                    x = X[start + i, d]
                    observed = x == x
                    codes[i, d] = np.int32(x) if observed else np.int32(-1)
                    any_seen = any_seen or observed
                seen[i] = any_seen
                if want_stats:
                    wbuf[i] = w[start + i] if any_seen else 0.0
            # the block's rows as rows 0.. of sliced outputs (zero-length
            # outputs stay zero-length)
            rl = row_logp[start:start + n]
            block_sums[bl, 0], bad[bl] = _categorical_block(
                codes, wbuf, group, stride, offsets, logp, log_w, 0, n, want_stats,
                nk_b, counts_b, rl, labels[start:start + n], resp[start:start + n],
                idxbuf, lpbuf, rbuf, vec, best)
            if rl.shape[0] > 0:
                for i in range(n):
                    if not seen[i]:
                        rl[i] = 0.0  # log sum_k w_k, exactly
            if want_stats:
                move_into(nk[lane], nk_b)
                move_into(counts[lane], counts_b)
