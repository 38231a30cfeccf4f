"""Gaussian-mixture statistics passes over rows with NaN (missing at random).

Each row is scored by the density of its observed coordinates,
``log N(x_o | mu_ko, Sigma_k,oo)``, and contributes the expected complete-data
statistics given them (Ghahramani & Jordan, 1994): with ``c_k`` the current
mean (the statistics' shift) and ``x_m`` the missing coordinates,

    E[x_m - c_km | x_o, k]   = B_k (x_o - c_ko),   B_k = Sigma_mo Sigma_oo^-1
    Cov[x_m | x_o, k]        = C_k = Sigma_mm - B_k Sigma_om

so ``sx``, ``sxx`` keep the layout of :mod:`fastem.kernels.gaussian` (same
M-step, same additivity). A row with no observed value contributes nothing
(the caller gives it weight 0; its outputs are set by the caller).

- Diagonal/spherical (:func:`diag_missing_lanes`): ``B_k = 0`` and ``C_k``
  is the component's own variances, so each tile is the complete-data tile
  with a mask: log-densities are one product of ``[y o, y^2 o, o]``
  (``o`` the 0/1 observed mask, NaN read as 0) against per-component
  constants, moments one product of ``[y o, y^2 o, o, 1]`` with the
  responsibilities; the missing coordinates add ``(nk - n_kd) var_kd``.
- Full/tied (:func:`full_missing_lanes`): rows are visited grouped by
  missingness pattern (``order``, sorted positions in blocks); for each run
  of one pattern in a block, the Cholesky factor of every ``Sigma_k,oo``,
  ``B_k`` and ``C_k`` are computed once, rows are scored and their moments
  taken in the observed coordinates (small products per tile), and at the
  end of the run the moments are mapped into all D coordinates, the
  conditional covariance added once, weighted by the run's summed
  responsibilities.

Lanes, blocks and the order of sums are as in :mod:`fastem.kernels.gaussian`,
so 1 thread and many give bit-identical results.
"""
import numpy as np
from numba import njit

from ._compile import INNER, add_into, move_into
from ._products import broadcast_product
from .gaussian import _TILE, _add_tile_moments, _load_tile, _tile_responsibilities

_LOG_2PI = np.log(2 * np.pi)


# ---------------------------------------------------------- diag, spherical
@njit(**INNER)
def _diag_missing_scratch(X, K, D):
    """One thread's scratch for :func:`_diag_missing_block`.

    Returns
    -------
    ZT : (3 D, tile) dtype of X — ``[y o; y^2 o; o]``
    L : (K, tile) dtype of X — ``W^T @ ZT``
    R : (K, tile) float64 — log-densities, then weighted responsibilities
    PT : (3 D + 1, tile) float64 — ``[y o; y^2 o; o; 1]`` for the moments
    S, S_tile : (3 D + 1, K) float64
    top, scale : (tile,) float64; best : (tile,) int64; ok : (tile,) bool
    """
    PT = np.zeros((3 * D + 1, _TILE))
    PT[3 * D] = 1.0
    return (np.empty((3 * D, _TILE), dtype=X.dtype), np.empty((K, _TILE), dtype=X.dtype),
            np.empty((K, _TILE)), PT, np.empty((3 * D + 1, K)),
            np.empty((3 * D + 1, K)), np.empty(_TILE), np.empty(_TILE),
            np.empty(_TILE, dtype=np.int64), np.empty(_TILE, dtype=np.bool_))


@njit(cache=True, nogil=True, inline="always")
def _diag_missing_block(X, w, center, W, log_w, exact, means, prec, var, start, stop,
                        want_stats, nk, sx, sxx, row_logp, labels, resp, scratch):
    """Process rows ``start:stop`` (NaN allowed) for a diagonal-precision mixture.

    With ``y = x - g`` and ``m_k = c_k - g``, component k's log-density of
    the observed coordinates is ``log_w_k + W[:, k] . [y o, y^2 o, o]`` with
    ``W[:, k] = [p m, -p / 2, (log p - log 2 pi - p m^2) / 2]``.

    Parameters
    ----------
    X : (N, D) float32/float64 IN — NaN marks a missing entry
    w : (N,) float64 IN — sample weights (0 for rows with no observed value)
    center : (D,) dtype of X IN — the center ``g``
    W : (3 D, K) dtype of X IN — see above
    log_w : (K,) float64 IN — log mixing weights
    exact : (K,) bool IN — components far from ``g``: computed with
        ``x - c_k`` formed first
    means, prec, var : (K, D) float64 IN — means ``c_k`` (the shift),
        precisions and variances
    want_stats : bool
    nk : (K,), sx, sxx : (K, D) float64 OUT — the block's slot
    row_logp, labels, resp : OUT, see ``_tile_responsibilities``
    scratch : ``_diag_missing_scratch``

    Returns
    -------
    loglik : float, n_bad : int — as :func:`fastem.kernels.gaussian._diag_block`
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
                v = PT[d, i]
                o = 0.0 if np.isnan(v) else 1.0
                v = v if o > 0.0 else 0.0
                PT[d, i] = v
                PT[D + d, i] = v * v
                PT[2 * D + d, i] = o if i < n else 0.0
                ZT[d, i] = v
                ZT[D + d, i] = ZT[d, i] * ZT[d, i]
                ZT[2 * D + d, i] = PT[2 * D + d, i]
        broadcast_product(W, ZT, L)
        for k in range(K):
            if exact[k]:
                for i in range(n):
                    q = 0.0
                    for d in range(D):
                        t = X[t0 + i, d] - means[k, d]
                        if not np.isnan(t):
                            q += prec[k, d] * t * t + _LOG_2PI - np.log(prec[k, d])
                    R[k, i] = log_w[k] - 0.5 * q
            else:
                for i in range(n):
                    R[k, i] = np.float64(L[k, i]) + log_w[k]
        ll, bad = _tile_responsibilities(R, n, t0, w, want_stats, row_logp, labels,
                                         resp, top, scale, best, ok)
        loglik += ll
        n_bad += bad
        if want_stats:
            _add_tile_moments(R, PT, S, S_tile)
            for k in range(K):
                if exact[k]:
                    for i in range(n):
                        r = R[k, i]
                        for d in range(D):
                            t = X[t0 + i, d] - means[k, d]
                            if not np.isnan(t):
                                u = r * t
                                sx[k, d] += u
                                sxx[k, d] += u * t
    if want_stats:
        for k in range(K):
            nk[k] += S[3 * D, k]
            for d in range(D):
                observed = S[2 * D + d, k]  # responsibility mass observing d
                sxx[k, d] += (nk[k] - observed) * var[k, d]
                if exact[k]:
                    continue
                delta = means[k, d] - np.float64(center[d])
                sx[k, d] += S[d, k] - observed * delta
                sxx[k, d] += S[D + d, k] - 2.0 * delta * S[d, k] + observed * delta * delta
    return loglik, n_bad


@njit(cache=True, nogil=True)
def diag_missing_lanes(X, w, center, W, log_w, exact, means, prec, var, block,
                       want_stats, row_logp, labels, resp, nk, sx, sxx, block_sums, bad,
                       lane_lo, lane_hi):
    """Diagonal-precision pass over rows with NaN, lanes ``lane_lo:lane_hi``.

    As :func:`fastem.kernels.gaussian.diag_lanes`; the inputs are those of
    :func:`_diag_missing_block`.
    """
    N = X.shape[0]
    K, D = means.shape
    n_blocks, n_lanes = block_sums.shape[0], nk.shape[0]
    scratch = _diag_missing_scratch(X, K, D)
    nk_b, sx_b, sxx_b = np.zeros(K), np.zeros((K, D)), np.zeros((K, D))
    for lane in range(lane_lo, lane_hi):
        for b in range(lane * n_blocks // n_lanes, (lane + 1) * n_blocks // n_lanes):
            start = b * block
            block_sums[b, 0], bad[b] = _diag_missing_block(
                X, w, center, W, log_w, exact, means, prec, var, start,
                min(start + block, N), want_stats, nk_b, sx_b, sxx_b, row_logp, labels,
                resp, scratch)
            if want_stats:
                move_into(nk[lane], nk_b)
                move_into(sx[lane], sx_b)
                move_into(sxx[lane], sxx_b)


# --------------------------------------------------------------- full, tied
@njit(**INNER)
def _factor_pattern(cov, perm, no, LinvT, B, C):
    """Per-pattern quantities of one covariance, observed coordinates first.

    ``perm[:no]`` are the observed features, ``perm[no:]`` the missing ones.
    Writes ``LinvT`` (no, no): ``L^-T`` with ``L L^T = Sigma_oo`` (so
    ``|y L^-T|^2 = y^T Sigma_oo^-1 y`` for a row ``y``), ``B`` (nm, no) =
    ``Sigma_mo Sigma_oo^-1`` and ``C`` (nm, nm) = ``Sigma_mm - B Sigma_om``.

    Returns
    -------
    log_det : float — ``sum log diag L`` (half the log-determinant), NaN
        when ``Sigma_oo`` is not positive definite
    """
    D = cov.shape[0]
    nm = D - no
    L = np.zeros((no, no))
    log_det = 0.0
    for i in range(no):
        for j in range(i + 1):
            s = cov[perm[i], perm[j]]
            for t in range(j):
                s -= L[i, t] * L[j, t]
            if i == j:
                if not s > 0.0:
                    return np.nan
                L[i, i] = np.sqrt(s)
                log_det += np.log(L[i, i])
            else:
                L[i, j] = s / L[j, j]
    # Linv = L^-1 (lower), stored transposed
    LinvT[:, :] = 0.0
    for j in range(no):
        LinvT[j, j] = 1.0 / L[j, j]
        for i in range(j + 1, no):
            s = 0.0
            for t in range(j, i):
                s -= L[i, t] * LinvT[j, t]
            LinvT[j, i] = s / L[i, i]
    # G = Sigma_mo L^-T, B = G L^-1, C = Sigma_mm - G G^T
    G = np.zeros((nm, no))
    for a in range(nm):
        for i in range(no):
            s = 0.0
            for t in range(i + 1):
                s += cov[perm[no + a], perm[t]] * LinvT[t, i]
            G[a, i] = s
    for a in range(nm):
        for j in range(no):
            s = 0.0
            for i in range(j, no):
                s += G[a, i] * LinvT[j, i]
            B[a, j] = s
    for a in range(nm):
        for b in range(nm):
            s = cov[perm[no + a], perm[no + b]]
            for i in range(no):
                s -= G[a, i] * G[b, i]
            C[a, b] = s
    return log_det


@njit(**INNER)
def _map_run_moments(k, c, perm, no, B, C, n_run, s_run, S_run, sx, sxx):
    """Add one run's observed-coordinate moments of component k, mapped into
    all D coordinates, to ``sx[k]`` and factor ``c`` of ``sxx``.

    With ``A = [I; B]`` (observed rows, then missing): ``sx += A s`` and
    ``sxx += A S A^T + n [0 0; 0 C]``.
    """
    D = perm.shape[0]
    nm = D - no
    for i in range(no):
        sx[k, perm[i]] += s_run[i]
        for j in range(no):
            sxx[c, perm[i], perm[j]] += S_run[i, j]
    if nm == 0:
        return
    BS = np.zeros((nm, no))
    for a in range(nm):
        s = 0.0
        for i in range(no):
            s += B[a, i] * s_run[i]
            v = 0.0
            for j in range(no):
                v += B[a, j] * S_run[j, i]
            BS[a, i] = v
        sx[k, perm[no + a]] += s
        for i in range(no):
            sxx[c, perm[no + a], perm[i]] += BS[a, i]
            sxx[c, perm[i], perm[no + a]] += BS[a, i]
    for a in range(nm):
        for b in range(nm):
            v = n_run * C[a, b]
            for j in range(no):
                v += BS[a, j] * B[b, j]
            sxx[c, perm[no + a], perm[no + b]] += v


#: Below this many rows a tile's small products run as plain loops: a BLAS
#: call costs about a microsecond whatever its size, which dominates when
#: most patterns have a handful of rows (e.g. every row its own pattern).
_BLAS_MIN_ROWS = 16


@njit(**INNER)
def _dot(A, B, out, n_rows):
    """``out = A @ B`` for a product over a tile of ``n_rows`` rows: BLAS
    from ``_BLAS_MIN_ROWS`` rows, plain loops below."""
    if n_rows >= _BLAS_MIN_ROWS:
        np.dot(A, B, out)
        return
    for i in range(A.shape[0]):
        for j in range(B.shape[1]):
            out[i, j] = 0.0
        for t in range(A.shape[1]):
            a = A[i, t]
            for j in range(B.shape[1]):
                out[i, j] += a * B[t, j]


@njit(**INNER)
def _full_missing_run(X, w, order, lo, hi, perm, no, means, cov, log_w, want_stats,
                      nk, sx, sxx, row_logp, labels, resp, fill, pat, tile):
    """Rows ``order[lo:hi]`` (sorted positions), all of one pattern with
    ``no > 0`` observed features ``perm[:no]``.

    ``pat`` is the calling thread's pattern scratch (see
    :func:`_full_missing_scratch`), ``tile`` its tile scratch. Outputs are
    indexed by sorted position (the caller scatters them to rows).

    Returns
    -------
    loglik : float, n_bad : int
    """
    LinvT, B, C, log_det, s_run, S_run, n_run = pat
    Y, Z, W, Sq, R, top, scale, best, ok = tile
    K, D = means.shape
    Kc = cov.shape[0]
    nm = D - no
    log_norm = np.empty(K)
    for c in range(Kc):
        log_det[c] = _factor_pattern(cov[c], perm, no, LinvT[c, :no * no].reshape(no, no),
                                     B[c, :nm, :no], C[c, :nm, :nm])
    for k in range(K):
        log_norm[k] = log_w[k] - log_det[k if Kc > 1 else 0] - 0.5 * no * _LOG_2PI
    if want_stats:
        s_run[:, :no] = 0.0
        S_run[:, :no * no] = 0.0
        n_run[:] = 0.0
    loglik = 0.0
    n_bad = 0
    for t0 in range(lo, hi, _TILE):
        n = min(t0 + _TILE, hi) - t0
        for k in range(K):
            c = k if Kc > 1 else 0
            Yk = Y[k, :n * no].reshape(n, no)
            for i in range(n):
                row = order[t0 + i]
                for j in range(no):
                    Yk[i, j] = np.float64(X[row, perm[j]]) - means[k, perm[j]]
            Zk = Z[:n * no].reshape(n, no)
            _dot(Yk, LinvT[c, :no * no].reshape(no, no), Zk, n)
            for i in range(n):
                q = 0.0
                for j in range(no):
                    q += Zk[i, j] * Zk[i, j]
                R[k, i] = log_norm[k] - 0.5 * q
        ll, bad = _tile_responsibilities(R, n, t0, w, want_stats, row_logp, labels,
                                         resp, top, scale, best, ok)
        loglik += ll
        n_bad += bad
        if fill.shape[0] > 0:  # conditional means, mixed by responsibility
            for i in range(n):
                for a in range(nm):
                    fill[t0 + i, perm[no + a]] = 0.0
            for k in range(K):
                c = k if Kc > 1 else 0
                Yk = Y[k, :n * no].reshape(n, no)
                for i in range(n):
                    r = R[k, i]
                    for a in range(nm):
                        v = means[k, perm[no + a]]
                        for j in range(no):
                            v += B[c, a, j] * Yk[i, j]
                        fill[t0 + i, perm[no + a]] += r * v
        if want_stats:
            for k in range(K):
                Yk = Y[k, :n * no].reshape(n, no)
                Wk = W[:n * no].reshape(n, no)
                for i in range(n):
                    r = R[k, i]
                    n_run[k] += r
                    for j in range(no):
                        Wk[i, j] = r * Yk[i, j]
                        s_run[k, j] += Wk[i, j]
                Sk = Sq[:no * no].reshape(no, no)
                _dot(Wk.T, Yk, Sk, n)
                add_into(S_run[k, :no * no], Sq[:no * no])
    if want_stats:
        for k in range(K):
            c = k if Kc > 1 else 0
            nk[k] += n_run[k]
            _map_run_moments(k, c, perm, no, B[c, :nm, :no], C[c, :nm, :nm], n_run[k],
                             s_run[k, :no], S_run[k, :no * no].reshape(no, no), sx, sxx)
    return loglik, n_bad


@njit(**INNER)
def _full_missing_scratch(K, D, Kc):
    """One thread's scratch: per-pattern ``(LinvT (Kc, D D), B, C (Kc, D, D),
    log_det (Kc,), s_run (K, D), S_run (K, D D), n_run (K,))`` and per-tile
    ``(Y (K, tile D), Z, W (tile D,), Sq (D D,), R (K, tile), top, scale,
    best, ok)``."""
    pat = (np.zeros((Kc, D * D)), np.zeros((Kc, D, D)), np.zeros((Kc, D, D)),
           np.zeros(Kc), np.zeros((K, D)), np.zeros((K, D * D)), np.zeros(K))
    tile = (np.empty((K, _TILE * D)), np.empty(_TILE * D), np.empty(_TILE * D),
            np.empty(D * D), np.empty((K, _TILE)), np.empty(_TILE), np.empty(_TILE),
            np.empty(_TILE, dtype=np.int64), np.empty(_TILE, dtype=np.bool_))
    return pat, tile


@njit(cache=True, nogil=True)
def full_missing_lanes(X, w, order, starts, perms, n_obs, means, cov, log_w, block,
                       want_stats, row_logp, labels, resp, fill, nk, sx, sxx,
                       block_sums, bad, lane_lo, lane_hi):
    """Full/tied-covariance pass over rows with NaN, lanes ``lane_lo:lane_hi``.

    Blocks are runs of ``block`` sorted positions (rows ``order[j]``); a
    block holds the runs of the patterns it overlaps.

    Parameters
    ----------
    X : (N, D) IN — NaN marks a missing entry
    w : (N,) float64 IN — weights by sorted position, ``w[j]`` of row
        ``order[j]`` (0 for rows with no observed value)
    order : (N,) int64 IN — rows sorted by pattern
    starts : (P + 1,) int64 IN — pattern p is ``order[starts[p]:starts[p + 1]]``
    perms : (P, D) int64 IN — each pattern's observed features, then its
        missing ones
    n_obs : (P,) int64 IN — observed features per pattern
    means : (K, D) float64 IN — means ``c_k`` (the statistics' shift)
    cov : (Kc, D, D) float64 IN — covariances (Kc = K full, 1 tied)
    log_w : (K,) float64 IN — log mixing weights
    block : int; want_stats : bool
    row_logp, labels, resp : OUT by sorted position (see
        ``_tile_responsibilities``); rows with no observed value are skipped
    fill : (N, D) or (0, D) float64 OUT — by sorted position, the
        responsibility-weighted conditional means of the missing entries
        (observed entries are not written)
    nk : (n_lanes, K), sx : (n_lanes, K, D), sxx : (n_lanes, Kc, D, D) OUT
    block_sums : (n_blocks, 2) OUT; bad : (n_blocks,) OUT
    lane_lo, lane_hi : int
    """
    N = X.shape[0]
    K, D = means.shape
    Kc = cov.shape[0]
    n_blocks, n_lanes = block_sums.shape[0], nk.shape[0]
    pat, tile = _full_missing_scratch(K, D, Kc)
    nk_b, sx_b, sxx_b = np.zeros(K), np.zeros((K, D)), np.zeros((Kc, D, D))
    for lane in range(lane_lo, lane_hi):
        for blk in range(lane * n_blocks // n_lanes, (lane + 1) * n_blocks // n_lanes):
            lo = blk * block
            hi = min(lo + block, N)
            p = np.searchsorted(starts, lo, side="right") - 1
            loglik = 0.0
            n_bad = 0
            while lo < hi:
                run_hi = min(hi, starts[p + 1])
                if n_obs[p] > 0:
                    ll, nb = _full_missing_run(
                        X, w, order, lo, run_hi, perms[p], n_obs[p], means, cov, log_w,
                        want_stats, nk_b, sx_b, sxx_b, row_logp, labels, resp, fill,
                        pat, tile)
                    loglik += ll
                    n_bad += nb
                lo = run_hi
                p += 1
            block_sums[blk, 0] = loglik
            bad[blk] = n_bad
            if want_stats:
                move_into(nk[lane], nk_b)
                move_into(sx[lane], sx_b)
                move_into(sxx[lane], sxx_b)
