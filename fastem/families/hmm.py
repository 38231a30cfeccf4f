"""Hidden Markov model families: the sequence pass and the emission models.

One E-step (:meth:`HMMFamily.statistics`) reads the sequences in batches of
consecutive sequences (boundaries fixed by ``lengths`` only). For a batch:

1. the emission model's scaled frame (row-normalized emission probabilities
   and each row's log scale), from the mixture families' fused passes where
   they fit (Gaussian, Poisson), in parallel row blocks; a categorical model
   gives its emission table and the symbols that index it. Each emission
   model's ``frame(X, params, n_jobs)`` returns ``(frame, rows, offset, aux)``
   (``rows`` None: one frame row per sample; ``aux``: what its
   ``statistics`` needs besides the posteriors);
2. scaled forward-backward (:mod:`fastem.kernels.hmm`), in parallel over
   sequences: posteriors, expected start and transition counts;
3. the emission statistics from the posteriors, in parallel row blocks.

Memory is O(rows of a batch x K): two lattices, never O(T K^2) nor a
whole-dataset posterior array. Statistics are additive across sequences and
batches, summed in a fixed order: results do not depend on the thread count.

Parameters are a dict of float64 arrays: ``startprob`` (K,), ``transmat``
(K, K) and the emission model's (see each class). Statistics are a tuple
``(start (K,), trans (K, K), *emission statistics)``.
"""
import itertools

import numpy as np
from scipy import linalg
from scipy.special import gammaln

from .._threads import _executor as thread_pool
from .._threads import one_blas_thread, resolve_n_jobs, run_lanes, wait_all
from ..kernels import hmm as kernels
from ..kernels._compile import N_LANES
from .gaussian import GaussianFamily
from .poisson import PoissonFamily

#: A batch holds consecutive sequences until it reaches this many rows (a
#: longer sequence is a batch of its own): it bounds the lattices' memory
#: and, several batches running at once (one per thread), keeps the threads
#: busy. Smaller batches keep more of a batch's frame and lattices in cache
#: from the emission pass to the moments, until per-batch overhead wins: at
#: 200 x 5,000 rows, K=8, one thread, 2^16 rows ran an iteration in 0.070 s
#: of CPU, 2^18 in 0.079 s, 2^15 in 0.076 s.
BATCH_ROWS = 1 << 16

#: A state whose expected count is at most this (relative to the total) is
#: "unvisited": it keeps its previous emission parameters (no 0/0).
UNVISITED_RTOL = 1e-12


def sequence_starts(lengths):
    """Row boundaries ``(n_seq + 1,)`` int64 of sequences of the given lengths."""
    starts = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    return starts


def batches(starts, batch_rows=None):
    """Runs ``(seq_lo, seq_hi)`` of consecutive sequences of about ``batch_rows``
    rows (default :data:`BATCH_ROWS`)."""
    batch_rows = BATCH_ROWS if batch_rows is None else batch_rows
    out = []
    lo = 0
    n_seq = len(starts) - 1
    while lo < n_seq:
        hi = int(np.searchsorted(starts, starts[lo] + batch_rows, side="right")) - 1
        hi = min(max(hi, lo + 1), n_seq)
        out.append((lo, hi))
        lo = hi
    return out


def _lanes(n_items):
    return max(1, min(n_items, N_LANES))


def scaled_frame(log_frame):
    """``(frame, offset)`` with ``frame = exp(log_frame - offset)``, offset the row max."""
    offset = log_frame.max(axis=1)
    safe = np.where(np.isfinite(offset), offset, 0.0)
    frame = np.exp(log_frame - safe[:, None])
    return np.ascontiguousarray(frame), np.where(np.isfinite(offset), offset, -np.inf)


def _buffer(workspace, name, shape):
    """An uninitialized float64 array of ``shape``: from ``workspace`` (a dict
    kept across iterations, so a long sequence's lattices are not mapped and
    page-faulted afresh every iteration) or new when ``workspace`` is None."""
    if workspace is None:
        return np.empty(shape)
    size = int(np.prod(shape))
    buf = workspace.get(name)
    if buf is None or buf.size < size:
        buf = workspace[name] = np.empty(size)
    return buf[:size].reshape(shape)


#: a batch that is one sequence at least this long runs its forward and
#: backward recursions on two threads and combines them in row lanes
SPLIT_ROWS = 16_384


def mixture_frame(mixture, X, params, workspace=None):
    """``(responsibilities (N, K'), log-sum-exp (N,))`` of one pass of a
    mixture family's kernel (weights must be equal or sum to 1 as given):
    :meth:`~fastem.families._base.Family.row_outputs` without labels, into
    ``workspace`` buffers when given (kept across iterations)."""
    n = X.shape[0]
    K = mixture.n_components
    row_logp = _buffer(workspace, "row_logp", (n,))
    resp = _buffer(workspace, "resp", (n, K))
    mixture._run(X, np.ones(0), params, False, row_logp, np.empty(0, dtype=np.int64), resp,
                 False)
    return resp, row_logp


def transition_operands(transmat):
    """``(A_w, A_w^T)``: the (K, K) transition matrix and its transpose,
    C-contiguous, zero-padded to (8, 8) when K <= 8 (the kernels' 8-wide
    recursions run then, their scalar ones above 8)."""
    K = transmat.shape[0]
    width = kernels.WIDTH if K <= kernels.WIDTH else K
    padded = np.zeros((width, width))
    padded[:K, :K] = transmat
    return padded, np.ascontiguousarray(padded.T)


def forward_backward(frame, rows, offset, starts, seq_weight, startprob, transmat, n_jobs,
                     want_xi=True, workspace=None):
    """Weighted posteriors and expected counts of the sequences of one batch.

    Sequences are processed in parallel lanes; a batch holding one long
    sequence runs its two recursions at once and its posteriors in row lanes
    (how is decided by the data alone: the result does not depend on
    ``n_jobs``). ``workspace`` (a dict, or None) lends the lattices: then
    ``gamma`` is only valid until the next call with the same workspace.

    Returns
    -------
    gamma : (N, K) float64 — posteriors times each sequence's weight
    seq_loglik : (n_seq,) float64 — unweighted log-likelihoods
    start : (K,) float64; xi : (K, K) float64 — weighted expected counts
    """
    N, K = offset.shape[0], frame.shape[1]
    frame = np.ascontiguousarray(frame, dtype=np.float64)  # the kernels' row reads
    if rows is None:
        rows = np.arange(N, dtype=np.int64)
    n_seq = len(starts) - 1
    alpha = _buffer(workspace, "alpha", (N, K))
    scale = _buffer(workspace, "scale", (N,))
    gamma = _buffer(workspace, "gamma", (N, K))
    if n_seq == 1 and N >= SPLIT_ROWS:
        loglik = np.empty(1)
        run_lanes(kernels.recursions_lanes, (frame, rows, offset, startprob,
                                             *transition_operands(transmat), alpha, scale,
                                             gamma, loglik),
                  2, min(2, resolve_n_jobs(n_jobs)))
        if not np.isfinite(loglik[0]):
            return gamma, loglik, None, None
        n_lanes = _row_lanes(N)
        xi_lanes = np.zeros((n_lanes, K, K))
        with one_blas_thread():  # the transitions are small products per tile
            run_lanes(kernels.combine_lanes, (frame, rows, alpha, scale, gamma,
                                              float(seq_weight[0]), want_xi, transmat,
                                              xi_lanes),
                      n_lanes, _threads(n_jobs, n_lanes))
        return gamma, loglik, gamma[0].copy(), xi_lanes.sum(axis=0)
    n_lanes = _lanes(n_seq)
    seq_loglik = np.empty(n_seq)
    start_stats = np.zeros((n_seq, K))
    xi_lanes = np.zeros((n_lanes, K, K))
    args = (frame, rows, offset, starts, seq_weight, startprob, transmat,
            *transition_operands(transmat), want_xi, alpha, scale, gamma, seq_loglik,
            start_stats, xi_lanes)
    with one_blas_thread():
        run_lanes(kernels.forward_backward_lanes, args, n_lanes, _threads(n_jobs, n_lanes))
    return gamma, seq_loglik, start_stats.sum(axis=0), xi_lanes.sum(axis=0)


def _threads(n_jobs, n_lanes):
    return 1 if n_lanes <= 2 else resolve_n_jobs(n_jobs)


class HMMFamily:
    """A hidden Markov model with one emission model.

    Parameters
    ----------
    emission : emission model (e.g. :class:`GaussianEmission`)
    n_components : int
    startprob_prior, transmat_prior : float or array
        Dirichlet priors, as hmmlearn (MAP estimate ``max(prior - 1 + counts, 0)``).
    params : str
        Letters of the parameters the M-step updates ('s', 't' and the
        emission model's).
    n_jobs : int or None
    """

    def __init__(self, emission, n_components, startprob_prior=1.0, transmat_prior=1.0,
                 params="st", n_jobs=None):
        self.emission = emission
        self.n_components = n_components
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.params = params
        self.n_jobs = n_jobs
        #: lattices lent to every E-step of a fit (see :func:`forward_backward`)
        self._workspace = {}
        #: one-thread copies running whole batches (see :meth:`_batch_workers`)
        self._workers = []

    def serial_copy(self):
        """The same model on one thread, for tasks whose blocks are the
        parallelism: tasks run at once, so it lends no workspace."""
        copy = HMMFamily(self.emission, self.n_components, self.startprob_prior,
                         self.transmat_prior, self.params, n_jobs=1)
        copy._workspace = None
        return copy

    def _batch_workers(self, n_threads):
        """``n_threads`` one-thread copies of the model, each with its own
        workspace, kept for the next E-steps of the fit."""
        while len(self._workers) < n_threads:
            worker = self.serial_copy()
            worker._workspace = {}
            self._workers.append(worker)
        return self._workers[:n_threads]

    # -------------------------------------------------------------- E-step
    def _batch_posteriors(self, X, starts, seq_weight, params, want_xi, workspace=None,
                          runs=None):
        """For each batch (``runs``: ``(seq_lo, seq_hi)`` pairs, default
        :func:`batches`): ``(seq_lo, row_lo, row_hi, gamma, seq_loglik, start,
        xi, (frame, aux))``; ``aux`` is what the emission model's frame left
        for its statistics (e.g. the mixture components' responsibilities)."""
        for s_lo, s_hi in batches(starts) if runs is None else runs:
            r_lo, r_hi = starts[s_lo], starts[s_hi]
            Xb = X[r_lo:r_hi]
            frame, rows, offset, aux = self.emission.frame(Xb, params, self.n_jobs,
                                                           workspace)
            gamma, seq_ll, start, xi = forward_backward(
                frame, rows, offset, starts[s_lo:s_hi + 1] - r_lo, seq_weight[s_lo:s_hi],
                params["startprob"], params["transmat"], self.n_jobs, want_xi, workspace)
            bad = ~np.isfinite(seq_ll)
            if bad.any():
                raise ValueError(
                    f"Sequence {s_lo + int(np.argmax(bad))} of X has zero probability "
                    "under the model (every state path is impossible: a zero "
                    "start/transition probability or an emission the states cannot "
                    "produce). Check X and the model's parameters.")
            yield s_lo, r_lo, r_hi, gamma, seq_ll, start, xi, (frame, aux)
            del frame, rows, offset, aux

    def _batch_statistics(self, X, starts, seq_weight, params, run, workspace):
        """``(start, trans, emission statistics, loglik)`` of one batch ``run``."""
        want_xi = "t" in self.params
        (s_lo, r_lo, r_hi, gamma, seq_ll, start, xi, frame_aux), = self._batch_posteriors(
            X, starts, seq_weight, params, want_xi, workspace, [run])
        loglik = float(seq_weight[s_lo:s_lo + len(seq_ll)] @ seq_ll)
        emission = self.emission.statistics(X[r_lo:r_hi], gamma, params, self.n_jobs,
                                            *frame_aux)
        return start, xi, emission, loglik

    def _statistics_on_threads(self, X, starts, seq_weight, params, runs, n_threads):
        """Each batch's :meth:`_batch_statistics`, the batches taken in turn by
        ``n_threads`` threads, each running one-thread kernels on its own
        batches: one wait per E-step instead of three per batch, and a
        thread's batch stays in its core's cache. A batch's statistics do not
        depend on the thread that computed them (nor on its thread count)."""
        parts = [None] * len(runs)
        errors = [None] * len(runs)
        taken = itertools.count()  # next() is atomic: each batch is taken once

        def work(worker):
            while (i := next(taken)) < len(runs):
                try:
                    parts[i] = worker._batch_statistics(X, starts, seq_weight, params, runs[i],
                                                        worker._workspace)
                except Exception as error:  # raised below, the first batch's first
                    errors[i] = error

        workers = self._batch_workers(n_threads)
        futures = [thread_pool().submit(work, worker) for worker in workers[1:]]
        wait_all(futures, lambda: work(workers[0]))
        for error in errors:
            if error is not None:
                raise error
        return parts

    def statistics(self, X, starts, seq_weight, params):
        """One E-step: ``(stats, loglik)``, ``loglik = sum_s w_s log p(x_s)``.

        Batches are added in order, so the result does not depend on the
        thread count. Several batches run on the threads at once (see
        :meth:`_statistics_on_threads`), a single one with the threads inside
        its kernels. The lattices are kept in the family's workspace(s) for
        the next E-step (a fit's family lives as long as the fit)."""
        K = self.n_components
        runs = batches(starts)
        n_threads = min(len(runs), resolve_n_jobs(self.n_jobs))
        # BLAS limited once for the whole pass: each kernel's own limit is
        # then a reference count, not a threadpoolctl call
        with one_blas_thread():
            if n_threads > 1:
                parts = self._statistics_on_threads(X, starts, seq_weight, params, runs,
                                                    n_threads)
            else:
                parts = (self._batch_statistics(X, starts, seq_weight, params, run,
                                                self._workspace) for run in runs)
            start = np.zeros(K)
            trans = np.zeros((K, K))
            emission = None
            loglik = 0.0
            for s, xi, e, ll in parts:
                start += s
                trans += xi
                loglik += ll
                emission = e if emission is None else tuple(a + b for a, b in zip(emission, e))
        return (start, trans, *emission), loglik

    def posteriors(self, X, starts, params):
        """``(loglik, gamma (N, K))``: total log-likelihood and state posteriors."""
        gammas = []
        loglik = 0.0
        ones = np.ones(len(starts) - 1)
        for _, _, _, gamma, seq_ll, _, _, _ in self._batch_posteriors(X, starts, ones, params,
                                                                False):
            gammas.append(gamma)
            loglik += float(seq_ll.sum())
        return loglik, np.concatenate(gammas)

    def loglik(self, X, starts, params):
        """Total log-likelihood (the posteriors are computed and dropped batch by batch)."""
        ones = np.ones(len(starts) - 1)
        return float(sum(seq_ll.sum() for *_, seq_ll, _, _, _ in
                         self._batch_posteriors(X, starts, ones, params, False)))

    def viterbi(self, X, starts, params):
        """``(log-probability of the best paths, states (N,))``."""
        path = np.empty(starts[-1], dtype=np.int64)
        logprob = 0.0
        with np.errstate(divide="ignore"):
            log_start = np.log(params["startprob"])
            log_trans = np.log(params["transmat"])
        for s_lo, s_hi in batches(starts):
            r_lo, r_hi = starts[s_lo], starts[s_hi]
            frame, rows, offset, _ = self.emission.frame(X[r_lo:r_hi], params, self.n_jobs)
            with np.errstate(divide="ignore"):
                log_frame = np.log(frame)
            if rows is not None:
                log_frame = log_frame[rows]
            del frame
            seq_starts = starts[s_lo:s_hi + 1] - r_lo
            n_seq = s_hi - s_lo
            n_lanes = _lanes(n_seq)
            seq_logprob = np.empty(n_seq)
            run_lanes(kernels.viterbi_lanes,
                      (log_frame, seq_starts, log_start, log_trans, n_lanes,
                       path[r_lo:r_hi], seq_logprob), n_lanes,
                      _threads(self.n_jobs, n_lanes))
            logprob += float(seq_logprob.sum() + offset.sum())
        return logprob, path

    # -------------------------------------------------------------- M-step
    def maximize(self, stats, params):
        """hmmlearn's MAP M-step (Dirichlet priors); the emission model's own."""
        start, trans, *emission = stats
        new = dict(params)
        if "s" in self.params:
            sp = np.maximum(self.startprob_prior - 1 + start, 0)
            sp = np.where(params["startprob"] == 0, 0, sp)
            total = sp.sum()
            new["startprob"] = sp / total if total > 0 else params["startprob"].copy()
        if "t" in self.params:
            tm = np.maximum(self.transmat_prior - 1 + trans, 0)
            tm = np.where(params["transmat"] == 0, 0, tm)
            rows = tm.sum(axis=1, keepdims=True)
            # a state never left keeps its previous row (hmmlearn: a zero row)
            new["transmat"] = np.where(rows > 0, tm / np.where(rows > 0, rows, 1),
                                       params["transmat"])
        new.update(self.emission.maximize(tuple(emission), params))
        return new


def _unvisited(nk):
    """States whose expected count is negligible (they keep their parameters)."""
    return nk <= UNVISITED_RTOL * max(float(nk.sum()), 1e-300)


def _row_lanes(n_rows):
    """Lanes of a row-parallel statistics kernel: about 1024 rows each, at most N_LANES."""
    return _lanes(-(-n_rows // 1024))


def _moments(X, gamma, means, full, n_jobs):
    """``(nk, sx, sxx)``: posterior-weighted moments around each state's ``means``.

    The kernel takes them around one center ``g`` (the mean of the means,
    near the data) by BLAS; moving them to each mean ``m_k`` cancels about
    ``|m_k - g|^2 / var`` ulps, as the Gaussian mixture pass's shifted
    moments do (float64 throughout).
    """
    N, D = X.shape
    K = means.shape[0]
    n_lanes = _row_lanes(N)
    center = means.mean(axis=0)
    P = 1 + D + (D * D if full else D)
    S = np.zeros((n_lanes, P, K))
    with one_blas_thread():
        run_lanes(kernels.moments_lanes, (X, gamma, center, full, S), n_lanes,
                  _threads(n_jobs, n_lanes))
    S = S.sum(axis=0)
    nk, s1 = S[0], S[1:1 + D].T
    b = means - center
    sx = s1 - nk[:, None] * b
    if full:
        s2 = S[1 + D:].T.reshape(K, D, D)
        sxx = (s2 - b[:, :, None] * s1[:, None, :] - s1[:, :, None] * b[:, None, :]
               + nk[:, None, None] * b[:, :, None] * b[:, None, :])
    else:
        sxx = S[1 + D:].T - 2 * b * s1 + nk[:, None] * b ** 2
    return nk, sx, sxx


# ----------------------------------------------------------------- Gaussian
class GaussianEmission:
    """Gaussian emissions, hmmlearn's ``GaussianHMM`` parametrization.

    Parameters ``means`` (K, D) and ``covars`` in hmmlearn's storage shape:
    spherical (K,), diag (K, D), full (K, D, D), tied (D, D). Statistics
    ``(nk (K,), sx (K, D), sxx)`` around the current means: ``sxx`` (K, D)
    for spherical/diag, (K, D, D) for full/tied.
    """

    def __init__(self, n_components, covariance_type, means_prior=0, means_weight=0,
                 covars_prior=1e-2, covars_weight=1, params="mc"):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight
        self.params = params
        self._mixture = None

    @property
    def full(self):
        return self.covariance_type in ("full", "tied")

    def frame(self, X, params, n_jobs, workspace=None):
        K = self.n_components
        if self._mixture is None or self._mixture.n_jobs != n_jobs:
            self._mixture = GaussianFamily(K, self.covariance_type, n_jobs=n_jobs)
        mixture_params = {"weights": np.full(K, 1.0 / K), "means": params["means"],
                          "precisions_cholesky": precision_cholesky(params["covars"],
                                                                    self.covariance_type)}
        # equal weights 1/K: responsibilities are the row-normalized densities
        frame, row_logp = mixture_frame(self._mixture, X, mixture_params, workspace)
        row_logp += np.log(K)
        return frame, None, row_logp, None

    def statistics(self, X, gamma, params, n_jobs, frame=None, aux=None):
        return _moments(X, gamma, params["means"], self.full, n_jobs)

    def maximize(self, stats, params):
        nk, sx, sxx = stats
        old_means, old_covars = params["means"], params["covars"]
        mp, mw = self.means_prior, self.means_weight
        cp, cw = self.covars_prior, self.covars_weight
        keep = _unvisited(nk)
        denom = nk[:, None]
        obs = sx + denom * old_means
        means = old_means
        if "m" in self.params:
            with np.errstate(invalid="ignore", divide="ignore"):
                means = (mw * mp + obs) / (mw + denom)
            means = np.where(keep[:, None], old_means, means)
        out = {"means": means}
        if "c" not in self.params:
            return out
        delta = means - old_means
        meandiff = means - mp
        ct = self.covariance_type
        if ct in ("spherical", "diag"):
            # sum g (x - mean)^2 from the moments around the old means
            ss = sxx - 2 * delta * sx + delta ** 2 * denom
            c_n = mw * meandiff ** 2 + ss
            c_d = max(cw - 1, 0) + denom
            covars = (cp + c_n) / np.maximum(c_d, 1e-5)
            if ct == "spherical":
                covars = covars.mean(axis=1)
                covars = np.where(keep, old_covars, covars)
            else:
                covars = np.where(keep[:, None], old_covars, covars)
        else:
            ss = (sxx - delta[:, :, None] * sx[:, None, :] - sx[:, :, None] * delta[:, None, :]
                  + nk[:, None, None] * delta[:, :, None] * delta[:, None, :])
            c_n = mw * meandiff[:, :, None] * meandiff[:, None, :] + ss
            D = means.shape[1]
            cvweight = max(cw - D, 0)
            if ct == "tied":
                covars = (cp + c_n.sum(axis=0)) / (cvweight + nk.sum())
            else:
                with np.errstate(invalid="ignore", divide="ignore"):
                    covars = (cp + c_n) / (cvweight + nk[:, None, None])
                covars = np.where(keep[:, None, None], old_covars, covars)
        out["covars"] = covars
        return out

    def n_fit_scalars(self, params):
        K, D = params["means"].shape
        return {"m": K * D, "c": {"spherical": K, "diag": K * D,
                                  "full": K * D * (D + 1) // 2,
                                  "tied": D * (D + 1) // 2}[self.covariance_type]}


def precision_cholesky(covars, covariance_type):
    """scikit-learn's ``precisions_cholesky_`` of hmmlearn-shaped ``covars``
    (spherical (K,), diag (K, D), full (K, D, D), tied (D, D))."""
    if covariance_type in ("diag", "spherical"):
        return 1.0 / np.sqrt(np.maximum(covars, np.finfo(float).tiny))
    stack = covars[None] if covariance_type == "tied" else covars
    out = np.empty_like(stack)
    for k, cov in enumerate(stack):
        try:
            chol = linalg.cholesky(cov, lower=True)
        except linalg.LinAlgError:
            raise ValueError(f"covars_ of state {k} is not symmetric positive-definite; "
                             "increase min_covar or covars_prior.") from None
        out[k] = linalg.solve_triangular(chol, np.eye(cov.shape[0]), lower=True).T
    return out[0] if covariance_type == "tied" else out


def full_covars(covars, covariance_type, n_components, n_features):
    """hmmlearn's ``covars_`` view: (K, D, D) whatever the storage shape."""
    if covariance_type == "full":
        return covars
    if covariance_type == "diag":
        return np.array([np.diag(c) for c in covars])
    if covariance_type == "tied":
        return np.tile(covars, (n_components, 1, 1))
    return np.eye(n_features)[None] * np.ravel(covars)[:, None, None]


# -------------------------------------------------------------- Categorical
class CategoricalEmission:
    """Categorical emissions: ``emissionprob`` (K, n_symbols); statistics the
    expected symbol counts (K, n_symbols). ``X`` is an int64 column (N, 1)."""

    def __init__(self, n_components, emissionprob_prior=1.0, params="e"):
        self.n_components = n_components
        self.emissionprob_prior = emissionprob_prior
        self.params = params

    def frame(self, X, params, n_jobs, workspace=None):
        # the emission table itself, indexed by the symbols (never N x K)
        return (np.ascontiguousarray(params["emissionprob"].T),
                np.ascontiguousarray(X[:, 0]), np.zeros(X.shape[0]), None)

    def statistics(self, X, gamma, params, n_jobs, frame=None, aux=None):
        n_symbols = params["emissionprob"].shape[1]
        n_lanes = _row_lanes(X.shape[0])
        counts = np.zeros((n_lanes, n_symbols, gamma.shape[1]))
        run_lanes(kernels.symbol_counts_lanes, (X[:, 0], gamma, counts), n_lanes,
                  _threads(n_jobs, n_lanes))
        return (np.ascontiguousarray(counts.sum(axis=0).T),)

    def maximize(self, stats, params):
        if "e" not in self.params:
            return {}
        probs = np.maximum(self.emissionprob_prior - 1 + stats[0], 0)
        return {"emissionprob": _normalize_rows(probs, params["emissionprob"])}

    def n_fit_scalars(self, params):
        K, S = params["emissionprob"].shape
        return {"e": K * (S - 1)}


def _normalize_rows(counts, previous):
    """Rows of ``counts`` normalized; an all-zero row keeps ``previous``'s row."""
    rows = counts.sum(axis=1, keepdims=True)
    return np.where(rows > 0, counts / np.where(rows > 0, rows, 1), previous)


# ------------------------------------------------------------------ Poisson
class PoissonEmission:
    """Products of Poissons: ``lambdas`` (K, D); statistics ``(post (K,), obs (K, D))``."""

    def __init__(self, n_components, lambdas_prior=0.0, lambdas_weight=0.0, params="l"):
        self.n_components = n_components
        self.lambdas_prior = lambdas_prior
        self.lambdas_weight = lambdas_weight
        self.params = params
        self._mixture = None

    def frame(self, X, params, n_jobs, workspace=None):
        K = self.n_components
        if self._mixture is None or self._mixture.n_jobs != n_jobs:
            self._mixture = PoissonFamily(K, n_jobs=n_jobs)
        frame, row_logp = mixture_frame(
            self._mixture, X, {"weights": np.full(K, 1.0 / K), "rates": params["lambdas"]},
            workspace)
        row_logp += np.log(K)
        return frame, None, row_logp, None

    def statistics(self, X, gamma, params, n_jobs, frame=None, aux=None):
        with one_blas_thread():
            return gamma.sum(axis=0), gamma.T @ np.asarray(X, dtype=np.float64)

    def maximize(self, stats, params):
        if "l" not in self.params:
            return {}
        post, obs = stats
        keep = _unvisited(post)
        alphas, betas = self.lambdas_prior, self.lambdas_weight
        # hmmlearn's update, as it is: n is the total expected count
        n = post.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            y_bar = obs / post[:, None]
            lambdas = (alphas + n * y_bar) / (betas + n)
        return {"lambdas": np.where(keep[:, None], params["lambdas"], lambdas)}

    def n_fit_scalars(self, params):
        return {"l": params["lambdas"].size}


# -------------------------------------------------------------- Multinomial
class MultinomialEmission:
    """Multinomial counts: ``emissionprob`` (K, D); statistics the expected
    counts (K, D). ``log p_k(x) = log n! - sum log x_d! + sum x_d log p_kd``."""

    def __init__(self, n_components, params="e"):
        self.n_components = n_components
        self.params = params

    def frame(self, X, params, n_jobs, workspace=None):
        probs = params["emissionprob"]
        with np.errstate(divide="ignore"):
            # a zero probability: -inf for a positive count, 0 for a zero count
            log_p = np.where(probs > 0, np.log(np.where(probs > 0, probs, 1)), -1e300)
        Xf = np.asarray(X, dtype=np.float64)
        with one_blas_thread():
            log_frame = Xf @ log_p.T
        frame, offset = scaled_frame(log_frame)
        const = gammaln(Xf.sum(axis=1) + 1) - gammaln(Xf + 1).sum(axis=1)
        return frame, None, offset + const, None

    def statistics(self, X, gamma, params, n_jobs, frame=None, aux=None):
        with one_blas_thread():
            return (gamma.T @ np.asarray(X, dtype=np.float64),)

    def maximize(self, stats, params):
        if "e" not in self.params:
            return {}
        return {"emissionprob": _normalize_rows(stats[0], params["emissionprob"])}

    def n_fit_scalars(self, params):
        K, D = params["emissionprob"].shape
        return {"e": K * (D - 1)}


# ---------------------------------------------------------------- GMM (mixture)
class GMMEmission:
    """Gaussian-mixture emissions, hmmlearn's ``GMMHMM`` parametrization.

    Parameters ``weights`` (K, M), ``means`` (K, M, D) and ``covars``:
    spherical (K, M), diag (K, M, D), full (K, M, D, D), tied (K, D, D) (one
    covariance per state, shared by its M components). The frame is one pass
    of the Gaussian mixture kernel over all K * M components (weights
    ``w_km / K``), whose responsibilities are kept (O(N K M), never
    O(N K M D)): a state's scaled probability is the sum of its components'
    responsibilities, and ``g_tk * r_tkm / sum_m r_tkm`` are the component
    posteriors of the statistics. Statistics ``(post_mix (K, M), sx (K, M, D),
    sxx)`` are moments around the current means (hmmlearn's covariance
    statistics are centred there too).

    ``priors`` holds hmmlearn's broadcast priors: ``weights_prior`` (K, M),
    ``means_prior`` (K, M, D), ``means_weight`` (K, M), ``covars_prior``,
    ``covars_weight`` (shapes of ``GMMHMM._fix_priors_shape``).
    """

    def __init__(self, n_components, n_mix, covariance_type, priors, params="mcw"):
        self.n_components = n_components
        self.n_mix = n_mix
        self.covariance_type = covariance_type
        self.priors = priors
        self.params = params
        self._mixture = None

    @property
    def _flat_type(self):
        return "full" if self.covariance_type == "tied" else self.covariance_type

    def _flat_covars(self, covars):
        K, M = self.n_components, self.n_mix
        if self.covariance_type == "tied":
            covars = np.repeat(covars[:, None], M, axis=1)
        return covars.reshape(K * M, *covars.shape[2:])

    def frame(self, X, params, n_jobs, workspace=None):
        K, M = self.n_components, self.n_mix
        if self._mixture is None or self._mixture.n_jobs != n_jobs:
            self._mixture = GaussianFamily(K * M, self._flat_type, n_jobs=n_jobs)
        D = params["means"].shape[2]
        mixture_params = {
            "weights": params["weights"].reshape(-1) / K,
            "means": params["means"].reshape(K * M, D),
            "precisions_cholesky": precision_cholesky(self._flat_covars(params["covars"]),
                                                      self._flat_type)}
        resp, row_logp = mixture_frame(self._mixture, X, mixture_params, workspace)
        frame = np.ascontiguousarray(resp.reshape(-1, K, M).sum(axis=2))
        row_logp += np.log(K)
        return frame, None, row_logp, resp

    def statistics(self, X, gamma, params, n_jobs, frame=None, resp=None):
        K, M = self.n_components, self.n_mix
        ratio = np.divide(gamma, frame, out=np.zeros_like(gamma), where=frame > 0)
        post = resp.reshape(-1, K, M) * ratio[:, :, None]
        D = params["means"].shape[2]
        nk, sx, sxx = _moments(X, post.reshape(-1, K * M), params["means"].reshape(K * M, D),
                               self._flat_type == "full", n_jobs)
        return nk.reshape(K, M), sx.reshape(K, M, D), sxx.reshape(K, M, *sxx.shape[1:])

    def maximize(self, stats, params):
        """hmmlearn's ``GMMHMM._do_mstep``; unvisited components keep their parameters."""
        post_mix, sx, sxx = stats
        pr = self.priors
        old_w, old_means, old_covars = params["weights"], params["means"], params["covars"]
        D = old_means.shape[2]
        M = self.n_mix
        keep = _unvisited(post_mix.reshape(-1)).reshape(post_mix.shape)
        post_sum = post_mix.sum(axis=1)
        weights, means, covars = old_w, old_means, old_covars
        if "w" in self.params:
            alphas_minus_one = pr["weights_prior"] - 1
            w_n = post_mix + alphas_minus_one
            w_d = (post_sum + alphas_minus_one.sum(axis=1))[:, None]
            with np.errstate(invalid="ignore", divide="ignore"):
                weights = w_n / w_d
            weights = np.where(keep.all(axis=1, keepdims=True), old_w, weights)
        if "m" in self.params:
            m_n = pr["means_weight"][:, :, None] * pr["means_prior"] + sx \
                + post_mix[:, :, None] * old_means
            m_d = post_mix + pr["means_weight"]
            m_d[(weights == 0) & (m_n == 0).all(axis=-1)] = 1
            with np.errstate(invalid="ignore", divide="ignore"):
                means = m_n / m_d[:, :, None]
            means = np.where(keep[:, :, None], old_means, means)
        out = {"weights": weights, "means": means}
        if "c" not in self.params:
            return out
        lambdas = pr["means_weight"]
        centered = means - pr["means_prior"]
        ct = self.covariance_type
        with np.errstate(invalid="ignore", divide="ignore"):
            if ct == "full":
                dots = centered[..., :, None] * centered[..., None, :]
                c_n = np.transpose(pr["covars_prior"], (0, 1, 3, 2)) \
                    + lambdas[:, :, None, None] * dots + sxx
                c_d = (post_mix + 1 + pr["covars_weight"] + D + 1)[:, :, None, None]
                covars = np.where(keep[:, :, None, None], old_covars, c_n / c_d)
            elif ct == "diag":
                c_n = lambdas[:, :, None] * centered ** 2 + 2 * pr["covars_weight"] + sxx
                c_d = post_mix[:, :, None] + 1 + 2 * (pr["covars_prior"] + 1)
                covars = np.where(keep[:, :, None], old_covars, c_n / c_d)
            elif ct == "spherical":
                c_n = lambdas * np.einsum("...i,...i", centered, centered) \
                    + 2 * pr["covars_weight"] + sxx.sum(axis=2)
                c_d = D * (post_mix + 1) + 2 * (pr["covars_prior"] + 1)
                covars = np.where(keep, old_covars, c_n / c_d)
            else:  # tied: one covariance per state
                dots = centered[..., :, None] * centered[..., None, :]
                c_n = np.einsum("ij,ijkl->ikl", lambdas, dots) \
                    + np.transpose(pr["covars_prior"], (0, 2, 1)) + sxx.sum(axis=1)
                c_d = (post_sum + M + pr["covars_weight"] + D + 1)[:, None, None]
                covars = np.where(keep.all(axis=1)[:, None, None], old_covars, c_n / c_d)
        out["covars"] = covars
        return out

    def n_fit_scalars(self, params):
        K, M, D = params["means"].shape
        return {"m": K * M * D, "c": {"spherical": K * M, "diag": K * M * D,
                                      "full": K * M * D * (D + 1) // 2,
                                      "tied": K * D * (D + 1) // 2}[self.covariance_type],
                "w": M - 1}
