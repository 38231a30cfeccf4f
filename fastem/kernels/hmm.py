"""Hidden Markov model kernels (Numba): forward-backward, Viterbi, moments.

Sequences are consecutive runs of rows; ``starts`` (n_seq + 1,) holds their
boundaries. Emission probabilities arrive as a *scaled frame*:
``frame[rows[t], k] = p_k(x_t) / s_t`` with ``log s_t = offset[t]`` (any row
scale: the Gaussian and linear mixture passes give the row-normalized
densities and the row's log-sum-exp), so no ``exp`` of a log-density can
underflow a whole row. ``rows`` (N,) int64 indexes the frame's rows: the
identity for a frame of one row per sample, the symbols for a categorical
model, whose frame is its (n_symbols, K) emission table (read from cache,
never expanded to N rows).

Sequences are grouped in lanes (fixed runs of consecutive sequences); a
kernel processes a range of lanes serially and without the GIL, each lane
writes only its own slot, and :func:`fastem._threads.run_lanes` runs the
lanes on a few threads: results are bit-identical for any thread count.

Arguments marked IN are read, OUT are written.
"""
import numpy as np
from numba import njit

from ._compile import INNER
from ._simd8 import WIDTH, add_outer8, backward_step8, forward_step8, posterior_row8

_NEG_INF = -np.inf
#: the recursions' dot products fuse their multiply-adds (FMA): ``contract``
#: permits only that (no reordering, no NaN/inf assumptions)
_CONTRACT = {"contract"}


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


# The recursions. Any per-row scale of the forward or backward variables
# cancels in the posteriors and transitions (both are normalized per row, see
# ``_combine``), so each recursion scales row t by the inverse sum of row t-1:
# that sum is computed beside the product by A, off the recursion's chain of
# dependent operations. The forward row t is then (alpha_hat_{t-1} A) * b_t,
# whose sum is the usual normalizer c_t, and log p(x) = sum_t log c_t.
@njit(cache=True, nogil=True, fastmath=_CONTRACT)
def _forward(frame, rows, offset, lo, hi, startprob, transmat_t, alpha, scale, acc):
    """Forward variables of rows ``lo:hi`` (one sequence).

    ``alpha[t] = (alpha[t-1] @ A) * frame[t] * scale[t]`` with ``scale[t]`` the
    inverse sum of ``alpha[t-1]`` (1 at ``lo``).

    Returns
    -------
    loglik : float — ``log p(x_lo:hi)`` (-inf: impossible sequence)
    """
    K = startprob.shape[0]
    loglik = 0.0
    product = 1.0
    r = 1.0
    c = 1.0
    for t in range(lo, hi):
        if t == lo:
            for j in range(K):
                acc[j] = startprob[j]
        else:
            _row_times_matrix(alpha, t - 1, transmat_t, acc)
        c = 0.0
        for j in range(K):
            v = acc[j] * frame[rows[t], j] * r
            alpha[t, j] = v
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
    return loglik + np.log(product)


@njit(cache=True, nogil=True, fastmath=_CONTRACT)
def _backward(frame, rows, lo, hi, transmat, beta, acc):
    """Backward variables of rows ``lo:hi``, each row scaled (see above):
    ``beta[t-1] = A @ (frame[t] * beta[t]) / sum(beta[t])``."""
    K = transmat.shape[0]
    for j in range(K):
        beta[hi - 1, j] = 1.0
    q = 1.0 / K
    for t in range(hi - 1, lo, -1):
        for j in range(K):
            acc[j] = frame[rows[t], j] * beta[t, j]
        total = 0.0
        for i in range(K):
            s = 0.0
            for j in range(K):
                s += transmat[i, j] * acc[j]
            beta[t - 1, i] = s * q
            total += s
        q = 1.0 / (total * q)  # the sum of row t-1, scaled


# The recursions of models of at most 8 states: each row is one step of
# :mod:`._simd8` on zero-padded 8-vectors held in scratch. Rows are not
# rescaled one by one: a row is rescaled (by the inverse of its sum) only when
# its sum leaves [_LOW, 1 / _LOW], a branch taken once in many rows and
# predicted, so the sum and its division are off the recursion's chain of
# dependent operations. ``scale[t]`` records the factor that multiplied row
# t-1 before the product (1 or that inverse), as :func:`_combine` expects; a
# backward row's scale is free (it cancels in every posterior and
# transition), so a rescaled backward row is only the next product's input.
_LOW = 2.0 ** -64


@njit(**INNER)
def _rescale_if_far(total, v, w):
    """If ``total`` leaves [_LOW, 1 / _LOW] (and is positive and finite),
    multiply the 8-vectors ``v`` and ``w`` by ``1 / total`` and return it;
    else return 1."""
    if (total >= _LOW and total <= 1.0 / _LOW) or not (total > 0.0) or not (total < np.inf):
        return 1.0
    r = 1.0 / total
    for j in range(WIDTH):
        v[j] *= r
        w[j] *= r
    return r


@njit(cache=True, nogil=True, fastmath=_CONTRACT)
def _forward8(frame, rows, offset, lo, hi, startprob, transmat8, alpha, scale, work):
    """:func:`_forward` for K <= 8 (same outputs, see the comment above).

    ``transmat8`` : (8, 8) — the padded transition matrix; ``work`` : (2, 8)
    float64 scratch.
    """
    K = startprob.shape[0]
    v, unused = work[0], work[1]
    c = 0.0
    row = rows[lo]
    for j in range(WIDTH):
        v[j] = startprob[j] * frame[row, j] if j < K else 0.0
        if j < K:
            alpha[lo, j] = v[j]
            c += v[j]
    scale[lo] = 1.0
    loglik = offset[lo]
    log_r = 0.0
    r = 1.0
    for t in range(lo, hi):
        if t > lo:
            scale[t] = r
            c = forward_step8(v, transmat8, frame, rows[t], alpha, t)
            loglik += offset[t]
        if not (c > 0.0) or not (c < np.inf):
            return _NEG_INF
        r = _rescale_if_far(c, v, unused)
        if r != 1.0:
            log_r += np.log(r)
    # c * r: a rescale after the last row applies to no row
    return loglik + np.log(c * r) - log_r


@njit(cache=True, nogil=True, fastmath=_CONTRACT)
def _backward8(frame, rows, lo, hi, transmat8_t, beta, work):
    """:func:`_backward` for K <= 8: ``beta[t-1] = A @ (frame[t] * beta[t])``,
    each row up to its own scale.

    ``transmat8_t`` : (8, 8) — the padded transpose of the transition matrix;
    ``work`` : (2, 8) float64 scratch.
    """
    K = beta.shape[1]
    v, b = work[0], work[1]
    row = rows[hi - 1]
    for j in range(WIDTH):
        v[j] = frame[row, j] if j < K else 0.0  # frame[t] * beta[t]
        if j < K:
            beta[hi - 1, j] = 1.0
    for t in range(hi - 1, lo, -1):
        total = backward_step8(v, transmat8_t, frame, rows[t - 1], b)
        for j in range(K):
            beta[t - 1, j] = b[j]
        _rescale_if_far(total, v, b)


@njit(cache=True, nogil=True, fastmath=_CONTRACT)
def _backward_combine8(frame, rows, lo, hi, alpha, scale, transmat8_t, weight, want_xi, gamma,
                       xi_raw8, work):
    """:func:`_backward8` and :func:`_combine` in one sweep, for K <= 8.

    Row t's posteriors and incoming transitions need only rows t-1 and t of
    the forward lattice and the backward row t, which the sweep holds when it
    reaches t: the backward lattice is never stored, and the combining work
    runs beside the backward recursion's chain of dependent operations.

    Parameters
    ----------
    alpha : (N, K); scale : (N,) IN — the forward lattice (:func:`_forward8`)
    transmat8_t : (8, 8) IN — the padded transpose of the transition matrix
    weight : float; want_xi : bool
    gamma : (N, K) OUT — ``weight`` times the posteriors of rows ``lo:hi``
    xi_raw8 : (8, 8) IN/OUT — the transitions without ``A`` (see
        :func:`_combine`), added to
    work : (2, 8) float64 scratch
    """
    K = alpha.shape[1]
    v, beta = work[0], work[1]
    row = rows[hi - 1]
    for j in range(WIDTH):
        v[j] = frame[row, j] if j < K else 0.0  # frame[t] * beta[t]
        beta[j] = 1.0 if j < K else 0.0
    for t in range(hi - 1, lo - 1, -1):
        inv = posterior_row8(alpha, t, beta, weight, gamma)
        if t == lo:
            break
        if want_xi:  # alpha_hat_{t-1} / n_t  (outer)  frame[t] * beta[t]
            add_outer8(alpha, t - 1, scale[t] * inv, v, xi_raw8)
        total = backward_step8(v, transmat8_t, frame, rows[t - 1], beta)
        _rescale_if_far(total, v, beta)


#: rows per tile of :func:`_combine`'s transition product
_XI_TILE = 1024


@njit(cache=True, nogil=True, fastmath=_CONTRACT)
def _combine(frame, rows, seq_lo, lo, hi, alpha, scale, beta, weight, want_xi, xi_raw, PT, U):
    """Posteriors and transitions of rows ``lo:hi`` of a sequence starting at ``seq_lo``.

    ``gamma_t = alpha_t beta_t / n_t`` with ``n_t = alpha_t . beta_t``, and
    ``xi_t(i, j) = alpha_hat_{t-1}(i) A_ij b_t(j) beta_t(j) / n_t``: the
    outer products (without ``A``) are added to ``xi_raw`` as one small
    matrix product per tile of rows. Rows are independent given the
    lattices, so blocks of one sequence run in parallel.

    Parameters
    ----------
    beta : (N, K) IN/OUT — backward variables on entry, ``weight`` times the
        posteriors of rows ``lo:hi`` on exit
    xi_raw : (K, K) IN/OUT
    PT : (K, _XI_TILE); U : (_XI_TILE, K) float64 scratch
    """
    K = alpha.shape[1]
    for t0 in range(lo, hi, _XI_TILE):
        n_rows = min(_XI_TILE, hi - t0)
        for i in range(n_rows):
            t = t0 + i
            n = 0.0
            for j in range(K):
                n += alpha[t, j] * beta[t, j]
            inv = 1.0 / n
            # row i of the tile: alpha_hat_{t-1} / n_t and b_t * beta_t
            # (zero for the sequence's first row, which has no transition in)
            r = scale[t] * inv if t > seq_lo else 0.0
            prev = t - 1 if t > seq_lo else t
            for k in range(K):
                PT[k, i] = alpha[prev, k] * r
                U[i, k] = frame[rows[t], k] * beta[t, k]
            w = weight * inv
            for j in range(K):
                beta[t, j] = alpha[t, j] * beta[t, j] * w
        if want_xi:
            if n_rows < _XI_TILE:
                for k in range(K):
                    for i in range(n_rows, _XI_TILE):
                        PT[k, i] = 0.0
                        U[i, k] = 0.0
            xi_raw += np.dot(PT, U)


@njit(cache=True, nogil=True, inline="always")
def _add_transitions(xi, xi_raw, transmat, weight):
    """``xi += weight * A * xi_raw``, then ``xi_raw = 0``."""
    K = transmat.shape[0]
    for i in range(K):
        for j in range(K):
            xi[i, j] += weight * transmat[i, j] * xi_raw[i, j]
            xi_raw[i, j] = 0.0


@njit(cache=True, nogil=True)
def forward_backward_lanes(frame, rows, offset, starts, seq_weight, startprob, transmat,
                           transmat_w, transmat_w_t, want_xi, alpha, scale, gamma, seq_loglik,
                           start_stats, xi_lanes, lane_lo, lane_hi):
    """Forward-backward for the sequences of lanes ``lane_lo:lane_hi``.

    Parameters
    ----------
    frame, rows, offset : see the module docstring; (M, K), (N,), (N,) IN
    starts : (n_seq + 1,) int64 IN — sequence boundaries in rows
    seq_weight : (n_seq,) float64 IN
    startprob : (K,); transmat : (K, K) IN
    transmat_w, transmat_w_t : IN — ``transmat`` and its transpose, C-contiguous,
        zero-padded to (8, 8) when K <= 8
    want_xi : bool
    alpha : (N, K); scale : (N,) float64 scratch — the forward lattice
    gamma : (N, K) float64 OUT — the weighted posteriors (first the backward
        lattice when K > 8)
    seq_loglik : (n_seq,) float64 OUT — unweighted log-likelihood per sequence
    start_stats : (n_seq, K) float64 OUT — weighted first-row posteriors
    xi_lanes : (n_lanes, K, K) float64 OUT — expected transitions per lane
    """
    K = startprob.shape[0]
    n_seq = starts.shape[0] - 1
    n_lanes = xi_lanes.shape[0]
    work = np.zeros((2, transmat_w.shape[0]))
    xi_raw = np.zeros(transmat_w.shape)
    PT = np.empty((K, _XI_TILE))
    U = np.empty((_XI_TILE, K))
    for lane in range(lane_lo, lane_hi):
        s_lo, s_hi = _lane_bounds(n_seq, n_lanes, lane)
        for s in range(s_lo, s_hi):
            lo, hi = starts[s], starts[s + 1]
            if K <= WIDTH:
                seq_loglik[s] = _forward8(frame, rows, offset, lo, hi, startprob, transmat_w,
                                          alpha, scale, work)
            else:
                seq_loglik[s] = _forward(frame, rows, offset, lo, hi, startprob, transmat_w_t,
                                         alpha, scale, work[0])
            if not np.isfinite(seq_loglik[s]):
                continue  # the caller refuses the sequence
            if K <= WIDTH:
                _backward_combine8(frame, rows, lo, hi, alpha, scale, transmat_w_t,
                                   seq_weight[s], want_xi, gamma, xi_raw, work)
            else:
                _backward(frame, rows, lo, hi, transmat, gamma, work[0])
                _combine(frame, rows, lo, lo, hi, alpha, scale, gamma, seq_weight[s], want_xi,
                         xi_raw, PT, U)
            if want_xi:
                _add_transitions(xi_lanes[lane], xi_raw, transmat, seq_weight[s])
            for j in range(K):
                start_stats[s, j] = gamma[lo, j]


@njit(cache=True, nogil=True)
def recursions_lanes(frame, rows, offset, startprob, transmat_w, transmat_w_t, alpha, scale,
                     beta, loglik, lane_lo, lane_hi):
    """One long sequence (all rows): lane 0 runs the forward recursion, lane 1
    the backward one; the two are independent, so two threads run them at once.

    ``transmat_w``, ``transmat_w_t``: see :func:`forward_backward_lanes`;
    ``loglik`` (1,) OUT receives the forward pass's log-likelihood.
    """
    N = rows.shape[0]
    K = startprob.shape[0]
    work = np.zeros((2, transmat_w.shape[0]))
    for lane in range(lane_lo, lane_hi):
        if lane == 0 and K <= WIDTH:
            loglik[0] = _forward8(frame, rows, offset, 0, N, startprob, transmat_w, alpha, scale,
                                  work)
        elif lane == 0:
            loglik[0] = _forward(frame, rows, offset, 0, N, startprob, transmat_w_t, alpha,
                                 scale, work[0])
        elif K <= WIDTH:
            _backward8(frame, rows, 0, N, transmat_w_t, beta, work)
        else:
            _backward(frame, rows, 0, N, transmat_w, beta, work[0])


@njit(cache=True, nogil=True)
def combine_lanes(frame, rows, alpha, scale, beta, weight, want_xi, transmat, xi_lanes, lane_lo,
                  lane_hi):
    """:func:`_combine` over the rows of one long sequence, in fixed row lanes.

    ``xi_lanes`` (n_lanes, K, K) OUT: the weighted transitions of each lane.
    """
    N, K = alpha.shape
    n_lanes = xi_lanes.shape[0]
    xi_raw = np.zeros((K, K))
    PT = np.empty((K, _XI_TILE))
    U = np.empty((_XI_TILE, K))
    for lane in range(lane_lo, lane_hi):
        lo, hi = _lane_bounds(N, n_lanes, lane)
        _combine(frame, rows, 0, lo, hi, alpha, scale, beta, weight, want_xi, xi_raw, PT, U)
        if want_xi:
            _add_transitions(xi_lanes[lane], xi_raw, transmat, weight)


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
