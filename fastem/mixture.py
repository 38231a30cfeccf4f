"""Mixture estimators (scikit-learn API)."""
import numpy as np

from ._base import BaseMixture
from ._threads import resolve_n_jobs
from ._validation import (check_float, check_init_array, check_option,
                          check_weights_init)
from .families.gaussian import (COVARIANCE_TYPES, ON_COLLAPSE, GaussianFamily,
                                precisions_from_cholesky)

_GMM_INITS = ("kmeans", "k-means++", "random", "random_from_data")


class GaussianMixture(BaseMixture):
    """Gaussian mixture fitted by EM; a drop-in for ``sklearn.mixture.GaussianMixture``.

    Same parameters, attributes and methods, with the same meanings, plus
    ``n_jobs`` and ``sample_weight`` in ``fit``. Each EM iteration is one
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
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3,
                 reg_covar=1e-6, max_iter=100, n_init=1, init_params="kmeans",
                 weights_init=None, means_init=None, precisions_init=None,
                 random_state=None, warm_start=False, verbose=0,
                 verbose_interval=10, n_jobs=None, chunk_size=None,
                 learning_decay=0.7, learning_offset=10.0, on_collapse="raise"):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.on_collapse = on_collapse

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

    def _set_attributes(self, params, dtype):
        ct = self.covariance_type
        self.weights_ = params["weights"].astype(dtype)
        self.means_ = params["means"].astype(dtype)
        self.covariances_ = params["covariances"].astype(dtype)
        self.precisions_cholesky_ = params["precisions_cholesky"].astype(dtype)
        self.precisions_ = precisions_from_cholesky(
            params["precisions_cholesky"], ct).astype(dtype)


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
