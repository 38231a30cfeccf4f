"""Streaming (chunked, memory-mapped) and online fitting of the mixtures."""
import copy
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastem import GaussianMixture
from fastem.families.gaussian import GaussianFamily

COV_TYPES = ["full", "tied", "diag", "spherical"]


def clusters(seed=0, n=6000, d=3, k=3):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=6.0, size=(k, d))
    return centers[rng.integers(0, k, n)] + rng.standard_normal((n, d))


def start(X, k, ct):
    g = GaussianMixture(k, covariance_type=ct, random_state=0, max_iter=1).fit(X[:500])
    return dict(weights_init=g.weights_, means_init=g.means_,
                precisions_init=g.precisions_)


def quiet_fit(est, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, **kw)


@pytest.mark.parametrize("ct", COV_TYPES)
def test_chunked_equals_in_memory(ct):
    X = clusters(1)
    w = np.random.default_rng(2).uniform(0, 2, len(X))
    init = start(X, 3, ct)
    kw = dict(covariance_type=ct, max_iter=8, tol=0, **init)
    whole = quiet_fit(GaussianMixture(3, **kw), X, sample_weight=w)
    chunked = quiet_fit(GaussianMixture(3, chunk_size=1500, **kw), X, sample_weight=w)
    for attr in ["weights_", "means_", "covariances_"]:
        np.testing.assert_allclose(getattr(chunked, attr), getattr(whole, attr),
                                   rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(chunked.lower_bounds_, whole.lower_bounds_, rtol=1e-12)
    np.testing.assert_array_equal(chunked.predict(X), whole.predict(X))
    np.testing.assert_allclose(chunked.score_samples(X), whole.score_samples(X), rtol=1e-12)


def test_memmap_is_streamed_and_equals_in_memory(tmp_path):
    X = clusters(3, n=20_000).astype(np.float32)
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    init = start(X.astype(np.float64), 3, "diag")
    kw = dict(covariance_type="diag", max_iter=5, tol=0, chunk_size=4096, **init)
    streamed = quiet_fit(GaussianMixture(3, **kw), mm)
    whole = quiet_fit(GaussianMixture(3, **{**kw, "chunk_size": None}), X)
    assert streamed.means_.dtype == np.float32
    np.testing.assert_allclose(streamed.means_, whole.means_, rtol=1e-6)
    np.testing.assert_array_equal(streamed.predict(mm), whole.predict(X))
    proba = streamed.predict_proba(mm)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("estimator", ["gaussian", "poisson"])
def test_memmap_default_chunks_and_random_init_from_a_sample(tmp_path, monkeypatch,
                                                              estimator):
    from fastem import PoissonMixture, _config
    from fastem._data import ArrayData
    # small knobs, so that 5000 rows really are streamed in default-size
    # chunks (1024 rows, one block) and initialized from a 1000-row sample
    monkeypatch.setattr(_config, "INIT_SAMPLE_ROWS", 1000)
    monkeypatch.setattr(_config, "STREAM_CHUNK_BYTES", 1024)
    seen = {"init_rows": [], "chunk_rows": set()}
    init_sample, chunks = ArrayData.init_sample, ArrayData.chunks

    def spy_init_sample(self, random_state):
        X, w = init_sample(self, random_state)
        seen["init_rows"].append(X.shape[0])
        return X, w

    def spy_chunks(self):
        for start, X, w in chunks(self):
            seen["chunk_rows"].add(X.shape[0])
            yield start, X, w
    monkeypatch.setattr(ArrayData, "init_sample", spy_init_sample)
    monkeypatch.setattr(ArrayData, "chunks", spy_chunks)
    if estimator == "gaussian":
        X = clusters(4, n=5000)
        make = lambda: GaussianMixture(3, random_state=0)  # noqa: E731
    else:
        X = np.random.default_rng(4).poisson([[2.0, 9.0]], (5000, 2)).astype(float)
        make = lambda: PoissonMixture(2, random_state=0, max_iter=20)  # noqa: E731
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    g = quiet_fit(make(), mm)
    assert seen["init_rows"] == [1000]  # a sample, not all 5000 rows
    assert max(seen["chunk_rows"]) == 1024  # chunks smaller than N
    assert np.all(np.isfinite(g.predict_proba(mm)))
    assert g.score(mm) == pytest.approx(g.score(X), rel=1e-12)
    # a sample of 1000 rows starts close to the fit from all rows
    whole = quiet_fit(make(), X)
    assert g.score(X) == pytest.approx(whole.score(X), rel=1e-3)


def test_memmap_with_nan_in_a_later_chunk_is_refused(tmp_path):
    X = clusters(5, n=5000)
    X[4321, 1] = np.nan
    path = tmp_path / "x.npy"
    np.save(path, X)
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(2, chunk_size=1000).fit(np.load(path, mmap_mode="r"))


@pytest.mark.parametrize("ct", COV_TYPES)
def test_rebase_equals_statistics_taken_at_the_new_shift(ct):
    import naive_gaussian
    X = clusters(6, n=3000)
    w = np.random.default_rng(6).uniform(0.0, 2.0, len(X))
    family = GaussianFamily(3, ct, init_params="random_from_data")
    p0 = family.initialize(X, w, np.random.RandomState(0))
    p1 = family.maximize(family.statistics(X, w, p0)[0], p0)
    assert np.abs(p1["means"] - p0["means"]).max() > 0.1  # a real move
    at_p0 = family.statistics(X, w, p0)[0]
    moved = family.rebase(at_p0, p0, p1)
    # an independent pass: p0's responsibilities, deviations taken from p1's means
    direct = naive_gaussian.statistics(X, w, p0["weights"], p0["means"],
                                       p0["covariances"], ct, shift=p1["means"])[0]
    # sx at p1's means is ~0 (p1 is the M-step of these statistics): the
    # round-off to allow is relative to the statistics before the move
    for got, want, before in zip(moved, direct, at_p0):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * np.abs(before).max())


@pytest.mark.parametrize("ct", ["full", "diag"])
def test_partial_fit_on_a_stream_reaches_the_batch_answer(ct):
    X = clusters(7, n=30_000)
    init = start(X, 3, ct)
    batch = GaussianMixture(3, covariance_type=ct, **init).fit(X)
    online = GaussianMixture(3, covariance_type=ct, **init)
    rng = np.random.default_rng(8)
    for epoch in range(3):
        for rows in np.array_split(rng.permutation(len(X)), 30):
            online.partial_fit(X[rows])
    assert online.n_iter_ == 90 and len(online.lower_bounds_) == 90
    # stated tolerance: means within 0.02 and covariances within 5% of the batch fit
    order = [int(np.argmin(((batch.means_ - m) ** 2).sum(1))) for m in online.means_]
    np.testing.assert_allclose(online.means_, batch.means_[order], atol=0.02)
    np.testing.assert_allclose(online.covariances_, batch.covariances_[order],
                               rtol=0.05, atol=0.02)
    np.testing.assert_allclose(online.weights_, batch.weights_[order], atol=0.01)


def test_partial_fit_refuses_a_batch_with_other_features():
    X = clusters(9, n=600)
    g = GaussianMixture(2).partial_fit(X)
    with pytest.raises(ValueError, match="features"):
        g.partial_fit(X[:, :2])
    with pytest.raises(ValueError, match="needs at least"):
        GaussianMixture(5).partial_fit(X[:3])


def test_partial_fit_after_fit_starts_a_new_history():
    X = clusters(10, n=600)
    g = GaussianMixture(2, random_state=0).partial_fit(X).partial_fit(X)
    g.fit(X)
    g.partial_fit(X)
    assert g.n_iter_ == 1 and len(g.lower_bounds_) == 1


def _fit_sources(X, tmp_path):
    """The same rows in memory, as a memmap streamed in chunks, and as Dask blocks."""
    path = tmp_path / "x.npy"
    np.save(path, X)
    sources = {"memory": (X, {}), "memmap": (np.load(path, mmap_mode="r"),
                                             {"chunk_size": 1000})}
    try:
        import dask.array as da
        sources["dask"] = (da.from_array(X, chunks=1000), {})
    except ImportError:  # pragma: no cover
        pass
    return sources


@pytest.mark.parametrize("source", ["memory", "memmap", "dask"])
@pytest.mark.parametrize("ct", COV_TYPES)
def test_partial_fit_continues_from_the_fitted_mixture(ct, source, tmp_path):
    X = clusters(14, n=3000)
    sources = _fit_sources(X, tmp_path)
    if source not in sources:
        pytest.skip("dask is not installed")
    data, kw = sources[source]
    g = GaussianMixture(3, covariance_type=ct, random_state=0, tol=1e-12,
                        max_iter=500, **kw).fit(data)
    fitted = {a: getattr(g, a).copy() for a in ("weights_", "means_", "covariances_")}
    small = copy.deepcopy(g)
    # a converged fit is a fixed point of one more step on all of its data
    g.partial_fit(X)
    for attr, value in fitted.items():
        np.testing.assert_allclose(getattr(g, attr), value, rtol=1e-6, atol=1e-8)
    # two rows (fewer than the components) after a fit on 3000 are a small
    # step, (3000 / 2 + 10) ** -0.7 < 0.006, not a new start
    small.partial_fit(X[:2])
    assert small.n_iter_ == 1
    np.testing.assert_allclose(small.weights_, fitted["weights_"], atol=0.006)
    np.testing.assert_allclose(small.means_, fitted["means_"],
                               atol=0.006 * np.abs(X).max())


@pytest.mark.parametrize("name", ["bernoulli", "poisson", "categorical"])
def test_discrete_partial_fit_continues_from_the_fitted_mixture(name):
    cases, w0 = _discrete_cases(np.random.default_rng(15), n=2000)
    cls, kw, X = cases[name]
    g = cls(2, weights_init=w0, tol=1e-12, max_iter=500, **kw).fit(X)
    param = "rates_" if hasattr(g, "rates_") else "probs_"
    flat = lambda est: np.concatenate([np.ravel(p) for p in getattr(est, param)])  # noqa: E731
    fitted = flat(g)
    small = copy.deepcopy(g)
    g.partial_fit(X)
    np.testing.assert_allclose(flat(g), fitted, rtol=1e-6, atol=1e-8)
    small.partial_fit(X[:1])  # step (2000 + 10) ** -0.7 < 0.005
    np.testing.assert_allclose(flat(small), fitted, atol=0.005 * np.abs(X).max())


def _discrete_cases(rng, n=6000):
    from fastem import BernoulliMixture, BinomialMixture, CategoricalMixture, PoissonMixture
    z = rng.integers(0, 2, n)[:, None]
    w0 = np.array([0.4, 0.6])
    return {
        "bernoulli": (BernoulliMixture, dict(probs_init=[[0.3] * 5, [0.6] * 5]),
                      (rng.random((n, 5)) < np.where(z, 0.8, 0.2)).astype(float)),
        "binomial": (BinomialMixture, dict(n_trials=10, probs_init=[[0.4] * 5, [0.5] * 5]),
                     rng.binomial(10, np.where(z, 0.7, 0.3), (n, 5)).astype(float)),
        "poisson": (PoissonMixture, dict(rates_init=[[1.5] * 5, [3.0] * 5]),
                    rng.poisson(np.where(z, 5.0, 1.0), (n, 5)).astype(float)),
        "categorical": (CategoricalMixture,
                        dict(n_categories=4, probs_init=[np.array([[.4, .3, .2, .1],
                                                                   [.1, .2, .3, .4]])] * 4),
                        np.where(z, rng.integers(0, 2, (n, 4)), rng.integers(2, 4, (n, 4)))),
    }, w0


@pytest.mark.parametrize("name", ["bernoulli", "binomial", "poisson", "categorical"])
def test_discrete_mixtures_stream_and_learn_online(name):
    cases, w0 = _discrete_cases(np.random.default_rng(11))
    cls, kw, X = cases[name]
    kw = dict(kw, weights_init=w0, max_iter=6, tol=0)
    whole = quiet_fit(cls(2, **kw), X)
    chunked = quiet_fit(cls(2, chunk_size=1000, **kw), X)
    param = "rates_" if hasattr(whole, "rates_") else "probs_"
    flat = lambda est: np.concatenate([np.ravel(p) for p in getattr(est, param)])  # noqa: E731
    np.testing.assert_allclose(flat(chunked), flat(whole), rtol=1e-11)
    np.testing.assert_allclose(chunked.lower_bounds_, whole.lower_bounds_, rtol=1e-12)
    online = cls(2, **{k: v for k, v in kw.items() if k not in ("max_iter", "tol")})
    rng = np.random.default_rng(12)
    for epoch in range(3):
        for rows in np.array_split(rng.permutation(len(X)), 20):
            online.partial_fit(X[rows])
    converged = quiet_fit(cls(2, **{**kw, "max_iter": 200, "tol": 1e-10}), X)
    # stated tolerance: online parameters within 0.03 of the batch optimum
    # (rates: 3% relative), and a mean log-likelihood within 0.5%
    np.testing.assert_allclose(flat(online), flat(converged), atol=0.03, rtol=0.03)
    assert online.score(X) == pytest.approx(converged.score(X), rel=5e-3)


def test_categorical_streaming_needs_n_categories():
    from fastem import CategoricalMixture
    X = np.random.default_rng(13).integers(0, 3, (3000, 2))
    with pytest.raises(ValueError, match="n_categories"):
        CategoricalMixture(2, chunk_size=1000).fit(X)
    CategoricalMixture(2, chunk_size=1000, n_categories=3, random_state=0).fit(X)
