"""What the discrete families share: the row-constant cache, weights, init draws.

Parameters are a dict of float64 arrays with ``weights`` (K,) and one
per-component array named by the family. Statistics are ``(nk, s)`` with
``nk = sum w r`` (K,) and ``s`` the family's weighted sums (``sum w r x``
(K, D) for the linear families, per-category sums (C, K) for categorical).
"""
import numpy as np

from .. import _config
from .._threads import lane_pass
from ..kernels import discrete as kernels
from ..kernels import discrete_missing
from ._base import Family, choose_seed_rows, random_responsibilities


class DiscreteFamily(Family):
    """Base of the discrete families.

    Parameters
    ----------
    n_components : int
    init_params : str
        'random' (uniform random responsibilities, as scikit-learn),
        'random_from_data' (K distinct random rows, shrunk half-way to the
        data mean) or 'kmeans' (one-hot responsibilities of fastem.KMeans),
        where the family supports it.
    weights_init : (K,) float64 or None
    param_init : float64 array or None — the family's user initial parameter
    learn_weights : bool
        When False the mixing weights stay at ``weights_init`` (uniform if
        not given).
    smoothing : float
        Probabilities (rates) are kept in ``[smoothing, 1 - smoothing]``
        (``>= smoothing``) by the M-step.
    n_jobs : int or None
    block_rows : int
    """

    #: name of the per-component parameter in ``params``
    param_name = "probs"

    #: passes take ``missing=`` and marginalize NaN entries (see
    #: :class:`~fastem.families._base.Family`)
    handles_missing = True

    def __init__(self, n_components, init_params="random_from_data",
                 weights_init=None, param_init=None, learn_weights=True,
                 smoothing=1e-10, n_jobs=None, block_rows=_config.BLOCK_ROWS):
        self.n_components = n_components
        self.init_params = init_params
        self.weights_init = weights_init
        self.param_init = param_init
        self.learn_weights = learn_weights
        self.smoothing = smoothing
        self.n_jobs = n_jobs
        self.block_rows = block_rows

    def _kernel_call(self, kernel, inputs, outputs, lane_shapes, n_rows, block, serial):
        """One pass of the lane ``kernel``: ``(nk, s2, loglik, const, n_bad)``."""
        (nk, s2), (loglik, const), n_bad = lane_pass(
            kernel, inputs, outputs, lane_shapes, n_rows, block, self.n_jobs, serial)
        return nk, s2, loglik, const, n_bad

    def statistics(self, X, sample_weight, params, serial=False, missing=None):
        """One pass; ``missing`` (a :class:`fastem._missing.MissingRows`, given
        for every chunk of data holding NaN) selects the pass that
        marginalizes the NaN entries."""
        nk, per_row_sums, loglik, const, n_bad = self._run(
            X, sample_weight, params, True, np.empty(0), np.empty(0, np.int64),
            np.empty((0, self.n_components)), serial, missing)
        if n_bad:
            self._raise_bad(n_bad)
        return (nk, self._statistic(per_row_sums)), loglik + const

    def row_outputs(self, X, params, want_resp=False, serial=False, missing=None):
        n = X.shape[0]
        row_logp = np.empty(n)
        labels = np.empty(n, dtype=np.int64)
        resp = np.empty((n if want_resp else 0, self.n_components))
        self._run(X, np.ones(0), params, False, row_logp, labels, resp, serial, missing)
        return row_logp, labels, (resp if want_resp else None)

    def _statistic(self, sums):
        """The family's second statistic from the pass's sums (as they are)."""
        return sums

    @staticmethod
    def _raise_bad(n_bad):
        raise ValueError(
            f"{n_bad} sample(s) of X have zero probability under every component "
            "(log-likelihood -inf or NaN). Increase smoothing or check X.")

    # --------------------------------------------------------------- M-step
    def _weights(self, nk, params):
        if self.learn_weights:
            return nk / nk.sum()
        return params["weights"].copy()

    def _log_weights(self, params):
        with np.errstate(divide="ignore"):
            return np.log(params["weights"])

    # ------------------------------------------------------- initialization
    def initialize(self, X, sample_weight, random_state):
        """Initial parameters (user ``*_init`` first, then ``init_params``).

        With the family's parameter given, no data-driven initialization runs
        and weights start at ``weights_init`` or uniform.
        """
        K = self.n_components
        if self.param_init is not None:
            weights = (self.weights_init.copy() if self.weights_init is not None
                       else np.full(K, 1.0 / K))
            return {"weights": weights, self.param_name: self.param_init.copy()}
        if self.init_params == "random_from_data":
            idx = choose_seed_rows(K, sample_weight, random_state)
            params = {"weights": np.full(K, 1.0 / K),
                      self.param_name: self._from_rows(X, sample_weight, idx)}
        else:
            if self.init_params == "kmeans":
                stats = self._kmeans_statistics(X, sample_weight, random_state)
            else:
                stats = self._random_statistics(X, sample_weight, random_state)
            params = self.maximize(stats, {"weights": np.full(K, 1.0 / K)})
        if self.weights_init is not None:
            params["weights"] = self.weights_init.copy()
        elif not self.learn_weights:
            params["weights"] = np.full(K, 1.0 / K)
        return params

    def _random_statistics(self, X, w, random_state):
        """Statistics of uniform random responsibilities, chunk by chunk.

        Draws the same numbers, in the same order, as scikit-learn's single
        ``uniform(size=(n_samples, n_components))`` call.
        """
        K = self.n_components
        stats = None
        for start, stop, r in random_responsibilities(X.shape[0], K, w, random_state,
                                                      _config.PREDICT_CHUNK_ROWS):
            part = self._resp_statistics(X[start:stop], r)
            stats = part if stats is None else tuple(a + b for a, b in zip(stats, part))
        return stats

    def _kmeans_statistics(self, X, w, random_state):
        from .kmeans import kmeans_labels
        K = self.n_components
        # k-means has no missing entries: it clusters rows with each missing
        # entry read as its feature's observed mean (an initialization only)
        labels = kmeans_labels(fill_missing(X, w) if has_nan(X) else X, w, K,
                               random_state, self.n_jobs)
        stats = None
        step = _config.PREDICT_CHUNK_ROWS
        for start in range(0, X.shape[0], step):
            stop = min(start + step, X.shape[0])
            r = np.zeros((stop - start, K))
            r[np.arange(stop - start), labels[start:stop]] = w[start:stop]
            part = self._resp_statistics(X[start:stop], r)
            stats = part if stats is None else tuple(a + b for a, b in zip(stats, part))
        return stats

    # ----------------------------------------------------------- the rest
    def _resp_statistics(self, X, r):
        """Statistics ``(nk, s)`` of given (weighted) responsibilities ``r``."""
        raise NotImplementedError

    def _from_rows(self, X, w, idx):
        """Per-component parameters centered on the rows ``idx``."""
        raise NotImplementedError


class LinearFamily(DiscreteFamily):
    """A family whose log-density is linear in x (Binomial, Poisson).

    Subclasses give ``_linear_terms(params) -> (A^T (K, D), b (K,))``, the
    per-feature terms ``_missing_terms(params) -> [A | B] (K, 2D)`` of the
    missing-entry pass (see :mod:`fastem.kernels.discrete_missing`) and the
    row-constant ``_table`` (None when the constant is 0).

    Statistics are ``(nk, sx)`` with ``sx = sum w r x`` (K, D), or, once the
    family has met missing entries (``missing``), ``(nk, sx, mass)`` with
    ``sx`` summed over the observed entries and ``mass = sum w r m`` (K, D)
    each feature's responsibility mass of the rows that observe it (``nk``
    for every feature of a chunk without NaN), what the M-step divides by.
    """

    _table = None

    #: True once the family has met missing entries (a pass given ``missing``,
    #: or an initialization on rows with NaN): from then on its statistics
    #: carry ``mass``, so that the statistics of batches with and without NaN
    #: blend (online EM). Data without NaN keep today's pass and statistics.
    missing = False

    def _run(self, X, w, params, want_stats, row_logp, labels, resp, serial,
             missing=None):
        table = self._table if self._table is not None else np.zeros(1)
        K, D = self.n_components, X.shape[1]
        # the row constants (log binomial coefficients, log factorials) are
        # parameter-free: a table look-up per entry, added to every pass's sum
        want_const = self._table is not None
        outputs = (want_stats, want_const, row_logp, labels, resp)
        if missing is not None:
            inputs = (X, w, self._missing_terms(params), self._log_weights(params), table)
            return self._kernel_call(discrete_missing.linear_missing_lanes, inputs,
                                     outputs, ((K,), (K, 2 * D)), X.shape[0],
                                     self.block_rows, serial)
        A, b = self._linear_terms(params)
        return self._kernel_call(kernels.linear_lanes, (X, w, A, b, table), outputs,
                                 ((K,), (K, D)), X.shape[0], self.block_rows, serial)

    def statistics(self, X, sample_weight, params, serial=False, missing=None):
        stats, loglik = super().statistics(X, sample_weight, params, serial, missing)
        if missing is not None:  # the pass returned [sx | mass]
            self.missing = True
            nk, sxm = stats
            D = X.shape[1]
            return (nk, np.ascontiguousarray(sxm[:, :D]),
                    np.ascontiguousarray(sxm[:, D:])), loglik
        return self.rebase(stats, None, None), loglik

    def rebase(self, stats, from_params, to_params):
        """Statistics of a chunk without NaN in the layout with ``mass`` once
        the family has met missing entries (online EM blends them)."""
        if self.missing and len(stats) == 2:
            nk, sx = stats
            return nk, sx, np.repeat(nk[:, None], sx.shape[1], axis=1)
        return stats

    @staticmethod
    def _split(stats):
        """``(nk, sx, mass)``: ``mass`` (K, D) broadcasts ``nk`` for statistics
        without it."""
        if len(stats) == 3:
            return stats
        nk, sx = stats
        return nk, sx, nk[:, None]

    def initialize(self, X, sample_weight, random_state):
        if has_nan(X):
            self.missing = True
        return super().initialize(X, sample_weight, random_state)

    def _resp_statistics(self, X, r):
        if self.missing:
            X0, observed = observed_parts(X)
            return r.sum(axis=0), r.T @ X0, r.T @ observed
        return r.sum(axis=0), r.T @ np.asarray(X, dtype=np.float64)

    def _seed_rows(self, X, w, idx):
        """``(rows, mean)``: the rows ``idx`` and the weighted per-feature mean
        (float64), missing entries of the rows read as the mean."""
        if not self.missing:
            return np.asarray(X[idx], dtype=np.float64), (w @ X) / w.sum()
        X0, observed = observed_parts(X)
        mean = (w @ X0) / (w @ observed)
        rows = np.asarray(X[idx], dtype=np.float64)
        return np.where(np.isnan(rows), mean, rows), mean

    def n_parameters(self, params):
        K, D = params[self.param_name].shape
        return int(K * D + (K - 1 if self.learn_weights else 0))


def has_nan(X):
    """True when ``X`` (an initialization's rows) is float and holds NaN."""
    return X.dtype.kind == "f" and bool(np.isnan(X).any())


def observed_parts(X):
    """``(x0, m)``, float64 (N, D): X with missing entries read as 0, and the
    observed-entry mask (1 observed, 0 missing)."""
    X = np.asarray(X, dtype=np.float64)
    observed = ~np.isnan(X)
    return np.where(observed, X, 0.0), observed.astype(np.float64)


def fill_missing(X, w):
    """X (float64) with each missing entry replaced by its feature's weighted
    observed mean."""
    X0, observed = observed_parts(X)
    mean = (w @ X0) / (w @ observed)
    return np.where(observed > 0, X0, mean)
