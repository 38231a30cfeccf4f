"""Fused Gaussian-mixture statistics passes (Numba).

One call reads every row of ``X`` once. For each row it computes the
log-densities of all K components, a log-sum-exp, and either adds the row's
weighted contribution to the sufficient statistics (fit) or writes the row's
log-likelihood, label and optionally responsibilities (predict).

Statistics are accumulated around a shift, the current component means
``c_k``: ``nk = sum r``, ``sx = sum r (x - c_k)``, ``sxx = sum r (x - c_k)^2``
(diagonal) or ``sum r (x - c_k)(x - c_k)^T`` (full). ``x - c_k`` is formed
before any square or product, so data far from the origin loses no precision.

Rows are split into fixed blocks of ``block`` rows; each block writes its own
slot of partial statistics and the slots are summed in block order, so the
result is bit-identical for any thread count. Each pass has a parallel and a
serial variant (the serial one is for callers that are already parallel, such
as Dask tasks); both run the same block function.

Arguments marked IN are read, OUT are written. Outputs that a caller does not
want are passed as zero-length arrays.
"""
import numpy as np
from numba import njit, prange

from ._compile import parallel_and_serial
from ._math import exp_nonpositive

_NEG_INF = -np.inf


@njit(cache=True, nogil=True)
def _normalize_row(lp, w_i):
    """Turn log-densities ``lp`` (K,) into weighted responsibilities in place.

    Returns the row's log-likelihood ``log sum exp lp`` (-inf if every
    component has zero density).
    """
    K = lp.shape[0]
    m = lp[0]
    for k in range(1, K):
        if lp[k] > m:
            m = lp[k]
    if m == _NEG_INF or not np.isfinite(m):
        return _NEG_INF
    for k in range(K):  # kept apart from the sum below so that it vectorizes
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


@njit(cache=True, nogil=True)
def _diag_block(X, w, center, W, const, meansT, start, stop, want_stats,
                nk, sxT, sxxT, row_logp, labels, resp, Z, L, R, Xb):
    """Process rows ``start:stop`` for a diagonal-precision mixture.

    Log-densities are one small matrix product per block: with ``y = x - g``
    (``g`` a center near the data), ``-0.5 sum_d p_kd (y_d - m_kd)^2`` is
    ``[y, y^2] @ W + const``. Statistics are accumulated directly around each
    component's mean, ``x - c_k`` formed before squaring.

    Parameters
    ----------
    X : (N, D) float32/float64, IN
    w : (N,) float64, IN — sample weights
    center : (D,) dtype of X, IN — the center ``g``
    W : (2 D, K) dtype of X, IN — ``[p_k (m_k - g); -p_k / 2]`` per column
    const : (K,) float64, IN — log weight + log normalizer
        ``- 0.5 sum_d p_kd (m_kd - g_d)^2`` per component
    meansT : (D, K) float64, IN — component means (the statistics' shift),
        transposed so the inner loop runs over components and vectorizes
    want_stats : bool — accumulate statistics (fit) or not (predict)
    nk : (K,) OUT, sxT, sxxT : (D, K) OUT — this block's statistics slot
    row_logp : (N,) or (0,) OUT — per-row log-likelihood
    labels : (N,) or (0,) OUT — per-row most probable component
    resp : (N, K) or (0, K) OUT — per-row responsibilities
    Z : (block, 2 D), L : (block, K) dtype of X; R : (block, K),
        Xb : (block, D) float64 — the calling thread's scratch (allocated once
        per pass: per-block allocations are slow where malloc returns memory
        to the system eagerly, as in Dask workers). The log-density product
        runs in the data's dtype (float32 input: half the work); the rows and
        responsibilities the statistics are summed from are float64.

    Returns
    -------
    loglik : float — sum of w * log p(x) over the block's rows
    n_bad : int — rows whose log-likelihood is -inf or NaN
    """
    D, K = meansT.shape
    n = stop - start
    Z = Z[:n]
    L = L[:n]
    for i in range(n):
        for d in range(D):
            y = X[start + i, d] - center[d]
            Z[i, d] = y
            Z[i, D + d] = y * y
    np.dot(Z, W, L)  # (n, K) log-densities, turned into responsibilities below
    acc = np.empty(K)
    loglik = 0.0
    n_bad = 0
    for j in range(n):
        i = start + j
        for k in range(K):
            acc[k] = L[j, k] + const[k]
        if labels.shape[0] > 0:
            labels[i] = _argmax(acc)
        ll_i = _normalize_row(acc, w[i] if want_stats else 1.0)
        if not ll_i > _NEG_INF:
            n_bad += 1
            acc[:] = 0.0
            if row_logp.shape[0] > 0:
                row_logp[i] = _NEG_INF
        else:
            loglik += (w[i] if want_stats else 1.0) * ll_i
            if row_logp.shape[0] > 0:
                row_logp[i] = ll_i
        if resp.shape[0] > 0:
            for k in range(K):
                resp[i, k] = acc[k]
        for k in range(K):
            R[j, k] = acc[k]
    if want_stats:
        for i in range(n):
            for d in range(D):
                Xb[i, d] = X[start + i, d]
        _diag_moments(Xb, n, R, meansT, nk, sxT, sxxT)
    return loglik, n_bad


@njit(cache=True, nogil=True)
def _diag_moments(Xb, n, R, meansT, nk, sxT, sxxT):
    """Add ``sum r``, ``sum r (x - c_k)`` and ``sum r (x - c_k)^2`` of a block.

    Rows go four at a time so each loaded accumulator serves four rows (the
    loop is bound by memory operations, not arithmetic).

    Parameters
    ----------
    Xb : (>= n, D) float64 IN — the block's rows; R : (>= n, K) float64 IN —
    their weighted responsibilities; meansT : (D, K) IN;
    nk : (K,), sxT, sxxT : (D, K) OUT
    """
    D, K = meansT.shape
    for j in range(n):
        for k in range(K):
            nk[k] += R[j, k]
    n4 = n - n % 4
    for j in range(0, n4, 4):
        for d in range(D):
            x0 = Xb[j, d]
            x1 = Xb[j + 1, d]
            x2 = Xb[j + 2, d]
            x3 = Xb[j + 3, d]
            for k in range(K):
                m = meansT[d, k]
                t0 = x0 - m
                t1 = x1 - m
                t2 = x2 - m
                t3 = x3 - m
                u0 = R[j, k] * t0
                u1 = R[j + 1, k] * t1
                u2 = R[j + 2, k] * t2
                u3 = R[j + 3, k] * t3
                sxT[d, k] += (u0 + u1) + (u2 + u3)
                sxxT[d, k] += (u0 * t0 + u1 * t1) + (u2 * t2 + u3 * t3)
    for j in range(n4, n):
        for d in range(D):
            xd = Xb[j, d]
            for k in range(K):
                t = xd - meansT[d, k]
                u = R[j, k] * t
                sxT[d, k] += u
                sxxT[d, k] += u * t


def diag_pass(X, w, center, W, const, means, block, n_threads, want_stats,
              row_logp, labels, resp):
    """Diagonal-precision pass over all rows of ``X``.

    Parameters
    ----------
    X : (N, D) IN; w : (N,) IN
    center, W, const : IN, see ``_diag_block``
    means : (K, D) float64 IN — component means
    block : int — rows per block
    n_threads : int — threads the blocks are dealt to (1 for the serial twin);
        each thread owns a contiguous run of blocks and one scratch buffer
    want_stats : bool
    row_logp, labels, resp : OUT, see ``_diag_block``

    Returns
    -------
    nk : (K,), sx : (K, D), sxx : (K, D) float64 — statistics around ``means``
    loglik : float — sum of w * log p(x)
    n_bad : int — rows with zero likelihood under every component
    """
    N = X.shape[0]
    K, D = means.shape
    meansT = np.ascontiguousarray(means.T)
    n_blocks = (N + block - 1) // block
    n_slots = n_blocks if want_stats else 1
    nk = np.zeros((n_slots, K))
    sxT = np.zeros((n_slots, D, K))
    sxxT = np.zeros((n_slots, D, K))
    ll = np.zeros(n_blocks)
    bad = np.zeros(n_blocks, dtype=np.int64)
    Z = np.empty((n_threads, block, 2 * D), dtype=X.dtype)
    L = np.empty((n_threads, block, K), dtype=X.dtype)
    R = np.empty((n_threads, block, K))
    Xb = np.empty((n_threads, block, D))
    for t in prange(n_threads):
        for b in range(t * n_blocks // n_threads, (t + 1) * n_blocks // n_threads):
            start = b * block
            s = min(b, n_slots - 1)  # predict writes no statistics
            ll[b], bad[b] = _diag_block(X, w, center, W, const, meansT, start,
                                        min(start + block, N), want_stats, nk[s],
                                        sxT[s], sxxT[s], row_logp, labels, resp,
                                        Z[t], L[t], R[t], Xb[t])
    return _sum_diag_slots(nk, sxT, sxxT, ll, bad)


diag_pass, diag_pass_serial = parallel_and_serial(diag_pass)


@njit(cache=True, nogil=True)
def _sum_diag_slots(nk, sxT, sxxT, ll, bad):
    """Sum per-block slots in block order and return (K,)-leading statistics."""
    K = nk.shape[1]
    D = sxT.shape[1]
    nk_tot = np.zeros(K)
    sx_tot = np.zeros((K, D))
    sxx_tot = np.zeros((K, D))
    for b in range(nk.shape[0]):
        for k in range(K):
            nk_tot[k] += nk[b, k]
            for d in range(D):
                sx_tot[k, d] += sxT[b, d, k]
                sxx_tot[k, d] += sxxT[b, d, k]
    loglik = 0.0
    n_bad = 0
    for b in range(ll.shape[0]):
        loglik += ll[b]
        n_bad += bad[b]
    return nk_tot, sx_tot, sxx_tot, loglik, n_bad


@njit(cache=True, nogil=True)
def _full_block(X, w, means, chol, log_norm, start, stop, want_stats,
                nk, sx, sxx, row_logp, labels, resp, work, lp):
    """Process rows ``start:stop`` for a full (or tied) precision mixture.

    Mahalanobis terms and second moments are small matrix products done with
    ``np.dot`` per component, on a block that stays in cache.

    Parameters
    ----------
    X : (N, D) IN; w : (N,) IN
    means : (K, D) float64 IN
    chol : (K, D, D) or (1, D, D) float64 IN — precision Cholesky factors
        ``L_k`` with ``precision_k = L_k L_k^T``; one shared factor for tied
    log_norm : (K,) IN — log weight + log normalizer per component
    nk : (K,) OUT, sx : (K, D) OUT, sxx : (K, D, D) OUT — this block's slot
    row_logp, labels, resp : OUT, see ``_diag_block``
    work : (3, block, D), lp : (block, K) float64 — the calling thread's scratch

    Returns
    -------
    loglik : float, n_bad : int — as ``_diag_block``
    """
    K, D = means.shape
    n = stop - start
    diff = work[0, :n]
    y = work[1, :n]
    weighted = work[2, :n]
    lp = lp[:n]
    for k in range(K):
        for i in range(n):
            for d in range(D):
                diff[i, d] = X[start + i, d] - means[k, d]
        np.dot(diff, chol[k if chol.shape[0] > 1 else 0], y)
        for i in range(n):
            q = 0.0
            for d in range(D):
                q += y[i, d] * y[i, d]
            lp[i, k] = log_norm[k] - 0.5 * q
    loglik = 0.0
    n_bad = 0
    for i in range(n):
        row = lp[i]
        if labels.shape[0] > 0:
            labels[start + i] = _argmax(row)
        ll_i = _normalize_row(row, w[start + i] if want_stats else 1.0)
        if not ll_i > _NEG_INF:
            n_bad += 1
            for k in range(K):
                row[k] = 0.0
            if row_logp.shape[0] > 0:
                row_logp[start + i] = _NEG_INF
            continue
        if row_logp.shape[0] > 0:
            row_logp[start + i] = ll_i
        if resp.shape[0] > 0:
            for k in range(K):
                resp[start + i, k] = row[k]
        loglik += w[start + i] * ll_i
    if want_stats:
        for k in range(K):
            total = 0.0
            for i in range(n):
                r = lp[i, k]
                total += r
                for d in range(D):
                    t = X[start + i, d] - means[k, d]
                    diff[i, d] = t
                    weighted[i, d] = r * t
                    sx[k, d] += r * t
            nk[k] += total
            sxx[k] += np.dot(weighted.T, diff)
    return loglik, n_bad


def full_pass(X, w, means, chol, log_norm, block, n_threads, want_stats,
              row_logp, labels, resp):
    """Full/tied-precision pass; see :func:`diag_pass` for arguments.

    Returns
    -------
    nk : (K,), sx : (K, D), sxx : (K, D, D) float64; loglik : float; n_bad : int
    """
    N = X.shape[0]
    K, D = means.shape
    n_blocks = (N + block - 1) // block
    n_slots = n_blocks if want_stats else 1
    nk = np.zeros((n_slots, K))
    sx = np.zeros((n_slots, K, D))
    sxx = np.zeros((n_slots, K, D, D))
    ll = np.zeros(n_blocks)
    bad = np.zeros(n_blocks, dtype=np.int64)
    work = np.empty((n_threads, 3, block, D))
    lp = np.empty((n_threads, block, K))
    for t in prange(n_threads):
        for b in range(t * n_blocks // n_threads, (t + 1) * n_blocks // n_threads):
            start = b * block
            s = min(b, n_slots - 1)  # predict writes no statistics
            ll[b], bad[b] = _full_block(X, w, means, chol, log_norm, start,
                                        min(start + block, N), want_stats, nk[s],
                                        sx[s], sxx[s], row_logp, labels, resp,
                                        work[t], lp[t])
    return _sum_full_slots(nk, sx, sxx, ll, bad, want_stats)


full_pass, full_pass_serial = parallel_and_serial(full_pass)


@njit(cache=True, nogil=True)
def _sum_full_slots(nk, sx, sxx, ll, bad, want_stats):
    K, D = sx.shape[1], sx.shape[2]
    nk_tot = np.zeros(K)
    sx_tot = np.zeros((K, D))
    sxx_tot = np.zeros((K, D, D))
    if want_stats:
        for b in range(nk.shape[0]):
            nk_tot += nk[b]
            sx_tot += sx[b]
            sxx_tot += sxx[b]
    loglik = 0.0
    n_bad = 0
    for b in range(ll.shape[0]):
        loglik += ll[b]
        n_bad += bad[b]
    return nk_tot, sx_tot, sxx_tot, loglik, n_bad
