"""Fused Gaussian-mixture statistics passes (Numba).

One call reads every row of ``X`` once. For each row it computes the
log-densities of all K components, a log-sum-exp, and either adds the row's
weighted contribution to the sufficient statistics (fit) or writes the row's
log-likelihood, label and optionally responsibilities (predict).

Statistics are returned around a shift, the current component means ``c_k``:
``nk = sum r``, ``sx = sum r (x - c_k)``, ``sxx = sum r (x - c_k)^2``
(diagonal) or ``sum r (x - c_k)(x - c_k)^T`` (full; summed over components
for tied, whose shared covariance needs only the sum).

Rows are split into fixed blocks of ``block`` rows. Each block's statistics
are added to the slot of its lane (a fixed run of consecutive blocks, see
:mod:`fastem.kernels._compile`); a pass kernel processes a given range of
lanes, serially and without the GIL, and :func:`fastem._threads.lane_pass`
runs it on a few Python threads and sums the lanes in order, so the result is
bit-identical for any thread count.

Inside a block, rows go in tiles of ``_TILE`` rows, and the work of a tile is
two small matrix products (:mod:`._products`, register-blocked, operands read
in place):

- log-densities: with ``y = x - g`` (``g`` a center near the data, ``x - g``
  formed first), every component's quadratic form is a product of the tile's
  ``y`` terms against per-iteration constants, in the data's dtype (float32
  input: half the work);
- moments: ``sum r y`` and ``sum r y y`` (squares, or products ``y_d y_e``)
  around ``g``, a float64 product with the responsibilities, moved to each
  component's mean once per block.

Moving moments from ``g`` to ``c_k`` cancels: it loses about
``|b_k|^2`` times machine epsilon (relative), where ``|b_k|`` is the distance
from ``g`` to ``c_k`` in component k's standard deviations. Components with
``|b_k|^2 > FAR_FROM_CENTER`` are flagged ``exact``: their log-densities and
moments are computed with ``x - c_k`` formed before any square or product.
When no component is, ``exact`` is None: Numba then drops that path while
compiling (a specialization of its own), which takes a quarter off the
cold compile of the full pass; data far from the origin compile both.

Arguments marked IN are read, OUT are written. Outputs that a caller does not
want are passed as zero-length arrays.
"""
import numpy as np
from numba import njit
from numba.extending import overload

from ._compile import INNER, add_into, avx512_code, move_into
from ._math import exp_nonpositive, log_at_least_one, running_max
from ._products import broadcast_product, row_dots

_NEG_INF = -np.inf

#: Rows per tile: a tile's products and their inputs stay in cache (whole
#: 1024-row blocks ran the full pass 1.6x slower).
_TILE = 128

#: With AVX-512 code, OpenBLAS's SkylakeX kernels run the full pass's second
#: moments (T x tile by tile x Kc) faster than :func:`row_dots`: a whole full
#: iteration took 15-30% more CPU time with it. With AVX2 code it is the reverse.
_BLAS_SECOND_MOMENTS = avx512_code()

#: Components whose ``|b_k|^2`` exceeds this are handled exactly (see above):
#: the shifted moments then lose at most ~1e4 * 2.2e-16 = 2e-12, relative.
FAR_FROM_CENTER = 1e4


# ---------------------------------------------------------------- shared
# "contract" (fused multiply-add) only: no reassociation and no inf/NaN
# assumptions; the exp runs 30% faster and stays within 5e-16 (tested).
# NumPy's division semantics: Python's test every divisor for zero (to raise
# ZeroDivisionError), and the branch kept the per-row log loop scalar.
@njit(**INNER, fastmath={"contract"}, error_model="numpy")
def _tile_responsibilities(R, n, t0, w, want_stats, row_logp, labels, resp,
                           top, scale, best, ok):
    """Turn a tile's log-densities into weighted responsibilities, in place.

    Loops run along rows (the columns of ``R``) so that they vectorize.

    Parameters
    ----------
    R : (K, tile) float64 IN/OUT — log-densities of rows ``t0:t0 + n`` on
        entry; weighted responsibilities on exit, zero in padding columns
    w : (N,) IN — sample weights (unused when not ``want_stats``)
    row_logp : (N,) or (0,) OUT — per-row log-likelihood (-inf: zero density)
    labels : (N,) or (0,) OUT — per-row most probable component
    resp : (N, K) or (0, K) OUT — per-row responsibilities
    top, scale : (tile,) float64; best : (tile,) int64; ok : (tile,) bool —
        scratch

    Returns
    -------
    loglik : float — sum of w * log p(x) over the tile's rows
    n_bad : int — rows whose density is zero under every component
    """
    K = R.shape[0]
    first = 2 - K % 2  # the first sweep takes one or two, so the rest pair up
    for i in range(n):
        t, b = R[0, i], 0
        if first == 2:
            t, b = running_max(1, R[1, i], t, b)
        top[i], best[i] = t, b
    for k in range(first, K, 2):
        for i in range(n):
            t, b = running_max(k, R[k, i], top[i], best[i])
            top[i], best[i] = running_max(k + 1, R[k + 1, i], t, b)
    for i in range(n):
        ok[i] = np.isfinite(top[i])
        if not ok[i]:
            top[i] = 0.0  # its log-densities are all -inf: exp gives 0
        scale[i] = 0.0
    for k in range(K):
        for i in range(n):
            e = exp_nonpositive(R[k, i] - top[i])
            R[k, i] = e
            scale[i] += e
    # the tile's rows of the per-row arrays (empty where empty): indices into
    # slices are never negative, so no index is tested and the loops vectorize
    w_t, labels_t, logp_t = w[t0:t0 + n], labels[t0:t0 + n], row_logp[t0:t0 + n]
    for i in range(n):  # vectorizes: no call, no branch
        wi = w_t[i] if want_stats else 1.0
        top[i] = top[i] + log_at_least_one(scale[i]) if ok[i] else _NEG_INF
        scale[i] = wi / scale[i] if ok[i] else 0.0
    loglik = 0.0
    n_bad = 0
    for i in range(n):
        if labels_t.shape[0] > 0:
            labels_t[i] = best[i]
        if ok[i]:
            loglik += (w_t[i] if want_stats else 1.0) * top[i]
        else:
            n_bad += 1
        if logp_t.shape[0] > 0:
            logp_t[i] = top[i]
    for k in range(K):
        for i in range(n):
            R[k, i] *= scale[i]
        for i in range(n, R.shape[1]):
            R[k, i] = 0.0
    if resp.shape[0] > 0:
        resp_t = resp[t0:t0 + n]
        for i in range(n):
            for k in range(K):
                resp_t[i, k] = R[k, i]
    return loglik, n_bad


@njit(**INNER)
def _load_tile(X, t0, n, center, YT):
    """``YT[d, i] = x_{t0+i, d} - g_d`` in float64 (exact: ``g`` is near the
    data) for ``i < n``, zero in the padding columns; rows ``d >= D`` of
    ``YT`` are left as they are.

    Eight rows at a time: their features are read together and each feature
    row of ``YT`` gets eight consecutive values (2x faster than either plain
    loop order). Every index is a ``range`` value into a slice, so none is
    tested for Python's negative indexing (``X[t0 + i]`` was, and the load
    ran 1.9x as long).
    """
    D = X.shape[1]
    rows = X[t0:t0 + n]
    for i0 in range(0, n, 8):
        m = min(8, n - i0)
        block = rows[i0:i0 + m]
        for d in range(D):
            g = np.float64(center[d])
            out = YT[d, i0:i0 + m]
            for i in range(m):
                out[i] = np.float64(block[i, d]) - g
    for d in range(D):
        for i in range(n, YT.shape[1]):
            YT[d, i] = 0.0


@njit(**INNER)
def _add_tile_moments(R, PT, S, S_tile):
    """``S += PT @ R^T``: a tile's moments around ``g``, one product.

    The last row of ``PT`` is ones, so the last row of ``S`` sums ``r``
    (``nk``).
    """
    row_dots(PT, R, S_tile)
    add_into(S, S_tile)


# ---------------------------------------------------------- diag, spherical
def _terms_in_dtype(PT, ZT, D):
    """The tile's ``[y; y^2]`` (``PT[:2 D]``, float64) in the data's dtype
    (``ZT``'s) for the log-density product: ``PT[:2 D]`` itself for float64
    data (no copy, a tile's working set 32 KB smaller), else ``ZT`` with
    ``y`` rounded and squared in that dtype."""
    if PT.dtype == ZT.dtype:
        return PT[:2 * D]
    ZT[:D] = PT[:D]
    ZT[D:2 * D] = ZT[:D] * ZT[:D]
    return ZT


@overload(_terms_in_dtype, jit_options={"cache": True, "nogil": True})
def _terms_in_dtype_impl(PT, ZT, D):
    if PT.dtype == ZT.dtype:
        def view(PT, ZT, D):
            return PT[:2 * D]
        return view

    def convert(PT, ZT, D):
        for d in range(D):
            for i in range(PT.shape[1]):
                ZT[d, i] = PT[d, i]
                ZT[D + d, i] = ZT[d, i] * ZT[d, i]
        return ZT
    return convert


@njit(**INNER)
def _diag_scratch(X, K, D):
    """One thread's scratch for ``_diag_block``, allocated once per pass.

    Tile buffers are ``tile`` columns wide; a short last tile is zero-padded.

    Returns
    -------
    ZT : (2 D, tile) dtype of X — ``[y; y^2]``, ``y = x - g`` (padding: zero),
        for float32 data (see ``_terms_in_dtype``)
    L : (K, tile) dtype of X — ``W^T @ ZT``
    R : (K, tile) float64 — log-densities, then weighted responsibilities
    PT : (2 D + 1, tile) float64 — ``[y; y^2; 1]`` for the moments
    S, S_tile : (2 D + 1, K) float64 — ``sum r y``,
        ``sum r y^2`` and ``sum r`` of the block, of a tile
    top, scale : (tile,) float64; best : (tile,) int64; ok : (tile,) bool
    """
    PT = np.empty((2 * D + 1, _TILE))
    PT[2 * D] = 1.0
    return (np.empty((2 * D, _TILE), dtype=X.dtype), np.empty((K, _TILE), dtype=X.dtype),
            np.empty((K, _TILE)), PT, np.empty((2 * D + 1, K)),
            np.empty((2 * D + 1, K)), np.empty(_TILE), np.empty(_TILE),
            np.empty(_TILE, dtype=np.int64), np.empty(_TILE, dtype=np.bool_))


# inlined into its lane driver (see ``_full_block``)
@njit(cache=True, nogil=True, inline="always")
def _diag_block(X, w, center, W, const, exact, means, prec, log_norm, start, stop,
                want_stats, nk, sx, sxx, row_logp, labels, resp, scratch):
    """Process rows ``start:stop`` for a diagonal-precision mixture.

    With ``y = x - g``, ``-0.5 sum_d p_kd (y_d - m_kd)^2`` is
    ``W[:, k] . [y, y^2] + const_k`` (``m_k = c_k - g``).

    Parameters
    ----------
    X : (N, D) float32/float64, IN
    w : (N,) float64, IN — sample weights
    center : (D,) dtype of X, IN — the center ``g``
    W : (2 D, K) dtype of X, IN — ``[p_k m_k, -p_k / 2]`` per column
    const : (K,) float64, IN — log weight + log normalizer ``- 0.5 sum_d p_kd m_kd^2``
    exact : (K,) bool or None, IN — components handled with ``x - c_k``
        formed first (None: none is)
    means : (K, D) float64, IN — component means ``c_k`` (the statistics' shift)
    prec : (K, D) float64, IN — precisions ``p_k``
    log_norm : (K,) float64, IN — log weight + log normalizer
    want_stats : bool — accumulate statistics (fit) or not (predict)
    nk : (K,) OUT, sx, sxx : (K, D) OUT — this block's slot, zero on entry
        when ``want_stats``
    row_logp, labels, resp : OUT, see ``_tile_responsibilities``
    scratch : the calling thread's ``_diag_scratch``

    Returns
    -------
    loglik : float — sum of w * log p(x) over the block's rows
    n_bad : int — rows whose density is zero under every component
    """
    ZT, L, R, PT, S, S_tile, top, scale, best, ok = scratch
    K, D = means.shape
    S[:] = 0.0
    loglik = 0.0
    n_bad = 0
    for t0 in range(start, stop, _TILE):
        n = min(t0 + _TILE, stop) - t0
        _load_tile(X, t0, n, center, PT)
        for d in range(D):
            for i in range(_TILE):
                PT[D + d, i] = PT[d, i] * PT[d, i]
        broadcast_product(W, _terms_in_dtype(PT, ZT, D), L)
        for k in range(K):
            if exact is not None and exact[k]:
                for i in range(n):
                    q = 0.0
                    for d in range(D):
                        t = X[t0 + i, d] - means[k, d]
                        q += prec[k, d] * t * t
                    R[k, i] = log_norm[k] - 0.5 * q
            else:
                for i in range(n):
                    R[k, i] = np.float64(L[k, i]) + const[k]
        ll, bad = _tile_responsibilities(R, n, t0, w, want_stats, row_logp, labels,
                                         resp, top, scale, best, ok)
        loglik += ll
        n_bad += bad
        if want_stats:
            _add_tile_moments(R, PT, S, S_tile)
            for k in range(K):
                if exact is not None and exact[k]:
                    for i in range(n):
                        r = R[k, i]
                        for d in range(D):
                            t = X[t0 + i, d] - means[k, d]
                            u = r * t
                            sx[k, d] += u
                            sxx[k, d] += u * t
    if want_stats:
        for k in range(K):
            nk[k] += S[2 * D, k]
            if exact is not None and exact[k]:
                continue
            for d in range(D):
                delta = means[k, d] - np.float64(center[d])
                sx[k, d] += S[d, k] - nk[k] * delta
                sxx[k, d] += S[D + d, k] - 2.0 * delta * S[d, k] + nk[k] * delta * delta
    return loglik, n_bad


@njit(cache=True, nogil=True)
def diag_lanes(X, w, center, W, const, exact, means, prec, log_norm, block, want_stats,
               row_logp, labels, resp, nk, sx, sxx, block_sums, bad, lane_lo, lane_hi):
    """Diagonal-precision pass over the blocks of lanes ``lane_lo:lane_hi``.

    Run by :func:`fastem._threads.lane_pass`, one call per thread, each on its
    own run of lanes.

    Parameters
    ----------
    X : (N, D) IN; w : (N,) IN
    center, W, const, exact, means, prec, log_norm : IN, see ``_diag_block``
    block : int — rows per block
    want_stats : bool
    row_logp, labels, resp : OUT, see ``_tile_responsibilities``
    nk : (n_lanes, K), sx, sxx : (n_lanes, K, D) float64 OUT — each lane's
        statistics around ``means`` (written only if ``want_stats``)
    block_sums : (n_blocks, 2) float64 OUT — each block's ``sum w log p(x)``
        (column 1, a row constant, is unused here)
    bad : (n_blocks,) int64 OUT — each block's rows with zero likelihood
    lane_lo, lane_hi : int — the lanes this call processes
    """
    N = X.shape[0]
    K, D = means.shape
    n_blocks, n_lanes = block_sums.shape[0], nk.shape[0]
    scratch = _diag_scratch(X, K, D)
    nk_b, sx_b, sxx_b = np.zeros(K), np.zeros((K, D)), np.zeros((K, D))
    for lane in range(lane_lo, lane_hi):
        for b in range(lane * n_blocks // n_lanes, (lane + 1) * n_blocks // n_lanes):
            start = b * block
            block_sums[b, 0], bad[b] = _diag_block(
                X, w, center, W, const, exact, means, prec, log_norm, start,
                min(start + block, N), want_stats, nk_b, sx_b, sxx_b, row_logp, labels,
                resp, scratch)
            if want_stats:
                move_into(nk[lane], nk_b)
                move_into(sx[lane], sx_b)
                move_into(sxx[lane], sxx_b)


# --------------------------------------------------------------- full, tied
@njit(**INNER)
def _full_scratch(X, K, D, Kc):
    """One thread's scratch for ``_full_block``, allocated once per pass.

    Tile buffers are ``tile`` columns wide; a short last tile is zero-padded.
    T = D (D + 1) / 2 products ``y_d y_e`` (d <= e), row by row.

    Returns
    -------
    YT : (D, tile) dtype of X — ``y = x - g``, one feature per row
    ZT : (Kc D, tile) dtype of X — ``L_c^T y`` for every factor
    R : (K, tile) float64 — log-densities, then weighted responsibilities
    P1 : (D + 1, tile), P2 : (T, tile) float64 — ``[y; 1]`` and the products
    Rc : (Kc, tile) float64 — responsibilities summed per factor over the
        components that are not ``exact``; RTc (tile, Kc) its transpose for
        BLAS (AVX-512 code, see ``_BLAS_SECOND_MOMENTS``; else (0, Kc))
    S1, S1_tile : (D + 1, K); S2, S2_tile : (T, Kc) float64 — ``sum r y`` and
        ``sum r`` per component, second moments per factor, around ``g``: the
        block's, a tile's
    q : (tile,) dtype of X — one component's Mahalanobis terms
    top, scale : (tile,) float64; best : (tile,) int64; ok : (tile,) bool
    diff, y : (tile, D), sq : (D, D) float64 — the exact path's ``x - c_k``,
        its products and a tile's second moments
    """
    T = D * (D + 1) // 2
    P1 = np.empty((D + 1, _TILE))
    P1[D] = 1.0
    return (np.empty((D, _TILE), dtype=X.dtype), np.empty((Kc * D, _TILE), dtype=X.dtype),
            np.empty((K, _TILE)), P1, np.empty((T, _TILE)),
            np.empty((Kc, _TILE)), np.empty((_TILE if _BLAS_SECOND_MOMENTS else 0, Kc)),
            np.empty((D + 1, K)),
            np.empty((D + 1, K)), np.empty((T, Kc)), np.empty((T, Kc)),
            np.empty(_TILE, dtype=X.dtype), np.empty(_TILE), np.empty(_TILE),
            np.empty(_TILE, dtype=np.int64), np.empty(_TILE, dtype=np.bool_),
            np.empty((_TILE, D)), np.empty((_TILE, D)), np.empty((D, D)))


# inlined into its lane driver: compiled and optimized once, not on its own and
# again inside the driver (a third off the cold compile)
@njit(cache=True, nogil=True, inline="always")
def _full_block(X, w, center, factors, b, exact, means, chol, log_norm, start, stop,
                want_stats, nk, sx, sxx, row_logp, labels, resp, scratch):
    """Process rows ``start:stop`` for a full (or tied) precision mixture.

    With ``y = x - g`` the Mahalanobis term of component k is
    ``|L_k^T y - b_k|^2``: one product of the tile against all factors.
    Second moments are kept per factor: per component for full, summed over
    components for tied (all the tied M-step needs, and K times less work).

    Parameters
    ----------
    X : (N, D) IN; w : (N,) IN
    center : (D,) dtype of X, IN — the center ``g``
    factors : (D, Kc D) dtype of X, IN — the factors ``L_c`` side by side
    b : (K, D) dtype of X, IN — ``L_k^T (c_k - g)``
    exact : (K,) bool or None, IN — components handled with ``x - c_k``
        formed first (None: none is)
    means : (K, D) float64 IN — component means ``c_k`` (the statistics' shift)
    chol : (Kc, D, D) float64 IN — precision Cholesky factors ``L_c``,
        ``precision = L L^T``; Kc = K for full, 1 (shared) for tied
    log_norm : (K,) IN — log weight + log normalizer per component
    nk : (K,) OUT, sx : (K, D) OUT — this block's slot, zero on entry when
        ``want_stats``
    sxx : (Kc, D, D) OUT — ``sum r (x - c_k)(x - c_k)^T`` summed over the
        components of each factor
    row_logp, labels, resp : OUT, see ``_tile_responsibilities``
    scratch : the calling thread's ``_full_scratch``

    Returns
    -------
    loglik : float, n_bad : int — as ``_diag_block``
    """
    (YT, ZT, R, P1, P2, Rc, RTc, S1, S1_tile, S2, S2_tile, q, top, scale, best, ok,
     diff, y, sq) = scratch
    K, D = means.shape
    Kc = chol.shape[0]
    S1[:] = 0.0
    S2[:] = 0.0
    loglik = 0.0
    n_bad = 0
    for t0 in range(start, stop, _TILE):
        n = min(t0 + _TILE, stop) - t0
        _load_tile(X, t0, n, center, P1)
        for d in range(D):
            for i in range(_TILE):
                YT[d, i] = P1[d, i]
        broadcast_product(factors, YT, ZT)
        for k in range(K):
            c = k if Kc > 1 else 0
            if exact is not None and exact[k]:
                _exact_mahalanobis(X, t0, n, means[k], chol[c], diff, y, R[k])
                for i in range(n):
                    R[k, i] = log_norm[k] - 0.5 * R[k, i]
            else:
                _shifted_mahalanobis(ZT, c * D, b[k], n, q)
                for i in range(n):
                    R[k, i] = log_norm[k] - 0.5 * np.float64(q[i])
        ll, bad = _tile_responsibilities(R, n, t0, w, want_stats, row_logp, labels,
                                         resp, top, scale, best, ok)
        loglik += ll
        n_bad += bad
        if want_stats:
            _add_full_tile_moments(R, exact, P1, P2, Rc, RTc, S1, S1_tile, S2, S2_tile)
            for k in range(K):
                if exact is not None and exact[k]:
                    _full_exact_moments(X, t0, n, R[k], means[k], diff, y, sq, sx[k],
                                        sxx[k if Kc > 1 else 0])
    if want_stats:
        _full_moments_to_means(S1, S2, center, exact, means, nk, sx, sxx)
    return loglik, n_bad


@njit(**INNER)
def _add_full_tile_moments(R, exact, P1, P2, Rc, RTc, S1, S1_tile, S2, S2_tile):
    """Add a tile's first moments and ``sum r`` per component (see
    ``_add_tile_moments``) and second moments per factor around ``g``."""
    K = R.shape[0]
    D = P1.shape[0] - 1
    Kc = Rc.shape[0]
    p = 0
    for d in range(D):
        for e in range(d, D):
            for i in range(P1.shape[1]):  # padding columns are zero
                P2[p, i] = P1[d, i] * P1[e, i]
            p += 1
    _add_tile_moments(R, P1, S1, S1_tile)
    Rc[:] = 0.0
    for k in range(K):
        if exact is None or not exact[k]:  # exact ones' moments are summed on their own
            c = k if Kc > 1 else 0
            for i in range(R.shape[1]):
                Rc[c, i] += R[k, i]
    if _BLAS_SECOND_MOMENTS:
        for c in range(Kc):
            for i in range(Rc.shape[1]):
                RTc[i, c] = Rc[c, i]
        np.dot(P2, RTc, S2_tile)
    else:
        row_dots(P2, Rc, S2_tile)
    add_into(S2, S2_tile)


@njit(**INNER)
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


@njit(**INNER)
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


@njit(**INNER)
def _full_exact_moments(X, t0, n, r, mean, diff, weighted, sq, sx, sxx):
    """Add ``sum r (x - c)`` and ``sum r (x - c)(x - c)^T`` of a tile's rows."""
    D = mean.shape[0]
    diff = diff[:n]
    weighted = weighted[:n]
    for i in range(n):
        for d in range(D):
            t = X[t0 + i, d] - mean[d]
            diff[i, d] = t
            weighted[i, d] = r[i] * t
            sx[d] += r[i] * t
    np.dot(weighted.T, diff, sq)
    add_into(sxx, sq)


@njit(**INNER)
def _full_moments_to_means(S1, S2, center, exact, means, nk, sx, sxx):
    """Move the block's moments around ``g`` to each (non-exact) mean ``c_k``.

    With ``delta = c_k - g`` and ``s``, ``S`` the first and second moments
    around ``g``: ``sum r (y - delta) = s - n delta`` and
    ``sum r (y - delta)(y - delta)^T = S - s delta^T - delta s^T + n delta delta^T``
    (S per factor: the terms of its components add up).
    """
    K, D = means.shape
    Kc = sxx.shape[0]
    for c in range(Kc):
        p = 0
        for d in range(D):
            for e in range(d, D):
                sxx[c, d, e] += S2[p, c]
                if e != d:
                    sxx[c, e, d] += S2[p, c]
                p += 1
    for k in range(K):
        nk[k] += S1[D, k]
        if exact is not None and exact[k]:
            continue
        c = k if Kc > 1 else 0
        t = nk[k]
        for d in range(D):
            sx[k, d] += S1[d, k] - t * (means[k, d] - np.float64(center[d]))
        for d in range(D):
            dd = means[k, d] - np.float64(center[d])
            for e in range(d, D):
                de = means[k, e] - np.float64(center[e])
                v = t * dd * de - S1[d, k] * de - dd * S1[e, k]
                sxx[c, d, e] += v
                if e != d:
                    sxx[c, e, d] += v


@njit(cache=True, nogil=True)
def full_lanes(X, w, center, factors, b, exact, means, chol, log_norm, block, want_stats,
               row_logp, labels, resp, nk, sx, sxx, block_sums, bad, lane_lo, lane_hi):
    """Full/tied-precision pass over the blocks of lanes ``lane_lo:lane_hi``;
    see :func:`diag_lanes` for the other arguments.

    Parameters
    ----------
    center, factors, b, exact, means, chol, log_norm : IN, see ``_full_block``
    sxx : (n_lanes, Kc, D, D) float64 OUT — per factor, see ``_full_block``
    """
    N = X.shape[0]
    K, D = means.shape
    Kc = chol.shape[0]
    n_blocks, n_lanes = block_sums.shape[0], nk.shape[0]
    scratch = _full_scratch(X, K, D, Kc)
    nk_b, sx_b, sxx_b = np.zeros(K), np.zeros((K, D)), np.zeros((Kc, D, D))
    for lane in range(lane_lo, lane_hi):
        for blk in range(lane * n_blocks // n_lanes, (lane + 1) * n_blocks // n_lanes):
            start = blk * block
            block_sums[blk, 0], bad[blk] = _full_block(
                X, w, center, factors, b, exact, means, chol, log_norm, start,
                min(start + block, N), want_stats, nk_b, sx_b, sxx_b, row_logp, labels,
                resp, scratch)
            if want_stats:
                move_into(nk[lane], nk_b)
                move_into(sx[lane], sx_b)
                move_into(sxx[lane], sxx_b)

