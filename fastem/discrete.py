"""Discrete mixtures (scikit-learn API): Bernoulli, Binomial, Categorical, Poisson."""
import numpy as np

from . import _jit
from ._base import BaseMixture, store_params
from ._threads import resolve_n_jobs
from ._validation import (as_numeric_array, check_data, check_float, check_init_array,
                          check_int, check_n_features, check_option, check_weights_init)
from .families.binomial import BinomialFamily
from .families.categorical import CategoricalFamily
from .families.poisson import PoissonFamily
from .kernels import discrete as count_kernels

_COUNT_INITS = ("random", "random_from_data", "kmeans")
_CATEGORICAL_INITS = ("random", "random_from_data")

_DISCRETE_COMMON_DOC = """
    tol : float, default=1e-3
        EM stops when the mean log-likelihood changes by less than ``tol``.
    max_iter : int, default=100
    n_init : int, default=1
        Number of initializations; the best fit is kept.
    init_params : {init_options}, default='random_from_data'
        'random': uniform random responsibilities (as scikit-learn's
        mixtures); 'random_from_data': K distinct random rows as component
        centers, each shrunk half-way to the data mean{kmeans_doc}.
        Ignored when ``{param}_init`` is given.
    weights_init : array-like of shape (n_components,), default=None
        Initial mixing weights. When ``{param}_init`` is given and
        ``weights_init`` is not, weights start uniform.
    {param}_init : {param_shape}, default=None
        Initial {param}; with it no data-driven initialization runs.
    learn_weights : bool, default=True
        When False the mixing weights stay at ``weights_init`` (uniform if
        not given), e.g. the two-coin example, where the coin is picked
        uniformly.
    smoothing : float, default=1e-10
        {smoothing_doc} The M-step is the exact maximizer under this
        constraint, so ``lower_bounds_`` never decreases. Must be > 0.
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        Continue from the previous fit (``n_init`` is then ignored).
    verbose : int, default=0
    verbose_interval : int, default=10
    n_jobs : int or None, default=None
        Threads for the statistics pass (None: all cores).
    chunk_size : int or None, default=None
        Rows per chunk when streaming. None streams ``np.memmap`` input in
        chunks of about 64 MB and processes other arrays whole.
    learning_decay, learning_offset : float, default=0.7, 10.0
        Step size ``(n_steps + learning_offset) ** -learning_decay`` of
        online EM in :meth:`partial_fit`.
    missing : {{'raise', 'marginalize'}}, default='raise'
        NaN in X: 'raise' refuses them; 'marginalize' treats them as
        missing at random (a missing entry drops out of its row's
        likelihood). Infinity is always refused.
"""

_DISCRETE_ATTRS_DOC = """converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean (sample-weighted) log-likelihood of the best run: the true
        marginal log-likelihood, normalizing constants included, comparable
        with published values.
    lower_bounds_ : list of float
        ``lower_bound_`` after every iteration; non-decreasing up to round-off.
        With ``missing='marginalize'`` and NaN in X, the observed-data
        log-likelihood (of each row's observed entries); a row with no
        observed entry is ignored in the fit (log-likelihood 0; its
        ``predict_proba`` is ``weights_``).
    n_features_in_ : int

    Notes
    -----
    Parameters are float64 whatever the dtype of X (counts are not float
    data). Statistics are accumulated in float64. Each EM iteration is one
    fused, parallel, compiled pass over X; the (n_samples, n_components)
    responsibility matrix is only formed by ``predict_proba``.
"""


class _DiscreteMixture(BaseMixture):
    """Shared plumbing of the discrete mixtures (parameter checks, data domain)."""

    _init_options = _COUNT_INITS
    _param_name = "probs"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True  # integer counts / codes
        tags.input_tags.positive_only = True
        return tags

    def _common_family_kwargs(self, smoothing_high=0.5):
        check_option(self.init_params, "init_params", self._init_options, owner=self)
        if not isinstance(self.learn_weights, (bool, np.bool_)):
            raise TypeError(f"learn_weights must be a bool, got {self.learn_weights!r}.")
        smoothing = check_float(self.smoothing, "smoothing", low=0.0, low_open=True,
                                owner=self)
        if smoothing >= smoothing_high:
            raise ValueError(f"smoothing must be < {smoothing_high:.6g} (probabilities are "
                             f"kept in [smoothing, 1 - smoothing]), got {smoothing}.")
        resolve_n_jobs(self.n_jobs)
        return dict(init_params=self.init_params,
                    weights_init=check_weights_init(self.weights_init, self.n_components),
                    learn_weights=bool(self.learn_weights), smoothing=smoothing,
                    n_jobs=self.n_jobs)

    def _check_counts(self, X, name, reset, high, what):
        """Validate integer counts in ``[0, high]``; returns float32/float64 X."""
        dtype = None if reset else getattr(self, "_fit_dtype", None)
        X = check_data(X, name, dtype=dtype, owner=self, allow_nan=self._allows_nan())
        kind, i, j = _jit.call(count_kernels.first_invalid_count,
                               X, np.full(X.shape[1], float(high)))
        if kind:
            v = X[i, j]
            problem = {1: "is negative (Negative values in data are not counts)",
                       2: "is not an integer", 3: f"is above {what}"}[kind]
            raise ValueError(f"{name}[{i}, {j}] = {v:g} {problem}; "
                             f"{type(self).__name__} needs {self._domain_doc(what)}.")
        return X

    def _set_attributes(self, params, dtype):
        self.weights_ = params["weights"].copy()
        setattr(self, f"{self._param_name}_", params[self._param_name].copy())


class _BinomialBase(_DiscreteMixture):
    """Binomial/Bernoulli estimators (differ by ``n_trials`` and the data check)."""

    def _n_trials(self):
        return 1

    def _domain_doc(self, what):
        n = self._n_trials()
        return "0/1 values" if n == 1 else f"integer counts in [0, n_trials={n}]"

    def _check_X(self, X, name="X", reset=False):
        n = self._n_trials()
        return self._check_counts(X, name, reset, n, "1" if n == 1 else f"n_trials={n}")

    def _make_family(self, n_features):
        kwargs = self._common_family_kwargs()
        K = self.n_components
        if self.probs_init is not None:
            p = check_init_array(self.probs_init, "probs_init", (K, n_features))
            if (p < 0).any() or (p > 1).any():
                raise ValueError("probs_init must lie in [0, 1], got range "
                                 f"[{p.min():.6g}, {p.max():.6g}].")
            eps = kwargs["smoothing"]
            kwargs["param_init"] = np.clip(p, eps, 1.0 - eps)
        return BinomialFamily(K, self._n_trials(), **kwargs)


class BernoulliMixture(_BinomialBase):
    __doc__ = """Mixture of multivariate Bernoullis (binary features) fitted by EM.

    ``p(x) = sum_k weights_k prod_d probs_kd^x_d (1 - probs_kd)^(1 - x_d)``.

    Parameters
    ----------
    n_components : int, default=1
    """ + _DISCRETE_COMMON_DOC.format(
        init_options="{'random', 'random_from_data', 'kmeans'}", param="probs",
        param_shape="array-like of shape (n_components, n_features)",
        kmeans_doc="; 'kmeans': one-hot responsibilities of fastem.KMeans",
        smoothing_doc="Probabilities are kept in ``[smoothing, 1 - smoothing]`` "
        "(clipped in the M-step; ``probs_init`` is clipped too).") + """
    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    probs_ : ndarray of shape (n_components, n_features)
        Probability of a 1 per component and feature.
    """ + _DISCRETE_ATTRS_DOC

    def __init__(self, n_components=1, *, tol=1e-3, max_iter=100, n_init=1,
                 init_params="random_from_data", weights_init=None, probs_init=None,
                 learn_weights=True, smoothing=1e-10, random_state=None,
                 warm_start=False, verbose=0, verbose_interval=10, n_jobs=None,
                 chunk_size=None, learning_decay=0.7, learning_offset=10.0,
                 missing="raise"):
        store_params(self, locals())


class BinomialMixture(_BinomialBase):
    __doc__ = """Mixture of products of binomials: heads out of ``n_trials`` tosses per feature.

    ``p(x) = sum_k weights_k prod_d C(n, x_d) probs_kd^x_d (1 - probs_kd)^(n - x_d)``
    with ``n = n_trials``; the log-likelihood includes the binomial
    coefficients.

    Parameters
    ----------
    n_components : int, default=1
    n_trials : int, default=1
        Tosses per feature; X holds integer counts in ``[0, n_trials]``.
    """ + _DISCRETE_COMMON_DOC.format(
        init_options="{'random', 'random_from_data', 'kmeans'}", param="probs",
        param_shape="array-like of shape (n_components, n_features)",
        kmeans_doc="; 'kmeans': one-hot responsibilities of fastem.KMeans",
        smoothing_doc="Probabilities are kept in ``[smoothing, 1 - smoothing]`` "
        "(clipped in the M-step; ``probs_init`` is clipped too).") + """
    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    probs_ : ndarray of shape (n_components, n_features)
        Heads probability per component and feature.
    """ + _DISCRETE_ATTRS_DOC + """
    Examples
    --------
    The two coins of Do & Batzoglou (2008): five sets of ten tosses, the coin
    of each set hidden, picked uniformly.

    >>> import numpy as np
    >>> from fastem import BinomialMixture
    >>> heads = np.array([[5], [9], [8], [4], [7]])
    >>> m = BinomialMixture(2, n_trials=10, probs_init=[[0.6], [0.5]],
    ...                     learn_weights=False, max_iter=10, tol=0).fit(heads)
    >>> np.round(m.probs_.ravel(), 2)
    array([0.8 , 0.52])
    """

    def __init__(self, n_components=1, n_trials=1, *, tol=1e-3, max_iter=100,
                 n_init=1, init_params="random_from_data", weights_init=None,
                 probs_init=None, learn_weights=True, smoothing=1e-10,
                 random_state=None, warm_start=False, verbose=0,
                 verbose_interval=10, n_jobs=None, chunk_size=None,
                 learning_decay=0.7, learning_offset=10.0, missing="raise"):
        store_params(self, locals())

    def _n_trials(self):
        return check_int(self.n_trials, "n_trials", low=1, owner=self)


class PoissonMixture(_DiscreteMixture):
    __doc__ = """Mixture of products of Poissons (non-negative integer counts).

    ``p(x) = sum_k weights_k prod_d rates_kd^x_d exp(-rates_kd) / x_d!``; the
    log-likelihood includes the ``log x_d!`` terms.

    Parameters
    ----------
    n_components : int, default=1
    """ + _DISCRETE_COMMON_DOC.format(
        init_options="{'random', 'random_from_data', 'kmeans'}", param="rates",
        param_shape="array-like of shape (n_components, n_features)",
        kmeans_doc="; 'kmeans': one-hot responsibilities of fastem.KMeans",
        smoothing_doc="Rates are kept ``>= smoothing`` (floored in the M-step; "
        "``rates_init`` is floored too).") + """
    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    rates_ : ndarray of shape (n_components, n_features)
    """ + _DISCRETE_ATTRS_DOC

    _param_name = "rates"

    def __init__(self, n_components=1, *, tol=1e-3, max_iter=100, n_init=1,
                 init_params="random_from_data", weights_init=None, rates_init=None,
                 learn_weights=True, smoothing=1e-10, random_state=None,
                 warm_start=False, verbose=0, verbose_interval=10, n_jobs=None,
                 chunk_size=None, learning_decay=0.7, learning_offset=10.0,
                 missing="raise"):
        store_params(self, locals())

    def _domain_doc(self, what):
        return "non-negative integer counts"

    def _check_X(self, X, name="X", reset=False):
        return self._check_counts(X, name, reset, np.inf, "")

    def _make_family(self, n_features):
        kwargs = self._common_family_kwargs(smoothing_high=np.inf)
        K = self.n_components
        if self.rates_init is not None:
            r = check_init_array(self.rates_init, "rates_init", (K, n_features))
            if (r < 0).any():
                raise ValueError(f"rates_init must be non-negative, got minimum {r.min():.6g}.")
            kwargs["param_init"] = np.maximum(r, kwargs["smoothing"])
        return PoissonFamily(K, **kwargs)


class CategoricalMixture(_DiscreteMixture):
    __doc__ = """Mixture of products of categoricals (latent class analysis).

    Feature ``d`` holds integer category codes ``0 .. n_categories_[d] - 1``;
    ``p(x) = sum_k weights_k prod_d probs_[d][k, x_d]``.

    Parameters
    ----------
    n_components : int, default=1
    n_categories : int, array-like of shape (n_features,) or None, default=None
        Categories per feature (one int for all features). None: inferred
        at fit as ``max code + 1`` per feature (or from ``probs_init``).
    """ + _DISCRETE_COMMON_DOC.format(
        init_options="{'random', 'random_from_data'}", param="probs",
        param_shape="list of n_features arrays of shape (n_components, "
        "n_categories[d]), rows summing to 1",
        kmeans_doc="",
        smoothing_doc="Every category probability is kept ``>= smoothing`` "
        "(the M-step maximizes over the simplex under this floor; ``probs_init`` "
        "is projected the same way); must be < 1 / max(n_categories).") + """
    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    probs_ : list of n_features ndarrays of shape (n_components, n_categories_[d])
        Category probabilities per feature and component (each row sums to 1).
    n_categories_ : ndarray of shape (n_features,), int
    """ + _DISCRETE_ATTRS_DOC + """
    X is converted once to int32 codes; ``sample`` returns int32 codes.
    With ``missing='marginalize'``, NaN in float input marks a missing code
    (integer input has none): float input is then kept as float codes, read
    as int32 block by block with NaN as -1, and a missing code drops out of
    its row's product; each feature's probabilities are normalized over the
    rows that observe it. ``n_categories`` inferred from the data ignores NaN.
    """

    _init_options = _CATEGORICAL_INITS

    def __init__(self, n_components=1, *, n_categories=None, tol=1e-3, max_iter=100,
                 n_init=1, init_params="random_from_data", weights_init=None,
                 probs_init=None, learn_weights=True, smoothing=1e-10,
                 random_state=None, warm_start=False, verbose=0,
                 verbose_interval=10, n_jobs=None, chunk_size=None,
                 learning_decay=0.7, learning_offset=10.0, missing="raise"):
        store_params(self, locals())

    def _resolve_n_categories(self, D, data_max):
        """Categories per feature for this fit: parameter, warm fit, probs_init, data."""
        if self.n_categories is not None:
            nc = np.asarray(self.n_categories)
            if nc.ndim == 0:
                nc = np.full(D, nc)
            if nc.dtype.kind not in "iu" or nc.shape != (D,) or (nc < 1).any():
                raise ValueError("n_categories must be a positive integer or an array of "
                                 f"{D} positive integers, got {self.n_categories!r}.")
            return nc.astype(np.int64), "n_categories"
        if self.warm_start and hasattr(self, "n_categories_"):
            check_n_features(np.empty((0, D)), self.n_features_in_,
                              estimator=type(self).__name__)
            return self.n_categories_.copy(), "n_categories_ (warm start)"
        if self.probs_init is not None:
            if len(self.probs_init) != D:
                raise ValueError(f"probs_init must be a list of {D} arrays (one per "
                                 f"feature), got {len(self.probs_init)}.")
            return np.array([np.shape(p)[-1] for p in self.probs_init],
                            dtype=np.int64), "probs_init"
        return data_max.astype(np.int64) + 1, None

    def _domain_doc(self, what):
        return "integer category codes in [0, n_categories)"

    def _check_streamable(self):
        if self.n_categories is None and not (self.warm_start
                                              and hasattr(self, "n_categories_")):
            raise ValueError("CategoricalMixture needs n_categories to fit data that "
                             "comes in chunks or Dask blocks (one piece cannot tell "
                             "how many categories each feature has).")

    def _check_X(self, X, name="X", reset=False):
        arr = as_numeric_array(X, name) if not hasattr(X, "tocsr") else X
        if hasattr(arr, "dtype") and arr.dtype.kind in "biu":
            arr = check_data(arr, name, dtype=arr.dtype, owner=self)
            if arr.min() < 0:
                i, j = np.argwhere(arr < 0)[0]
                raise ValueError(f"{name}[{i}, {j}] = {arr[i, j]} is negative (Negative "
                                 f"values in data are not category codes); "
                                 f"CategoricalMixture needs {self._domain_doc('')}.")
        else:
            arr = self._check_counts(arr, name, True, np.inf, "")
        # NaN (missing) ignored; a feature missing in every row is refused
        # by the fit's observed-feature check
        data_max = np.nan_to_num(np.fmax.reduce(arr, axis=0), nan=0.0)
        if reset:
            nc, source = self._resolve_n_categories(arr.shape[1], data_max)
            self._fit_n_categories = nc
        else:
            check_n_features(arr, self.n_features_in_, name,
                              estimator=type(self).__name__)
            nc, source = self.n_categories_, "n_categories_ of the fit"
        over = data_max >= nc
        if over.any():
            j = int(np.argmax(over))
            i = int(np.argmax(arr[:, j] >= nc[j]))
            raise ValueError(f"{name}[{i}, {j}] = {arr[i, j]:g} is out of range: feature "
                             f"{j} has {nc[j]} categories (from {source}); codes must be "
                             f"in [0, {nc[j] - 1}].")
        if arr.dtype.kind == "f" and self._allows_nan():
            # NaN marks a missing code: float codes are kept (the passes read
            # them as int32, NaN as -1), so that the sources see the NaN
            return arr
        return np.ascontiguousarray(arr, dtype=np.int32)

    def _make_family(self, n_features):
        nc = self._fit_n_categories
        high = 1.0 / nc.max()
        kwargs = self._common_family_kwargs(smoothing_high=high)
        K = self.n_components
        if (self.warm_start and hasattr(self, "_params")
                and not np.array_equal(nc, self.n_categories_)):
            raise ValueError(f"warm_start needs the fitted n_categories_ "
                             f"{self.n_categories_.tolist()}, got {nc.tolist()}.")
        family = CategoricalFamily(K, nc, **kwargs)
        if self.probs_init is not None:
            if len(self.probs_init) != n_features:
                raise ValueError(f"probs_init must be a list of {n_features} arrays "
                                 f"(one per feature), got {len(self.probs_init)}.")
            blocks = []
            for d, p in enumerate(self.probs_init):
                p = check_init_array(p, f"probs_init[{d}]", (K, nc[d]))
                if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-6):
                    raise ValueError(f"probs_init[{d}] must be non-negative with rows "
                                     "summing to 1.")
                blocks.append(p)
            family.param_init = family._project(np.hstack(blocks))
        return family

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture: ``(X, labels)``, X int32 codes
        of shape (n_samples, n_features) (also after a fit on float codes)."""
        X, labels = super().sample(n_samples)
        return X.astype(np.int32, copy=False), labels

    def _set_attributes(self, params, dtype):
        self.weights_ = params["weights"].copy()
        self.n_categories_ = self._fit_n_categories.copy()
        self.probs_ = [p.copy() for p in self._family.split(params["probs"])]
