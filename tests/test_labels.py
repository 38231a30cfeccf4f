"""Partly labelled rows: ``fit(X, y)`` with the component known for some rows.

Against the per-class closed form (fully labelled), a naive row-by-row
semi-supervised EM (``naive_labels``) from identical initial parameters, the
unlabelled fit (y all -1, bit for bit), and the properties: monotone lower
bound, integer weights == repeated rows, 1 thread == 2 threads, chunked ==
in-memory. Bad y is refused naming ``y``.
"""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sklearn.exceptions import ConvergenceWarning

import fastem
import naive_factor
import naive_labels
from fastem._labels import matching_order
from registry import REGISTRY, gaussian_blobs

COV_TYPES = ["full", "tied", "diag", "spherical"]
DISCRETE = ["BernoulliMixture", "BinomialMixture", "CategoricalMixture", "PoissonMixture"]
LABELLED = ["GaussianMixture", *DISCRETE, "MixtureOfFactorAnalyzers"]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def partly(y, fraction, seed):
    """``y`` with all but about ``fraction`` of the entries set to -1."""
    rng = np.random.default_rng(seed)
    return np.where(rng.uniform(size=y.shape[0]) < fraction, y, -1)


def data(name, n=240, k=3, seed=0):
    """X of the registry's kind, the true component of each row, weights."""
    rng = np.random.default_rng(seed)
    X = REGISTRY[name].make_X(n=n, k=k, seed=seed)
    y = np.arange(n) % k  # the registry's equal-size component order
    return X, y, rng.uniform(0.5, 2.0, size=n)


# ------------------------------------------------------------ fully labelled
@pytest.mark.parametrize("ct", COV_TYPES)
def test_fully_labelled_gaussian_is_the_per_class_estimate(ct):
    X, y, w = data("GaussianMixture")
    reg = 1e-3
    est = fastem.GaussianMixture(3, covariance_type=ct, reg_covar=reg, random_state=0,
                                 n_jobs=1).fit(X, y, sample_weight=w)
    D = X.shape[1]
    mass = np.array([w[y == k].sum() for k in range(3)])
    covs = [np.cov(X[y == k].T, bias=True, aweights=w[y == k]) for k in range(3)]
    expected = {"full": np.stack(covs) + reg * np.eye(D),
                "tied": np.einsum("k,kde->de", mass, covs) / mass.sum() + reg * np.eye(D),
                "diag": np.stack([np.diag(c) for c in covs]) + reg,
                "spherical": np.array([np.diag(c).mean() for c in covs]) + reg}[ct]
    means = np.stack([np.average(X[y == k], axis=0, weights=w[y == k]) for k in range(3)])
    assert rel(est.means_, means) < 1e-10
    assert rel(est.covariances_, expected) < 1e-10
    assert rel(est.weights_, mass / mass.sum()) < 1e-12
    # the first M-step reaches the closed form: converged at once, the
    # history flat after the first step
    assert est.converged_ and est.n_iter_ == 3
    assert np.ptp(est.lower_bounds_[1:]) < 1e-12 * abs(est.lower_bounds_[1])


@pytest.mark.parametrize("name", DISCRETE)
def test_fully_labelled_discrete_is_the_per_class_frequency(name):
    X, y, w = data(name)
    est = REGISTRY[name].make().fit(X, y, sample_weight=w)
    mass = np.array([w[y == k].sum() for k in range(3)])
    assert rel(est.weights_, mass / mass.sum()) < 1e-12
    freq = np.stack([np.average(X[y == k], axis=0, weights=w[y == k]) for k in range(3)])
    if name == "CategoricalMixture":
        for d, p in enumerate(est.probs_):
            expected = np.stack([[w[(y == k) & (X[:, d] == c)].sum() / mass[k]
                                  for c in range(p.shape[1])] for k in range(3)])
            assert rel(p, expected) < 1e-10
    elif name == "PoissonMixture":
        assert rel(est.rates_, freq) < 1e-10
    else:
        assert rel(est.probs_, freq / getattr(est, "n_trials", 1)) < 1e-10
    assert est.n_iter_ == 3


# ------------------------------------------------------- y all -1 == y None
@pytest.mark.parametrize("name", LABELLED)
def test_no_row_labelled_is_the_unlabelled_fit_bit_for_bit(name):
    entry = REGISTRY[name]
    X, y, w = data(name, n=120)
    for variant in entry.variants:
        a = entry.make(**variant).fit(X, sample_weight=w)
        b = entry.make(**variant).fit(X, np.full(X.shape[0], -1), sample_weight=w)
        pa, pb = entry.params_of(a), entry.params_of(b)
        assert all(np.array_equal(pa[key], pb[key]) for key in pa)
        assert a.lower_bounds_ == b.lower_bounds_


# ------------------------------------------- partly labelled == naive NumPy
@pytest.mark.parametrize("ct", COV_TYPES)
def test_partly_labelled_gaussian_equals_naive_semi_supervised_em(ct):
    X, y, w = data("GaussianMixture", seed=1)
    y = partly(y, 0.3, seed=1)
    start = REGISTRY["GaussianMixture"].init_kwargs(X, 3, covariance_type=ct)
    est = fastem.GaussianMixture(3, covariance_type=ct, max_iter=6, tol=0.0, n_jobs=1,
                                 **start).fit(X, y, sample_weight=w)
    cov0 = 1.0 / start["precisions_init"] if ct in ("diag", "spherical") else \
        np.linalg.inv(start["precisions_init"])
    weights, means, cov, lls = naive_labels.gaussian_em(
        X, w, y, start["weights_init"], start["means_init"], cov0, ct, 1e-6, 6)
    assert rel(est.weights_, weights) < 1e-9
    assert rel(est.means_, means) < 1e-9
    assert rel(est.covariances_, cov) < 1e-9
    assert rel(est.lower_bounds_, np.array(lls) / w.sum()) < 1e-9


@pytest.mark.parametrize("name", DISCRETE)
def test_partly_labelled_discrete_equals_naive_semi_supervised_em(name):
    entry = REGISTRY[name]
    X, y, w = data(name, seed=1)
    y = partly(y, 0.3, seed=1)
    start = entry.init_kwargs(X, 3)
    est = entry.make(max_iter=6, tol=0.0, **start).fit(X, y, sample_weight=w)
    kind = {"BernoulliMixture": "binomial", "BinomialMixture": "binomial",
            "PoissonMixture": "poisson", "CategoricalMixture": "categorical"}[name]
    param0 = start.get("probs_init", start.get("rates_init"))
    weights, param, lls = naive_labels.discrete_em(
        kind, X, w, y, start["weights_init"], param0, 6,
        n_trials=getattr(est, "n_trials", 1))
    fitted = est.rates_ if name == "PoissonMixture" else est.probs_
    assert rel(est.weights_, weights) < 1e-9
    if name == "CategoricalMixture":
        fitted, param = np.hstack(fitted), np.hstack(param)
    assert rel(fitted, param) < 1e-9
    assert rel(est.lower_bounds_, np.array(lls) / w.sum()) < 1e-9


@pytest.mark.parametrize("shared", [False, True])
def test_partly_labelled_factor_mixture_equals_naive_semi_supervised_em(shared):
    X, y, w = data("MixtureOfFactorAnalyzers", seed=1)
    y = partly(y, 0.3, seed=1)
    start = REGISTRY["MixtureOfFactorAnalyzers"].init_kwargs(X, 3)
    est = fastem.MixtureOfFactorAnalyzers(3, n_factors=1, shared_noise=shared, tol=0.0,
                                          max_iter=6, reg_covar=0.0, n_jobs=1,
                                          **start).fit(X, y, sample_weight=w)
    params = tuple(start[k] for k in ("weights_init", "means_init", "loadings_init",
                                      "noise_variance_init"))
    history = []
    for _ in range(6):
        params, ll = naive_factor.em_step(X, w, *params, shared=shared, y=y)
        history.append(ll)
    # tests/test_decomposition.py's tolerances for the unlabelled reference
    assert rel(est.lower_bounds_, history) < 1e-10
    for got, want in zip((est.weights_, est.means_, est.loadings_, est.noise_variance_),
                         params):
        assert rel(got, want) < 1e-8


def test_a_component_without_labelled_rows_starts_as_without_labels():
    X = gaussian_blobs(n=300, k=3, seed=10)
    y = partly(np.arange(300) % 3, 0.2, seed=10)
    y[y == 2] = -1  # component 2 has no labelled row
    kw = dict(covariance_type="full", random_state=0, n_jobs=1, max_iter=0)
    plain = fastem.GaussianMixture(3, **kw).fit(X)
    told = fastem.GaussianMixture(3, **kw).fit(X, y)
    # the unmatched initial component, unchanged; the labelled ones moved
    same = [np.array_equal(told.means_[2], m) for m in plain.means_]
    assert sum(same) == 1
    j = same.index(True)
    assert np.array_equal(told.covariances_[2], plain.covariances_[j])
    for k in (0, 1):
        assert not any(np.array_equal(told.means_[k], m) for m in plain.means_)


# --------------------------------------------------------------- properties
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), ct=st.sampled_from(COV_TYPES),
       fraction=st.floats(0.02, 0.9), weighted=st.booleans(),
       name=st.sampled_from(["GaussianMixture", "PoissonMixture"]))
def test_lower_bounds_are_monotone_with_labels(seed, ct, fraction, weighted, name):
    X = REGISTRY[name].make_X(n=150, k=3, seed=seed, overlap=0.6)
    y = partly(np.arange(150) % 3, fraction, seed)
    w = np.random.default_rng(seed).uniform(0.2, 3.0, 150) if weighted else None
    kw = dict(covariance_type=ct) if name == "GaussianMixture" else {}
    est = REGISTRY[name].make(max_iter=40, tol=0.0, random_state=seed, **kw)
    est.fit(X, y, sample_weight=w)
    lb = np.array(est.lower_bounds_)
    assert np.all(np.diff(lb) >= -1e-12 * np.abs(lb[1:]))


@pytest.mark.parametrize("ct", ["full", "diag"])
def test_integer_weights_with_labels_equal_repeated_rows(ct):
    X, y, _ = data("GaussianMixture", n=150, seed=2)
    y = partly(y, 0.4, seed=2)
    counts = np.random.default_rng(2).integers(0, 4, size=150)
    start = REGISTRY["GaussianMixture"].init_kwargs(X, 3, covariance_type=ct)
    kw = dict(covariance_type=ct, max_iter=8, tol=0.0, n_jobs=1, **start)
    a = fastem.GaussianMixture(3, **kw).fit(X, y, sample_weight=counts)
    b = fastem.GaussianMixture(3, **kw).fit(np.repeat(X, counts, axis=0),
                                            np.repeat(y, counts))
    for key in ("weights_", "means_", "covariances_"):
        assert rel(getattr(a, key), getattr(b, key)) < 1e-10
    assert rel(a.lower_bounds_, b.lower_bounds_) < 1e-10


@pytest.mark.parametrize("name", ["GaussianMixture", "PoissonMixture"])
def test_one_thread_equals_two_threads_bit_for_bit(name):
    # several 1024-row blocks in both the unlabelled and the labelled parts
    X = REGISTRY[name].make_X(n=9000, k=3, seed=3, overlap=0.5)
    y = partly(np.arange(9000) % 3, 0.5, seed=3)
    fits = [REGISTRY[name].make(n_jobs=j, max_iter=5, tol=0.0).fit(X, y) for j in (1, 2)]
    p1, p2 = (REGISTRY[name].params_of(f) for f in fits)
    assert all(np.array_equal(p1[key], p2[key]) for key in p1)
    assert fits[0].lower_bounds_ == fits[1].lower_bounds_


@pytest.mark.parametrize("where", ["everywhere", "first_chunk_only"])
def test_chunked_and_memmap_equal_in_memory(tmp_path, where):
    X = gaussian_blobs(n=5000, k=3, seed=4, overlap=0.5)
    y = partly(np.arange(5000) % 3, 0.2, seed=4)
    if where == "first_chunk_only":  # later chunks hold no labelled row
        y[1000:] = -1
    kw = dict(max_iter=6, tol=0.0, covariance_type="full", random_state=0)
    whole = fastem.GaussianMixture(3, **kw).fit(X, y)
    chunked = fastem.GaussianMixture(3, chunk_size=1024, **kw).fit(X, y)
    path = tmp_path / "X.npy"
    np.save(path, X)
    mapped = fastem.GaussianMixture(3, chunk_size=2048, **kw).fit(
        np.load(path, mmap_mode="r"), y)
    for other in (chunked, mapped):
        # the chunked start comes from the same rows (n < the init sample)
        for key in ("weights_", "means_", "covariances_"):
            assert rel(getattr(other, key), getattr(whole, key)) < 1e-10
        assert rel(other.lower_bounds_, whole.lower_bounds_) < 1e-12


def test_partial_fit_with_labels_reaches_the_per_class_estimate():
    X, y, _ = data("GaussianMixture")
    est = fastem.GaussianMixture(3, covariance_type="diag", random_state=0)
    est.partial_fit(X, y)
    means = np.stack([X[y == k].mean(axis=0) for k in range(3)])
    assert rel(est.means_, means) < 1e-10
    before = est.means_.copy()
    est.partial_fit(X[:60], partly(y[:60], 0.5, seed=5))  # a later labelled batch
    assert not np.array_equal(est.means_, before) and np.isfinite(est.means_).all()


def test_fit_predict_equals_fit_then_predict_with_labels():
    X, y, _ = data("GaussianMixture", seed=6)
    y = partly(y, 0.2, seed=6)
    kw = dict(covariance_type="full", random_state=0, n_jobs=1)
    labels = fastem.GaussianMixture(3, **kw).fit_predict(X, y)
    assert np.array_equal(labels, fastem.GaussianMixture(3, **kw).fit(X, y).predict(X))


def test_labels_improve_a_fit_started_badly():
    """Labels inform the start: the components follow the labelled classes."""
    X = gaussian_blobs(n=300, k=3, seed=7, overlap=0.3)
    truth = np.arange(300) % 3
    y = partly(truth, 0.1, seed=7)
    est = fastem.GaussianMixture(3, random_state=0, n_jobs=1).fit(X, y)
    assert (est.predict(X) == truth).mean() > 0.95  # numbered as the labels


def test_matching_order_gives_each_labelled_class_its_best_component():
    mass = np.array([[0.0, 1.0, 5.0, 0.0],   # class 0 sits in component 2
                     [0.0, 0.0, 0.0, 0.0],   # class 1 has no labelled row
                     [4.0, 3.0, 0.0, 0.0],   # class 2: component 0
                     [0.0, 2.0, 0.0, 1.0]])  # class 3: component 1
    assert matching_order(mass).tolist() == [2, 3, 0, 1]


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad, match", [
    (lambda y: y[:-1], r"y has 119 entries, but X has 120 samples"),
    (lambda y: np.r_[y[:-1], 3], r"y\[119\] = .*3.* not a component index.*0 \.\. 2"),
    (lambda y: np.r_[y[:-1], -2], r"y\[119\] = .*-2.* not a component index"),
    (lambda y: np.r_[y[:-1], 1.5], r"y\[119\] = .*1.5.* is not an integer"),
    (lambda y: np.r_[y[:-1].astype(float), np.nan], r"y\[119\] = .*nan.* not an integer"),
    (lambda y: y[:, None], r"y must be 1-D"),
    (lambda y: y.astype(str), r"y must hold integer component indices"),
    (lambda y: y > 0, r"y must hold integer component indices"),
])
def test_bad_y_is_refused_naming_y(bad, match):
    X, y, _ = data("GaussianMixture", n=120)
    bad_y = bad(partly(y, 0.5, seed=8))
    kept = bad_y.copy()
    with pytest.raises(ValueError, match=match):
        fastem.GaussianMixture(3).fit(X, bad_y)
    assert np.array_equal(bad_y, kept, equal_nan=bad_y.dtype.kind == "f")


def test_float_labels_holding_integers_are_accepted_and_y_is_not_modified():
    X, y, _ = data("PoissonMixture", n=120)
    y = partly(y, 0.5, seed=9)
    as_float = y.astype(np.float64)
    a = REGISTRY["PoissonMixture"].make().fit(X, as_float)
    b = REGISTRY["PoissonMixture"].make().fit(X, y)
    assert np.array_equal(a.rates_, b.rates_)
    assert np.array_equal(as_float, y.astype(np.float64))


def test_bayesian_mixture_and_dask_refuse_y():
    da = pytest.importorskip("dask.array")
    X, y, _ = data("GaussianMixture", n=120)
    with pytest.raises(ValueError, match=r"BayesianGaussianMixture does not take y"):
        fastem.BayesianGaussianMixture(3).fit(X, y)
    with pytest.raises(ValueError, match=r"y \(partly labelled rows\) is not supported "
                                         r"with Dask"):
        fastem.GaussianMixture(3).fit(da.from_array(X, chunks=60), y)


# ------------------------------------------------------- labels and NaN together
@pytest.mark.parametrize("name", ["BernoulliMixture", "PoissonMixture"])
def test_fully_labelled_with_nan_is_the_per_class_observed_frequency(name):
    """Each feature's estimate divides by the mass of the rows observing it."""
    X, y, w = data(name)
    X = X.astype(np.float64)
    X[np.random.default_rng(3).random(X.shape) < 0.3] = np.nan
    est = REGISTRY[name].make(missing="marginalize").fit(X, y, sample_weight=w)
    seen = ~np.isnan(X)
    freq = np.stack([(np.nan_to_num(X[y == k]) * w[y == k, None]).sum(0)
                     / (seen[y == k] * w[y == k, None]).sum(0) for k in range(3)])
    assert rel(est.rates_ if name == "PoissonMixture" else est.probs_, freq) < 1e-10


@pytest.mark.parametrize("name", ["GaussianMixture", "BernoulliMixture"])
def test_partly_labelled_with_nan(name):
    """Monotone lower bound; y all -1 is the unlabelled NaN fit bit for bit."""
    X, y, w = data(name, n=150)
    X = X.astype(np.float64)
    X[np.random.default_rng(4).random(X.shape) < 0.2] = np.nan
    make = lambda: REGISTRY[name].make(missing="marginalize")  # noqa: E731
    est = make().fit(X, partly(y, 0.2, 0), sample_weight=w)
    assert np.all(np.diff(est.lower_bounds_) >= -1e-9 * abs(est.lower_bounds_[0]))
    a = make().fit(X, sample_weight=w)
    b = make().fit(X, np.full(X.shape[0], -1), sample_weight=w)
    assert a.lower_bounds_ == b.lower_bounds_
