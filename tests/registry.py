"""Registry of every public estimator, for the reliability battery.

Each entry says how to build the estimator for tests (constructor kwargs),
how to make a small valid dataset for it, and how to give it a fixed start
(``init_kwargs``) so that properties can compare fits that must not depend on
a random initialization. ``tests/test_reliability.py`` fails when a name in
``fastem.__all__`` has no entry here, so a new estimator must be registered.
"""
import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import fastem
from fastem._base import BaseMixture


def _dropping_y(method):
    @functools.wraps(method)
    def call(self, X, y=None, *args, **kwargs):
        return method(self, X, None, *args, **kwargs)
    return call


def ignore_component_labels(monkeypatch, cls):
    """Make ``cls`` drop ``y`` for the duration of a scikit-learn check.

    The checks pass arbitrary targets as ``y`` (e.g. 0..3 with one
    component), which an unsupervised scikit-learn estimator ignores, but a
    fastem mixture reads ``y`` as partly known components and refuses labels
    that are not component indices. Everything else the checks test still
    applies; ``y`` itself is tested in tests/test_labels.py.
    """
    if issubclass(cls, BaseMixture):
        for name in ("fit", "fit_predict", "partial_fit"):
            if callable(getattr(cls, name, None)):  # not an _unavailable property
                monkeypatch.setattr(cls, name, _dropping_y(getattr(cls, name)))


def _labels(n, k, rng, unequal):
    """Component of each row: equal sizes in turn, or (``unequal``) sizes
    halving from one component to the next (shuffled), each at least 1."""
    if not unequal:
        return np.arange(n) % k
    share = 2.0 ** -np.arange(k)
    labels = np.searchsorted(np.cumsum(share / share.sum()), (np.arange(n) + 0.5) / n)
    labels = np.minimum(labels, k - 1)
    labels[:k] = np.arange(k)[:n]  # every component has a row
    return rng.permutation(labels)


def gaussian_blobs(n=90, d=3, k=3, seed=0, dtype=np.float64, spread=6.0,
                   unequal=False, overlap=0.0):
    """Blobs of unit variance around centers drawn at scale ``spread``;
    ``overlap`` in [0, 1) pulls the centers together (0.9: heavy overlap)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=spread * (1.0 - overlap), size=(k, d))
    labels = _labels(n, k, rng, unequal)
    return (centers[labels] + rng.standard_normal((n, d))).astype(dtype)


def _probs(k, d, seed, overlap=0.0):
    rng = np.random.default_rng(seed)
    p = np.clip(rng.uniform(0.1, 0.9, size=(k, d)), 0.05, 0.95)
    return (1.0 - overlap) * p + overlap * p.mean(0)  # overlap: shared probabilities


def binary_rows(n=90, d=4, k=3, seed=0, dtype=np.float64, unequal=False, overlap=0.0):
    rng = np.random.default_rng(seed)
    p = _probs(k, d, seed, overlap)
    return (rng.uniform(size=(n, d)) < p[_labels(n, k, rng, unequal)]).astype(dtype)


def binomial_rows(n=90, d=3, k=3, seed=0, dtype=np.float64, n_trials=5, unequal=False,
                  overlap=0.0):
    rng = np.random.default_rng(seed)
    p = _probs(k, d, seed, overlap)
    return rng.binomial(n_trials, p[_labels(n, k, rng, unequal)]).astype(dtype)


def poisson_rows(n=90, d=3, k=3, seed=0, dtype=np.float64, unequal=False, overlap=0.0):
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0.5, 8.0, size=(k, d))
    rates = (1.0 - overlap) * rates + overlap * rates.mean(0)
    return rng.poisson(rates[_labels(n, k, rng, unequal)]).astype(dtype)


def categorical_rows(n=90, d=3, k=3, seed=0, dtype=np.float64, n_cat=4, unequal=False,
                     overlap=0.0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(n_cat), size=(k, d))  # (k, d, n_cat)
    p = (1.0 - overlap) * p + overlap * p.mean(0)
    lab = _labels(n, k, rng, unequal)
    X = np.array([[rng.choice(n_cat, p=p[lab[i], j]) for j in range(d)]
                  for i in range(n)])
    X[:n_cat, :] = np.arange(n_cat)[:, None]  # every category present
    return X.astype(dtype)


# ------------------------------------------------------------ fixed starts
def _gmm_init(X, k, covariance_type="full"):
    """All three ``*_init``: no data-driven initialization runs."""
    ct = covariance_type
    X = np.asarray(X, np.float64)
    d = X.shape[1]
    idx = np.linspace(0, X.shape[0] - 1, k).astype(int)
    prec = {"full": np.stack([np.eye(d)] * k), "tied": np.eye(d),
            "diag": np.ones((k, d)), "spherical": np.ones(k)}[ct]
    return dict(weights_init=np.full(k, 1.0 / k), means_init=X[idx].copy(),
                precisions_init=prec)


def _kmeans_init(X, k, **variant):
    X = np.asarray(X, np.float64)
    idx = np.linspace(0, X.shape[0] - 1, k).astype(int)
    return dict(init=X[idx].copy(), n_init=1)


def _probs_init(X, k, **variant):
    X = np.asarray(X, np.float64)
    d = X.shape[1]
    rng = np.random.default_rng(123)
    return dict(weights_init=np.full(k, 1.0 / k),
                probs_init=rng.uniform(0.2, 0.8, size=(k, d)))


def _rates_init(X, k, **variant):
    X = np.asarray(X, np.float64)
    d = X.shape[1]
    rng = np.random.default_rng(123)
    return dict(weights_init=np.full(k, 1.0 / k),
                rates_init=X.mean(0) * rng.uniform(0.5, 1.5, size=(k, d)) + 0.1)


def _categorical_init(X, k, n_cat=4, **variant):
    X = np.asarray(X)
    d = X.shape[1]
    rng = np.random.default_rng(123)
    return dict(weights_init=np.full(k, 1.0 / k), n_categories=n_cat,
                probs_init=[rng.dirichlet(np.ones(n_cat) * 5, size=k) for _ in range(d)])


@dataclass
class Entry:
    cls: type
    make_X: Callable          # make_X(n=, d=, k=, seed=, dtype=) -> valid X
    kwargs: dict              # constructor kwargs for a small, quick fit
    k_param: str              # name of the number-of-components parameter
    init_kwargs: Callable     # init_kwargs(X, k, **variant) -> kwargs fixing the start
    is_mixture: bool = True   # has lower_bounds_, predict_proba, score_samples
    continuous: bool = False  # accepts any real X (scales, offsets)
    bad_params: list = field(default_factory=list)  # (kwargs, match) refused at fit
    bad_inits: list = field(default_factory=list)   # (kwargs_fn(X, k), match)
    #: scikit-learn checks that cannot apply, with the reason
    expected_failed_checks: dict = field(default_factory=dict)
    #: constructor variants the property tests draw from (e.g. covariance types)
    variants: list = field(default_factory=lambda: [{}])
    #: constructor overrides for scikit-learn's checks (their data domain)
    check_kwargs: dict = field(default_factory=dict)
    #: fits scipy.sparse X (the bad-input battery then feeds sparse X with a NaN)
    accepts_sparse: bool = False
    #: has ``predict`` (the battery's prediction properties apply); a
    #: transformer without it (FactorAnalysis) has its own in its test file
    predicts: bool = True

    def make(self, **kw):
        return self.cls(**{**self.kwargs, **kw})

    def make_for_checks(self):
        return self.make(**self.check_kwargs)

    def params_of(self, est):
        """Fitted parameter arrays compared by the properties (float64 copies)."""
        if self.cls is fastem.KMeans:
            return {"cluster_centers_": est.cluster_centers_}
        if self.cls is fastem.MixtureImputer:  # its fitted mixture's parameters
            est = est.mixture_
        if self.cls is fastem.FactorAnalysis:
            return {k: np.asarray(getattr(est, k), np.float64)
                    for k in ("components_", "noise_variance_", "mean_")}
        out = {"weights_": est.weights_}
        for name in ("means_", "covariances_", "rates_", "loadings_", "noise_variance_"):
            if hasattr(est, name):
                out[name] = getattr(est, name)
        if hasattr(est, "probs_"):
            p = est.probs_
            out["probs_"] = np.hstack(p) if isinstance(p, list) else p
        return {k: np.asarray(v, np.float64) for k, v in out.items()}


_SAMPLE_WEIGHT_INIT = ("the initialization draws rows by index (k-means++ / random rows / "
                       "random responsibilities), so repeated rows and integer weights start "
                       "EM from different points; with a fixed start (all *_init given) "
                       "integer weights == repeated rows is a property test in "
                       "test_reliability.py")

_DISCRETE_SW = ("the check fits continuous uniform data (it does not apply the estimator's "
                "categorical tag), which a count/code mixture rightly refuses; and the "
                "random initialization draws rows by index. Integer weights == repeated "
                "rows from a fixed start is a property test in test_reliability.py")

_NOT_BINARY = ("BernoulliMixture needs 0/1 data; this check feeds integer counts above 1 "
               "(scikit-learn's categorical tag rounds its data to codes 0..n), which are "
               "refused with a ValueError naming the cell. The same behaviour is checked "
               "on 0/1 data by test_reliability.py")

_BERNOULLI_CHECKS = [
    "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self", "check_readonly_memmap_input",
    "check_n_features_in_after_fitting", "check_estimators_dtypes",
    "check_sample_weights_not_an_array", "check_all_zero_sample_weights_error",
    "check_sample_weights_shape", "check_sample_weights_not_overwritten",
    "check_f_contiguous_array_estimator", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_fit2d_1sample", "check_fit2d_1feature",
    "check_dict_unchanged", "check_fit_idempotent", "check_fit_check_is_fitted",
    "check_n_features_in", "check_fit2d_predict1d",
    "check_positive_only_tag_during_fit",  # its data hold 2s before any negative
    "check_sample_weights_pandas_series",  # runs with pandas installed; data hold 2s
]

_COMMON_BAD = [
    (dict(tol=-1.0), "tol"), (dict(tol="a"), "tol"), (dict(max_iter=-1), "max_iter"),
    (dict(max_iter=2.5), "max_iter"), (dict(n_init=0), "n_init"),
    (dict(n_jobs=0), "n_jobs"), (dict(n_jobs="all"), "n_jobs"),
    (dict(verbose=-1), "verbose"), (dict(warm_start="yes"), "warm_start"),
    (dict(init_params="nope"), "init_params"),
    (dict(random_state="abc"), "random_state"), (dict(random_state=-1), "random_state"),
    (dict(random_state=1.5), "random_state"),
]

_MIX_BAD_INITS = [
    (lambda X, k: dict(weights_init=np.full(k + 1, 1.0 / (k + 1))), "weights_init"),
    (lambda X, k: dict(weights_init=np.full(k, 0.9)), "weights_init.*sum to 1"),
    (lambda X, k: dict(weights_init=np.r_[-0.5, np.full(k - 1, 1.5 / (k - 1))]),
     "weights_init"),
    (lambda X, k: dict(weights_init=np.full(k, np.nan)), "weights_init"),
    (lambda X, k: dict(weights_init=[["a"] * k]), "weights_init"),
]


REGISTRY = {
    "GaussianMixture": Entry(
        cls=fastem.GaussianMixture, make_X=gaussian_blobs,
        kwargs=dict(n_components=3, random_state=0, n_jobs=1, max_iter=30),
        k_param="n_components", init_kwargs=_gmm_init, continuous=True,
        variants=[dict(covariance_type=ct) for ct in ("full", "tied", "diag", "spherical")],
        bad_params=_COMMON_BAD + [
            (dict(n_components=0), "n_components"),
            (dict(n_components=1.5), "n_components"),
            (dict(covariance_type="banana"), "covariance_type"),
            (dict(reg_covar=-1e-3), "reg_covar"), (dict(reg_covar=np.nan), "reg_covar"),
            (dict(on_collapse="ignore"), "on_collapse"),
            (dict(chunk_size=0), "chunk_size"),
        ],
        bad_inits=_MIX_BAD_INITS + [
            (lambda X, k: dict(means_init=np.zeros((k, X.shape[1] + 1))), "means_init"),
            (lambda X, k: dict(means_init=np.full((k, X.shape[1]), np.inf)), "means_init"),
            (lambda X, k: dict(precisions_init=-np.stack([np.eye(X.shape[1])] * k)),
             "precisions_init.*positive definite"),
            (lambda X, k: dict(precisions_init=np.stack([np.eye(X.shape[1])] * (k + 1))),
             "precisions_init"),
            (lambda X, k: dict(precisions_init=np.stack(
                [np.triu(np.ones((X.shape[1], X.shape[1])))] * k)),
             "precisions_init.*symmetric"),
            (lambda X, k: dict(covariance_type="diag",
                               precisions_init=np.zeros((k, X.shape[1]))),
             "precisions_init.*positive"),
            (lambda X, k: dict(covariance_type="spherical",
                               precisions_init=-np.ones(k)), "precisions_init.*positive"),
            (lambda X, k: dict(covariance_type="tied",
                               precisions_init=np.zeros((X.shape[1], X.shape[1]))),
             "precisions_init.*positive definite"),
        ],
        expected_failed_checks={
            "check_sample_weight_equivalence_on_dense_data": _SAMPLE_WEIGHT_INIT},
    ),
    "KMeans": Entry(
        cls=fastem.KMeans, make_X=gaussian_blobs,
        kwargs=dict(n_clusters=3, random_state=0, n_jobs=1, n_init=1),
        k_param="n_clusters", init_kwargs=_kmeans_init, is_mixture=False,
        continuous=True, variants=[dict(algorithm="lloyd"), dict(algorithm="elkan")],
        accepts_sparse=True,
        bad_params=[
            (dict(n_clusters=0), "n_clusters"), (dict(n_clusters=2.0), "n_clusters"),
            (dict(tol=-1.0), "tol"), (dict(max_iter=0), "max_iter"),
            (dict(n_init=0), "n_init"), (dict(n_init="many"), "n_init"),
            (dict(init="nope"), "init"), (dict(init=3), "init"),
            (dict(algorithm="fast"), "algorithm"), (dict(n_jobs=0), "n_jobs"),
            (dict(copy_x="yes"), "copy_x"), (dict(chunk_size=0), "chunk_size"),
            (dict(random_state="abc"), "random_state"),
            (dict(random_state=-1), "random_state"),
        ],
        bad_inits=[
            (lambda X, k: dict(init=np.zeros((k + 1, X.shape[1]))), "init"),
            (lambda X, k: dict(init=np.zeros((k, X.shape[1] + 1))), "init"),
            (lambda X, k: dict(init=np.full((k, X.shape[1]), np.nan)), "init"),
            (lambda X, k: dict(init=np.zeros(k)), "init"),
        ],
        expected_failed_checks={
            "check_sample_weight_equivalence_on_dense_data": _SAMPLE_WEIGHT_INIT,
            "check_sample_weight_equivalence_on_sparse_data": _SAMPLE_WEIGHT_INIT},
    ),
    "BernoulliMixture": Entry(
        cls=fastem.BernoulliMixture, make_X=binary_rows,
        kwargs=dict(n_components=3, random_state=0, n_jobs=1, max_iter=30),
        k_param="n_components", init_kwargs=_probs_init,
        bad_params=_COMMON_BAD + [(dict(n_components=0), "n_components"),
                                  (dict(smoothing=0.0), "smoothing"),
                                  (dict(smoothing=0.7), "smoothing"),
                                  (dict(learn_weights="no"), "learn_weights")],
        bad_inits=_MIX_BAD_INITS + [
            (lambda X, k: dict(probs_init=np.full((k, X.shape[1]), 1.5)), "probs_init"),
            (lambda X, k: dict(probs_init=np.full((k + 1, X.shape[1]), 0.5)), "probs_init"),
        ],
        expected_failed_checks={
            **{c: _NOT_BINARY for c in _BERNOULLI_CHECKS},
            "check_sample_weight_equivalence_on_dense_data": _DISCRETE_SW},
    ),
    "BinomialMixture": Entry(
        cls=fastem.BinomialMixture, make_X=binomial_rows,
        kwargs=dict(n_components=3, n_trials=5, random_state=0, n_jobs=1, max_iter=30),
        k_param="n_components", init_kwargs=_probs_init,
        bad_params=_COMMON_BAD + [(dict(n_components=0), "n_components"),
                                  (dict(n_trials=0), "n_trials"),
                                  (dict(n_trials=2.5), "n_trials"),
                                  (dict(smoothing=-1.0), "smoothing")],
        bad_inits=_MIX_BAD_INITS + [
            (lambda X, k: dict(probs_init=-np.ones((k, X.shape[1]))), "probs_init"),
        ],
        # the checks' data are rounded to codes 0..~15: enough trials for all
        check_kwargs=dict(n_trials=100),
        expected_failed_checks={
            "check_sample_weight_equivalence_on_dense_data": _DISCRETE_SW},
    ),
    "CategoricalMixture": Entry(
        cls=fastem.CategoricalMixture, make_X=categorical_rows,
        kwargs=dict(n_components=3, random_state=0, n_jobs=1, max_iter=30),
        k_param="n_components", init_kwargs=_categorical_init,
        bad_params=[p for p in _COMMON_BAD if "init_params" not in p[0]] + [
            (dict(n_components=0), "n_components"),
            (dict(init_params="kmeans"), "init_params"),
            (dict(n_categories=0), "n_categories"),
            (dict(smoothing=0.5), "smoothing")],
        bad_inits=_MIX_BAD_INITS + [
            (lambda X, k: dict(probs_init=[np.full((k, 4), 0.25)] * (X.shape[1] + 1)),
             "probs_init"),
            (lambda X, k: dict(probs_init=[np.full((k, 4), 0.5)] * X.shape[1]),
             "probs_init"),
        ],
        expected_failed_checks={
            "check_sample_weight_equivalence_on_dense_data": _DISCRETE_SW},
    ),
    "PoissonMixture": Entry(
        cls=fastem.PoissonMixture, make_X=poisson_rows,
        kwargs=dict(n_components=3, random_state=0, n_jobs=1, max_iter=30),
        k_param="n_components", init_kwargs=_rates_init,
        bad_params=_COMMON_BAD + [(dict(n_components=0), "n_components"),
                                  (dict(smoothing=0.0), "smoothing")],
        bad_inits=_MIX_BAD_INITS + [
            (lambda X, k: dict(rates_init=-np.ones((k, X.shape[1]))), "rates_init"),
            (lambda X, k: dict(rates_init=np.ones((k, X.shape[1] + 2))), "rates_init"),
        ],
        expected_failed_checks={
            "check_sample_weight_equivalence_on_dense_data": _DISCRETE_SW},
    ),
}

def _mfa_init(X, k, **variant):
    """All four ``*_init`` of a mixture of factor analyzers (one factor)."""
    X = np.asarray(X, np.float64)
    d = X.shape[1]
    idx = np.linspace(0, X.shape[0] - 1, k).astype(int)
    loadings = np.random.default_rng(123).normal(scale=0.5, size=(k, d, 1))
    return dict(weights_init=np.full(k, 1.0 / k), means_init=X[idx].copy(),
                loadings_init=loadings, noise_variance_init=np.ones((k, d)))


def _two_or_more_features(n=90, d=3, **kw):
    """Gaussian blobs with at least 2 features (one factor needs n_features > 1)."""
    return gaussian_blobs(n=n, d=max(d, 2), **kw)


REGISTRY["MixtureOfFactorAnalyzers"] = Entry(
    cls=fastem.MixtureOfFactorAnalyzers, make_X=_two_or_more_features,
    kwargs=dict(n_components=3, n_factors=1, random_state=0, n_jobs=1, max_iter=30),
    k_param="n_components", init_kwargs=_mfa_init, continuous=True,
    variants=[dict(noise=n, shared_noise=s) for n in ("diagonal", "isotropic")
              for s in (False, True)],
    bad_params=_COMMON_BAD + [
        (dict(n_components=0), "n_components"), (dict(n_factors=0), "n_factors"),
        (dict(n_factors=3), "n_factors=3 must be less than n_features=3"),
        (dict(noise="pink"), "noise"), (dict(shared_noise="no"), "shared_noise"),
        (dict(reg_covar=-1.0), "reg_covar"), (dict(chunk_size=0), "chunk_size")],
    bad_inits=_MIX_BAD_INITS + [
        (lambda X, k: dict(means_init=np.zeros((k, X.shape[1] + 1))), "means_init"),
        (lambda X, k: dict(loadings_init=np.zeros((k, X.shape[1], 2))), "loadings_init"),
        (lambda X, k: dict(loadings_init=np.full((k, X.shape[1], 1), np.nan)),
         "loadings_init"),
        (lambda X, k: dict(noise_variance_init=np.zeros((k, X.shape[1]))),
         "noise_variance_init must be positive"),
        (lambda X, k: dict(noise_variance_init=np.ones((k + 1, X.shape[1]))),
         "noise_variance_init")],
    expected_failed_checks={
        "check_sample_weight_equivalence_on_dense_data": _SAMPLE_WEIGHT_INIT})

REGISTRY["FactorAnalysis"] = Entry(
    cls=fastem.FactorAnalysis, make_X=gaussian_blobs,
    kwargs=dict(n_components=2, n_jobs=1, max_iter=30),
    k_param="n_components", init_kwargs=lambda X, k, **variant: {}, is_mixture=False,
    continuous=True, predicts=False,
    bad_params=[(dict(tol=-1.0), "tol"), (dict(max_iter=0), "max_iter"),
                (dict(n_components=-1), "n_components"),
                (dict(n_components=4), "n_components=4 must be at most n_features=3"),
                (dict(rotation="oblimin"), "rotation"), (dict(svd_method="x"), "svd_method"),
                (dict(noise="pink"), "noise"), (dict(n_jobs=0), "n_jobs"),
                (dict(copy="yes"), "copy"), (dict(chunk_size=0), "chunk_size")],
    bad_inits=[(lambda X, k: dict(noise_variance_init=np.ones(X.shape[1] + 1)),
                "noise_variance_init"),
               (lambda X, k: dict(noise_variance_init=-np.ones(X.shape[1])),
                "noise_variance_init must be positive")])
REGISTRY["BayesianGaussianMixture"] = Entry(
    cls=fastem.BayesianGaussianMixture, make_X=gaussian_blobs,
    kwargs=dict(n_components=3, random_state=0, n_jobs=1, max_iter=30),
    k_param="n_components", continuous=True,
    init_kwargs=lambda X, k, covariance_type="full", **prior: _gmm_init(X, k,
                                                                      covariance_type),
    # a Dirichlet distribution: a Dirichlet process's stick-breaking prior
    # orders the components, so relabelling them changes the fit (the
    # permutation property cannot hold); tests/test_bayesian_mixture.py
    # covers the Dirichlet process against scikit-learn and its properties
    variants=[dict(covariance_type=ct,
                   weight_concentration_prior_type="dirichlet_distribution")
              for ct in ("full", "tied", "diag", "spherical")],
    bad_params=_COMMON_BAD + [
        (dict(n_components=0), "n_components"),
        (dict(covariance_type="banana"), "covariance_type"),
        (dict(reg_covar=-1e-3), "reg_covar"), (dict(chunk_size=0), "chunk_size"),
        (dict(weight_concentration_prior_type="beta"), "weight_concentration_prior_type"),
        (dict(weight_concentration_prior=0.0), "weight_concentration_prior"),
        (dict(mean_precision_prior=-1.0), "mean_precision_prior"),
        (dict(degrees_of_freedom_prior=0.5), "degrees_of_freedom_prior"),
        (dict(covariance_prior=-1.0, covariance_type="spherical"), "covariance_prior"),
    ],
    bad_inits=_MIX_BAD_INITS + [
        (lambda X, k: dict(mean_prior=np.zeros(X.shape[1] + 1)), "mean_prior"),
        (lambda X, k: dict(covariance_prior=-np.eye(X.shape[1])),
         "covariance_prior.*positive-definite"),
        (lambda X, k: dict(means_init=np.zeros((k, X.shape[1] + 1))), "means_init"),
    ],
    expected_failed_checks={
        "check_sample_weight_equivalence_on_dense_data": _SAMPLE_WEIGHT_INIT},
)

# missing values: MixtureImputer (a transformer, its mixture is a GaussianMixture
# with missing='marginalize'); the ``missing`` parameter of every mixture taking it
REGISTRY["MixtureImputer"] = Entry(
    cls=fastem.MixtureImputer, make_X=gaussian_blobs,
    kwargs=dict(n_components=3, random_state=0, n_jobs=1, max_iter=30),
    k_param="n_components", init_kwargs=_gmm_init, is_mixture=False, continuous=True,
    predicts=False,
    variants=[dict(covariance_type=ct) for ct in ("full", "tied", "diag", "spherical")],
    bad_params=list(REGISTRY["GaussianMixture"].bad_params),
    # scikit-learn's weights-equal-repeats check passes: on data without NaN
    # transform returns X, whatever the mixture
    bad_inits=REGISTRY["GaussianMixture"].bad_inits)
for _name in ("GaussianMixture", "BernoulliMixture", "BinomialMixture",
              "CategoricalMixture", "PoissonMixture"):
    REGISTRY[_name].bad_params.append((dict(missing="drop"), "missing"))

NAMES = sorted(REGISTRY)
PREDICTORS = [n for n in NAMES if REGISTRY[n].predicts]


# ------------------------------------------------------------- fastem.hmm
# The hidden Markov models live in ``fastem.hmm`` (hmmlearn's layout), not in
# ``fastem.__all__``: they have their own registry, and
# ``tests/test_hmm_reliability.py`` fails when a name in ``fastem.hmm.__all__``
# has no entry here.
import fastem.hmm  # noqa: E402


def hmm_sequences(n_seq=4, length=30, seed=0, kind="gaussian", d=2, k=3):
    """``(X, lengths)``: sequences of a sticky state path with ``kind`` emissions."""
    rng = np.random.default_rng(seed)
    n = n_seq * length
    states = np.repeat(rng.integers(0, k, n // 5 + 1), 5)[:n]
    if kind == "gaussian":
        X = rng.normal(scale=4.0, size=(k, d))[states] + rng.standard_normal((n, d))
    elif kind == "categorical":
        probs = rng.dirichlet(np.ones(5), size=k)
        X = (rng.random((n, 1)) > probs.cumsum(axis=1)[states]).sum(axis=1)[:, None]
    elif kind == "poisson":
        X = rng.poisson(rng.uniform(0.5, 8.0, (k, d))[states]).astype(np.float64)
    else:  # multinomial, 6 trials
        X = np.array([rng.multinomial(6, p) for p in rng.dirichlet(np.ones(3), k)[states]])
    return X, [length] * n_seq


@dataclass
class HMMEntry:
    cls: type
    kind: str                  # emission kind of :func:`hmm_sequences`
    kwargs: dict               # constructor kwargs for a small, quick fit
    params: tuple              # fitted parameter attributes compared by the properties
    variants: list = field(default_factory=lambda: [{}])
    bad_params: list = field(default_factory=list)  # (kwargs, match) refused at fit

    def make(self, **kw):
        return self.cls(**{**self.kwargs, **kw})


_HMM_BAD = [(dict(n_components=0), "n_components"), (dict(n_iter=-1), "n_iter"),
            (dict(algorithm="nope"), "algorithm"), (dict(implementation="c"), "implementation"),
            (dict(n_jobs=0), "n_jobs"), (dict(random_state="abc"), "random_state"),
            (dict(params=3), "params")]
_COVARIANCE_VARIANTS = [dict(covariance_type=ct) for ct in ("spherical", "diag", "full", "tied")]

HMM_REGISTRY = {
    "GaussianHMM": HMMEntry(
        fastem.hmm.GaussianHMM, "gaussian", dict(n_components=3, n_iter=5, random_state=0),
        ("startprob_", "transmat_", "means_", "covars_"), _COVARIANCE_VARIANTS,
        _HMM_BAD + [(dict(covariance_type="banana"), "covariance_type")]),
    "GMMHMM": HMMEntry(
        fastem.hmm.GMMHMM, "gaussian", dict(n_components=3, n_mix=2, n_iter=5, random_state=0),
        ("startprob_", "transmat_", "weights_", "means_", "covars_"), _COVARIANCE_VARIANTS,
        _HMM_BAD + [(dict(covariance_type="banana"), "covariance_type")]),
    "CategoricalHMM": HMMEntry(
        fastem.hmm.CategoricalHMM, "categorical",
        dict(n_components=3, n_iter=5, random_state=0),
        ("startprob_", "transmat_", "emissionprob_"), bad_params=_HMM_BAD),
    "PoissonHMM": HMMEntry(
        fastem.hmm.PoissonHMM, "poisson", dict(n_components=3, n_iter=5, random_state=0),
        ("startprob_", "transmat_", "lambdas_"), bad_params=_HMM_BAD),
    "MultinomialHMM": HMMEntry(
        fastem.hmm.MultinomialHMM, "multinomial",
        dict(n_components=3, n_iter=5, random_state=0),
        ("startprob_", "transmat_", "emissionprob_"), bad_params=_HMM_BAD),
}

HMM_NAMES = sorted(HMM_REGISTRY)
#: estimators with ``predict``: the battery's prediction-based tests
