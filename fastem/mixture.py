"""Mixture estimators (scikit-learn API)."""
import numpy as np

from sklearn.utils.validation import check_is_fitted

from ._base import BaseMixture, store_params
from ._missing import MissingRows
from ._threads import resolve_n_jobs
from ._validation import (check_data, check_feature_names, check_float,
                          check_init_array, check_n_features, check_option,
                          check_weights_init)
from .families.bayesian_gaussian import PRIOR_TYPES, BayesianGaussianFamily
from .families.gaussian import (COVARIANCE_TYPES, ON_COLLAPSE, GaussianFamily,
                                precisions_from_cholesky)

_GMM_INITS = ("kmeans", "k-means++", "random", "random_from_data")


def _set_gaussian_attributes(estimator, params, dtype):
    """scikit-learn's fitted Gaussian attributes (``weights_``, ``means_``,
    ``covariances_``, ``precisions_cholesky_``, ``precisions_``) from float64
    ``params``, in ``dtype``."""
    estimator.weights_ = params["weights"].astype(dtype)
    estimator.means_ = params["means"].astype(dtype)
    estimator.covariances_ = params["covariances"].astype(dtype)
    estimator.precisions_cholesky_ = params["precisions_cholesky"].astype(dtype)
    estimator.precisions_ = precisions_from_cholesky(
        params["precisions_cholesky"], estimator.covariance_type).astype(dtype)


class GaussianMixture(BaseMixture):
    """Gaussian mixture fitted by EM; a drop-in for ``sklearn.mixture.GaussianMixture``.

    Same parameters, attributes and methods, with the same meanings, plus
    ``n_jobs``, and ``sample_weight`` and ``y`` (partly known components, -1:
    unknown; see :meth:`fit`) in ``fit``. Each EM iteration is one
    fused, parallel, compiled pass over X that never forms the
    (n_samples, n_components) responsibility matrix.

    Parameters
    ----------
    n_components : int, default=1
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
    tol : float, default=1e-3
        EM stops when the mean log-likelihood changes by less than ``tol``.
    reg_covar : float, default=1e-6
        Non-negative regularization added to the covariance diagonals.
    max_iter : int, default=100
    n_init : int, default=1
        Number of initializations; the best fit is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
    weights_init : array-like of shape (n_components,), default=None
    means_init : array-like of shape (n_components, n_features), default=None
    precisions_init : array-like, default=None
        Shape (n_components,) spherical, (n_features, n_features) tied,
        (n_components, n_features) diag, (n_components, n_features, n_features) full.
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
    on_collapse : {'raise', 'reseed'}, default='raise'
        What to do when a component collapses, i.e. its variance along some
        feature (for 'full'/'tied': the Cholesky pivot, the variance given the
        preceding features) falls to the data's own resolution or below,
        ``(eps / 4)**2`` times that feature's mean square ``var + mean²`` in
        the data (``eps`` of X's dtype; computed once per fit) — the same
        test for all four covariance types. 'raise': a ``ValueError`` naming
        the component, the feature and the remedies (``reg_covar``, fewer
        components, ``on_collapse='reseed'``). 'reseed': the component is moved
        to the data point farthest from every healthy component, given the
        data's covariance and a weight of ``0.1 / n_components`` (then
        renormalized), and EM goes on; ``n_reseeds_`` counts such iterations
        (the log-likelihood may drop at one; it is never counted as
        converged). A feature constant in the data cannot be re-seeded away
        and still raises (use ``reg_covar > 0``).
    missing : {'raise', 'marginalize'}, default='raise'
        NaN in X: 'raise' refuses them (as scikit-learn); 'marginalize' treats
        them as missing at random and fits the observed-data likelihood
        exactly (see "Missing values" below). Infinity is always refused.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_, precisions_, precisions_cholesky_ : ndarray
        Shaped by ``covariance_type`` as in scikit-learn.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean (sample-weighted) log-likelihood of the best run.
    lower_bounds_ : list of float
        ``lower_bound_`` after every iteration of the best run; non-decreasing
        up to round-off when ``reg_covar=0`` (a positive ``reg_covar`` changes
        the M-step, so tiny dips of the plain log-likelihood are possible and
        are reported as they are).
    n_features_in_ : int
    n_reseeds_ : int
        Iterations of the best run that re-seeded a collapsed component
        (always 0 with ``on_collapse='raise'``).

    Notes
    -----
    Statistics are accumulated in float64 around the current means, so
    variances stay exact for data far from the origin and for float32 input;
    parameters are returned in the dtype of X.

    Missing values: with ``missing='marginalize'``, NaN entries are missing
    at random. The E-step scores each row by the density of its observed
    coordinates and the M-step uses the expected statistics of the missing
    ones (Ghahramani & Jordan, 1994), so ``lower_bound_`` is the
    observed-data log-likelihood and stays monotone. ``score_samples``,
    ``predict`` and ``predict_proba`` score rows with NaN by their observed
    coordinates; :meth:`impute` fills NaN with conditional means. Full/tied
    covariances factor each missingness pattern's observed block once per
    pattern and component in each pass (per block of rows it overlaps), so a
    pass costs about ``n_rows K D^2 + n_runs K D^3`` with ``n_runs`` about
    ``n_patterns + n_samples / 1024``. A row with no observed value is
    ignored by the fit, gets the mixing weights from ``predict_proba`` and a
    log-likelihood of 0. Every feature must be observed in some row of
    positive weight. Without NaN in X the fit is the same, bit for bit, as
    with ``missing='raise'``.
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3,
                 reg_covar=1e-6, max_iter=100, n_init=1, init_params="kmeans",
                 weights_init=None, means_init=None, precisions_init=None,
                 random_state=None, warm_start=False, verbose=0,
                 verbose_interval=10, n_jobs=None, chunk_size=None,
                 learning_decay=0.7, learning_offset=10.0, on_collapse="raise",
                 missing="raise"):
        store_params(self, locals())

    def _make_family(self, n_features):
        ct = check_option(self.covariance_type, "covariance_type", COVARIANCE_TYPES,
                          owner=self)
        on_collapse = check_option(self.on_collapse, "on_collapse", ON_COLLAPSE, owner=self)
        check_option(self.init_params, "init_params", _GMM_INITS, owner=self)
        reg_covar = check_float(self.reg_covar, "reg_covar", low=0.0, owner=self)
        resolve_n_jobs(self.n_jobs)
        K = self.n_components
        return GaussianFamily(
            K, ct, reg_covar, self.init_params,
            weights_init=check_weights_init(self.weights_init, K),
            means_init=None if self.means_init is None else
            check_init_array(self.means_init, "means_init", (K, n_features)),
            precisions_init=_check_precisions_init(self.precisions_init, ct, K,
                                                   n_features),
            n_jobs=self.n_jobs, on_collapse=on_collapse)

    def impute(self, X):
        """Replace each NaN of ``X`` by its conditional mean under the mixture.

        A missing entry ``x_m`` of a row with observed part ``x_o`` becomes
        ``sum_k p(k | x_o) E[x_m | x_o, k]`` (for diag/spherical covariances
        ``E[x_m | x_o, k]`` is the component's mean; for full/tied the
        Gaussian regression on the observed coordinates). A row with no
        observed value gets ``sum_k weights_k means_k``. Works whatever
        ``missing`` was at fit time.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing value (infinity is refused).

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
            A new array in the fit's dtype; ``X`` is not modified.
        """
        check_is_fitted(self, "_params")
        check_feature_names(self, X, reset=False)
        X = check_data(X, "X", dtype=self._fit_dtype, owner=self, allow_nan=True)
        check_n_features(X, self.n_features_in_, estimator=type(self).__name__)
        return self._family.impute(X, self._params, MissingRows(X))

    def _set_attributes(self, params, dtype):
        _set_gaussian_attributes(self, params, dtype)


def _check_precisions_init(precisions, covariance_type, K, D):
    if precisions is None:
        return None
    shape = {"full": (K, D, D), "tied": (D, D), "diag": (K, D),
             "spherical": (K,)}[covariance_type]
    sk = f"{covariance_type} precision"  # scikit-learn's name in its messages
    p = check_init_array(precisions, "precisions_init", shape, sklearn_name=sk)
    if covariance_type in ("diag", "spherical"):
        if not (p > 0).all():
            raise ValueError(f"'{sk}' should be positive: precisions_init must be "
                             f"positive for covariance_type='{covariance_type}'.")
        return p
    for k, m in enumerate(p if covariance_type == "full" else p[None]):
        where = "" if covariance_type == "tied" else f" for component {k}"
        if not np.allclose(m, m.T):
            raise ValueError(f"'{sk}' should be symmetric, positive-definite: "
                             f"precisions_init{where} is not symmetric.")
        if np.linalg.eigvalsh(m).min() <= 0:
            raise ValueError(f"'{sk}' should be symmetric, positive-definite: "
                             f"precisions_init{where} is not positive definite.")
    return p


def _unavailable(name, reason):
    """A method the subclass does not offer: ``hasattr`` is False, and a
    call's ``AttributeError`` says why."""
    def fail(self):
        raise AttributeError(f"{type(self).__name__} has no {name}: {reason}")
    return property(fail)


class BayesianGaussianMixture(BaseMixture):
    """Variational Bayesian Gaussian mixture; a drop-in for
    ``sklearn.mixture.BayesianGaussianMixture``.

    Same parameters, attributes and methods, with the same meanings, plus
    ``n_jobs``, ``chunk_size``, a fixed start (``weights_init``, ``means_init``,
    ``precisions_init``) and ``sample_weight`` in ``fit`` (an integer weight
    counts as that many copies of the row, so the priors see the weighted
    counts). Each iteration is one fused, parallel, compiled Gaussian pass at
    the effective (variational) parameters; the ELBO's ``sum r log r`` comes
    from the same pass, so no (n_samples, n_components) array is formed.
    Unlike GaussianMixture, ``fit`` refuses ``y`` (partly labelled rows): a
    ``ValueError`` for any ``y`` that is not None.

    Parameters
    ----------
    n_components : int, default=1
        Upper bound on the number of components used.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
    tol : float, default=1e-3
        VB stops when the lower bound (ELBO) changes by less than ``tol``.
    reg_covar : float, default=1e-6
        Added to the diagonal of each component's data covariance.
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        Initial responsibilities, drawn as scikit-learn draws them.
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}, \
default='dirichlet_process'
    weight_concentration_prior : float > 0 or None, default=None
        None: ``1 / n_components``.
    mean_precision_prior : float > 0 or None, default=None
        None: 1.
    mean_prior : array-like of shape (n_features,) or None, default=None
        None: the (weighted) mean of X.
    degrees_of_freedom_prior : float > n_features - 1 or None, default=None
        None: n_features.
    covariance_prior : float or array-like or None, default=None
        (n_features, n_features) symmetric positive definite for 'full' and
        'tied', (n_features,) positive for 'diag', a positive float for
        'spherical'. None: the covariance of X (ddof=1; its mean variance
        for 'spherical').
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
    verbose : int, default=0
    verbose_interval : int, default=10
    n_jobs : int or None, default=None
        Threads for the statistics pass (None: all cores).
    chunk_size : int or None, default=None
        Rows per chunk when streaming (None: ``np.memmap`` input in chunks of
        about 64 MB, other arrays whole).
    weights_init : array-like of shape (n_components,), default=None
    means_init : array-like of shape (n_components, n_features), default=None
    precisions_init : array-like, default=None
        fastem's addition, all three or none: the initial responsibilities
        are the posteriors under this Gaussian mixture (instead of
        ``init_params``), a start that does not depend on row order.

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_ : ndarray
        As scikit-learn's (``covariances_`` are normalized by the degrees of
        freedom), in X's dtype.
    weight_concentration_prior_, mean_precision_prior_, mean_prior_, \
degrees_of_freedom_prior_, covariance_prior_
        The priors used.
    weight_concentration_ : ndarray of shape (n_components,) or tuple of two
        The Dirichlet parameters, or the two Beta parameters of the stick
        breaking ('dirichlet_process').
    mean_precision_ : ndarray of shape (n_components,)
    degrees_of_freedom_ : ndarray of shape (n_components,), or float for 'tied'
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        ELBO of the best run (scikit-learn's, constants dropped as it drops them).
    lower_bounds_ : list of float
        The ELBO after every iteration; non-decreasing up to round-off when
        ``reg_covar=0`` (scikit-learn adds ``reg_covar`` inside the VB M-step,
        which then is not the exact maximizer).
    n_features_in_ : int

    Notes
    -----
    No ``partial_fit``: the VB M-step weighs the statistics against the
    priors by their absolute total weight, which a stream of batches does not
    know (stochastic VB needs the data size up front); stepwise EM's
    per-unit-weight running statistics do not carry over. No ``bic``/``aic``
    either, as in scikit-learn: the fitted density is a variational one.
    """

    # the pass weighs components by E[log pi_k], not by log weights_, and the
    # ELBO's entropy term assumes free responsibilities (see fastem._labels)
    _labels_refused = ("variational Bayes keeps no labelled-row path; fit "
                       "GaussianMixture with y instead")

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3,
                 reg_covar=1e-6, max_iter=100, n_init=1, init_params="kmeans",
                 weight_concentration_prior_type="dirichlet_process",
                 weight_concentration_prior=None, mean_precision_prior=None,
                 mean_prior=None, degrees_of_freedom_prior=None, covariance_prior=None,
                 random_state=None, warm_start=False, verbose=0, verbose_interval=10,
                 n_jobs=None, chunk_size=None, weights_init=None, means_init=None,
                 precisions_init=None):
        store_params(self, locals())

    partial_fit = _unavailable(
        "partial_fit", "the VB M-step weighs statistics against the priors by their "
        "absolute total weight, which a stream of batches does not know. Fit on a "
        "np.memmap or a Dask array instead (bounded memory).")
    bic = _unavailable("bic", "its density is variational (as scikit-learn's).")
    aic = _unavailable("aic", "its density is variational (as scikit-learn's).")

    def _make_family(self, n_features):
        ct = check_option(self.covariance_type, "covariance_type", COVARIANCE_TYPES,
                          owner=self)
        check_option(self.init_params, "init_params", _GMM_INITS, owner=self)
        prior_type = check_option(self.weight_concentration_prior_type,
                                  "weight_concentration_prior_type", PRIOR_TYPES,
                                  owner=self)
        reg_covar = check_float(self.reg_covar, "reg_covar", low=0.0, owner=self)
        resolve_n_jobs(self.n_jobs)
        K, D = self.n_components, n_features
        return BayesianGaussianFamily(
            K, ct, reg_covar, self.init_params, prior_type,
            weight_concentration_prior=_positive_or_none(
                self.weight_concentration_prior, "weight_concentration_prior", self),
            mean_precision_prior=_positive_or_none(
                self.mean_precision_prior, "mean_precision_prior", self),
            mean_prior=None if self.mean_prior is None else
            check_init_array(self.mean_prior, "mean_prior", (D,), sklearn_name="means"),
            degrees_of_freedom_prior=_check_degrees_of_freedom_prior(
                self.degrees_of_freedom_prior, D, self),
            covariance_prior=_check_covariance_prior(self.covariance_prior, ct, D, self),
            **self._fixed_start(ct, K, D), n_jobs=self.n_jobs)

    def _fixed_start(self, covariance_type, K, D):
        start = dict(
            weights_init=check_weights_init(self.weights_init, K),
            means_init=None if self.means_init is None else
            check_init_array(self.means_init, "means_init", (K, D)),
            precisions_init=_check_precisions_init(self.precisions_init,
                                                   covariance_type, K, D))
        given = [v is not None for v in start.values()]
        if any(given) and not all(given):
            raise ValueError("weights_init, means_init and precisions_init go together: "
                             "give all three for a fixed start, or none.")
        return start

    def _set_attributes(self, params, dtype):
        family = self._family
        _set_gaussian_attributes(self, params, dtype)
        c = params["weight_concentration"]
        self.weight_concentration_ = (c[0].copy(), c[1].copy()) \
            if family.prior_type == "dirichlet_process" else c.copy()
        self.mean_precision_ = params["mean_precision"].copy()
        nu = params["degrees_of_freedom"]
        self.degrees_of_freedom_ = float(nu[0]) if self.covariance_type == "tied" \
            else nu.copy()
        self.weight_concentration_prior_ = family.weight_concentration_prior_
        self.mean_precision_prior_ = family.mean_precision_prior_
        self.mean_prior_ = np.asarray(family.mean_prior, dtype=dtype)
        self.degrees_of_freedom_prior_ = family.degrees_of_freedom_prior_(
            self.means_.shape[1])
        self.covariance_prior_ = family.covariance_prior if np.ndim(
            family.covariance_prior) == 0 else np.asarray(family.covariance_prior, dtype)


def _positive_or_none(value, name, owner):
    return None if value is None else check_float(value, name, low=0.0, low_open=True,
                                                  owner=owner)


def _check_degrees_of_freedom_prior(value, n_features, owner):
    if value is None:
        return None
    nu = check_float(value, "degrees_of_freedom_prior", low=0.0, low_open=True,
                     owner=owner)
    if not nu > n_features - 1.0:
        raise ValueError(
            f"The parameter 'degrees_of_freedom_prior' should be greater than "
            f"{n_features - 1}, but got {nu:.3f}: degrees_of_freedom_prior must exceed "
            f"n_features - 1 = {n_features - 1}.")
    return nu


def _check_covariance_prior(value, covariance_type, D, owner):
    """The validated covariance prior (float64), or None for the data's."""
    if value is None:
        return None
    if covariance_type == "spherical":
        return check_float(value, "covariance_prior", low=0.0, low_open=True, owner=owner)
    sk = f"{covariance_type} covariance_prior"  # scikit-learn's name in its messages
    shape = (D,) if covariance_type == "diag" else (D, D)
    prior = check_init_array(value, "covariance_prior", shape, sklearn_name=sk)
    if covariance_type == "diag":
        if not (prior > 0).all():
            raise ValueError(f"'{covariance_type} precision' should be positive: "
                             "covariance_prior must be positive for covariance_type="
                             "'diag'.")
        return prior
    if not np.allclose(prior, prior.T) or np.linalg.eigvalsh(prior).min() <= 0:
        raise ValueError(f"'{covariance_type} precision' should be symmetric, "
                         "positive-definite: covariance_prior must be a symmetric, "
                         f"positive-definite matrix for covariance_type="
                         f"'{covariance_type}'.")
    return prior
