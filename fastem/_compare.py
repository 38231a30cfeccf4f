"""Compare fastem with scikit-learn: same data, same initial parameters, one process.

The engine behind ``fastem compare``, ``benchmarks/targets.py``, the asv suite
and the pytest-benchmark comparisons. It imports only the standard library and
NumPy at module level and reaches fastem through its public API, because the
asv suite loads this file from the source tree to benchmark older commits. A model is
one :class:`Model` entry in :data:`MODELS`; adding a model (for example a
discrete mixture) is one entry: how to make its data and initial parameters,
and how to build the fastem estimator and, when one exists, the scikit-learn
baseline from those initial parameters.

Timing protocol (see :func:`compare_model`): a first fastem fit compiles the
kernels (or loads them from Numba's on-disk cache); its excess over the best
identical fit is reported as compile time and excluded. Then fits of
``max_iter`` and of one iteration, fastem and scikit-learn, are interleaved
at least ``repeats`` times, and more while the rounds so far took less than
:data:`MIN_TIMING_SECONDS` (short fits: the best of a few is mostly the
machine's noise), and the best of each is kept. Each timed fit starts on an
idle machine (:data:`IDLE_BEFORE_FIT`).
Per-iteration time is ``(t[max_iter] - t[1]) / (n_iter - 1)``, which removes
the fixed costs (validation, initialization: scikit-learn's GaussianMixture
computes initial responsibilities and an M-step even when every ``*_init``
array is given). Peak memory is the resident-set increase of one ``fit`` of two
iterations (:class:`_PeakRSS`), measured in this process by
:func:`compare_model` and in a fresh child process per library by
:func:`peak_fit_memory`.
"""
import contextlib
import gc
import json
import os
import platform
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Optional

import numpy as np


# ------------------------------------------------------------------ data
def gaussian_blobs(n_samples, n_features, n_components, dtype="float64", seed=0):
    """Overlapping anisotropic Gaussian clusters, shape (n_samples, n_features).

    Parameters
    ----------
    n_samples, n_features, n_components : int
    dtype : str or numpy dtype
    seed : int

    Returns
    -------
    X : ndarray, C-contiguous, in ``dtype``
    """
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-5.0, 5.0, (n_components, n_features))
    scales = rng.uniform(0.5, 1.5, (n_components, n_features))
    labels = rng.integers(0, n_components, n_samples)
    X = rng.standard_normal((n_samples, n_features))
    X *= scales[labels]
    X += centers[labels]
    return X.astype(dtype, copy=False)


def _latent_classes(n_samples, n_components, seed):
    rng = np.random.default_rng(seed)
    return rng, rng.integers(0, n_components, n_samples)


def binary_data(n_samples, n_features, n_components, dtype="float64", seed=0):
    """0/1 features from ``n_components`` latent classes."""
    rng, z = _latent_classes(n_samples, n_components, seed)
    probs = rng.uniform(0.05, 0.95, (n_components, n_features))
    return (rng.random((n_samples, n_features)) < probs[z]).astype(dtype)


def binomial_data(n_samples, n_features, n_components, dtype="float64", seed=0):
    """Heads out of :data:`N_TRIALS` tosses per feature, from latent classes."""
    rng, z = _latent_classes(n_samples, n_components, seed)
    probs = rng.uniform(0.05, 0.95, (n_components, n_features))
    return rng.binomial(N_TRIALS, probs[z]).astype(dtype)


def count_data(n_samples, n_features, n_components, dtype="float64", seed=0):
    """Poisson counts from latent classes."""
    rng, z = _latent_classes(n_samples, n_components, seed)
    rates = rng.uniform(0.5, 10.0, (n_components, n_features))
    return rng.poisson(rates[z]).astype(dtype)


def category_data(n_samples, n_features, n_components, dtype="float64", seed=0):
    """Category codes ``0 .. N_CATEGORIES - 1`` per feature, from latent classes."""
    rng, z = _latent_classes(n_samples, n_components, seed)
    probs = rng.dirichlet(np.ones(N_CATEGORIES), (n_components, n_features))
    cum = probs.cumsum(axis=2)[z]                      # (N, D, C)
    codes = (rng.random((n_samples, n_features, 1)) > cum).sum(axis=2)
    return np.minimum(codes, N_CATEGORIES - 1).astype(dtype)


#: Tosses per feature of the binomial data; categories per feature of the categorical.
N_TRIALS = 10
N_CATEGORIES = 4


def touching_clusters(n_samples, n_features, n_components, dtype="float64", seed=0):
    """Clusters that look like real ones: they touch, differ and sit in noise.

    ``n_components`` Gaussian clusters with rotated (full) covariances, axis
    scales from 0.3 to 3, sizes drawn from a flat Dirichlet (some clusters
    are ten times others), centers drawn N(0, 2^2) per coordinate (closer
    than a few standard deviations: neighbours overlap), plus 2% uniform
    background noise over the data's range; rows shuffled.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), C-contiguous, in ``dtype``
    """
    rng = np.random.default_rng(seed)
    n_noise = n_samples // 50
    sizes = rng.multinomial(n_samples - n_noise, rng.dirichlet(np.ones(n_components)))
    parts = []
    for size in sizes:
        rotation, _ = np.linalg.qr(rng.standard_normal((n_features, n_features)))
        factor = rotation * rng.uniform(0.3, 3.0, n_features)
        center = rng.normal(0.0, 2.0, n_features)
        parts.append(rng.standard_normal((size, n_features)) @ factor.T + center)
    X = np.vstack(parts)
    noise = rng.uniform(X.min(axis=0), X.max(axis=0), (n_noise, n_features))
    X = np.vstack([X, noise])[rng.permutation(n_samples)]
    return np.ascontiguousarray(X, dtype=dtype)


#: Datasets of ``fastem compare --data``: the model's own (separated-ish blobs
#: for Gaussians and KMeans) or touching clusters.
DATASETS = ("blobs", "touching")
#: Initial means/centers of ``--start``: distinct random rows, or k-means++.
STARTS = ("random-rows", "k-means++")


def variant(model, data="blobs", start="random-rows"):
    """``model`` on another dataset and/or from k-means++ initial means (the
    same for both libraries); its label says which."""
    if data == "blobs" and start == "random-rows":
        return model
    changes = {"label": f"{model.label} ({data}, {start})"}
    if data == "touching":
        changes["make_data"] = touching_clusters
    if start == "k-means++":
        changes["make_init"] = _kmeanspp_start(model.make_init)
    return replace(model, **changes)


def _kmeanspp_start(make_init):
    """``make_init`` with the means (or KMeans centers) replaced by k-means++
    seeds drawn from up to 100,000 rows."""
    def make(X, n_components, seed=0):
        from sklearn.cluster import kmeans_plusplus
        init = make_init(X, n_components, seed)
        if "init_params" in init:  # both libraries draw the same k-means++ seeds
            return dict(init, init_params="k-means++")
        sample = X[: min(len(X), 100_000)]
        centers, _ = kmeans_plusplus(sample, n_components, random_state=seed)
        key = "init" if "init" in init else "means_init"
        init[key] = centers.astype(init[key].dtype)
        return init
    return make


def _random_rows(X, n_components, seed):
    rng = np.random.default_rng(seed)
    return X[rng.choice(X.shape[0], n_components, replace=False)].astype(np.float64)


def gmm_init(covariance_type):
    """Initial-parameter maker for a GaussianMixture of ``covariance_type``.

    Means are distinct random rows, weights uniform, every precision the
    inverse of the data's covariance (its diagonal for diag/spherical).
    """
    def make(X, n_components, seed=0):
        K, D = n_components, X.shape[1]
        sample = X[: min(len(X), 100_000)].astype(np.float64)
        if covariance_type in ("full", "tied"):
            prec = np.linalg.inv(np.atleast_2d(np.cov(sample, rowvar=False)))
            precisions = prec if covariance_type == "tied" else np.tile(prec, (K, 1, 1))
        else:
            inv_var = 1.0 / sample.var(axis=0)
            precisions = (np.tile(inv_var, (K, 1)) if covariance_type == "diag"
                          else np.full(K, inv_var.mean()))
        return {"weights_init": np.full(K, 1.0 / K),
                "means_init": _random_rows(X, K, seed),
                "precisions_init": precisions}
    return make


def discrete_init(kind):
    """Initial-parameter maker for a discrete mixture: ``'probs'``, ``'rates'`` or ``'categorical'``."""
    def make(X, n_components, seed=0):
        rng = np.random.default_rng(seed)
        K, D = n_components, X.shape[1]
        init = {"weights_init": np.full(K, 1.0 / K)}
        if kind == "probs":
            init["probs_init"] = rng.uniform(0.25, 0.75, (K, D))
        elif kind == "rates":
            init["rates_init"] = X.mean(axis=0) * rng.uniform(0.5, 1.5, (K, D)) + 0.1
        else:
            init["probs_init"] = [rng.dirichlet(np.ones(N_CATEGORIES) * 5, K)
                                  for _ in range(D)]
        return init
    return make


def kmeans_init(X, n_components, seed=0):
    """Initial centers: distinct random rows, in the dtype of X."""
    return {"init": _random_rows(X, n_components, seed).astype(X.dtype)}


# ---------------------------------------------------------------- models
@dataclass(frozen=True)
class Model:
    """How to compare one model.

    Attributes
    ----------
    name : str
        Command-line name, e.g. ``'gmm-full'``.
    label : str
        Name in tables.
    estimator : str
        Name of the fastem class (``fastem.<estimator>``).
    make_data : callable(n_samples, n_features, n_components, dtype, seed) -> X
    make_init : callable(X, n_components, seed) -> dict
        Initial parameters, passed as keyword arguments to both estimators.
    fastem : callable(n_components, init, max_iter, n_jobs) -> estimator
    sklearn : callable(n_components, init, max_iter) -> estimator, or None
        The scikit-learn baseline (None when scikit-learn has no such model).
    params : tuple of str
        Fitted attributes compared for agreement.
    objective : str
        Fitted attribute reported as the final objective.
    history : str or None
        fastem attribute holding the objective per iteration (plotted).
    """

    name: str
    label: str
    estimator: str
    make_data: Callable
    make_init: Callable
    fastem: Callable
    sklearn: Optional[Callable]
    params: tuple
    objective: str = "lower_bound_"
    history: Optional[str] = None
    #: also compared on the other datasets and starts (``--data``, ``--start``)
    data_variants: bool = True
    #: name of ``objective`` in reports (None: by attribute, ``_OBJECTIVE_NAMES``)
    objective_name: Optional[str] = None


def _gmm(covariance_type):
    def fastem_gmm(k, init, max_iter, n_jobs):
        from fastem import GaussianMixture
        return GaussianMixture(k, covariance_type=covariance_type, max_iter=max_iter,
                               tol=0, n_jobs=n_jobs, **init)

    def sklearn_gmm(k, init, max_iter):
        from sklearn.mixture import GaussianMixture
        # 'random_from_data' keeps scikit-learn's (unused) initialization cheap.
        return GaussianMixture(k, covariance_type=covariance_type, max_iter=max_iter,
                               tol=0, init_params="random_from_data",
                               random_state=0, **init)

    return Model(f"gmm-{covariance_type}", f"GaussianMixture {covariance_type}",
                 "GaussianMixture", gaussian_blobs, gmm_init(covariance_type), fastem_gmm, sklearn_gmm,
                 ("weights_", "means_", "covariances_"), "lower_bound_",
                 "lower_bounds_")


def _fastem_kmeans(k, init, max_iter, n_jobs):
    from fastem import KMeans
    return KMeans(k, n_init=1, max_iter=max_iter, tol=0, n_jobs=n_jobs, **init)


def _sklearn_kmeans(k, init, max_iter):
    from sklearn.cluster import KMeans
    return KMeans(k, n_init=1, max_iter=max_iter, tol=0, algorithm="lloyd", **init)


def _discrete(cls_name, **fixed):
    """fastem builder for a discrete mixture (scikit-learn has no counterpart)."""
    def build(k, init, max_iter, n_jobs):
        import fastem
        return getattr(fastem, cls_name)(k, max_iter=max_iter, tol=0, n_jobs=n_jobs,
                                         **fixed, **init)
    return build


# ------------------------------------------------------ hidden Markov models
#: symbols of the CategoricalHMM comparison
N_SYMBOLS = 16


def _sticky_states(n_samples, n_components, rng, stay=0.95):
    """A state path that stays with probability ``stay`` (vectorized run lengths)."""
    runs = rng.geometric(1.0 - stay, size=n_samples // 5 + n_components)
    labels = rng.integers(0, n_components, runs.size)
    return np.repeat(labels, runs)[:n_samples] if runs.sum() >= n_samples else \
        np.resize(np.repeat(labels, runs), n_samples)


def hmm_gaussian_data(n_samples, n_features, n_components, dtype="float64", seed=0):
    """One sequence: Gaussian emissions of a sticky hidden state path."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-5.0, 5.0, (n_components, n_features))
    states = _sticky_states(n_samples, n_components, rng)
    return (means[states] + rng.normal(size=(n_samples, n_features))).astype(dtype)


def hmm_symbol_data(n_samples, n_features, n_components, dtype="float64", seed=0):
    """One sequence of symbols ``0 .. N_SYMBOLS - 1`` (a column; features are ignored)."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(N_SYMBOLS, 0.5), n_components)
    states = _sticky_states(n_samples, n_components, rng)
    codes = (rng.random((n_samples, 1)) > probs.cumsum(axis=1)[states]).sum(axis=1)
    return np.minimum(codes, N_SYMBOLS - 1)[:, None].astype(np.int64)


def hmm_init(kind):
    """Initial-parameter maker (fitted attributes, set before ``fit``) of an HMM."""
    def make(X, n_components, seed=0):
        rng = np.random.default_rng(seed)
        K = n_components
        init = {"startprob_": np.full(K, 1.0 / K),
                "transmat_": rng.dirichlet(np.full(K, 1.0), K) * 0.5 + np.eye(K) * 0.5}
        if kind == "gaussian":
            init["means_"] = _random_rows(X, K, seed).astype(np.float64)
            init["covars_"] = np.tile(np.var(X[:100_000], axis=0, dtype=np.float64), (K, 1))
        else:
            init["emissionprob_"] = rng.dirichlet(np.ones(N_SYMBOLS), K)
        return init
    return make


class _HMMRun:
    """An HMM (fastem's or hmmlearn's) as compare sees an estimator: ``fit(X)``
    on one sequence, ``n_iter_``, ``lower_bound_`` (the log-likelihood per
    sample of the last E-step, as the mixtures') and ``lower_bounds_``; other
    attributes are the model's."""

    def __init__(self, model):
        self.model = model

    def fit(self, X):
        self.model.fit(X)
        history = [float(v) / len(X) for v in self.model.monitor_.history]
        self.n_iter_, self.lower_bounds_ = len(history), history
        self.lower_bound_ = history[-1] if history else float("nan")
        return self

    def predict(self, X):
        return self.model.predict(X)

    def __getattr__(self, name):
        if name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)


def _hmm(cls_name, lib, **fixed):
    """Builder of ``cls_name`` from ``fastem.hmm`` or (``lib='hmmlearn'``) hmmlearn."""
    def build(k, init, max_iter, n_jobs=None):
        if lib == "fastem":
            from fastem import hmm as module
            fixed_jobs = {"n_jobs": n_jobs}
        else:
            from hmmlearn import hmm as module
            fixed_jobs = {}
        model = getattr(module, cls_name)(k, init_params="", n_iter=max_iter, tol=0,
                                          implementation="scaling", **fixed, **fixed_jobs)
        for name, value in init.items():
            setattr(model, name, value.copy())
        return _HMMRun(model)
    return build


def _has_hmmlearn():
    import importlib.util
    return importlib.util.find_spec("hmmlearn") is not None


def _hmm_models():
    """GaussianHMM (diag) and CategoricalHMM, paired with hmmlearn when it is installed."""
    baseline = _has_hmmlearn()
    return [
        Model("hmm-gaussian", "GaussianHMM diag (vs hmmlearn)", "hmm.GaussianHMM",
              hmm_gaussian_data, hmm_init("gaussian"),
              _hmm("GaussianHMM", "fastem", covariance_type="diag"),
              _hmm("GaussianHMM", "hmmlearn", covariance_type="diag") if baseline else None,
              ("startprob_", "transmat_", "means_", "_covars_"),
              data_variants=False),
        Model("hmm-categorical", "CategoricalHMM (vs hmmlearn)", "hmm.CategoricalHMM",
              hmm_symbol_data, hmm_init("categorical"),
              _hmm("CategoricalHMM", "fastem", n_features=N_SYMBOLS),
              _hmm("CategoricalHMM", "hmmlearn", n_features=N_SYMBOLS) if baseline else None,
              ("startprob_", "transmat_", "emissionprob_"),
              data_variants=False),
    ]


MODELS = {m.name: m for m in [
    *(_gmm(ct) for ct in ("full", "tied", "diag", "spherical")),
    Model("kmeans", "KMeans", "KMeans", gaussian_blobs, kmeans_init, _fastem_kmeans,
          _sklearn_kmeans, ("cluster_centers_",), "inertia_", None),
    Model("bernoulli", "BernoulliMixture", "BernoulliMixture", binary_data,
          discrete_init("probs"), _discrete("BernoulliMixture"), None,
          ("weights_", "probs_"), history="lower_bounds_"),
    Model("binomial", "BinomialMixture", "BinomialMixture", binomial_data,
          discrete_init("probs"), _discrete("BinomialMixture", n_trials=N_TRIALS), None,
          ("weights_", "probs_"), history="lower_bounds_"),
    Model("poisson", "PoissonMixture", "PoissonMixture", count_data,
          discrete_init("rates"), _discrete("PoissonMixture"), None,
          ("weights_", "rates_"), history="lower_bounds_"),
    Model("categorical", "CategoricalMixture", "CategoricalMixture", category_data,
          discrete_init("categorical"),
          _discrete("CategoricalMixture", n_categories=N_CATEGORIES), None,
          ("weights_",), history="lower_bounds_"),
    *_hmm_models(),
]}


def _bgm(covariance_type):
    """BayesianGaussianMixture: both libraries start from the same random rows
    (``init_params='random_from_data'``, same ``random_state``): scikit-learn's
    has no ``*_init``, and fastem reproduces its draws."""
    def fastem_bgm(k, init, max_iter, n_jobs):
        from fastem import BayesianGaussianMixture
        return BayesianGaussianMixture(k, covariance_type=covariance_type,
                                       max_iter=max_iter, tol=0, n_jobs=n_jobs, **init)

    def sklearn_bgm(k, init, max_iter):
        from sklearn.mixture import BayesianGaussianMixture
        return BayesianGaussianMixture(n_components=k, covariance_type=covariance_type,
                                       max_iter=max_iter, tol=0, **init)

    def make_init(X, n_components, seed=0):
        return {"init_params": "random_from_data", "random_state": seed}

    return Model(f"bgm-{covariance_type}", f"BayesianGaussianMixture {covariance_type}",
                 "BayesianGaussianMixture", gaussian_blobs, make_init, fastem_bgm,
                 sklearn_bgm, ("weights_", "means_", "covariances_"), "lower_bound_",
                 "lower_bounds_", objective_name="ELBO")


MODELS.update((m.name, m) for m in (_bgm("diag"), _bgm("full")))


#: How a model's ``objective`` attribute is named in reports.
_OBJECTIVE_NAMES = {"lower_bound_": "log-likelihood", "inertia_": "inertia"}


# --------------------------------------------------------------- results
@dataclass
class Result:
    """Outcome of comparing one model (times in seconds, memory in bytes)."""

    model: str
    label: str
    objective: str
    n_iter: dict = field(default_factory=dict)          # lib -> iterations run
    fit_time: dict = field(default_factory=dict)        # lib -> best whole fit
    iter_time: dict = field(default_factory=dict)       # lib -> per iteration
    compile_time: float = float("nan")
    final_objective: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)         # lib -> per-iteration objective
    max_rel_diff: float = float("nan")
    ari: float = float("nan")
    peak_memory: dict = field(default_factory=dict)     # lib -> bytes added by fit

    @property
    def fit_speedup(self):
        """scikit-learn whole-fit time / fastem whole-fit time."""
        return _ratio(self.fit_time, "sklearn", "fastem")

    @property
    def iter_speedup(self):
        """scikit-learn per-iteration time / fastem per-iteration time."""
        return _ratio(self.iter_time, "sklearn", "fastem")

    def to_dict(self):
        d = asdict(self)
        d.update(fit_speedup=self.fit_speedup, iter_speedup=self.iter_speedup)
        return d


def _ratio(d, a, b):
    try:
        return d[a] / d[b]
    except (KeyError, ZeroDivisionError):
        return float("nan")


# ---------------------------------------------------------------- timing
@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 on purpose
        yield


def _sklearn_threads(n_jobs):
    """Limit scikit-learn's BLAS/OpenMP threads to ``n_jobs`` (None: all)."""
    from threadpoolctl import threadpool_limits
    if n_jobs is None:
        return contextlib.nullcontext()
    n_cpu = os.cpu_count() or 1
    return threadpool_limits(limits=n_jobs if n_jobs > 0 else max(1, n_cpu + 1 + n_jobs))


#: Seconds of sleep before each timed fit of :func:`compare_model`.
#: scikit-learn's OpenMP threads spin for about 5 ms after a fit (the
#: process used 4-6 ms of CPU time while sleeping after one): a fit started
#: at once shares the cores with them. fastem's KMeans at 100,000 x 8, K=8,
#: whose whole fit takes 7 ms, measured 1.2-1.5x scikit-learn's speed per
#: iteration right after its fits, 1.8-1.9x after a 5 ms pause;
#: scikit-learn's own times were the same.
IDLE_BEFORE_FIT = 0.01


def fit_timed(model, lib, X, init, max_iter, n_jobs, n_components):
    """Build and fit one estimator of ``lib`` ('fastem' or 'sklearn'); return (estimator, seconds)."""
    with _quiet():
        if lib == "fastem":
            est = model.fastem(n_components, init, max_iter, n_jobs)
            ctx = contextlib.nullcontext()
        else:
            est = model.sklearn(n_components, init, max_iter)
            ctx = _sklearn_threads(n_jobs)
        # no cyclic garbage collection inside the timed fit, as in timeit:
        # a full collection takes ~0.1 s once scikit-learn and scipy are imported
        collecting = gc.isenabled()
        gc.disable()
        try:
            with ctx:
                start = time.perf_counter()
                est.fit(X)
                return est, time.perf_counter() - start
        finally:
            if collecting:
                gc.enable()


def max_relative_difference(a, b, names):
    """Largest ``max|a.x - b.x| / max|b.x|`` over the fitted attributes ``names``."""
    worst = 0.0
    for name in names:
        x = np.asarray(getattr(a, name), dtype=np.float64)
        y = np.asarray(getattr(b, name), dtype=np.float64)
        scale = max(np.abs(y).max(), np.finfo(np.float64).tiny)
        worst = max(worst, float(np.abs(x - y).max() / scale))
    return worst


def _labels(est, X):
    labels = getattr(est, "labels_", None)
    return est.predict(X) if labels is None else labels


def sklearn_history(model, X, init, n_components, max_iter):
    """scikit-learn's objective per iteration, by chaining one-iteration warm starts."""
    est = model.sklearn(n_components, init, 1)
    est.set_params(warm_start=True)
    values = []
    with _quiet():
        for _ in range(max_iter):
            est.fit(X)
            values.append(float(getattr(est, model.objective)))
    return values


#: Timed rounds go on past ``repeats`` until they have taken this long (at
#: most ten times ``repeats`` rounds).
MIN_TIMING_SECONDS = 2.0


def compare_model(model, X, n_components, *, max_iter=20, repeats=3, n_jobs=None,
                  seed=0, history=False, progress=None):
    """Time and check one model on X; fastem and scikit-learn from the same start.

    Parameters
    ----------
    model : Model
    X : ndarray of shape (n_samples, n_features)
    n_components : int
    max_iter : int
        Iterations of each timed fit (``tol=0``); at least 2.
    repeats : int
        Interleaved repetitions (at least; see :data:`MIN_TIMING_SECONDS`);
        the best time of each is kept.
    n_jobs : int or None
        Threads for both libraries.
    seed : int
        Seed of the initial parameters.
    history : bool
        Also record the per-iteration objective of both (for plots).
    progress : callable(str) or None
        Receives short progress messages.

    Returns
    -------
    Result
    """
    say = progress or (lambda msg: None)
    libs = ["fastem"] + (["sklearn"] if model.sklearn is not None else [])
    init = model.make_init(X, n_components, seed)
    res = Result(model.name, model.label, model.objective_name or _OBJECTIVE_NAMES.get(
        model.objective, model.objective))
    say("compiling")
    first = fit_timed(model, "fastem", X, init, max_iter, n_jobs, n_components)[1]
    best = {(lib, m): np.inf for lib in libs for m in (max_iter, 1)}
    fitted = {}
    timed = 0.0
    r = 0
    while r < repeats or (timed < MIN_TIMING_SECONDS and r < 10 * repeats):
        r += 1
        say(f"timing {r}/{repeats}" if r <= repeats else f"timing {r} (short fits)")
        for lib in libs:
            for m in (max_iter, 1):
                time.sleep(IDLE_BEFORE_FIT)
                est, t = fit_timed(model, lib, X, init, m, n_jobs, n_components)
                timed += t
                best[lib, m] = min(best[lib, m], t)
                if m == max_iter:
                    fitted[lib] = est
                del est
    say("memory")
    for lib in libs:
        with _PeakRSS() as peak:
            fit_timed(model, lib, X, init, 2, n_jobs, n_components)
        res.peak_memory[lib] = float(peak.added)
    say("checking")
    # First fit minus the best identical one: JIT compile or on-disk cache load.
    res.compile_time = max(first - best["fastem", max_iter], 0.0)
    for lib in libs:
        n = int(fitted[lib].n_iter_)
        res.n_iter[lib] = n
        res.fit_time[lib] = best[lib, max_iter]
        res.iter_time[lib] = ((best[lib, max_iter] - best[lib, 1]) / (n - 1)
                              if n > 1 else float("nan"))
        res.final_objective[lib] = float(getattr(fitted[lib], model.objective))
    if "sklearn" in fitted:
        fe, sk = fitted["fastem"], fitted["sklearn"]
        from sklearn.metrics import adjusted_rand_score
        res.max_rel_diff = max_relative_difference(fe, sk, model.params)
        res.ari = float(adjusted_rand_score(_labels(sk, X), _labels(fe, X)))
    if history and model.history is not None:
        res.history["fastem"] = [float(v) for v in getattr(fitted["fastem"], model.history)]
        if "sklearn" in fitted:
            say("scikit-learn history")
            res.history["sklearn"] = sklearn_history(model, X, init, n_components,
                                                     max_iter)
    return res


# ---------------------------------------------------------------- memory
def _rss_status():
    """(current RSS, peak RSS) in bytes from /proc/self/status, or None."""
    try:
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return (int(fields["VmRSS"].split()[0]) * 1024,
                int(fields["VmHWM"].split()[0]) * 1024)
    except (OSError, KeyError, ValueError):
        return None


def _malloc_trim():
    """Give freed heap pages back to the system (glibc only; no-op elsewhere)."""
    try:
        import ctypes
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _PeakRSS:
    """Peak resident-set increase of a block of code, in bytes (``.added``).

    On entry, freed heap memory is returned to the system (glibc's
    ``malloc_trim``) so that reusing it counts again. On Linux the kernel's
    peak (VmHWM) is then reset through /proc/self/clear_refs, so the figure
    is exact; elsewhere a thread polls the RSS every millisecond with psutil.
    """

    def __enter__(self):
        gc.collect()
        _malloc_trim()
        self._exact = False
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self._exact = _rss_status() is not None
        except OSError:
            pass
        if self._exact:
            self.base = _rss_status()[0]
        else:
            import psutil
            proc = psutil.Process()
            self.base = self._peak = proc.memory_info().rss
            self._stop = threading.Event()

            def poll():
                while not self._stop.wait(0.001):
                    self._peak = max(self._peak, proc.memory_info().rss)
            self._thread = threading.Thread(target=poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._exact:
            peak = _rss_status()[1]
        else:
            self._stop.set()
            self._thread.join()
            peak = self._peak
        self.added = max(peak - self.base, 0)


def _memory_child(spec):
    """Child-process side of :func:`peak_fit_memory`; prints the bytes added."""
    s = json.loads(spec)
    model = MODELS[s["model"]]
    X = model.make_data(s["n_samples"], s["n_features"], s["n_components"],
                        s["dtype"], s["seed"])
    init = model.make_init(X, s["n_components"], s["seed"])
    # Warm up: compile/load kernels and import lazily loaded modules first.
    fit_timed(model, s["lib"], X[: max(2000, s["n_components"])], init, 2, s["n_jobs"],
         s["n_components"])
    with _PeakRSS() as peak:
        fit_timed(model, s["lib"], X, init, s["max_iter"], s["n_jobs"], s["n_components"])
    print(json.dumps({"added": peak.added}))


def peak_fit_memory(model, lib, n_samples, n_features, n_components, dtype="float64",
                    max_iter=2, n_jobs=None, seed=0, env=None):
    """Peak memory (bytes) one ``fit`` adds over the data, in a fresh process.

    The child regenerates the same data, warms the kernels up on a slice,
    then measures the resident-set increase of one fit. Returns NaN when the
    child fails (for example, killed for lack of memory).
    """
    spec = json.dumps(dict(model=model.name, lib=lib, n_samples=n_samples,
                           n_features=n_features, n_components=n_components,
                           dtype=str(np.dtype(dtype)), max_iter=max_iter,
                           n_jobs=n_jobs, seed=seed))
    code = "import sys; from fastem._compare import _memory_child; _memory_child(sys.argv[1])"
    proc = subprocess.run([sys.executable, "-c", code, spec], capture_output=True,
                          text=True, env=env)
    if proc.returncode != 0:
        return float("nan")
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["added"])


# ------------------------------------------------------------ cold start
#: A new user's first fit: default parameters on 20,000 x 8 rows (two
#: touching blobs), timed with the import in a fresh process.
FIRST_FITS = {
    "gmm-full": "fastem.GaussianMixture(4, covariance_type='full').fit(X)",
    "gmm-diag": "fastem.GaussianMixture(4, covariance_type='diag').fit(X)",
    "kmeans": "fastem.KMeans(8).fit(X)",
    "bernoulli": "fastem.BernoulliMixture(4).fit(X > 0)",
}


def first_fit_code(name):
    """One line of Python (asv embeds it in a string): import, data, first fit."""
    return ("import warnings; warnings.simplefilter('ignore'); import numpy as np; "
            "import fastem; X = np.random.default_rng(0).standard_normal((20000, 8)); "
            "X[:7000] += 3; " + FIRST_FITS[name])


def _fresh_process_seconds(code, env=None):
    timed = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    # as a user's process: Python keeps the modules' bytecode (pip writes it
    # at install), rather than compiling fastem's sources at every import
    env = dict(os.environ if env is None else env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run([sys.executable, "-c", timed], env=env, capture_output=True,
                         text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def start_times(name, warm_runs=3):
    """(cold, warm) seconds of import + first fit (:data:`FIRST_FITS`) in fresh
    processes: cold with an empty Numba cache directory (everything compiles),
    warm the fastest of ``warm_runs`` with that cache filled (as
    :func:`import_seconds` takes the fastest of three imports)."""
    import tempfile
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        cold = _fresh_process_seconds(first_fit_code(name), env)
        return cold, min(_fresh_process_seconds(first_fit_code(name), env)
                         for _ in range(warm_runs))


def import_seconds():
    """Seconds to import what any fastem fit needs anyway (scikit-learn, Numba):
    the floor of a warm first fit."""
    return min(_fresh_process_seconds("import sklearn.mixture, numba") for _ in range(3))


def machine_info():
    """Short description of the machine and library versions."""
    import numba
    import sklearn
    import fastem
    return {"platform": platform.platform(), "processor": platform.processor()
            or platform.machine(), "cpus": os.cpu_count(),
            "numba_threads": numba.config.NUMBA_NUM_THREADS,
            "python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "scikit-learn": sklearn.__version__,
            "fastem": fastem.__version__}


# ----------------------------------------------------------------- report
def _fmt(value, spec, unit=""):
    if value is None or not np.isfinite(value):
        return "n/a"
    return format(value, spec) + unit


def format_table(results):
    """Two plain-text tables (speed; agreement and memory) for ``results``."""
    speed = [("model", "fastem s/iter", "sklearn s/iter", "speedup/iter",
              "fastem fit s", "sklearn fit s", "speedup/fit", "compile s")]
    check = [("model", "objective", "fastem", "scikit-learn", "max rel diff", "ARI",
              "fastem MB", "sklearn MB")]
    nan = float("nan")
    for r in results:
        speed.append((r.label, _fmt(r.iter_time.get("fastem", nan), ".4f"),
                      _fmt(r.iter_time.get("sklearn", nan), ".4f"),
                      _fmt(r.iter_speedup, ".1f", "x"),
                      _fmt(r.fit_time.get("fastem", nan), ".3f"),
                      _fmt(r.fit_time.get("sklearn", nan), ".3f"),
                      _fmt(r.fit_speedup, ".1f", "x"), _fmt(r.compile_time, ".2f")))
        check.append((r.label, r.objective,
                      _fmt(r.final_objective.get("fastem", nan), ".10g"),
                      _fmt(r.final_objective.get("sklearn", nan), ".10g"),
                      _fmt(r.max_rel_diff, ".1e"), _fmt(r.ari, ".4f"),
                      _fmt(r.peak_memory.get("fastem", nan) / 1e6, ".1f"),
                      _fmt(r.peak_memory.get("sklearn", nan) / 1e6, ".1f")))
    notes = ("speedup = scikit-learn time / fastem time. s/iter = (fit of max_iter - "
             "fit of 1 iteration) / (n_iter - 1): fixed costs excluded. compile s = "
             "first fastem fit in this process minus the best (JIT compile or "
             "cache load), excluded from all times. log-likelihood: mean per sample "
             "(lower_bound_). max rel diff = max |fastem - sklearn| / "
             "max |sklearn| over the fitted parameters; ARI of the labels. MB = "
             "peak resident memory a 2-iteration fit adds.")
    if any(r.objective == "ELBO" for r in results):
        notes += (" ELBO: the variational lower bound, summed over samples "
                  "(BayesianGaussianMixture's lower_bound_).")
    return "\n\n".join([_table(speed), _table(check), _wrap(notes)])


def _table(rows):
    widths = [max(len(str(row[j])) for row in rows) for j in range(len(rows[0]))]
    lines = ["  ".join(str(v).ljust(w) if j == 0 else str(v).rjust(w)
                       for j, (v, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _wrap(text, width=88):
    import textwrap
    return "\n".join(textwrap.wrap(text, width))
