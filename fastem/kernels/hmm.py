"""Hidden Markov model kernels (Numba): forward-backward, Viterbi, moments.

Sequences are consecutive runs of rows; ``starts`` (n_seq + 1,) holds their
boundaries. Emission probabilities arrive as a *scaled frame*: ``frame[t, k]
= p_k(x_t) / s_t`` with ``log s_t = offset[t]`` (any row scale: the Gaussian
and linear mixture passes give the row-normalized densities and the row's
log-sum-exp), so no ``exp`` of a log-density can underflow a whole row.

Sequences are grouped in lanes (fixed runs of consecutive sequences); a
kernel processes a range of lanes serially and without the GIL, each lane
writes only its own slot, and :func:`fastem._threads.run_lanes` runs the
lanes on a few threads: results are bit-identical for any thread count.

Arguments marked IN are read, OUT are written.
"""
import numpy as np
from numba import njit

_NEG_INF = -np.inf


@njit(cache=True, nogil=True, inline="always")
def _lane_bounds(n_items, n_lanes, lane):
    """Items ``[lo, hi)`` of ``lane`` when ``n_items`` are split into ``n_lanes`` runs."""
    return lane * n_items // n_lanes, (lane + 1) * n_items // n_lanes


#: the forward pass multiplies its normalizers into one number and takes a
#: logarithm only when that product leaves [1 / _FLUSH, _FLUSH]
_FLUSH = 1e250


@njit(cache=True, nogil=True, inline="always")
def _row_times_matrix(V, row, MT, out):
    """``out = V[row] @ M`` given ``MT``, the C-contiguous transpose of the
    (K, K) ``M``: K independent dot products along contiguous rows, so their
    chains of dependent adds run side by side."""
    K = MT.shape[0]
    for j in range(K):
        s = 0.0
        for i in range(K):
            s += V[row, i] * MT[j, i]
        out[j] = s


@njit(cache=True, nogil=True)
def _forward_backward(frame, offset, lo, hi, startprob, transmat, transmat_t, weight, gamma,
                      scale, want_xi, xi, start_stats, acc, acc2, beta, xi_seq):
    """Scaled forward-backward over rows ``lo:hi`` (one sequence).

    Parameters
    ----------
    frame : (N, K) float64 IN — scaled emission probabilities
    offset : (N,) float64 IN — ``log`` of each row's scale
    startprob : (K,) IN; transmat : (K, K) IN; transmat_t : its transpose,
        C-contiguous (the backward step then runs along contiguous rows)
    weight : float — the sequence's weight (multiplies every statistic)
    gamma : (N, K) float64 OUT — forward lattice, then ``weight`` times the
        state posteriors of rows ``lo:hi``
    scale : (N,) float64 scratch — the factor ``r_t`` of each forward row
    want_xi : bool — accumulate expected transitions into ``xi``
    xi : (K, K) float64 IN/OUT — ``+= weight * sum_t P(z_t=i, z_t+1=j | x)``
    start_stats : (K,) float64 OUT — ``weight * P(z_lo | x)``
    acc, acc2, beta : (K,) float64; xi_seq : (K, K) float64 — scratch

    Returns
    -------
    loglik : float — ``log p(x_lo:hi)`` (unweighted; -inf: impossible sequence)
    """
    K = startprob.shape[0]
    loglik = 0.0
    product = 1.0
    # forward: gamma holds the forward variables, row t scaled by r_t = 1 / (sum
    # of row t-1): the normalizer leaves the recursion's critical path (row t
    # needs the product by A and, independently, the sum of row t-1); the row
    # sums are the usual normalizers c_t and log p(x) = sum_t log c_t
    r = 1.0
    for t in range(lo, hi):
        if t == lo:
            for j in range(K):
                acc[j] = startprob[j]
        else:
            _row_times_matrix(gamma, t - 1, transmat_t, acc)
        c = 0.0
        for j in range(K):
            v = acc[j] * frame[t, j] * r
            gamma[t, j] = v
            c += v
        if not (c > 0.0) or not (c < np.inf):
            return _NEG_INF
        scale[t] = r
        r = 1.0 / c
        loglik += offset[t]
        product *= c
        if product > _FLUSH or product < 1.0 / _FLUSH:
            loglik += np.log(product)
            product = 1.0
    loglik += np.log(product)
    # the forward variables of the last row sum to this: every product
    # alpha_t beta_t and every transition term below carries it
    z = c
    # backward: beta_t scaled by the normalizers of t+1..T-1; the posterior of
    # t from alpha_t and beta_t; the transitions t-1 -> t as an outer product
    # alpha_{t-1} u^T (times A once per sequence)
    for j in range(K):
        beta[j] = 1.0
    if want_xi:
        for i in range(K):
            for j in range(K):
                xi_seq[i, j] = 0.0
    for t in range(hi - 1, lo - 1, -1):
        total = 0.0
        for j in range(K):
            g = gamma[t, j] * beta[j]
            gamma[t, j] = g
            total += g
        norm = weight / total
        for j in range(K):
            gamma[t, j] *= norm
        if t == lo:
            break
        # u_j = b_t(j) beta_t(j) r_t (kept in beta); beta_{t-1} = A u
        inv = scale[t]
        for j in range(K):
            beta[j] *= frame[t, j] * inv
        if want_xi:
            # alpha_{t-1} is still in the row above (not yet a posterior)
            for i in range(K):
                ai = gamma[t - 1, i]
                for j in range(K):
                    xi_seq[i, j] += ai * beta[j]
        for i in range(K):
            s = 0.0
            for j in range(K):
                s += transmat[i, j] * beta[j]
            acc[i] = s
        for j in range(K):
            beta[j] = acc[j]
    if want_xi:
        w = weight / z
        for i in range(K):
            for j in range(K):
                xi[i, j] += w * transmat[i, j] * xi_seq[i, j]
    for j in range(K):
        start_stats[j] = gamma[lo, j]
    return loglik


@njit(cache=True, nogil=True)
def forward_backward_lanes(frame, offset, starts, seq_weight, startprob, transmat, want_xi,
                           gamma, scale, seq_loglik, start_stats, xi_lanes, lane_lo, lane_hi):
    """Forward-backward for the sequences of lanes ``lane_lo:lane_hi``.

    Parameters
    ----------
    frame, offset : see the module docstring; (N, K), (N,) IN
    starts : (n_seq + 1,) int64 IN — sequence boundaries in rows
    seq_weight : (n_seq,) float64 IN
    startprob : (K,); transmat : (K, K) IN
    want_xi : bool
    gamma : (N, K) float64 OUT — weighted posteriors
    scale : (N,) float64 scratch
    seq_loglik : (n_seq,) float64 OUT — unweighted log-likelihood per sequence
    start_stats : (n_seq, K) float64 OUT — weighted first-row posteriors
    xi_lanes : (n_lanes, K, K) float64 OUT — expected transitions per lane
    """
    K = startprob.shape[0]
    n_seq = starts.shape[0] - 1
    n_lanes = xi_lanes.shape[0]
    acc = np.empty(K)
    acc2 = np.empty(K)
    beta = np.empty(K)
    xi_seq = np.empty((K, K))
    transmat_t = np.ascontiguousarray(transmat.T)
    for lane in range(lane_lo, lane_hi):
        s_lo, s_hi = _lane_bounds(n_seq, n_lanes, lane)
        for s in range(s_lo, s_hi):
            seq_loglik[s] = _forward_backward(
                frame, offset, starts[s], starts[s + 1], startprob, transmat, transmat_t,
                seq_weight[s], gamma, scale, want_xi, xi_lanes[lane], start_stats[s],
                acc, acc2, beta, xi_seq)


@njit(cache=True, nogil=True)
def viterbi_lanes(log_frame, starts, log_startprob, log_transmat, n_lanes, path,
                  seq_logprob, lane_lo, lane_hi):
    """Most probable state path of each sequence of lanes ``lane_lo:lane_hi``.

    Parameters
    ----------
    log_frame : (N, K) float64 IN — emission log-probabilities (up to a row
        constant, added to ``seq_logprob`` by the caller)
    starts : (n_seq + 1,) int64 IN
    log_startprob : (K,); log_transmat : (K, K) IN
    n_lanes : int — lanes the sequences are split into
    path : (N,) int64 OUT — the states
    seq_logprob : (n_seq,) float64 OUT — log-probability of each best path
    """
    N, K = log_frame.shape
    n_seq = starts.shape[0] - 1
    delta = np.empty(K)
    nxt = np.empty(K)
    back = np.empty((0, K), dtype=np.int64)
    for lane in range(lane_lo, lane_hi):
        s_lo, s_hi = _lane_bounds(n_seq, n_lanes, lane)
        for s in range(s_lo, s_hi):
            lo, hi = starts[s], starts[s + 1]
            if back.shape[0] < hi - lo:
                back = np.empty((hi - lo, K), dtype=np.int64)
            for j in range(K):
                delta[j] = log_startprob[j] + log_frame[lo, j]
            for t in range(lo + 1, hi):
                for j in range(K):
                    best = 0
                    top = delta[0] + log_transmat[0, j]
                    for i in range(1, K):
                        v = delta[i] + log_transmat[i, j]
                        if v > top:
                            top = v
                            best = i
                    nxt[j] = top + log_frame[t, j]
                    back[t - lo, j] = best
                for j in range(K):
                    delta[j] = nxt[j]
            state = 0
            for j in range(1, K):
                if delta[j] > delta[state]:
                    state = j
            seq_logprob[s] = delta[state]
            for t in range(hi - 1, lo, -1):
                path[t] = state
                state = back[t - lo, state]
            path[lo] = state


#: rows per tile of :func:`moments_lanes` (the tile's operands stay in cache)
_TILE = 256


@njit(cache=True, nogil=True)
def moments_lanes(X, gamma, center, full, S_lanes, lane_lo, lane_hi):
    """Posterior-weighted moments of ``X`` around ``center``, one product per tile.

    With ``y = x - g`` (``g = center``, formed in float64 before any
    product), lane ``l`` (a fixed run of rows) gets ``S[l] = sum_t p_t
    gamma_t^T``, ``p_t = [1, y, y^2]`` (``full=False``) or ``[1, y, vec(y
    y^T)]`` (``full=True``): the expected counts, first and second moments
    of every state, by BLAS on tiles of ``_TILE`` rows.

    Parameters
    ----------
    X : (N, D) float32 or float64 IN; gamma : (N, K) float64 IN
    center : (D,) float64 IN
    S_lanes : (n_lanes, P, K) float64 OUT, ``P = 1 + D + D`` or ``1 + D + D * D``
    """
    N, D = X.shape
    K = gamma.shape[1]
    n_lanes = S_lanes.shape[0]
    P = S_lanes.shape[1]
    PT = np.empty((P, _TILE))
    S_tile = np.empty((P, K))
    for lane in range(lane_lo, lane_hi):
        lo, hi = _lane_bounds(N, n_lanes, lane)
        S = S_lanes[lane]
        for t0 in range(lo, hi, _TILE):
            n = min(_TILE, hi - t0)
            for i in range(n):
                PT[0, i] = 1.0
            for d in range(D):
                g = center[d]
                for i in range(n):
                    PT[1 + d, i] = np.float64(X[t0 + i, d]) - g
            if full:
                for d in range(D):
                    for e in range(D):
                        row = 1 + D + d * D + e
                        for i in range(n):
                            PT[row, i] = PT[1 + d, i] * PT[1 + e, i]
            else:
                for d in range(D):
                    for i in range(n):
                        PT[1 + D + d, i] = PT[1 + d, i] * PT[1 + d, i]
            for r in range(P):  # padding columns of a short last tile
                for i in range(n, _TILE):
                    PT[r, i] = 0.0
            if n == _TILE:
                np.dot(PT, gamma[t0:t0 + n], S_tile)
            else:
                np.dot(PT[:, :n].copy(), gamma[t0:t0 + n], S_tile)
            for r in range(P):
                for k in range(K):
                    S[r, k] += S_tile[r, k]


@njit(cache=True, nogil=True)
def symbol_counts_lanes(symbols, gamma, counts_lanes, lane_lo, lane_hi):
    """Expected symbol counts: ``counts[l, s, k] = sum over the rows t of lane l
    with symbol s of gamma[t, k]``.

    Parameters
    ----------
    symbols : (N,) int64 IN; gamma : (N, K) float64 IN
    counts_lanes : (n_lanes, n_symbols, K) float64 OUT
    """
    N, K = gamma.shape
    n_lanes = counts_lanes.shape[0]
    for lane in range(lane_lo, lane_hi):
        lo, hi = _lane_bounds(N, n_lanes, lane)
        counts = counts_lanes[lane]
        for t in range(lo, hi):
            s = symbols[t]
            for k in range(K):
                counts[s, k] += gamma[t, k]
