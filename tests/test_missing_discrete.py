"""Missing values (NaN) in the discrete mixtures, ``missing='marginalize'``:
against a naive row-by-row NumPy reference, bit-for-bit properties
(no NaN == today's fit, 1 thread == 2), chunked/Dask == in-memory, online
EM by hand, monotone lower bounds, predictions and input errors."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from fastem import BernoulliMixture, BinomialMixture, CategoricalMixture, PoissonMixture

import naive_discrete_missing as naive
from naive_discrete import random_start

K = 3
N_TRIALS = 7
CATS = [2, 3, 5, 4]
FAMILIES = ["bernoulli", "binomial", "poisson", "categorical"]


def _complete(family, n, rng):
    """Complete data from a 3-component mixture of the family (float64)."""
    z = rng.integers(0, K, n)
    if family == "bernoulli":
        return (rng.random((n, 5)) < rng.uniform(0.05, 0.95, (K, 5))[z]).astype(float)
    if family == "binomial":
        return rng.binomial(N_TRIALS, rng.uniform(0.05, 0.95, (K, 4))[z]).astype(float)
    if family == "poisson":
        return rng.poisson(rng.uniform(0.5, 12.0, (K, 4))[z]).astype(float)
    return np.stack([np.argmax(rng.random((n, c)) + np.eye(c)[z % c], axis=1)
                     for c in CATS], axis=1).astype(float)


def _data(family, n=300, seed=0, frac=0.3):
    """Data with ``frac`` of the entries missing completely at random, and
    row 1 missing entirely (ignored in the fit)."""
    rng = np.random.default_rng(seed)
    X = _complete(family, n, rng)
    X[rng.random(X.shape) < frac] = np.nan
    X[1] = np.nan
    return X


def _start(family, X, seed=1):
    """Initial (weights, parameter) for the estimator and the reference."""
    return random_start(family, X.shape[1], K, CATS, seed)


def _make(family, start=None, **kw):
    kw.setdefault("missing", "marginalize")
    if start is not None:
        kw["weights_init"] = start[0]
        kw["rates_init" if family == "poisson" else "probs_init"] = start[1]
    if family == "bernoulli":
        return BernoulliMixture(K, **kw)
    if family == "binomial":
        return BinomialMixture(K, n_trials=N_TRIALS, **kw)
    if family == "poisson":
        return PoissonMixture(K, **kw)
    return CategoricalMixture(K, n_categories=CATS, **kw)


def _naive_em(family, X, w, start, n_iter):
    weights, param = start
    if family == "bernoulli":
        return naive.em_binomial(X, w, weights, param, 1, n_iter)
    if family == "binomial":
        return naive.em_binomial(X, w, weights, param, N_TRIALS, n_iter)
    if family == "poisson":
        return naive.em_poisson(X, w, weights, param, n_iter)
    return naive.em_categorical(X, w, weights, param, n_iter)


def _naive_log_joint(family, X, weights, param):
    if family == "bernoulli":
        return naive.log_joint_binomial(X, weights, param, 1)
    if family == "binomial":
        return naive.log_joint_binomial(X, weights, param, N_TRIALS)
    if family == "poisson":
        return naive.log_joint_poisson(X, weights, param)
    return naive.log_joint_categorical(X, weights, param)


def _native_param(model):
    return model.rates_ if isinstance(model, PoissonMixture) else model.probs_


def _param(model):
    p = model.rates_ if isinstance(model, PoissonMixture) else model.probs_
    return np.hstack(p) if isinstance(p, list) else p


def _fit(model, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, **kw)


def _assert_same_fit(a, b):
    assert_array_equal(a.weights_, b.weights_)
    assert_array_equal(_param(a), _param(b))
    assert a.lower_bounds_ == b.lower_bounds_


# ------------------------------------------------------- against the reference
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("family", FAMILIES)
def test_matches_naive_reference(family, weighted):
    X = _data(family)
    w = (np.random.default_rng(3).uniform(0.2, 3.0, len(X)) if weighted
         else np.ones(len(X)))
    start = _start(family, X)
    n_iter = 6
    model = _fit(_make(family, start, max_iter=n_iter, tol=0), X,
                 sample_weight=w if weighted else None)
    weights, param, lls = _naive_em(family, X, w, start, n_iter)
    assert_allclose(model.weights_, weights, rtol=1e-9)
    assert_allclose(_param(model), np.hstack(param) if family == "categorical" else param,
                    rtol=1e-9)
    # lower bound: observed-data log-likelihood per unit of total weight
    assert_allclose(model.lower_bounds_, np.array(lls) / w.sum(), rtol=1e-9)
    # predictions: the marginal likelihood of each row's observed entries
    _, _, row_ll, resp = naive.e_step(_naive_log_joint(family, X, model.weights_,
                                                       _native_param(model)), X, w)
    assert_allclose(model.score_samples(X), row_ll, rtol=1e-9, atol=1e-12)
    assert_allclose(model.predict_proba(X), resp, rtol=1e-9, atol=1e-12)
    assert_array_equal(model.predict(X), np.argmax(resp, axis=1))


@pytest.mark.parametrize("family", FAMILIES)
def test_no_missing_value_is_todays_fit_bit_for_bit(family):
    X = _complete(family, 400, np.random.default_rng(4))
    if family == "categorical":
        X = X.astype(np.int64)  # integer codes, and float ones below
    w = np.random.default_rng(5).uniform(0.5, 2.0, len(X))
    for data in ([X, X.astype(float)] if family == "categorical" else [X]):
        kw = dict(max_iter=6, tol=0, random_state=0, init_params="random")
        a = _fit(_make(family, missing="marginalize", **kw), data, sample_weight=w)
        b = _fit(_make(family, missing="raise", **kw), data, sample_weight=w)
        _assert_same_fit(a, b)
        assert_array_equal(a.predict_proba(data), b.predict_proba(data))


@pytest.mark.parametrize("family", FAMILIES)
def test_one_thread_equals_two_bit_for_bit(family):
    X = _data(family, n=4500)  # > 4 blocks of 1024 rows
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(X))
    start = _start(family, X)
    a = _fit(_make(family, start, max_iter=5, tol=0, n_jobs=1), X, sample_weight=w)
    b = _fit(_make(family, start, max_iter=5, tol=0, n_jobs=2), X, sample_weight=w)
    _assert_same_fit(a, b)
    assert_array_equal(a.score_samples(X), b.score_samples(X))


@pytest.mark.parametrize("family", FAMILIES)
def test_chunked_equals_in_memory(family, tmp_path):
    X = _data(family, n=3000, seed=6)
    head = X[:1000]
    head[np.isnan(head)] = 0.0  # a chunk without NaN takes the same pass as the others
    start = _start(family, X)
    kw = dict(max_iter=6, tol=0)
    whole = _fit(_make(family, start, **kw), X)
    chunked = _fit(_make(family, start, chunk_size=1000, **kw), X)
    assert_allclose(chunked.weights_, whole.weights_, rtol=1e-11)
    assert_allclose(_param(chunked), _param(whole), rtol=1e-11)
    assert_allclose(chunked.lower_bounds_, whole.lower_bounds_, rtol=1e-12)
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    streamed = _fit(_make(family, start, chunk_size=700, **kw), mm)
    assert_allclose(_param(streamed), _param(whole), rtol=1e-11)
    assert_allclose(streamed.score_samples(mm), whole.score_samples(X), rtol=1e-12,
                    atol=1e-14)


@pytest.mark.parametrize("family", ["binomial", "categorical"])
def test_dask_equals_in_memory(family):
    da = pytest.importorskip("dask.array")
    import dask
    X = _data(family, n=3000, seed=7)
    w = np.random.default_rng(8).uniform(0.5, 1.5, len(X))
    start = _start(family, X)
    whole = _fit(_make(family, start, max_iter=5, tol=0), X, sample_weight=w)
    with dask.config.set(scheduler="threads"):
        Xd = da.from_array(X, chunks=(800, X.shape[1]))
        dist = _fit(_make(family, start, max_iter=5, tol=0), Xd, sample_weight=w)
        assert_allclose(_param(dist), _param(whole), rtol=1e-11)
        assert_allclose(dist.lower_bounds_, whole.lower_bounds_, rtol=1e-12)
        assert_allclose(dist.predict_proba(Xd).compute(), whole.predict_proba(X),
                        rtol=1e-10, atol=1e-15)


# ------------------------------------------------------------------ online EM
def _naive_stats(family, X, w, weights, param):
    """Per unit weight: nk (K,), the sums the M-step divides (linear: ``(sx,
    mass)``, categorical: per-feature code counts) and the mean log-likelihood."""
    r, ll, _, _ = naive.e_step(_naive_log_joint(family, X, weights, param), X, w)
    if family == "categorical":
        s = [np.stack([r[X[:, d] == c].sum(axis=0) for c in range(n)], axis=1) / w.sum()
             for d, n in enumerate(CATS)]
    else:
        observed = ~np.isnan(X)
        s = (r.T @ np.where(observed, X, 0.0) / w.sum(), r.T @ observed / w.sum())
    return r.sum(axis=0) / w.sum(), s, ll / w.sum()


def _naive_m_step(family, nk, s):
    eps = 10 * np.finfo(float).eps * nk.sum()
    if family == "categorical":
        return nk / nk.sum(), [np.array([naive.project_simplex_floor(ck, 1e-10)
                                         for ck in c]) for c in s]
    sx, mass = s
    n = {"bernoulli": 1, "binomial": N_TRIALS}.get(family)
    if n is None:
        return nk / nk.sum(), np.maximum(sx / (mass + eps), 1e-10)
    return nk / nk.sum(), np.clip(sx / (n * (mass + eps)), 1e-10, 1 - 1e-10)


@pytest.mark.parametrize("family", FAMILIES)
def test_partial_fit_is_online_em_by_hand(family):
    """Two steps: the first batch without NaN, the second with (the running
    statistics change layout on the way), against the stepwise-EM formula."""
    X = _data(family, n=400, seed=9)
    first = _complete(family, 200, np.random.default_rng(10))
    start = _start(family, X)
    model = _make(family, start, learning_decay=0.7, learning_offset=10.0)
    model.partial_fit(first)
    model.partial_fit(X)
    nk1, s1, _ = _naive_stats(family, first, np.ones(len(first)), *start)
    p1 = _naive_m_step(family, nk1, s1)
    nk2, s2, mean_ll = _naive_stats(family, X, np.ones(len(X)), *p1)
    step = (1 + 10.0) ** -0.7

    def blend(a, b):
        if isinstance(a, (list, tuple)):
            return type(a)(blend(x, y) for x, y in zip(a, b))
        return (1 - step) * a + step * b

    weights, param = _naive_m_step(family, blend(nk1, nk2), blend(s1, s2))
    assert_allclose(model.weights_, weights, rtol=1e-9)
    assert_allclose(_param(model), np.hstack(param) if family == "categorical" else param,
                    rtol=1e-9)
    # the batch's mean observed-data log-likelihood before the step
    assert model.lower_bound_ == pytest.approx(mean_ll, rel=1e-10)


# ----------------------------------------------------------------- properties
@settings(max_examples=12, deadline=None)
@given(family=st.sampled_from(FAMILIES), seed=st.integers(0, 10_000),
       frac=st.floats(0.05, 0.8))
def test_lower_bounds_monotone_with_random_missingness(family, seed, frac):
    X = _data(family, n=150, seed=seed, frac=frac)
    rng = np.random.default_rng(seed)
    X[rng.integers(0, len(X), 3), rng.integers(0, X.shape[1], 3)] = 0.0
    X[:, 0][np.isnan(X[:, 0])] = 0.0  # every feature observed (column 0)
    model = _fit(_make(family, max_iter=30, tol=0, random_state=seed), X)
    lb = np.array(model.lower_bounds_)
    assert np.all(np.diff(lb) >= -1e-12 * np.abs(lb[1:]))


@pytest.mark.parametrize("family", FAMILIES)
def test_row_with_nothing_observed_gets_the_weights(family):
    X = _data(family)
    model = _fit(_make(family, _start(family, X), max_iter=3, tol=0), X)
    empty = np.full((2, X.shape[1]), np.nan)
    assert_allclose(model.predict_proba(empty), np.tile(model.weights_, (2, 1)),
                    rtol=1e-14)
    assert_array_equal(model.score_samples(empty), [0.0, 0.0])
    assert_array_equal(model.predict(empty), np.argmax(model.weights_))
    if family == "categorical":  # fitted on float codes, samples int32 codes
        assert model.sample(5)[0].dtype == np.int32
    # ... and the fit ignores it: the same fit without that row (row 1)
    kept = np.delete(X, 1, axis=0)
    other = _fit(_make(family, _start(family, X), max_iter=3, tol=0), kept)
    assert_allclose(_param(other), _param(model), rtol=1e-12)
    assert_allclose(other.weights_, model.weights_, rtol=1e-12)


@pytest.mark.parametrize("family", ["binomial", "categorical"])
@pytest.mark.parametrize("init_params", ["random", "random_from_data"])
def test_data_driven_initializations_fit_with_nan(family, init_params):
    X = _data(family, n=300, seed=12)
    before = X.copy()
    model = _fit(_make(family, init_params=init_params, random_state=0, max_iter=20), X)
    assert_array_equal(np.isnan(X), np.isnan(before))  # user array untouched
    assert_array_equal(X[~np.isnan(X)], before[~np.isnan(before)])
    assert np.all(np.isfinite(_param(model)))
    assert np.all(np.diff(model.lower_bounds_) >= -1e-12)


def test_kmeans_initialization_fits_with_nan():
    X = _data("poisson", n=300, seed=13)
    model = _fit(_make("poisson", init_params="kmeans", random_state=0, max_iter=20), X)
    assert np.all(np.isfinite(model.rates_)) and np.all(model.rates_ > 0)
    assert np.all(np.diff(model.lower_bounds_) >= -1e-12)


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize("family", FAMILIES)
def test_nan_with_missing_raise_is_refused(family):
    X = _data(family)
    with pytest.raises(ValueError, match="NaN.*missing='marginalize'"):
        _make(family, missing="raise").fit(X)
    model = _fit(_make(family, _start(family, X), max_iter=2), X)
    with pytest.raises(ValueError, match="infinity"):
        model.predict(np.where(np.isnan(X), np.inf, X))


@pytest.mark.parametrize("family, bad", [("bernoulli", 2.0), ("binomial", N_TRIALS + 1.0),
                                         ("binomial", 1.5), ("poisson", -1.0),
                                         ("categorical", 9.0)])
def test_out_of_domain_observed_value_is_refused(family, bad):
    X = _data(family)
    X[5, 2] = bad
    with pytest.raises(ValueError, match=r"X\[5, 2\]"):
        _make(family).fit(X)


@pytest.mark.parametrize("family", FAMILIES)
def test_unobserved_feature_and_all_nan_are_refused(family):
    X = _data(family)
    X[:, 2] = np.nan
    with pytest.raises(ValueError, match="Feature 2"):
        _make(family).fit(X)
    with pytest.raises(ValueError, match="every entry is NaN"):
        _make(family).fit(np.full_like(X, np.nan))
    with pytest.raises(ValueError, match="inf"):
        _make(family).fit(np.where(np.isnan(X), np.inf, X))
