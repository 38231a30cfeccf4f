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


#: Rows per tile inside a full-covariance block: the tile's (K D, tile)
#: log-density product and (D + D (D + 1) / 2, tile) moment rows stay in
#: cache (whole 1024-row blocks ran 1.6x slower).
_TILE = 128

#: A component whose mean lies more than sqrt(_FAR) of its own standard
#: deviations from the center ``g`` (``|b_k|^2 > _FAR``) is handled exactly,
#: per component: moments summed around ``g`` and moved to its mean would
#: lose up to ``_FAR`` times machine epsilon (relative) to cancellation.
_FAR = 1e4


@njit(cache=True, nogil=True)
def _full_scratch(X, K, D, Kc):
    """One thread's scratch for ``_full_block``, allocated once per pass.

    Every tile buffer is ``tile`` columns wide (a short last tile is padded
    with zero rows' worth of columns), so all products have fixed shapes.

    Returns
    -------
    YT : (D, tile) dtype of X — a tile's ``x - g``, one feature per row
    ZT : (Kc D, tile) dtype of X — ``L_k^T (x - g)`` for every factor
    R : (K, tile) float64 — log-densities, then weighted responsibilities
    PT : (M, tile) float64 — ``x - g`` and its products ``y_d y_e`` (d <= e),
        M = D + D (D + 1) / 2
    RT : (tile, K) float64 — ``R`` transposed for the moment product (BLAS
        runs it 1.7x faster than on a transposed view)
    S, S_tile : (M, K) float64 — moments around ``g`` of the block, of a tile
    q : (tile,) dtype of X — one component's Mahalanobis terms
    top, scale : (tile,) float64; best : (tile,) int64; ok : (tile,) bool —
        per-row maximum, its component, normalizer, finite likelihood
    diff, y : (tile, D) float64 — the exact path's ``x - c_k`` and products
    """
    n_mom = D + D * (D + 1) // 2
    return (np.zeros((D, _TILE), dtype=X.dtype), np.empty((Kc * D, _TILE), dtype=X.dtype),
            np.empty((K, _TILE)), np.zeros((n_mom, _TILE)), np.empty((_TILE, K)),
            np.empty((n_mom, K)), np.empty((n_mom, K)), np.empty(_TILE, dtype=X.dtype),
            np.empty(_TILE), np.empty(_TILE), np.empty(_TILE, dtype=np.int64),
            np.empty(_TILE, dtype=np.bool_), np.empty((_TILE, D)), np.empty((_TILE, D)))


@njit(cache=True, nogil=True)
def _full_block(X, w, center, LT, b, exact, means, chol, log_norm, start, stop,
                want_stats, nk, sx, sxx, row_logp, labels, resp, scratch):
    """Process rows ``start:stop`` for a full (or tied) precision mixture.

    With ``y = x - g`` (``g`` a center near the data) the Mahalanobis term of
    component k is ``|L_k^T y - b_k|^2``, ``b_k = L_k^T (c_k - g)``: one matrix
    product of each tile against all factors at once, in the data's dtype
    (float32 input: half the work). The moments around ``g``, ``sum r y`` and
    ``sum r y_d y_e``, are a second product, in float64, moved to each
    component's mean once per block. Components flagged ``exact`` (far from
    ``g``) get ``x - c_k`` formed before any product instead.

    Parameters
    ----------
    X : (N, D) IN; w : (N,) IN
    center : (D,) dtype of X, IN — ``g``
    LT : (Kc D, D) dtype of X, IN — the factors ``L_k^T`` stacked
    b : (K, D) dtype of X, IN — ``L_k^T (c_k - g)``
    exact : (K,) bool, IN — components handled per component
    means : (K, D) float64 IN — component means ``c_k`` (the statistics' shift)
    chol : (Kc, D, D) float64 IN — upper-triangular precision Cholesky factors
        ``L_k``, ``precision_k = L_k L_k^T``; Kc = 1 (one shared factor) for tied
    log_norm : (K,) IN — log weight + log normalizer per component
    nk : (K,) OUT, sx : (K, D) OUT, sxx : (K, D, D) OUT — this block's slot,
        zero on entry when ``want_stats``
    row_logp, labels, resp : OUT, see ``_diag_block``
    scratch : the calling thread's ``_full_scratch``

    Returns
    -------
    loglik : float, n_bad : int — as ``_diag_block``
    """
    YT, ZT, R, PT, RT, S, S_tile, q, top, scale, best, ok, diff, y = scratch
    K, D = means.shape
    Kc = chol.shape[0]
    S[:] = 0.0
    loglik = 0.0
    n_bad = 0
    for t0 in range(start, stop, _TILE):
        n = min(t0 + _TILE, stop) - t0
        for d in range(D):
            g = np.float64(center[d])
            for i in range(n):
                v = np.float64(X[t0 + i, d]) - g  # exact: g is near the data
                PT[d, i] = v
                YT[d, i] = v
            for i in range(n, _TILE):  # a short tile: padding adds nothing
                PT[d, i] = 0.0
                YT[d, i] = 0.0
        np.dot(LT, YT, ZT)
        for k in range(K):
            if exact[k]:
                _exact_mahalanobis(X, t0, n, means[k], chol[k if Kc > 1 else 0],
                                   diff, y, R[k])
                for i in range(n):
                    R[k, i] = log_norm[k] - 0.5 * R[k, i]
            else:
                _shifted_mahalanobis(ZT, (k if Kc > 1 else 0) * D, b[k], n, q)
                for i in range(n):
                    R[k, i] = log_norm[k] - 0.5 * np.float64(q[i])
        # log-sum-exp of each row (column of R); loops run along rows to vectorize
        for i in range(n):
            top[i] = R[0, i]
            best[i] = 0
        for k in range(1, K):
            for i in range(n):
                if R[k, i] > top[i]:
                    top[i] = R[k, i]
                    best[i] = k
        for i in range(n):
            ok[i] = np.isfinite(top[i])  # else zero density under every component
            if not ok[i]:
                top[i] = 0.0  # its R are all -inf: exp gives 0
            scale[i] = 0.0
        for k in range(K):
            for i in range(n):
                e = exp_nonpositive(R[k, i] - top[i])
                R[k, i] = e
                scale[i] += e
        for i in range(n):
            row = t0 + i
            if labels.shape[0] > 0:
                labels[row] = best[i]
            ll_i = _NEG_INF
            if ok[i]:
                wi = w[row] if want_stats else 1.0
                ll_i = top[i] + np.log(scale[i])
                loglik += wi * ll_i
                scale[i] = wi / scale[i]
            else:
                n_bad += 1
            if row_logp.shape[0] > 0:
                row_logp[row] = ll_i
        for k in range(K):
            for i in range(n):
                R[k, i] *= scale[i]
            for i in range(n, _TILE):
                R[k, i] = 0.0
        if resp.shape[0] > 0:
            for i in range(n):
                for k in range(K):
                    resp[t0 + i, k] = R[k, i]
        if want_stats:
            _add_tile_moments(X, t0, n, R, PT, RT, S, S_tile, exact, means, nk, sx,
                              sxx, diff, y)
    if want_stats:
        _moments_to_means(S, center, exact, means, nk, sx, sxx)
    return loglik, n_bad


@njit(cache=True, nogil=True)
def _shifted_mahalanobis(ZT, off, bk, n, q):
    """``q[i] = |z_i - b_k|^2`` with ``z_i = ZT[off:off + D, i]`` (``L_k^T y_i``)."""
    for i in range(n):
        q[i] = 0.0
    for j in range(bk.shape[0]):
        z = ZT[off + j]
        bj = bk[j]
        for i in range(n):
            t = z[i] - bj
            q[i] += t * t


@njit(cache=True, nogil=True)
def _exact_mahalanobis(X, t0, n, mean, chol, diff, y, q):
    """``q[i] = |L^T (x_i - c)|^2`` for the tile's rows, ``x - c`` formed first."""
    D = mean.shape[0]
    diff = diff[:n]
    y = y[:n]
    for i in range(n):
        for d in range(D):
            diff[i, d] = X[t0 + i, d] - mean[d]
    np.dot(diff, chol, y)
    for i in range(n):
        s = 0.0
        for d in range(D):
            s += y[i, d] * y[i, d]
        q[i] = s


@njit(cache=True, nogil=True)
def _add_tile_moments(X, t0, n, R, PT, RT, S, S_tile, exact, means, nk, sx, sxx,
                      diff, weighted):
    """Add a tile's statistics: ``nk``, moments around ``g`` into ``S``, and
    for ``exact`` components ``sx``, ``sxx`` around their means directly.

    ``R`` (K, n) holds weighted responsibilities; ``PT[:D]`` holds ``x - g``.
    """
    K, D = means.shape
    p = D
    for d in range(D):
        for e in range(d, D):
            for i in range(PT.shape[1]):  # padding columns are zero
                PT[p, i] = PT[d, i] * PT[e, i]
            p += 1
    for i in range(RT.shape[0]):
        for k in range(K):
            RT[i, k] = R[k, i]
    np.dot(PT, RT, S_tile)
    S += S_tile
    for k in range(K):
        total = 0.0
        for i in range(n):
            total += R[k, i]
        nk[k] += total
        if exact[k]:
            d_ = diff[:n]
            u = weighted[:n]
            for i in range(n):
                r = R[k, i]
                for d in range(D):
                    t = X[t0 + i, d] - means[k, d]
                    d_[i, d] = t
                    u[i, d] = r * t
                    sx[k, d] += r * t
            sxx[k] += np.dot(u.T, d_)


@njit(cache=True, nogil=True)
def _moments_to_means(S, center, exact, means, nk, sx, sxx):
    """Move the block's moments around ``g`` to each component's mean ``c_k``.

    With ``delta = c_k - g``: ``sum r (y - delta) = s - n delta`` and
    ``sum r (y - delta)(y - delta)^T = S - s delta^T - delta s^T + n delta delta^T``.
    """
    K, D = means.shape
    for k in range(K):
        if exact[k]:
            continue
        t = nk[k]
        for d in range(D):
            sx[k, d] += S[d, k] - t * (means[k, d] - np.float64(center[d]))
        p = D
        for d in range(D):
            dd = means[k, d] - np.float64(center[d])
            for e in range(d, D):
                de = means[k, e] - np.float64(center[e])
                v = S[p, k] - S[d, k] * de - dd * S[e, k] + t * dd * de
                sxx[k, d, e] += v
                if e != d:
                    sxx[k, e, d] += v
                p += 1


@njit(cache=True, nogil=True)
def _full_constants(X, center, means, chol):
    """Per-pass constants of ``_full_block``: ``LT``, ``b`` and ``exact``."""
    K, D = means.shape
    Kc = chol.shape[0]
    LT = np.empty((Kc * D, D), dtype=X.dtype)
    for c in range(Kc):
        for j in range(D):
            for d in range(D):
                LT[c * D + j, d] = chol[c, d, j]
    b = np.empty((K, D), dtype=X.dtype)
    exact = np.zeros(K, dtype=np.bool_)
    for k in range(K):
        c = chol[k if Kc > 1 else 0]
        norm2 = 0.0
        for j in range(D):
            bj = 0.0
            for d in range(D):
                bj += (means[k, d] - np.float64(center[d])) * c[d, j]
            b[k, j] = bj
            norm2 += bj * bj
        exact[k] = not norm2 <= _FAR
    return LT, b, exact


def full_pass(X, w, center, means, chol, log_norm, block, n_threads, want_stats,
              row_logp, labels, resp):
    """Full/tied-precision pass; see :func:`diag_pass` for arguments.

    Parameters
    ----------
    center : (D,) dtype of X — a center ``g`` near the data
    means : (K, D) float64; chol : (Kc, D, D) float64; log_norm : (K,) — see
        ``_full_block``

    Returns
    -------
    nk : (K,), sx : (K, D), sxx : (K, D, D) float64; loglik : float; n_bad : int
    """
    N = X.shape[0]
    K, D = means.shape
    Kc = chol.shape[0]
    LT, b, exact = _full_constants(X, center, means, chol)
    n_blocks = (N + block - 1) // block
    n_slots = n_blocks if want_stats else 1
    nk = np.zeros((n_slots, K))
    sx = np.zeros((n_slots, K, D))
    sxx = np.zeros((n_slots, K, D, D))
    ll = np.zeros(n_blocks)
    bad = np.zeros(n_blocks, dtype=np.int64)
    for t in prange(n_threads):
        scratch = _full_scratch(X, K, D, Kc)
        for blk in range(t * n_blocks // n_threads, (t + 1) * n_blocks // n_threads):
            start = blk * block
            s = min(blk, n_slots - 1)  # predict writes no statistics
            ll[blk], bad[blk] = _full_block(X, w, center, LT, b, exact, means, chol,
                                            log_norm, start, min(start + block, N),
                                            want_stats, nk[s], sx[s], sxx[s], row_logp,
                                            labels, resp, scratch)
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
