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


@njit(cache=True, nogil=True)
def _forward_backward(frame, offset, lo, hi, startprob, transmat, transmat_t, weight, gamma,
                      scale, want_xi, xi, start_stats, u, beta, beta_next):
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
    scale : (N,) float64 scratch — the forward normalizers
    want_xi : bool — accumulate expected transitions into ``xi``
    xi : (K, K) float64 IN/OUT — ``+= weight * sum_t P(z_t=i, z_t+1=j | x)``
    start_stats : (K,) float64 OUT — ``weight * P(z_lo | x)``
    u, beta, beta_next : (K,) float64 scratch

    Returns
    -------
    loglik : float — ``log p(x_lo:hi)`` (unweighted; -inf: impossible sequence)
    """
    K = startprob.shape[0]
    loglik = 0.0
    # forward: gamma holds the normalized forward variables alpha_t
    for t in range(lo, hi):
        c = 0.0
        if t == lo:
            for j in range(K):
                a = startprob[j] * frame[t, j]
                gamma[t, j] = a
                c += a
        else:
            for j in range(K):
                gamma[t, j] = 0.0
            for i in range(K):
                ai = gamma[t - 1, i]
                for j in range(K):
                    gamma[t, j] += ai * transmat[i, j]
            for j in range(K):
                gamma[t, j] *= frame[t, j]
                c += gamma[t, j]
        if not (c > 0.0):
            return _NEG_INF
        inv = 1.0 / c
        for j in range(K):
            gamma[t, j] *= inv
        scale[t] = c
        loglik += np.log(c) + offset[t]
    # backward: beta_t scaled by the forward normalizers of t+1..T-1, the
    # transitions t -> t+1 and the posterior of t from alpha_t and beta_t
    for j in range(K):
        beta[j] = 1.0
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
        # u_j = b_t(j) beta_t(j) / c_t; beta_{t-1}(i) = sum_j A_ij u_j
        inv = 1.0 / scale[t]
        for j in range(K):
            u[j] = frame[t, j] * beta[j] * inv
        for i in range(K):
            beta_next[i] = 0.0
        for j in range(K):
            uj = u[j]
            for i in range(K):
                beta_next[i] += transmat_t[j, i] * uj
        if want_xi:
            # alpha_{t-1} is still in the row above (not yet turned into a posterior)
            for i in range(K):
                ai = gamma[t - 1, i] * weight
                for j in range(K):
                    xi[i, j] += ai * transmat[i, j] * u[j]
        for j in range(K):
            beta[j] = beta_next[j]
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
    u = np.empty(K)
    beta = np.empty(K)
    beta_next = np.empty(K)
    transmat_t = np.ascontiguousarray(transmat.T)
    for lane in range(lane_lo, lane_hi):
        s_lo, s_hi = _lane_bounds(n_seq, n_lanes, lane)
        for s in range(s_lo, s_hi):
            seq_loglik[s] = _forward_backward(
                frame, offset, starts[s], starts[s + 1], startprob, transmat, transmat_t,
                seq_weight[s], gamma, scale, want_xi, xi_lanes[lane], start_stats[s],
                u, beta, beta_next)


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


@njit(cache=True, nogil=True)
def moments_lanes(X, gamma, means, full, nk_lanes, sx_lanes, sxx_lanes, lane_lo, lane_hi):
    """Posterior-weighted moments of ``X`` around each state's current mean.

    For lane ``l`` (a fixed run of rows): ``nk[k] = sum g_tk``,
    ``sx[k] = sum g_tk (x_t - m_k)`` and ``sxx[k] = sum g_tk (x_t - m_k)^2``
    (``full=False``, shape (K, D)) or ``sum g_tk (x_t - m_k)(x_t - m_k)^T``
    flattened (``full=True``, shape (K, D * D)).

    Parameters
    ----------
    X : (N, D) float32 or float64 IN; gamma : (N, K) float64 IN
    means : (K, D) float64 IN
    nk_lanes : (n_lanes, K) OUT; sx_lanes : (n_lanes, K, D) OUT;
    sxx_lanes : (n_lanes, K, D) or (n_lanes, K, D * D) OUT
    """
    N, D = X.shape
    K = means.shape[0]
    n_lanes = nk_lanes.shape[0]
    x = np.empty(D)
    y = np.empty(D)
    for lane in range(lane_lo, lane_hi):
        lo, hi = _lane_bounds(N, n_lanes, lane)
        nk = nk_lanes[lane]
        sx = sx_lanes[lane]
        sxx = sxx_lanes[lane]
        for t in range(lo, hi):
            for d in range(D):
                x[d] = np.float64(X[t, d])
            for k in range(K):
                g = gamma[t, k]
                nk[k] += g
                for d in range(D):
                    y[d] = x[d] - means[k, d]
                    sx[k, d] += g * y[d]
                if full:
                    for d in range(D):
                        gy = g * y[d]
                        for e in range(D):
                            sxx[k, d * D + e] += gy * y[e]
                else:
                    for d in range(D):
                        sxx[k, d] += g * y[d] * y[d]
