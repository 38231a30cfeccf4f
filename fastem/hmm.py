"""Hidden Markov models: drop-ins for hmmlearn's ``hmmlearn.hmm`` (0.3).

``from fastem import hmm`` replaces ``from hmmlearn import hmm``: same class
names, constructor parameters and defaults, fitted attributes and methods.
Baum-Welch runs on fastem's engine (:mod:`fastem.families.hmm`): one
compiled statistics pass per iteration, parallel and bit-identical for any
``n_jobs``. Beyond hmmlearn: ``fit(..., sample_weight=)`` with one weight per
sequence, ``lower_bounds_``, states no sequence visits keep their previous
parameters (no NaN), float32 input kept as float32.

``implementation`` accepts ``'log'`` and ``'scaling'``; both run the same
scaled forward-backward (the emission probabilities are scaled per row, so
nothing underflows) and give the same result.
"""
from collections import deque

import numpy as np
from scipy import linalg
from scipy.stats import multinomial
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ._base import store_params
from ._driver import run_em
from ._threads import resolve_n_jobs
from ._hmm_data import INIT_ROWS, ArraySequences, DaskSequences
from ._validation import (_check_finite, as_numeric_array, check_data, check_int,
                          check_n_features, check_option, check_random_state,
                          check_sample_weight)
from .families.hmm import (CategoricalEmission, GaussianEmission, GMMEmission, HMMFamily,
                           MultinomialEmission, PoissonEmission, full_covars,
                           sequence_starts)

__all__ = ["GaussianHMM", "GMMHMM", "CategoricalHMM", "MultinomialHMM", "PoissonHMM"]

COVARIANCE_TYPES = ("spherical", "diag", "full", "tied")
DECODER_ALGORITHMS = ("viterbi", "map")


class ConvergenceMonitor:
    """hmmlearn's convergence monitor: ``history`` of the total log-likelihood
    per iteration, ``iter`` and ``converged``."""

    def __init__(self, tol, n_iter, verbose):
        self.tol = tol
        self.n_iter = n_iter
        self.verbose = verbose
        self.history = deque()
        self.iter = 0

    def _reset(self):
        self.iter = 0
        self.history.clear()

    @property
    def converged(self):
        """Whether EM converged (hmmlearn's rule: ``n_iter`` reached or the
        last gain below ``tol``)."""
        return (self.iter == self.n_iter or
                (len(self.history) >= 2 and self.history[-1] - self.history[-2] < self.tol))


def _check_lengths(lengths, n_samples):
    """Sequence lengths as int64, refusing non-positive lengths or a wrong total."""
    if lengths is None:
        return np.array([n_samples], dtype=np.int64)
    arr = as_numeric_array(lengths, "lengths")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"lengths must be a non-empty 1-D array of sequence lengths, "
                         f"got shape {arr.shape}.")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            raise ValueError("lengths must hold integers (the sequences' row counts).")
    arr = arr.astype(np.int64)
    if (arr <= 0).any():
        first = int(np.argmax(arr <= 0))
        raise ValueError(f"lengths must be positive: sequence {first} has length "
                         f"{int(arr[first])}.")
    if int(arr.sum()) != n_samples:
        raise ValueError(f"lengths array {arr} doesn't sum to {n_samples} samples: the "
                         f"sequence lengths must add up to the rows of X.")
    return arr


#: below this many rows the initial k-means runs on one OpenMP thread
KMEANS_PARALLEL_ROWS = 100_000


def _kmeans_centers(X, n_clusters, random_state, n_jobs):
    """hmmlearn's initialization: scikit-learn's ``KMeans(n_clusters,
    random_state, n_init=10)`` on ``X``; returns ``(centers, labels)``.

    Its OpenMP threads busy-wait between its many short passes: on small data
    they cost more than they save, and on a shared machine seconds (a first
    fit of 2,000 rows took 1-5 s on two loaded cores, 0.05 s on one thread).
    So small data runs on one thread; larger data on ``n_jobs`` threads.
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits  # scans the libraries loaded by now
    n_threads = 1 if X.shape[0] < KMEANS_PARALLEL_ROWS else resolve_n_jobs(n_jobs)
    with threadpool_limits(limits=n_threads, user_api="openmp"):
        kmeans = KMeans(n_clusters=n_clusters, random_state=random_state, n_init=10).fit(X)
    return kmeans.cluster_centers_, kmeans.labels_


def _is_dask(X):
    return hasattr(X, "dask") and hasattr(X, "chunks")


def _as_sequences(X, lengths):
    """A list of 2-D arrays (NumPy or Dask) becomes one array and its lengths."""
    if not (isinstance(X, (list, tuple)) and len(X) > 0
            and all(hasattr(s, "ndim") and s.ndim == 2 for s in X)):
        return X, lengths
    if lengths is not None:
        raise ValueError("lengths must be None when X is a list of sequences (their "
                         "lengths are the sequences' row counts).")
    lengths = [s.shape[0] for s in X]
    if any(_is_dask(s) for s in X):
        import dask.array as da
        return da.concatenate([da.asarray(s) for s in X], axis=0), lengths
    return np.concatenate(X, axis=0), lengths


def _check_distribution(value, name, shape):
    """``value`` as float64 of ``shape`` whose last axis sums to 1 (rows of a
    stochastic matrix), refusing NaN, negatives and zero rows."""
    arr = np.array(value, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}.")
    _check_finite(arr, name)
    if (arr < 0).any():
        raise ValueError(f"{name} must be non-negative.")
    sums = arr.sum(axis=-1)
    if not np.allclose(sums, 1):
        raise ValueError(f"{name} must sum to 1 (got {sums})" if arr.ndim == 1 else
                         f"{name} rows must sum to 1 (got row sums of {sums}); a row of "
                         f"zeros is a state with no transition out.")
    return arr


class _BaseHMM(BaseEstimator):
    """What every HMM face shares: validation, the EM loop, decoding, sampling.

    Subclasses define ``_emission_letters``, ``_emission_names`` (parameter
    letter -> attribute), ``_make_emission()``, ``_check_X``,
    ``_init_emission``, ``_check_emission`` and ``_sample_state``.
    """

    def _check_common(self):
        check_int(self.n_components, "n_components", low=1, owner=self)
        check_int(self.n_iter, "n_iter", low=0, owner=self)
        check_option(self.algorithm, "algorithm", DECODER_ALGORITHMS, owner=self)
        check_option(self.implementation, "implementation", ("log", "scaling"), owner=self)
        resolve_n_jobs(self.n_jobs)
        for name in ("params", "init_params"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a string of parameter letters, got "
                                f"{getattr(self, name)!r}.")

    # ------------------------------------------------------------ parameters
    def _family(self):
        return HMMFamily(self._make_emission(), self.n_components,
                         startprob_prior=self.startprob_prior,
                         transmat_prior=self.transmat_prior, params=self.params,
                         n_jobs=self.n_jobs)

    def _get_params_dict(self):
        params = {"startprob": self.startprob_, "transmat": self.transmat_}
        params.update(self._emission_params())
        return params

    def _set_params_dict(self, params):
        self.startprob_ = params["startprob"]
        self.transmat_ = params["transmat"]
        self._set_emission_params(params)

    def _needs_init(self, code, name):
        return code in self.init_params or not hasattr(self, name)

    def _init(self, X, lengths):
        K = self.n_components
        random_state = check_random_state(self.random_state, owner=self)
        init = 1.0 / K
        if self._needs_init("s", "startprob_"):
            self.startprob_ = random_state.dirichlet(np.full(K, init))
        if self._needs_init("t", "transmat_"):
            self.transmat_ = random_state.dirichlet(np.full(K, init), size=K)
        self._init_emission(X, lengths)

    def _check(self):
        K = self.n_components
        self.startprob_ = _check_distribution(self.startprob_, "startprob_", (K,))
        self.transmat_ = _check_distribution(self.transmat_, "transmat_", (K, K))
        self._check_emission()

    # ------------------------------------------------------------------ fit
    def fit(self, X, lengths=None, sample_weight=None):
        """Estimate the parameters by Baum-Welch (EM).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), Dask array, or list
            The sequences, concatenated (NumPy or Dask), or a list of 2-D
            arrays, one per sequence (then ``lengths`` is None). A Dask
            array is fitted block by block (the first rows initialize).
        lengths : array-like of int of shape (n_sequences,), optional
            Lengths of the sequences in ``X`` (summing to ``n_samples``).
        sample_weight : array-like of shape (n_sequences,), optional
            One weight per sequence (an integer weight equals repeating it).

        Returns
        -------
        self
        """
        self._check_common()
        data = self._data(X, lengths, sample_weight, reset=True)
        self._init(data.init_sample(), None)
        self._check()
        family = self._family()
        self.monitor_ = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)
        run = run_em(lambda params: data.statistics(family, params),
                     family.maximize, self._get_params_dict(), total_weight=1.0,
                     tol=self.tol, max_iter=self.n_iter, verbose=int(bool(self.verbose)),
                     verbose_interval=1)
        self._set_params_dict(run.params)
        self.lower_bounds_ = list(run.lower_bounds)
        self.monitor_.history.extend(run.lower_bounds)
        self.monitor_.iter = run.n_iter
        return self

    def _data(self, X, lengths, sample_weight=None, reset=False):
        """The validated sequences: :class:`ArraySequences` or :class:`DaskSequences`."""
        X, lengths = _as_sequences(X, lengths)
        if _is_dask(X):
            lengths = _check_lengths(lengths, X.shape[0])
            starts = sequence_starts(lengths)
            weights = check_sample_weight(sample_weight, len(lengths))
            if reset:  # the first rows set what the block checks compare against
                self._check_X(np.asarray(X[:INIT_ROWS].compute()), reset=True)
            return DaskSequences(X, starts, weights,
                                 lambda block: self._check_X(block, reset=False))
        X = self._check_X(X, reset=reset)
        lengths = _check_lengths(lengths, X.shape[0])
        weights = check_sample_weight(sample_weight, len(lengths))
        return ArraySequences(X, sequence_starts(lengths), weights)

    # ------------------------------------------------------------- inference
    def _fitted_data(self, X, lengths):
        check_is_fitted(self, "startprob_")
        self._check()
        return self._data(X, lengths)

    def score_samples(self, X, lengths=None):
        """``(log_prob, posteriors (n_samples, n_components))`` of ``X``."""
        return self._fitted_data(X, lengths).posteriors(self._family(),
                                                        self._get_params_dict())

    def score(self, X, lengths=None):
        """Log-likelihood of ``X`` under the model (summed over sequences)."""
        return self._fitted_data(X, lengths).loglik(self._family(), self._get_params_dict())

    def predict_proba(self, X, lengths=None):
        """State posteriors, shape (n_samples, n_components)."""
        return self.score_samples(X, lengths)[1]

    def decode(self, X, lengths=None, algorithm=None):
        """``(log_prob, state_sequence)`` by ``algorithm`` ('viterbi' or 'map')."""
        algorithm = algorithm or self.algorithm
        if algorithm not in DECODER_ALGORITHMS:
            raise ValueError(f"Unknown decoder {algorithm!r}: algorithm must be one of "
                             f"{DECODER_ALGORITHMS}.")
        data = self._fitted_data(X, lengths)
        family = self._family()
        if algorithm == "viterbi":
            return data.viterbi(family, self._get_params_dict())
        _, posteriors = data.posteriors(family, self._get_params_dict())
        return float(posteriors.max(axis=1).sum()), posteriors.argmax(axis=1)

    def predict(self, X, lengths=None):
        """Most likely state of each sample (by ``algorithm``)."""
        return self.decode(X, lengths)[1]

    def _n_fit_scalars(self):
        K = self.n_components
        counts = {"s": K - 1, "t": K * (K - 1)}
        counts.update(self._make_emission().n_fit_scalars(self._get_params_dict()))
        return counts

    def aic(self, X, lengths=None):
        """Akaike information criterion ``-2 log L + 2 p``."""
        n_params = sum(self._n_fit_scalars().values())
        return -2 * self.score(X, lengths) + 2 * n_params

    def bic(self, X, lengths=None):
        """Bayesian information criterion ``-2 log L + p log n_samples``."""
        n_params = sum(self._n_fit_scalars().values())
        data = self._fitted_data(X, lengths)
        loglik = data.loglik(self._family(), self._get_params_dict())
        return -2 * loglik + n_params * np.log(data.n_samples)

    def get_stationary_distribution(self):
        """Stationary distribution of the states (left eigenvector of ``transmat_``)."""
        check_is_fitted(self, "transmat_")
        eigvals, eigvecs = linalg.eig(self.transmat_.T)
        eigvec = np.real_if_close(eigvecs[:, np.argmax(eigvals)])
        return eigvec / eigvec.sum()

    def sample(self, n_samples=1, random_state=None, currstate=None):
        """Draw ``(X, state_sequence)``; same draws as hmmlearn for the same seed."""
        check_is_fitted(self, "startprob_")
        self._check()
        if random_state is None:
            random_state = self.random_state
        random_state = check_random_state(random_state, owner=self)
        transmat_cdf = np.cumsum(self.transmat_, axis=1)
        if currstate is None:
            currstate = (np.cumsum(self.startprob_) > random_state.rand()).argmax()
        states = [currstate]
        X = [self._sample_state(currstate, random_state)]
        for _ in range(n_samples - 1):
            currstate = (transmat_cdf[currstate] > random_state.rand()).argmax()
            states.append(currstate)
            X.append(self._sample_state(currstate, random_state))
        return np.atleast_2d(X), np.array(states, dtype=int)

    def _more_tags(self):
        return {"X_types": ["2darray"]}


_COMMON_DOC = """
    startprob_prior, transmat_prior : float or array
        Dirichlet priors of ``startprob_`` and of each row of ``transmat_``.
    algorithm : {'viterbi', 'map'}
        Decoder used by ``predict`` and ``decode``.
    random_state : int, RandomState or None
    n_iter : int
        Maximum number of EM iterations.
    tol : float
        Stop when the total log-likelihood gains less than this.
    verbose : bool
    params, init_params : str
        Letters of the parameters updated during / initialized before fit
        ('s' startprob, 't' transmat, and the emission letters).
    implementation : {'log', 'scaling'}
        Accepted for compatibility; both give the same result.
    n_jobs : int or None
        Threads (None: all cores); results are identical for any value.

    Attributes
    ----------
    startprob_ : ndarray of shape (n_components,)
    transmat_ : ndarray of shape (n_components, n_components)
    monitor_ : ConvergenceMonitor
        ``history`` (total log-likelihood per iteration) and ``converged``.
    lower_bounds_ : list of float
        The same history as a list.
    n_features_in_ : int
"""


class _VectorsMixin:
    """Real-valued ``X`` of ``n_features`` columns (Gaussian emissions)."""

    def _check_X(self, X, reset):
        X = check_data(X, owner=self)
        if reset:
            self.n_features_in_ = self.n_features = X.shape[1]
        else:
            check_n_features(X, self.n_features_in_, estimator=type(self).__name__)
        return X


class GaussianHMM(_VectorsMixin, _BaseHMM):
    """Hidden Markov model with Gaussian emissions (hmmlearn's ``GaussianHMM``).

    Parameters
    ----------
    n_components : int
    covariance_type : {'spherical', 'diag', 'full', 'tied'}
    min_covar : float
        Added to the data covariance's diagonal when initializing ``covars_``.
    means_prior, means_weight, covars_prior, covars_weight : float or array
        hmmlearn's priors on the means and covariances (MAP M-step).
    """ + _COMMON_DOC + """    means_ : ndarray of shape (n_components, n_features)
    covars_ : ndarray of shape (n_components, n_features, n_features)
        Full matrices whatever ``covariance_type`` (as hmmlearn); stored as
        (n_components,), (n_components, n_features), (n_components, n_features,
        n_features) or (n_features, n_features) for spherical, diag, full, tied.
    """

    _emission_letters = "mc"

    def __init__(self, n_components=1, covariance_type="diag", min_covar=1e-3,
                 startprob_prior=1.0, transmat_prior=1.0, means_prior=0, means_weight=0,
                 covars_prior=1e-2, covars_weight=1, algorithm="viterbi",
                 random_state=None, n_iter=10, tol=1e-2, verbose=False, params="stmc",
                 init_params="stmc", implementation="log", n_jobs=None):
        store_params(self, locals())

    @property
    def covars_(self):
        """Covariances as (n_components, n_features, n_features), as hmmlearn."""
        return full_covars(self._covars_, self.covariance_type, self.n_components,
                           self.means_.shape[1])

    @covars_.setter
    def covars_(self, covars):
        covars = np.array(covars, dtype=np.float64)
        if self.covariance_type == "spherical" and covars.ndim == 2:
            covars = covars.mean(axis=1)  # hmmlearn's tiled (K, D) storage
        self._covars_ = covars

    def _make_emission(self):
        return GaussianEmission(self.n_components, self.covariance_type, self.means_prior,
                                self.means_weight, self.covars_prior, self.covars_weight,
                                self.params)

    def _init_emission(self, X, lengths):
        check_option(self.covariance_type, "covariance_type", COVARIANCE_TYPES, owner=self)
        if self._needs_init("m", "means_"):  # hmmlearn's initialization, draw for draw
            centers, _ = _kmeans_centers(X, self.n_components, self.random_state, self.n_jobs)
            self.means_ = centers.astype(np.float64)
        if self._needs_init("c", "_covars_"):
            D = X.shape[1]
            cv = np.atleast_2d(np.cov(np.asarray(X, dtype=np.float64).T)) \
                + self.min_covar * np.eye(D)
            K = self.n_components
            self._covars_ = {"spherical": np.full(K, cv.mean()),
                             "diag": np.tile(np.diag(cv), (K, 1)),
                             "full": np.tile(cv, (K, 1, 1)), "tied": cv.copy()
                             }[self.covariance_type]

    def _check_emission(self):
        check_option(self.covariance_type, "covariance_type", COVARIANCE_TYPES, owner=self)
        K = self.n_components
        self.means_ = np.asarray(self.means_, dtype=np.float64)
        if self.means_.ndim != 2 or self.means_.shape[0] != K:
            raise ValueError(f"means_ must have shape (n_components, n_features), got "
                             f"{self.means_.shape}.")
        D = self.means_.shape[1]
        shape = {"spherical": (K,), "diag": (K, D), "full": (K, D, D),
                 "tied": (D, D)}[self.covariance_type]
        covars = np.asarray(self._covars_, dtype=np.float64)
        if covars.shape != shape:
            raise ValueError(f"{self.covariance_type!r} covars must have shape {shape}, "
                             f"got {covars.shape}.")
        _check_finite(covars, "covars_")
        _check_finite(self.means_, "means_")
        if self.covariance_type in ("spherical", "diag") and (covars <= 0).any():
            raise ValueError(f"{self.covariance_type!r} covars must be positive.")
        self._covars_ = covars

    def _emission_params(self):
        return {"means": self.means_, "covars": self._covars_}

    def _set_emission_params(self, params):
        self.means_ = params["means"]
        self._covars_ = params["covars"]

    def _sample_state(self, state, random_state):
        return random_state.multivariate_normal(self.means_[state], self.covars_[state])


class _SymbolsMixin:
    """Integer-valued ``X`` (symbols or counts): refuse NaN, floats with
    fractions and negative values with messages naming ``X``."""

    def _integer_X(self, X):
        arr = as_numeric_array(X, "X")
        if arr.ndim != 2:
            raise ValueError(f"X must be 2-D of shape (n_samples, n_features), got shape "
                             f"{arr.shape}.")
        if arr.shape[0] == 0:
            raise ValueError("X has 0 samples; at least one is required.")
        if arr.dtype.kind == "f":
            _check_finite(arr, "X")
            raise ValueError("Symbols should be integers: X must have an integer dtype.")
        if (arr < 0).any():
            raise ValueError("Symbols should be nonnegative: X holds negative values.")
        return np.ascontiguousarray(arr, dtype=np.int64)


class CategoricalHMM(_SymbolsMixin, _BaseHMM):
    """Hidden Markov model with categorical emissions (hmmlearn's ``CategoricalHMM``).

    ``X`` is an integer column (n_samples, 1) of symbols ``0 .. n_features - 1``.

    Parameters
    ----------
    n_components : int
    emissionprob_prior : float or array
        Dirichlet prior of each row of ``emissionprob_``.
    n_features : int or None
        Number of symbols (None: ``X.max() + 1`` at the first fit).
    """ + _COMMON_DOC + """    emissionprob_ : ndarray of shape (n_components, n_features)
    """

    def __init__(self, n_components=1, startprob_prior=1.0, transmat_prior=1.0, *,
                 emissionprob_prior=1.0, n_features=None, algorithm="viterbi",
                 random_state=None, n_iter=10, tol=1e-2, verbose=False, params="ste",
                 init_params="ste", implementation="log", n_jobs=None):
        store_params(self, locals())

    def _make_emission(self):
        return CategoricalEmission(self.n_components, self.emissionprob_prior, self.params)

    def _check_X(self, X, reset):
        X = self._integer_X(X)
        if X.shape[1] != 1:
            raise ValueError(f"X must be one column of symbols, shape (n_samples, 1); got "
                             f"{X.shape[1]} columns.")
        if reset:
            self.n_features_in_ = 1
        n_symbols = self.n_features if self.n_features is not None else (
            self.emissionprob_.shape[1] if hasattr(self, "emissionprob_") and not reset
            else None)
        if n_symbols is not None and X.max() > n_symbols - 1:
            raise ValueError(f"Largest symbol is {X.max()} but the model only emits "
                             f"symbols up to {n_symbols - 1}: X holds symbols out of range.")
        if reset and self.n_features is None:
            self.n_features = int(X.max()) + 1
        return X

    def _init_emission(self, X, lengths):
        if self._needs_init("e", "emissionprob_"):
            random_state = check_random_state(self.random_state, owner=self)
            probs = random_state.rand(self.n_components, self.n_features)
            self.emissionprob_ = probs / probs.sum(axis=1, keepdims=True)

    def _check_emission(self):
        shape = (self.n_components, self.n_features if self.n_features is not None
                 else np.atleast_2d(self.emissionprob_).shape[1])
        self.emissionprob_ = _check_distribution(np.atleast_2d(self.emissionprob_),
                                                 "emissionprob_", shape)

    def _emission_params(self):
        return {"emissionprob": self.emissionprob_}

    def _set_emission_params(self, params):
        self.emissionprob_ = params["emissionprob"]

    def _sample_state(self, state, random_state):
        cdf = np.cumsum(self.emissionprob_[state, :])
        return [(cdf > random_state.rand()).argmax()]


class PoissonHMM(_BaseHMM):
    """Hidden Markov model with Poisson emissions (hmmlearn's ``PoissonHMM``).

    Parameters
    ----------
    n_components : int
    lambdas_prior, lambdas_weight : float or array
        Gamma prior of the rates (hmmlearn's MAP update).
    """ + _COMMON_DOC + """    lambdas_ : ndarray of shape (n_components, n_features)
    """

    def __init__(self, n_components=1, startprob_prior=1.0, transmat_prior=1.0,
                 lambdas_prior=0.0, lambdas_weight=0.0, algorithm="viterbi",
                 random_state=None, n_iter=10, tol=1e-2, verbose=False, params="stl",
                 init_params="stl", implementation="log", n_jobs=None):
        store_params(self, locals())

    def _make_emission(self):
        return PoissonEmission(self.n_components, self.lambdas_prior, self.lambdas_weight,
                               self.params)

    def _check_X(self, X, reset):
        X = check_data(X, owner=self)
        if (X < 0).any():
            raise ValueError("X must hold non-negative counts for a PoissonHMM.")
        if reset:
            self.n_features_in_ = self.n_features = X.shape[1]
        else:
            check_n_features(X, self.n_features_in_, estimator=type(self).__name__)
        return X

    def _init_emission(self, X, lengths):
        if self._needs_init("l", "lambdas_"):
            random_state = check_random_state(self.random_state, owner=self)
            mean, var = X.mean(), X.var()
            self.lambdas_ = random_state.gamma(shape=mean ** 2 / var, scale=var / mean,
                                               size=(self.n_components, self.n_features))

    def _check_emission(self):
        lambdas = np.atleast_2d(np.asarray(self.lambdas_, dtype=np.float64))
        if lambdas.shape[0] != self.n_components:
            raise ValueError("lambdas_ must have shape (n_components, n_features), got "
                             f"{lambdas.shape}.")
        _check_finite(lambdas, "lambdas_")
        if (lambdas <= 0).any():
            raise ValueError("lambdas_ must be positive.")
        self.lambdas_ = lambdas

    def _emission_params(self):
        return {"lambdas": self.lambdas_}

    def _set_emission_params(self, params):
        self.lambdas_ = params["lambdas"]

    def _sample_state(self, state, random_state):
        return random_state.poisson(self.lambdas_[state])


class MultinomialHMM(_SymbolsMixin, _BaseHMM):
    """Hidden Markov model with multinomial emissions (hmmlearn's ``MultinomialHMM``).

    Each row of ``X`` holds the counts of ``n_trials`` draws over the
    ``n_features`` outcomes.

    Parameters
    ----------
    n_components : int
    n_trials : int, array or None
        Draws per row (None: each row's sum at fit).
    """ + _COMMON_DOC + """    emissionprob_ : ndarray of shape (n_components, n_features)
    n_trials_ : int or ndarray
        The draws per row of the fit (hmmlearn writes them into ``n_trials``).
    """

    def __init__(self, n_components=1, n_trials=None, startprob_prior=1.0,
                 transmat_prior=1.0, algorithm="viterbi", random_state=None, n_iter=10,
                 tol=1e-2, verbose=False, params="ste", init_params="ste",
                 implementation="log", n_jobs=None):
        store_params(self, locals())

    def _make_emission(self):
        return MultinomialEmission(self.n_components, self.params)

    def _check_X(self, X, reset):
        X = self._integer_X(X)
        if reset:
            self.n_features_in_ = self.n_features = X.shape[1]
            # hmmlearn overwrites n_trials with the row sums; fastem keeps the
            # constructor parameter and records the fitted value here
            self.n_trials_ = X.sum(axis=1) if self.n_trials is None else self.n_trials
            if not (X.sum(axis=1) == self.n_trials_).all():
                raise ValueError("Total count for each sample should add up to the number "
                                 "of trials: every row of X must sum to n_trials.")
        else:
            check_n_features(X, self.n_features_in_, estimator=type(self).__name__)
        return X

    def _init_emission(self, X, lengths):
        if "e" in self.init_params or not hasattr(self, "emissionprob_"):
            random_state = check_random_state(self.random_state, owner=self)
            probs = random_state.rand(self.n_components, self.n_features)
            self.emissionprob_ = probs / probs.sum(axis=1, keepdims=True)

    def _check_emission(self):
        shape = (self.n_components, np.atleast_2d(self.emissionprob_).shape[1])
        self.emissionprob_ = _check_distribution(np.atleast_2d(self.emissionprob_),
                                                 "emissionprob_", shape)

    def _emission_params(self):
        return {"emissionprob": self.emissionprob_}

    def _set_emission_params(self, params):
        self.emissionprob_ = params["emissionprob"]

    def _sample_state(self, state, random_state):
        try:
            n_trials, = np.unique(getattr(self, "n_trials_", self.n_trials))
        except ValueError:
            raise ValueError("For sampling, a single n_trials must be given") from None
        return multinomial.rvs(n=n_trials, p=self.emissionprob_[state, :],
                               random_state=random_state)


class GMMHMM(_VectorsMixin, _BaseHMM):
    """Hidden Markov model with Gaussian-mixture emissions (hmmlearn's ``GMMHMM``).

    Parameters
    ----------
    n_components : int
    n_mix : int
        Gaussian components per state.
    min_covar : float
    weights_prior, means_prior, means_weight, covars_prior, covars_weight :
        hmmlearn's priors (None: hmmlearn's defaults for the covariance type).
    covariance_type : {'spherical', 'diag', 'full', 'tied'}
    """ + _COMMON_DOC + """    weights_ : ndarray of shape (n_components, n_mix)
    means_ : ndarray of shape (n_components, n_mix, n_features)
    covars_ : ndarray
        (n_components, n_mix) spherical, (n_components, n_mix, n_features)
        diag, (n_components, n_mix, n_features, n_features) full,
        (n_components, n_features, n_features) tied.
    """

    def __init__(self, n_components=1, n_mix=1, min_covar=1e-3, startprob_prior=1.0,
                 transmat_prior=1.0, weights_prior=1.0, means_prior=0.0, means_weight=0.0,
                 covars_prior=None, covars_weight=None, algorithm="viterbi",
                 covariance_type="diag", random_state=None, n_iter=10, tol=1e-2,
                 verbose=False, params="stmcw", init_params="stmcw", implementation="log",
                 n_jobs=None):
        store_params(self, locals())

    def _priors(self):
        """hmmlearn's priors, defaulted and broadcast (``_init_covar_priors``,
        ``_fix_priors_shape``), without changing the constructor parameters."""
        K, M, D = self.n_components, self.n_mix, self.n_features
        ct = self.covariance_type
        default_prior = {"full": 0.0, "tied": 0.0, "diag": -1.5,
                         "spherical": -(M + 2.0) / 2.0}[ct]
        default_weight = {"full": -(1.0 + D + 1.0), "tied": -(M + D + 1.0), "diag": 0.0,
                          "spherical": 0.0}[ct]
        cp = default_prior if self.covars_prior is None else self.covars_prior
        cw = default_weight if self.covars_weight is None else self.covars_weight
        shapes = {"full": ((K, M, D, D), (K, M)), "tied": ((K, D, D), (K,)),
                  "diag": ((K, M, D), (K, M, D)), "spherical": ((K, M), (K, M))}[ct]

        def broadcast(value, shape):
            return np.broadcast_to(np.asarray(value, dtype=np.float64), shape).copy()

        return {"weights_prior": broadcast(self.weights_prior, (K, M)),
                "means_prior": broadcast(self.means_prior, (K, M, D)),
                "means_weight": broadcast(self.means_weight, (K, M)),
                "covars_prior": broadcast(cp, shapes[0]),
                "covars_weight": broadcast(cw, shapes[1])}

    def _make_emission(self):
        return GMMEmission(self.n_components, self.n_mix, self.covariance_type,
                           self._priors(), self.params)

    def _init_emission(self, X, lengths):
        check_option(self.covariance_type, "covariance_type", COVARIANCE_TYPES, owner=self)
        K, M, D = self.n_components, self.n_mix, self.n_features
        needs = {c: self._needs_init(c, a) for c, a in
                 (("w", "weights_"), ("m", "means_"), ("c", "covars_"))}
        if not any(needs.values()):
            return
        Xf = np.asarray(X, dtype=np.float64)
        cv = np.atleast_2d(np.cov(Xf.T)) + self.min_covar * np.eye(D)
        if needs["m"]:
            # hmmlearn's initialization
            centers, labels = _kmeans_centers(Xf, K, self.random_state, self.n_jobs)
            centroid = centers.mean(axis=0)
            random_state = check_random_state(self.random_state, owner=self)
            means = []
            for label in range(K):
                members = Xf[labels == label]
                if members.shape[0] >= M:
                    means.append(_kmeans_centers(members, M, self.random_state,
                                                 self.n_jobs)[0])
                else:  # hmmlearn draws these from NumPy's global generator
                    means.append(random_state.multivariate_normal(centroid, cv, size=M))
            self.means_ = np.stack(means)
        if needs["w"]:
            self.weights_ = np.full((K, M), 1.0 / M)
        if needs["c"]:
            self.covars_ = {"tied": np.tile(cv, (K, 1, 1)), "full": np.tile(cv, (K, M, 1, 1)),
                            "diag": np.tile(np.diag(cv), (K, M, 1)),
                            "spherical": np.full((K, M), cv.mean())}[self.covariance_type]

    def _check_emission(self):
        check_option(self.covariance_type, "covariance_type", COVARIANCE_TYPES, owner=self)
        K, M = self.n_components, self.n_mix
        self.means_ = np.asarray(self.means_, dtype=np.float64)
        if self.means_.ndim != 3 or self.means_.shape[:2] != (K, M):
            raise ValueError(f"means_ must have shape (n_components, n_mix, n_features), "
                             f"actual shape: {self.means_.shape}")
        D = self.means_.shape[2]
        if not hasattr(self, "n_features"):
            self.n_features = D
        self.weights_ = _check_distribution(self.weights_, "weights_", (K, M))
        shape = {"spherical": (K, M), "tied": (K, D, D), "diag": (K, M, D),
                 "full": (K, M, D, D)}[self.covariance_type]
        covars = np.asarray(self.covars_, dtype=np.float64)
        if covars.shape != shape:
            raise ValueError(f"{self.covariance_type!r} mixture covars must have shape "
                             f"{shape}, actual shape: {covars.shape}")
        _check_finite(covars, "covars_")
        if self.covariance_type in ("spherical", "diag") and (covars <= 0).any():
            raise ValueError(f"{self.covariance_type!r} mixture covars must be positive.")
        self.covars_ = covars

    def _emission_params(self):
        return {"weights": self.weights_, "means": self.means_, "covars": self.covars_}

    def _set_emission_params(self, params):
        self.weights_ = params["weights"]
        self.means_ = params["means"]
        self.covars_ = params["covars"]

    def _sample_state(self, state, random_state):
        i_gauss = random_state.choice(self.n_mix, p=self.weights_[state])
        if self.covariance_type == "tied":
            cov = self.covars_[state]
        else:
            cov = full_covars(self.covars_[:, i_gauss], self.covariance_type,
                              self.n_components, self.n_features)[state]
        return random_state.multivariate_normal(self.means_[state, i_gauss], cov)
