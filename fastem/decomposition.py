"""Factor models (scikit-learn API): FactorAnalysis and MixtureOfFactorAnalyzers."""
import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from . import _config, _driver
from ._base import BaseMixture, store_params
from ._threads import one_blas_thread, resolve_n_jobs
from ._validation import (check_float, check_init_array, check_int, check_option,
                          check_random_state, check_weights_init)
from .families.factor import (FA_NOISE_FLOOR, NOISE_TYPES, FactorMixtureFamily,
                              MomentsPass, canonical_loadings, fa_em_step, fa_loglik,
                              initial_loadings, mean_and_covariance,
                              orthogonal_rotation)

_LOG_2PI = np.log(2 * np.pi)


def _per_row(source, func, width=None):
    """``func`` applied to the validated rows of a data source, concatenated.

    In-memory and streamed sources give a NumPy array (chunk by chunk); a Dask
    source gives a lazy Dask array. ``width`` is the number of output columns
    (None: one value per row).
    """
    if not hasattr(source, "chunks"):  # Dask
        X = source.X
        if width is None:
            return X.map_blocks(func, drop_axis=1, dtype=np.float64)
        return X.map_blocks(func, chunks=(X.chunks[0], (width,)), dtype=np.float64)
    parts = [func(X) for _, X, _ in source.chunks()]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _positive_init(value, name, shape):
    arr = check_init_array(value, name, shape)
    if not (arr > 0).all():
        raise ValueError(f"{name} must be positive (noise variances), got min value "
                         f"{arr.min():.5g}.")
    return arr


class FactorAnalysis(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Factor analysis by EM on the data's covariance; a drop-in for
    ``sklearn.decomposition.FactorAnalysis``.

    ``x = mean + components_^T z + eps`` with ``z ~ N(0, I)`` and
    ``eps ~ N(0, diag(noise_variance_))``. One fused, parallel, compiled pass
    reads X once for its weighted mean and covariance (float64, around a
    shift); EM then runs on the D x D covariance alone, O(D^2 q) per
    iteration, never reading X again (scikit-learn takes an SVD of all of X
    per iteration).

    Parameters
    ----------
    n_components : int or None, default=None
        Number of factors q, at most n_features (None: n_features).
    tol : float, default=1e-2
        EM stops when the total log-likelihood ``loglike_`` grows by less
        than ``tol`` (scikit-learn's criterion; EM takes smaller steps than
        scikit-learn's SVD iteration, so pass a smaller ``tol`` to reach the
        same maximum).
    copy : bool, default=True
        Accepted for compatibility: X is never modified.
    max_iter : int, default=1000
    noise_variance_init : array-like of shape (n_features,), default=None
        Initial noise variances (None: ones, as scikit-learn).
    svd_method : {'lapack', 'randomized'}, default='randomized'
        Only the initialization: the starting loadings are scikit-learn's
        first step from ``noise_variance_init``, the top eigenvectors of the
        D x D scaled covariance, exact ('lapack') or by a randomized SVD of
        that D x D matrix ('randomized').
    iterated_power : int, default=3
        Power iterations of the randomized initialization.
    rotation : {'varimax', 'quartimax'} or None, default=None
    random_state : int, RandomState instance or None, default=0
        Seeds the randomized initialization only.
    noise : {'diagonal', 'isotropic'}, default='diagonal'
        'isotropic' fits probabilistic PCA (Tipping & Bishop): one noise
        variance for all features.
    n_jobs : int or None, default=None
        Threads for the data pass (None: all cores).
    chunk_size : int or None, default=None
        Rows per chunk when streaming (None: ``np.memmap`` input is streamed
        in chunks of about 64 MB, other arrays are read whole).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
    loglike_ : list of float
        Total (sample-weighted) log-likelihood of the parameters entering
        each EM iteration; non-decreasing.
    noise_variance_ : ndarray of shape (n_features,)
    n_iter_ : int
    mean_ : ndarray of shape (n_features,)
    n_features_in_ : int
    """

    _source = BaseMixture._source
    _check_X = BaseMixture._check_X
    _check_streamable = BaseMixture._check_streamable

    def __init__(self, n_components=None, *, tol=1e-2, copy=True, max_iter=1000,
                 noise_variance_init=None, svd_method="randomized", iterated_power=3,
                 rotation=None, random_state=0, noise="diagonal", n_jobs=None,
                 chunk_size=None):
        store_params(self, locals())

    def _check_params(self):
        check_int(self.n_components, "n_components", low=0, allow_none=True, owner=self)
        check_float(self.tol, "tol", low=0.0, owner=self)
        check_int(self.max_iter, "max_iter", low=1, owner=self)
        check_int(self.iterated_power, "iterated_power", low=0, owner=self)
        check_option(self.svd_method, "svd_method", ("lapack", "randomized"), owner=self)
        check_option(self.noise, "noise", NOISE_TYPES, owner=self)
        if self.rotation is not None:
            check_option(self.rotation, "rotation", ("varimax", "quartimax"), owner=self)
        if not isinstance(self.copy, (bool, np.bool_)):
            raise TypeError(f"copy must be a bool, got {self.copy!r}.")
        if self.chunk_size is not None:
            check_int(self.chunk_size, "chunk_size", low=1, owner=self)
        resolve_n_jobs(self.n_jobs)

    def fit(self, X, y=None, sample_weight=None):
        """Fit the factor model to X by EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A NumPy array, a ``np.memmap`` (streamed) or a ``dask.array.Array``.
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight counts as that many copies.

        Returns
        -------
        self
        """
        self._check_params()
        source = self._source(X, sample_weight, reset=True)
        if source.n_samples < 2:
            raise ValueError(f"X has {source.n_samples} sample(s), but FactorAnalysis "
                             "needs at least 2.")
        D = source.n_features
        q = D if self.n_components is None else self.n_components
        if q > D:
            raise ValueError(f"n_components={q} must be at most n_features={D}.")
        isotropic = self.noise == "isotropic"
        psi0 = np.ones(D) if self.noise_variance_init is None else \
            _positive_init(self.noise_variance_init, "noise_variance_init", (D,))
        if isotropic:
            psi0 = np.full(D, psi0.mean())
        random_state = check_random_state(self.random_state, owner=self)
        head = source.X[:_config.BLOCK_ROWS]  # a shift near the data
        shift = np.asarray(head.compute() if hasattr(head, "compute") else head,
                           dtype=np.float64).mean(axis=0)
        with one_blas_thread():
            (S,), _ = source.statistics(MomentsPass(self.n_jobs), {"shift": shift})
        mean, cov, total = mean_and_covariance(S, shift)
        # EM runs on cov / scale, a power of 2 near the mean variance (exact:
        # the same iterates, scaled), so data at 1e+-150 neither over- nor
        # underflow; loadings, noise and log-likelihoods are scaled back
        mean_var = np.diag(cov).mean()
        scale = 2.0 ** np.round(np.log2(mean_var)) if mean_var > 0 else 1.0
        cov = cov / scale
        ll_offset = -0.5 * total * D * np.log(scale)

        def initialize():
            loadings = initial_loadings(cov, psi0 / scale, q, self.svd_method,
                                        self.iterated_power, random_state)
            return {"loadings": loadings, "psi": psi0 / scale}

        def step(stats, params):
            loadings, psi = fa_em_step(cov, params["loadings"], params["psi"], isotropic,
                                       FA_NOISE_FLOOR / scale)
            return {"loadings": loadings, "psi": psi}

        run = _driver.fit_em(
            lambda p: (None, fa_loglik(cov, p["loadings"], p["psi"], total) + ll_offset),
            step, initialize, n_init=1, total_weight=1.0, tol=self.tol,
            max_iter=self.max_iter)
        components = (canonical_loadings(run.params["loadings"], run.params["psi"]).T
                      * np.sqrt(scale))
        if self.rotation is not None and q > 0:
            components = orthogonal_rotation(components.T, self.rotation)
        self.components_ = components
        self.noise_variance_ = run.params["psi"] * scale
        self.loglike_ = list(run.lower_bounds)
        self.n_iter_ = run.n_iter
        self.mean_ = mean
        self._fit_dtype = source.dtype
        self.n_features_in_ = D
        return self

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def _rows(self, X, func, width=None):
        check_is_fitted(self, "components_")
        return _per_row(self._source(X), func, width)

    def transform(self, X):
        """Posterior mean of the factors of each row, shape (n_samples, n_components)."""
        W = self.components_
        wpsi = W / self.noise_variance_
        cov_z = np.linalg.inv(np.eye(W.shape[0]) + wpsi @ W.T)
        project = wpsi.T @ cov_z

        def factors(rows):
            return (rows - self.mean_) @ project
        return self._rows(X, factors, W.shape[0])

    def get_covariance(self):
        """Model covariance ``components_^T components_ + diag(noise_variance_)``, (D, D)."""
        check_is_fitted(self, "components_")
        cov = self.components_.T @ self.components_
        cov.flat[:: cov.shape[0] + 1] += self.noise_variance_
        return cov

    def get_precision(self):
        """Inverse of :meth:`get_covariance` by the Woodbury identity, (D, D)."""
        check_is_fitted(self, "components_")
        W, psi = self.components_, self.noise_variance_
        if W.shape[0] == 0:
            return np.diag(1.0 / psi)
        inner = np.linalg.inv(np.eye(W.shape[0]) + (W / psi) @ W.T)
        precision = -(W / psi).T @ inner @ (W / psi)
        precision.flat[:: precision.shape[0] + 1] += 1.0 / psi
        return precision

    def score_samples(self, X):
        """Log-likelihood of each row under the model, shape (n_samples,)."""
        precision = self.get_precision()
        log_det = np.linalg.slogdet(precision)[1]
        D = precision.shape[0]

        def loglik(rows):
            r = rows - self.mean_
            return -0.5 * (r * (r @ precision)).sum(axis=1) - 0.5 * (D * _LOG_2PI - log_det)
        return self._rows(X, loglik)

    def score(self, X, y=None):
        """Mean log-likelihood of the rows of X."""
        values = self.score_samples(X)
        return float(values.mean().compute() if hasattr(values, "compute")
                     else values.mean())


_MFA_INITS = ("kmeans", "k-means++", "random", "random_from_data")


class MixtureOfFactorAnalyzers(TransformerMixin, BaseMixture):
    """Mixture of factor analyzers fitted by EM (Ghahramani & Hinton 1996).

    Component k is a Gaussian with mean ``means_[k]`` and covariance
    ``loadings_[k] @ loadings_[k].T + diag(noise_variance_[k])``: between
    GaussianMixture's 'diag' and 'full' at O(D q) parameters per component.
    Each EM iteration is one fused, parallel, compiled pass over X whose cost
    per row is O(K D q) (Woodbury identity and matrix determinant lemma): no
    D x D matrix per row and no (n_samples, n_components) array.

    Parameters
    ----------
    n_components : int, default=1
    n_factors : int, default=1
        Latent factors per component, ``1 <= n_factors < n_features``.
    noise : {'diagonal', 'isotropic'}, default='diagonal'
        'isotropic': one noise variance per component (mixture of
        probabilistic PCA).
    shared_noise : bool, default=False
        One noise variance vector shared by every component.
    tol : float, default=1e-3
        EM stops when the mean log-likelihood changes by less than ``tol``.
    reg_covar : float, default=1e-6
        Floor on every noise variance (keeps EM monotone: the floored update
        is the constrained maximizer).
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        Initial responsibilities, as GaussianMixture's; each component's
        loadings and noise then come from its initial full covariance.
    weights_init : array-like of shape (n_components,), default=None
    means_init : array-like of shape (n_components, n_features), default=None
    loadings_init : array-like of shape (n_components, n_features, n_factors), default=None
    noise_variance_init : array-like of shape (n_components, n_features), default=None
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
    verbose, verbose_interval : int, default=0, 10
    n_jobs : int or None, default=None
    chunk_size : int or None, default=None
        Rows per chunk when streaming (None: memmaps in ~64 MB chunks).
    learning_decay, learning_offset : float, default=0.7, 10.0
        Step size of online EM in :meth:`partial_fit`.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    loadings_ : ndarray of shape (n_components, n_features, n_factors)
    noise_variance_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray of shape (n_components, n_features, n_features)
        Computed on access from the loadings and noise.
    converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_
        As GaussianMixture's.
    """

    def __init__(self, n_components=1, *, n_factors=1, noise="diagonal",
                 shared_noise=False, tol=1e-3, reg_covar=1e-6, max_iter=100, n_init=1,
                 init_params="kmeans", weights_init=None, means_init=None,
                 loadings_init=None, noise_variance_init=None, random_state=None,
                 warm_start=False, verbose=0, verbose_interval=10, n_jobs=None,
                 chunk_size=None, learning_decay=0.7, learning_offset=10.0):
        store_params(self, locals())

    def _make_family(self, n_features):
        K, D = self.n_components, n_features
        q = check_int(self.n_factors, "n_factors", low=1, owner=self)
        if q >= D:
            raise ValueError(f"n_factors={q} must be less than n_features={D} (with "
                             "n_factors >= n_features use GaussianMixture("
                             "covariance_type='full')).")
        check_option(self.noise, "noise", NOISE_TYPES, owner=self)
        check_option(self.init_params, "init_params", _MFA_INITS, owner=self)
        if not isinstance(self.shared_noise, (bool, np.bool_)):
            raise TypeError(f"shared_noise must be a bool, got {self.shared_noise!r}.")
        reg_covar = check_float(self.reg_covar, "reg_covar", low=0.0, owner=self)
        resolve_n_jobs(self.n_jobs)
        return FactorMixtureFamily(
            K, q, self.noise, bool(self.shared_noise), reg_covar, self.init_params,
            weights_init=check_weights_init(self.weights_init, K),
            means_init=None if self.means_init is None else
            check_init_array(self.means_init, "means_init", (K, D)),
            loadings_init=None if self.loadings_init is None else
            check_init_array(self.loadings_init, "loadings_init", (K, D, q)),
            noise_variance_init=None if self.noise_variance_init is None else
            _positive_init(self.noise_variance_init, "noise_variance_init", (K, D)),
            n_jobs=self.n_jobs)

    def _set_attributes(self, params, dtype):
        self.weights_ = params["weights"].astype(dtype)
        self.means_ = params["means"].astype(dtype)
        self.loadings_ = params["loadings"].astype(dtype)
        self.noise_variance_ = params["noise_variance"].astype(dtype)

    @property
    def covariances_(self):
        check_is_fitted(self, "_params")
        L, psi = self._params["loadings"], self._params["noise_variance"]
        cov = np.einsum("kdj,kej->kde", L, L)
        idx = np.arange(psi.shape[1])
        cov[:, idx, idx] += psi
        return cov.astype(self._fit_dtype)

    def transform(self, X):
        """Posterior mean of the factors, ``sum_k p(k | x) E[z | x, k]``, shape
        (n_samples, n_factors) (the factors' prior is the same in every
        component, so this is ``E[z | x]``)."""
        check_is_fitted(self, "_params")
        family, params = self._family, self._params
        source = self._source(X)
        serial = not hasattr(source, "chunks")  # Dask: the tasks are the parallelism

        def factors(rows):
            return family.posterior_factors(rows, params, serial=serial)
        return _per_row(source, factors, self.n_factors)
