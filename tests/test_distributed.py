"""Dask: fits on a real LocalCluster with worker processes, and the threaded scheduler."""
import threading
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from fastem import GaussianMixture  # noqa: E402


def clusters(seed=0, n=12_000, d=3, k=3):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=6.0, size=(k, d))
    return centers[rng.integers(0, k, n)] + rng.standard_normal((n, d))


def start(X, k, ct="full"):
    g = GaussianMixture(k, covariance_type=ct, random_state=0, max_iter=1).fit(X[:500])
    return dict(weights_init=g.weights_, means_init=g.means_,
                precisions_init=g.precisions_, max_iter=6, tol=0)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


def quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn()


@pytest.mark.parametrize("ct", ["full", "diag"])
def test_local_cluster_fit_equals_in_memory(client, ct):
    X = clusters(1)
    w = np.random.default_rng(2).uniform(0.5, 1.5, len(X))
    kw = start(X, 3, ct)
    kw["covariance_type"] = ct
    whole = quiet(lambda: GaussianMixture(3, **kw).fit(X, sample_weight=w))
    Xd = da.from_array(X, chunks=(2500, 3))
    dist = quiet(lambda: GaussianMixture(3, **kw).fit(Xd, sample_weight=w))
    np.testing.assert_allclose(dist.means_, whole.means_, rtol=1e-11)
    np.testing.assert_allclose(dist.covariances_, whole.covariances_, rtol=1e-10)
    np.testing.assert_allclose(dist.lower_bounds_, whole.lower_bounds_, rtol=1e-12)
    labels = dist.predict(Xd)
    assert isinstance(labels, da.Array)
    np.testing.assert_array_equal(labels.compute(), whole.predict(X))
    proba = dist.predict_proba(Xd)
    assert isinstance(proba, da.Array)
    np.testing.assert_allclose(proba.compute(), whole.predict_proba(X), rtol=1e-9, atol=1e-15)
    assert dist.score(Xd) == pytest.approx(whole.score(X), rel=1e-12)


def test_local_cluster_random_init_from_a_sample(client):
    X = clusters(3)
    g = GaussianMixture(3, random_state=0).fit(da.from_array(X, chunks=(3000, 3)))
    assert np.isfinite(g.means_).all() and g.converged_


def test_threaded_scheduler_from_several_threads_does_not_abort():
    X = clusters(4)
    Xd = da.from_array(X, chunks=(1500, 3))
    kw = start(X, 3)
    ref = quiet(lambda: GaussianMixture(3, **kw).fit(X))
    results = [None] * 4

    def work(i):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            import dask
            with dask.config.set(scheduler="threads"):
                results[i] = GaussianMixture(3, **kw).fit(Xd).means_

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for means in results:
        np.testing.assert_allclose(means, ref.means_, rtol=1e-11)


def test_column_chunks_are_merged_and_bad_input_is_refused():
    X = clusters(5, n=3000)
    kw = start(X, 3)
    a = quiet(lambda: GaussianMixture(3, **kw).fit(da.from_array(X, chunks=(1000, 1))))
    b = quiet(lambda: GaussianMixture(3, **kw).fit(X))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-11)
    bad = X.copy()
    bad[2500, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(2).fit(da.from_array(bad, chunks=(1000, 3)))
    with pytest.raises(ValueError, match="2-D"):
        GaussianMixture(2).fit(da.zeros(10, chunks=5))
    with pytest.raises(ValueError, match="sample_weight"):
        GaussianMixture(2).fit(da.from_array(X, chunks=(1000, 3)), sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="features"):
        b.predict(da.from_array(X[:, :2], chunks=(1000, 2)))


@pytest.mark.parametrize("name", ["bernoulli", "binomial", "poisson", "categorical"])
def test_local_cluster_fits_discrete_mixtures(client, name):
    from test_streaming import _discrete_cases
    cases, w0 = _discrete_cases(np.random.default_rng(6))
    cls, kw, X = cases[name]
    kw = dict(kw, weights_init=w0, max_iter=5, tol=0)
    whole = quiet(lambda: cls(2, **kw).fit(X))
    dist = quiet(lambda: cls(2, **kw).fit(da.from_array(X, chunks=(1500, X.shape[1]))))
    param = "rates_" if hasattr(whole, "rates_") else "probs_"
    for a, b in zip(np.atleast_2d(getattr(dist, param)), np.atleast_2d(getattr(whole, param))):
        np.testing.assert_allclose(a, b, rtol=1e-11)
    np.testing.assert_allclose(dist.lower_bounds_, whole.lower_bounds_, rtol=1e-12)
    np.testing.assert_array_equal(dist.predict(da.from_array(X, chunks=(1500, X.shape[1])))
                                  .compute(), whole.predict(X))
