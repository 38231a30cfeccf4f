"""Factor-model statistics passes (Numba): data moments, and the mixture of
factor analyzers' fused E-step.

Both kernels follow :mod:`fastem.kernels.gaussian`: rows in fixed blocks,
each block's statistics moved into the slot of its lane, a kernel call
processing a range of lanes serially and without the GIL
(:func:`fastem._threads.lane_pass` runs the calls on a few threads and sums
the lanes in order), float64 accumulation whatever the dtype of X. Inside a
block, rows go in tiles of ``_TILE`` rows whose work is small BLAS products.

- :func:`moments_lanes`: ``sum w [y, 1][y, 1]^T`` with ``y = x - shift``, the
  weighted count, first and second moments around a shift (factor analysis
  needs the data only through them).
- :func:`mfa_lanes`: for a mixture of K factor analyzers (mean ``mu_k``,
  loadings ``Lambda_k`` (D, q), diagonal noise ``Psi_k``), each row's
  log-density under every component by the Woodbury identity and the matrix
  determinant lemma, O(K D q) per row, never a D x D matrix:
  ``(x - mu)^T C^-1 (x - mu) = sum_d y_d^2 / psi_d - |A y|^2`` with
  ``y = x - mu``, ``M = I + Lambda^T Psi^-1 Lambda = L L^T`` and
  ``A = L^-1 Lambda^T Psi^-1`` (q, D); the posterior factor mean is
  ``E[z | x, k] = L^-T A y``. The statistics, around each component's mean,
  are ``sum r y [E z, 1]^T`` (K, D, q + 1), ``sum r [E z, 1][E z, 1]^T``
  (K, q + 1, q + 1) (whose corner is ``sum r``) and ``sum r y^2`` (K, D).

Arguments marked IN are read, OUT are written. Outputs a caller does not want
are zero-length arrays.
"""
import numpy as np
from numba import njit

from ._compile import INNER, add_into, move_into
from .gaussian import _tile_responsibilities

#: Rows per tile: (tile, D) float64 buffers stay in L2 for D in the hundreds.
_TILE = 64


# ------------------------------------------------------------------ moments
@njit(cache=True, nogil=True)
def moments_lanes(X, w, shift, block, want_stats, S, block_sums, bad, lane_lo, lane_hi):
    """Weighted moments around ``shift`` over the blocks of lanes ``lane_lo:lane_hi``.

    Parameters
    ----------
    X : (N, D) float32/float64 IN
    w : (N,) float64 IN — sample weights
    shift : (D,) float64 IN — a point near the data (moments are taken around it)
    block : int — rows per block
    want_stats : bool — always True (the :func:`fastem._threads.lane_pass` protocol)
    S : (n_lanes, D + 1, D + 1) float64 OUT — each lane's
        ``sum w [y, 1][y, 1]^T``: ``S[:D, :D]`` second moments, ``S[:D, D]``
        first moments, ``S[D, D]`` the total weight
    block_sums, bad : (n_blocks, 2), (n_blocks,) OUT — unused (zero)
    lane_lo, lane_hi : int
    """
    N, D = X.shape
    n_blocks, n_lanes = block_sums.shape[0], S.shape[0]
    P = np.empty((_TILE, D + 1))
    PW = np.empty((_TILE, D + 1))
    S_tile = np.empty((D + 1, D + 1))
    S_block = np.zeros((D + 1, D + 1))
    for lane in range(lane_lo, lane_hi):
        for b in range(lane * n_blocks // n_lanes, (lane + 1) * n_blocks // n_lanes):
            stop = min((b + 1) * block, N)
            for t0 in range(b * block, stop, _TILE):
                n = min(t0 + _TILE, stop) - t0
                for i in range(_TILE):
                    wi = w[t0 + i] if i < n else 0.0
                    for d in range(D):
                        v = np.float64(X[t0 + i, d]) - shift[d] if i < n else 0.0
                        P[i, d] = v
                        PW[i, d] = wi * v
                    P[i, D] = 1.0
                    PW[i, D] = wi
                np.dot(PW.T, P, S_tile)
                add_into(S_block, S_tile)
            move_into(S[lane], S_block)


# ---------------------------------------------------- mixture of factor analyzers
@njit(**INNER)
def _center_tile(X, t0, n, mean, Y):
    """``Y[i] = x_{t0+i} - mean`` in float64 for ``i < n``; zero padding rows."""
    D = mean.shape[0]
    for i in range(n):
        for d in range(D):
            Y[i, d] = np.float64(X[t0 + i, d]) - mean[d]
    for i in range(n, Y.shape[0]):
        for d in range(D):
            Y[i, d] = 0.0


@njit(**INNER)
def _mfa_block(X, w, means, inv_psi, AT, L_inv, log_norm, start, stop, want_stats,
               sxz, szz, sxx, row_logp, labels, resp, z_mean, scratch):
    """Process rows ``start:stop`` for a mixture of factor analyzers.

    Parameters
    ----------
    X : (N, D) IN; w : (N,) float64 IN
    means : (K, D) float64 IN — component means (the statistics' shift)
    inv_psi : (K, D) float64 IN — inverse noise variances
    AT : (K, D, q) float64 IN — ``A_k^T``, ``A_k = L_k^-1 Lambda_k^T Psi_k^-1``
    L_inv : (K, q, q) float64 IN — ``L_k^-1`` (``M_k = L_k L_k^T``)
    log_norm : (K,) float64 IN — ``log pi_k - (D log 2 pi + log det C_k) / 2``
    want_stats : bool
    sxz : (K, D, q + 1), szz : (K, q + 1, q + 1), sxx : (K, D) float64 OUT —
        this block's statistics (see the module docstring), zero on entry
    row_logp, labels, resp : OUT, see ``gaussian._tile_responsibilities``
    z_mean : (N, q) or (0, q) float64 OUT — ``sum_k p(k | x) E[z | x, k]``
    scratch : the calling thread's buffers (see :func:`mfa_lanes`)

    Returns
    -------
    loglik : float, n_bad : int — as ``gaussian._diag_block``
    """
    Y, V, Z, ZA, RZ, G, GZ, R, top, scale, best, ok = scratch
    K, D = means.shape
    q = AT.shape[2]
    loglik = 0.0
    n_bad = 0
    for t0 in range(start, stop, _TILE):
        n = min(t0 + _TILE, stop) - t0
        # log-densities: the diagonal part, minus |A y|^2 (Woodbury)
        for k in range(K):
            _center_tile(X, t0, n, means[k], Y)
            np.dot(Y, AT[k], V[k])
            for i in range(n):
                quad = 0.0
                for d in range(D):
                    quad += Y[i, d] * Y[i, d] * inv_psi[k, d]
                low = 0.0
                for j in range(q):
                    low += V[k, i, j] * V[k, i, j]
                R[k, i] = log_norm[k] - 0.5 * (quad - low)
        ll, nb = _tile_responsibilities(R, n, t0, w, want_stats, row_logp, labels, resp,
                                        top, scale, best, ok)
        loglik += ll
        n_bad += nb
        if not want_stats and z_mean.shape[0] == 0:
            continue
        for k in range(K):
            np.dot(V[k], L_inv[k], Z)  # rows: E[z | x, k]^T = (A y)^T L^-1
            if z_mean.shape[0] > 0:
                for i in range(n):
                    for j in range(q):
                        z_mean[t0 + i, j] += R[k, i] * Z[i, j]
            if not want_stats:
                continue
            for i in range(_TILE):  # padding rows: R and Z are zero there
                r = R[k, i]
                for j in range(q):
                    RZ[i, j] = r * Z[i, j]
                    ZA[i, j] = Z[i, j]
                RZ[i, q] = r
                ZA[i, q] = 1.0
            _center_tile(X, t0, n, means[k], Y)
            for i in range(n):
                r = R[k, i]
                for d in range(D):
                    sxx[k, d] += r * Y[i, d] * Y[i, d]
            np.dot(Y.T, RZ, G)
            add_into(sxz[k], G)
            np.dot(ZA.T, RZ, GZ)
            add_into(szz[k], GZ)
    return loglik, n_bad


@njit(cache=True, nogil=True)
def mfa_lanes(X, w, means, inv_psi, AT, L_inv, log_norm, block, want_stats, row_logp,
              labels, resp, z_mean, sxz, szz, sxx, block_sums, bad, lane_lo, lane_hi):
    """Mixture-of-factor-analyzers pass over the blocks of lanes ``lane_lo:lane_hi``.

    Parameters
    ----------
    X, w, means, inv_psi, AT, L_inv, log_norm : IN, see ``_mfa_block``
    block : int — rows per block
    want_stats : bool
    row_logp, labels, resp, z_mean : OUT, see ``_mfa_block``
    sxz : (n_lanes, K, D, q + 1), szz : (n_lanes, K, q + 1, q + 1),
        sxx : (n_lanes, K, D) float64 OUT — each lane's statistics
    block_sums : (n_blocks, 2) OUT — column 0: each block's ``sum w log p(x)``
    bad : (n_blocks,) int64 OUT — rows of zero likelihood per block
    lane_lo, lane_hi : int
    """
    N = X.shape[0]
    K, D = means.shape
    q = AT.shape[2]
    n_blocks, n_lanes = block_sums.shape[0], sxz.shape[0]
    # Y: a tile around one mean; V: A y per component; Z, ZA: E[z] and [E z, 1];
    # RZ: r [E z, 1]; G, GZ: a tile's products
    scratch = (np.empty((_TILE, D)), np.empty((K, _TILE, q)), np.empty((_TILE, q)),
               np.empty((_TILE, q + 1)), np.empty((_TILE, q + 1)), np.empty((D, q + 1)),
               np.empty((q + 1, q + 1)), np.empty((K, _TILE)), np.empty(_TILE),
               np.empty(_TILE), np.empty(_TILE, dtype=np.int64),
               np.empty(_TILE, dtype=np.bool_))
    sxz_b, szz_b, sxx_b = (np.zeros((K, D, q + 1)), np.zeros((K, q + 1, q + 1)),
                           np.zeros((K, D)))
    for lane in range(lane_lo, lane_hi):
        for b in range(lane * n_blocks // n_lanes, (lane + 1) * n_blocks // n_lanes):
            start = b * block
            block_sums[b, 0], bad[b] = _mfa_block(
                X, w, means, inv_psi, AT, L_inv, log_norm, start, min(start + block, N),
                want_stats, sxz_b, szz_b, sxx_b, row_logp, labels, resp, z_mean, scratch)
            if want_stats:
                move_into(sxz[lane], sxz_b)
                move_into(szz[lane], szz_b)
                move_into(sxx[lane], sxx_b)
