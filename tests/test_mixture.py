"""GaussianMixture: equal to scikit-learn, to a naive NumPy pass, and its properties."""
import pickle
import re
import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import naive_gaussian
from fastem import GaussianMixture
from fastem.families.gaussian import GaussianFamily

COV_TYPES = ["full", "tied", "diag", "spherical"]


def clusters(seed=0, n=600, d=3, k=3, spread=6.0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=spread, size=(k, d))
    labels = rng.integers(0, k, n)
    return (centers[labels] + rng.standard_normal((n, d))).astype(dtype)


def sk_start(X, k, ct, seed=0):
    """Initial parameters both libraries start from (one sklearn EM step)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        s = SkGaussianMixture(k, covariance_type=ct, max_iter=1, tol=0,
                              random_state=seed).fit(X)
    return dict(weights_init=s.weights_, means_init=s.means_,
                precisions_init=s.precisions_)


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))


def fit_both(X, k, ct, n_iter=15, **kw):
    init = sk_start(X, k, ct)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = GaussianMixture(k, covariance_type=ct, max_iter=n_iter, tol=0,
                               **init, **kw).fit(X)
        theirs = SkGaussianMixture(k, covariance_type=ct, max_iter=n_iter, tol=0,
                                   **init, **kw).fit(X)
    return ours, theirs


def _standardized(data):
    return (data - data.mean(0)) / data.std(0)


REAL_DATA = {
    "iris": (load_iris().data, 3),
    "wine": (_standardized(load_wine().data), 3),
    "breast_cancer": (_standardized(load_breast_cancer().data)[:, :10], 2),
}


@pytest.mark.parametrize("ct", COV_TYPES)
@pytest.mark.parametrize("dataset", sorted(REAL_DATA))
def test_equals_sklearn_on_real_data(dataset, ct):
    X, k = REAL_DATA[dataset]
    ours, theirs = fit_both(X, k, ct)
    for attr in ["weights_", "means_", "covariances_", "precisions_cholesky_",
                 "precisions_"]:
        assert rel(getattr(ours, attr), getattr(theirs, attr)) < 1e-7, attr
    assert rel(ours.lower_bound_, theirs.lower_bound_) < 1e-7
    assert rel(ours.lower_bounds_, theirs.lower_bounds_) < 1e-7
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert rel(ours.predict_proba(X), theirs.predict_proba(X)) < 1e-6
    assert rel(ours.score_samples(X), theirs.score_samples(X)) < 1e-9
    assert rel(ours.bic(X), theirs.bic(X)) < 1e-9
    assert rel(ours.aic(X), theirs.aic(X)) < 1e-9


@pytest.mark.parametrize("ct", COV_TYPES)
def test_converges_like_sklearn_with_default_tol(ct):
    X = clusters(1)
    init = sk_start(X, 3, ct)
    ours = GaussianMixture(3, covariance_type=ct, **init).fit(X)
    theirs = SkGaussianMixture(3, covariance_type=ct, **init).fit(X)
    assert ours.converged_ and theirs.converged_
    assert ours.n_iter_ == theirs.n_iter_
    assert rel(ours.means_, theirs.means_) < 1e-7


def assert_pass_equals_naive(family, X, w, params, ct, serial=False, rtol_loglik=1e-12):
    """The family's statistics and per-row outputs equal the naive NumPy pass."""
    stats, loglik = family.statistics(X, w, params, serial=serial)
    ref_stats, ref_loglik, ref_row, ref_resp = naive_gaussian.statistics(
        X, w, params["weights"], params["means"], params["covariances"], ct)
    for got, want in zip(stats, ref_stats):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    assert rel(loglik, ref_loglik) < rtol_loglik
    row_logp, labels, resp = family.row_outputs(X, params, want_resp=True, serial=serial)
    np.testing.assert_allclose(row_logp, ref_row, rtol=rtol_loglik)
    np.testing.assert_allclose(resp, ref_resp, rtol=1e-9, atol=1e-300)
    np.testing.assert_array_equal(labels, ref_resp.argmax(axis=1))


@pytest.mark.parametrize("ct", COV_TYPES)
@pytest.mark.parametrize("serial", [False, True])
def test_kernel_statistics_equal_naive_numpy(ct, serial):
    X = clusters(2, n=3000, d=4)
    w = np.random.default_rng(3).uniform(0.0, 2.0, len(X))
    init = sk_start(X, 3, ct)
    family = GaussianFamily(3, ct, **{k: np.asarray(v, np.float64) for k, v in init.items()})
    params = family.initialize(X, w, None)
    assert_pass_equals_naive(family, X, w, params, ct, serial=serial)


@pytest.mark.parametrize("ct", COV_TYPES)
@pytest.mark.parametrize("n, d, k", [(1, 1, 1), (127, 1, 2), (129, 3, 1), (1025, 2, 5),
                                     (2 * 1024 + 300, 5, 3)])
def test_kernel_statistics_equal_naive_numpy_at_edge_shapes(ct, n, d, k):
    # rows around the 128-row tile and 1024-row block edges, one feature, one component
    X = clusters(9, n=n, d=d, k=k)
    rng = np.random.default_rng(9)
    w = rng.uniform(0.0, 2.0, n)
    family = GaussianFamily(k, ct, init_params="random")
    params = family.initialize(X, w, np.random.RandomState(0))
    assert_pass_equals_naive(family, X, w, params, ct, rtol_loglik=1e-11)


@pytest.mark.parametrize("ct", COV_TYPES)
def test_kernel_statistics_equal_naive_numpy_with_far_components(ct):
    # a tight cluster 300 away: its component is far from the pass's center
    # (handled with x - c_k formed first), the others near (shifted forms)
    rng = np.random.default_rng(11)
    X = np.vstack([clusters(3, n=2900, d=4), 300.0 + 0.01 * rng.standard_normal((150, 4))])
    w = rng.uniform(0.0, 2.0, len(X))
    means = np.vstack([X[:3] + 0.5, [[300.0] * 4]])
    weights = np.array([0.3, 0.3, 0.35, 0.05])
    var = np.array([1.0, 2.0, 0.5, 1e-4])
    precisions = {"full": np.stack([np.eye(4) / v for v in var]),
                  "tied": np.linalg.inv(np.eye(4) + 0.2),
                  "diag": np.outer(1 / var, [1.0, 0.5, 2.0, 1.0]),
                  "spherical": 1 / var}[ct]
    family = GaussianFamily(4, ct, weights_init=weights, means_init=means,
                            precisions_init=precisions)
    params = family.initialize(X, w, None)
    exact = family._kernel_args(params, X.dtype)[3]
    assert exact.tolist() == [False, False, False, True]
    assert_pass_equals_naive(family, X, w, params, ct)


@pytest.mark.parametrize("ct", COV_TYPES)
def test_pass_without_far_components_equals_the_general_pass_bit_for_bit(ct):
    # no component far from the center: the kernels get exact=None, a
    # specialization compiled without that path; it must compute the same
    from fastem._threads import lane_pass
    from fastem.kernels import gaussian as kern
    X = clusters(4, n=2500, d=4)
    w = np.random.default_rng(4).uniform(0.0, 2.0, len(X))
    family = GaussianFamily(3, ct, init_params="random")
    params = family.initialize(X, w, np.random.RandomState(0))
    args = list(family._kernel_args(params, X.dtype))
    assert args[3] is None
    full = ct in ("full", "tied")
    kernel = kern.full_lanes if full else kern.diag_lanes
    shapes = ((3,), (3, 4), ((1 if ct == "tied" else 3), 4, 4) if full else (3, 4))
    outputs = (True, np.empty(0), np.empty(0, np.int64), np.empty((0, 3)))
    results = []
    for exact in (None, np.zeros(3, dtype=bool)):
        args[3] = exact
        results.append(lane_pass(kernel, (X, w, *args), outputs, shapes, len(X), 1024, 1))
    for a, b in zip(results[0][0], results[1][0]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_a_feature_constant_only_in_the_description_sample_is_not_constant(monkeypatch):
    from fastem import _config
    monkeypatch.setattr(_config, "DESCRIBE_SAMPLE_ROWS", 100)
    X = clusters(9, n=3001, d=3)
    X[:, 1] = 5.0
    family = GaussianFamily(3, "diag")
    family.describe_data(X, np.ones(len(X)))
    assert family.constant_features.tolist() == [False, True, False]
    X[1, 1] = 6.0  # a row the 100 evenly spaced rows (every 30th) miss
    family = GaussianFamily(3, "diag")
    family.describe_data(X, np.ones(len(X)))
    # the sample saw a constant; the feature's variance is then measured on X
    assert rel(family.data_covariance[1, 1], X[:, 1].var()) < 1e-12
    assert family.constant_features.tolist() == [False, False, False]


@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_data_description_equals_numpy(offset):
    # the collapse floor and re-seeding read the data's covariance and scale
    X = clusters(8, n=5000, d=4) * [1.0, 10.0, 0.1, 1.0] + offset
    X = X[np.argsort(X[:, 0])]  # sorted: the sampled center is not the mean
    w = np.random.default_rng(8).uniform(0.0, 3.0, len(X))
    family = GaussianFamily(3, "full")
    family.describe_data(X, w)
    mean = w @ X / w.sum()
    cov = np.cov(X, rowvar=False, aweights=w, bias=True)
    assert rel(family.data_covariance, cov) < 1e-9
    assert rel(family.feature_scale, np.diag(cov) + mean ** 2) < 1e-12


@pytest.mark.parametrize("ct", COV_TYPES)
def test_serial_and_parallel_passes_are_bit_identical(ct):
    X = clusters(4, n=5000, d=3)
    w = np.random.default_rng(5).uniform(0.5, 1.5, len(X))
    family = GaussianFamily(3, ct, init_params="random_from_data")
    params = family.initialize(X, w, np.random.RandomState(0))
    a, la = family.statistics(X, w, params, serial=False)
    b, lb = family.statistics(X, w, params, serial=True)
    assert la == lb
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("ct", COV_TYPES)
def test_one_thread_equals_two_threads_bit_for_bit(ct):
    X = clusters(6, n=5000, d=3)
    fits = [GaussianMixture(3, covariance_type=ct, n_jobs=n, random_state=0,
                            max_iter=10, tol=0).fit(X) for n in (1, 2)]
    for attr in ["weights_", "means_", "covariances_"]:
        np.testing.assert_array_equal(getattr(fits[0], attr), getattr(fits[1], attr))
    assert fits[0].lower_bounds_ == fits[1].lower_bounds_


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_random_state_reproducible_bit_for_bit(init_params):
    X = clusters(7, n=2500)
    fits = [GaussianMixture(3, init_params=init_params, random_state=42, n_init=2,
                            max_iter=5, tol=0).fit(X) for _ in range(2)]
    np.testing.assert_array_equal(fits[0].means_, fits[1].means_)
    np.testing.assert_array_equal(fits[0].covariances_, fits[1].covariances_)


@pytest.mark.parametrize("init_params", ["k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("ct", ["full", "diag"])
def test_initialization_equals_sklearn_for_same_random_state(init_params, ct):
    X = clusters(8, n=500)
    ours = GaussianMixture(3, covariance_type=ct, init_params=init_params,
                           random_state=3, max_iter=0).fit(X)
    theirs = SkGaussianMixture(3, covariance_type=ct, init_params=init_params,
                               random_state=3, max_iter=0).fit(X)
    assert rel(ours.means_, theirs.means_) < 1e-9
    # scikit-learn leaves one-hot initial weights unnormalized (1/n each);
    # fastem normalizes them (only their ratios matter to the E-step)
    assert rel(ours.weights_, theirs.weights_ / theirs.weights_.sum()) < 1e-9
    # scikit-learn's diag/spherical variances are E[x^2] - E[x]^2, off by
    # about eps * x^2; fastem's are exact (here exactly reg_covar)
    np.testing.assert_allclose(ours.covariances_, theirs.covariances_,
                               rtol=1e-7, atol=1e-13 * np.max(X ** 2))


@pytest.mark.parametrize("n", [500, 9000])
@pytest.mark.parametrize("compiled", [True, False])
def test_kmeans_initialization_equals_sklearn_for_same_random_state(n, compiled,
                                                                     monkeypatch):
    # the Lloyd engine's k-means++ draws and Lloyd runs are scikit-learn's
    # KMeans(n_components, n_init=1, random_state); 9000 rows: several blocks;
    # compiled passes, or NumPy's (small data)
    from fastem.families import kmeans as engine
    monkeypatch.setattr(engine, "MAX_BLAS_START_WORK", 0 if compiled else 10**12)
    X = clusters(8, n=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=0
        ours = GaussianMixture(3, init_params="kmeans", random_state=3, max_iter=0).fit(X)
        theirs = SkGaussianMixture(3, init_params="kmeans", random_state=3,
                                   max_iter=0).fit(X)
    assert rel(ours.means_, theirs.means_) < 1e-12


@pytest.mark.parametrize("ct", COV_TYPES)
def test_integer_weights_equal_repeated_rows(ct):
    X = clusters(9, n=400)
    counts = np.random.default_rng(10).integers(0, 4, len(X))
    init = sk_start(X, 3, ct)
    kw = dict(covariance_type=ct, max_iter=8, tol=0, **init)
    weighted = GaussianMixture(3, **kw).fit(X, sample_weight=counts)
    repeated = GaussianMixture(3, **kw).fit(np.repeat(X, counts, axis=0))
    for attr in ["weights_", "means_", "covariances_"]:
        assert rel(getattr(weighted, attr), getattr(repeated, attr)) < 1e-10
    assert rel(weighted.lower_bounds_, repeated.lower_bounds_) < 1e-10


def test_zero_weight_equals_dropped_row():
    X = clusters(11, n=300)
    w = np.ones(len(X))
    w[::7] = 0
    init = sk_start(X, 3, "full")
    a = GaussianMixture(3, max_iter=5, tol=0, **init).fit(X, sample_weight=w)
    b = GaussianMixture(3, max_iter=5, tol=0, **init).fit(X[w > 0])
    assert rel(a.means_, b.means_) < 1e-10
    assert rel(a.lower_bound_, b.lower_bound_) < 1e-10


@pytest.mark.parametrize("ct", COV_TYPES)
def test_float32_end_to_end(ct):
    X64 = clusters(12, n=2000)
    X32 = X64.astype(np.float32)
    init = sk_start(X64, 3, ct)
    f32 = GaussianMixture(3, covariance_type=ct, max_iter=10, tol=0, **init).fit(X32)
    f64 = GaussianMixture(3, covariance_type=ct, max_iter=10, tol=0, **init).fit(X64)
    # The design: float32 log-density terms, float64 statistics, parameters
    # returned in float32. Against a float64 fit of the same stored values the
    # parameters then differ by their float32 rounding (eps32 / 2 = 6e-8) plus
    # the responsibilities' float32 round-off: bound 4 eps32 = 4.8e-7.
    same = GaussianMixture(3, covariance_type=ct, max_iter=10, tol=0,
                           **init).fit(X32.astype(np.float64))
    bound = 4 * np.finfo(np.float32).eps
    for attr in ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"]:
        assert getattr(f32, attr).dtype == np.float32, attr
        assert rel(getattr(f32, attr), getattr(same, attr)) < bound, attr
        # against the fit of X64, add the rounding of X itself to float32
        # (each value moved by up to eps32 |x| / 2): relative to the largest
        # entry, parameters move by a few eps32 max|x| (here 6e-6)
        a, b = (np.asarray(getattr(f, attr), np.float64) for f in (f32, f64))
        assert np.abs(a - b).max() / np.abs(b).max() < \
            4 * np.finfo(np.float32).eps * np.abs(X64).max(), attr
    proba = f32.predict_proba(X32)
    assert proba.dtype == np.float64  # responsibilities are float64, like sklearn's
    np.testing.assert_allclose(proba, same.predict_proba(X32.astype(np.float64)),
                               atol=1e-5)
    assert f32.sample(5)[0].dtype == np.float32


def _shifted_pair(c, dtype, seed=13):
    rng = np.random.default_rng(seed)
    base = np.concatenate([rng.standard_normal((300, 2)),
                           rng.standard_normal((300, 2)) + [6.0, -4.0]])
    return base.astype(dtype), (base + c).astype(dtype)


@pytest.mark.parametrize("ct", COV_TYPES)
@pytest.mark.parametrize("dtype, shifts", [
    (np.float64, [1e4, 1e6, 1e8, 1e10, 1e12]),
    (np.float32, [1e2, 1e3, 1e4, 1e5, 1e6]),  # spread 1: 16 float32 ulps at 1e6
])
def test_far_from_origin_variances_equal_unshifted_fit(ct, dtype, shifts):
    base, _ = _shifted_pair(0.0, dtype)
    labels = np.repeat([0, 1], 300)
    weights = np.array([0.5, 0.5])
    means0 = np.array([base[labels == j].mean(0) for j in (0, 1)], np.float64)
    prec = {"full": np.stack([np.eye(2)] * 2), "tied": np.eye(2),
            "diag": np.ones((2, 2)), "spherical": np.ones(2)}[ct]
    kw = dict(covariance_type=ct, max_iter=10, tol=0, reg_covar=0,
              weights_init=weights, precisions_init=prec)
    for c in shifts:
        _, shifted = _shifted_pair(c, dtype)
        # the shifted data as stored (x + c rounded to the dtype), fitted from
        # shifted means, against the fit of exactly those values moved back
        fit = GaussianMixture(2, means_init=means0 + c, **kw).fit(shifted)
        exact = np.asarray(shifted, np.float64) - c  # exact (Sterbenz)
        ref_c = GaussianMixture(2, means_init=means0, **kw).fit(exact)
        # float64: deviations from the means (~c) carry round-off eps64 * c in
        # units of a spread of 1, which the responsibilities inherit: bound
        # 0.1 eps64 c (2e-5 at 1e12). float32: the float32 log-density terms
        # are taken around a center in the data, so the offset does not
        # enter: 4 eps32, as in test_float32_end_to_end.
        tol = (max(1e-9, 0.1 * np.finfo(np.float64).eps * c) if dtype == np.float64
               else 4 * np.finfo(np.float32).eps)
        assert rel(fit.covariances_, ref_c.covariances_) < tol, c
        # means: a few ulps of c, plus the same relative error on a spread of 6
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(np.asarray(fit.means_, np.float64) - c, ref_c.means_,
                                   rtol=0, atol=8 * eps * c + 10 * tol)
        assert np.all(np.isfinite(fit.covariances_))


@pytest.mark.parametrize("ct", COV_TYPES)
def test_tight_clusters_at_1e12_fit_like_sklearn(ct):
    # spread 0.1 at offset 1e12: float64 resolves 1e-4 there, so this is
    # ordinary data (the old floor, 1e-24 * E[x^2] ~ 1, refused it)
    rng = np.random.default_rng(30)
    X = np.vstack([rng.normal(0.0, 0.1, (200, 2)), rng.normal(1.0, 0.1, (200, 2))]) + 1e12
    means0 = np.array([[1e12, 1e12], [1e12 + 1, 1e12 + 1]])
    kw = dict(covariance_type=ct, max_iter=20, tol=0, means_init=means0,
              weights_init=[0.5, 0.5])
    ulp = np.spacing(1e12)  # 1.2e-4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = GaussianMixture(2, **kw).fit(X)
        # the same values moved to the origin (exact: Sterbenz)
        moved = GaussianMixture(2, **{**kw, "means_init": means0 - 1e12}).fit(X - 1e12)
        if ct == "full":  # scikit-learn's other types refuse this data
            theirs = SkGaussianMixture(2, **kw).fit(X)
            assert rel(ours.covariances_, theirs.covariances_) < 1e-3
            np.testing.assert_allclose(ours.means_, theirs.means_, rtol=0, atol=4 * ulp)
    # covariance error about eps64 * 1e12 / spread^2 (see the test above)
    assert rel(ours.covariances_, moved.covariances_) < 1e-3
    np.testing.assert_allclose(ours.means_ - 1e12, moved.means_, rtol=0, atol=4 * ulp)
    np.testing.assert_array_equal(ours.predict(X), np.repeat([0, 1], 200))


def test_float32_tight_clusters_at_1e6_fit():
    # float32 at 1e6 resolves 0.06: a spread of 2 is data, not a collapse
    rng = np.random.default_rng(31)
    X = (np.vstack([rng.normal(0.0, 2.0, (200, 2)), rng.normal(20.0, 2.0, (200, 2))])
         + 1e6).astype(np.float32)
    for ct in COV_TYPES:
        g = GaussianMixture(2, covariance_type=ct, reg_covar=0, random_state=0).fit(X)
        assert np.all(np.isfinite(g.covariances_))
        assert np.sort(np.asarray(g.covariances_, np.float64).ravel()).max() < 10


@pytest.mark.parametrize("ct", COV_TYPES)
def test_duplicated_points_still_collapse_far_from_origin(ct):
    # the data-resolution floor still catches a component on one point
    rng = np.random.default_rng(32)
    X = np.vstack([np.tile([[7.0, -3.0]], (30, 1)), rng.standard_normal((60, 2)) + 5]) + 1e6
    kw = dict(covariance_type=ct, reg_covar=0, max_iter=20,
              means_init=[[1e6 + 7, 1e6 - 3], [1e6 + 5, 1e6 + 5]], weights_init=[0.3, 0.7])
    if ct == "tied":  # the shared covariance is healthy
        return
    with pytest.raises(ValueError, match=r"component \d collapsed.*on_collapse='reseed'"):
        GaussianMixture(2, **kw).fit(X)
    g = GaussianMixture(2, on_collapse="reseed", **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        g.fit(X)
    assert g.n_reseeds_ >= 1 and np.all(np.isfinite(g.covariances_))


def test_spherical_constant_feature_fits_like_sklearn_with_reg_covar_0():
    # a constant feature does not make a spherical covariance singular
    X = clusters(33, n=300)
    X[:, 1] = 4.0
    init = sk_start(X, 3, "spherical")
    kw = dict(covariance_type="spherical", reg_covar=0, max_iter=15, tol=0, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = GaussianMixture(3, **kw).fit(X)
        theirs = SkGaussianMixture(3, **kw).fit(X)
    for attr in ["weights_", "means_", "covariances_"]:
        assert rel(getattr(ours, attr), getattr(theirs, attr)) < 1e-7, attr
    assert rel(ours.lower_bounds_, theirs.lower_bounds_) < 1e-7


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 4), d=st.integers(1, 4),
       ct=st.sampled_from(COV_TYPES), weighted=st.booleans())
def test_lower_bounds_are_monotone(seed, k, d, ct, weighted):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((200, d)) * rng.uniform(0.5, 3, d) \
        + rng.integers(0, 3, (200, 1)) * 3
    w = rng.uniform(0.1, 2.0, 200) if weighted else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            g = GaussianMixture(k, covariance_type=ct, reg_covar=0, max_iter=30, tol=0,
                                init_params="random", random_state=seed).fit(X, sample_weight=w)
        except ValueError as exc:
            # reg_covar=0: a component can close on one row (seed=300, k=4,
            # d=4, diag: weight 1/200, variance 0 where scikit-learn's
            # round-off leaves 9e-15), a genuine collapse that must say so;
            # such a fit has no history to test
            assert "collapsed" in str(exc) and "reg_covar" in str(exc)
            assume(False)
    lb = np.array(g.lower_bounds_)
    assert np.all(np.diff(lb) >= -1e-9 * np.abs(lb[1:]).clip(1)), lb


@pytest.mark.parametrize("ct", COV_TYPES)
def test_fit_predict_equals_fit_then_predict(ct):
    X = clusters(14)
    a = GaussianMixture(3, covariance_type=ct, random_state=1, max_iter=3).fit_predict(X)
    b = GaussianMixture(3, covariance_type=ct, random_state=1, max_iter=3).fit(X).predict(X)
    np.testing.assert_array_equal(a, b)


def test_warm_start_continues_where_it_left_off():
    X = clusters(15)
    init = sk_start(X, 3, "full")
    once = GaussianMixture(3, max_iter=10, tol=0, **init).fit(X)
    warm = GaussianMixture(3, max_iter=5, tol=0, warm_start=True, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm.fit(X).fit(X)
    assert rel(warm.means_, once.means_) < 1e-12


def test_n_init_keeps_best_run():
    X = clusters(16, k=4)
    kw = dict(init_params="random", max_iter=5, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        best = GaussianMixture(4, n_init=4, random_state=0, **kw).fit(X)
        # the same random stream, one initialization per fit: the four runs
        stream = np.random.RandomState(0)
        singles = [GaussianMixture(4, n_init=1, random_state=stream, **kw).fit(X)
                   for _ in range(4)]
    bounds = [g.lower_bound_ for g in singles]
    assert len(set(bounds)) > 1  # the runs differ, so keeping the best matters
    kept = singles[int(np.argmax(bounds))]
    assert best.lower_bound_ == max(bounds)
    for attr in ["weights_", "means_", "covariances_", "precisions_cholesky_"]:
        np.testing.assert_array_equal(getattr(best, attr), getattr(kept, attr))
    assert best.lower_bounds_ == kept.lower_bounds_ and best.n_iter_ == kept.n_iter_


def test_convergence_warning_and_verbose_output(capsys):
    X = clusters(17)
    with pytest.warns(ConvergenceWarning):
        GaussianMixture(3, max_iter=2, tol=0, verbose=2, verbose_interval=1,
                        random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "Iteration 1" in out and "Iteration 2" in out and "did not converge" in out


def test_fit_never_allocates_n_by_k():
    rng = np.random.default_rng(18)
    X = rng.standard_normal((200_000, 2))
    k = 64  # an N x K float64 matrix would be 102 MB
    g = GaussianMixture(k, covariance_type="diag", init_params="random_from_data",
                        random_state=0, max_iter=2, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        g.fit(X[:1000])  # compile outside the measurement
        tracemalloc.start()
        g.fit(X)
        g.predict(X)
        g.score_samples(X)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 20e6, peak


def test_full_statistics_memory_does_not_grow_with_rows():
    # partial statistics live in a fixed number of lanes, not one slot per block
    from fastem._compare import _PeakRSS
    rng = np.random.default_rng(21)
    D, K = 24, 24  # a block's full statistics: K D^2 float64 = 110 KB
    X = rng.standard_normal((300_000, D))  # 293 blocks: 32 MB of per-block slots
    w = np.ones(len(X))
    family = GaussianFamily(K, "full", init_params="random")
    params = family.initialize(X[:5000], w[:5000], np.random.RandomState(0))
    family.statistics(X[:5000], w[:5000], params)  # compile outside the measurement
    with _PeakRSS() as peak:
        family.statistics(X, w, params)
    assert peak.added < 16e6, peak.added


def test_input_is_not_modified_and_readonly_noncontiguous_work():
    X = np.asfortranarray(clusters(19))
    X.setflags(write=False)
    before = X.copy()
    g = GaussianMixture(3, random_state=0).fit(X[:, :2])
    g.predict(X[::2, :2])
    np.testing.assert_array_equal(X, before)


def _holds_rows(blob, X):
    """True if any row of X (as float64 bytes) occurs in the bytes ``blob``."""
    rows = np.ascontiguousarray(X, np.float64)
    return any(row.tobytes() in blob for row in rows)


@pytest.mark.parametrize("on_collapse", ["raise", "reseed"])
@pytest.mark.parametrize("ct", COV_TYPES)
def test_fitted_mixture_pickles_no_training_row(ct, on_collapse):
    X = clusters(25, n=400)
    kw = dict(covariance_type=ct, on_collapse=on_collapse, random_state=0)
    fitted = {"fit": GaussianMixture(3, **kw).fit(X),
              "chunked": GaussianMixture(3, chunk_size=100, **kw).fit(X),
              "warm": GaussianMixture(3, warm_start=True, **kw).fit(X).fit(X),
              "partial_fit": GaussianMixture(3, **kw).partial_fit(X[:200]).partial_fit(X[200:]),
              "fit_then_partial_fit": GaussianMixture(3, **kw).fit(X).partial_fit(X[:50])}
    assert _holds_rows(pickle.dumps(X), X)  # the search finds rows when they are there
    for how, g in fitted.items():
        assert not _holds_rows(pickle.dumps(g), X), how


def test_pickle_round_trip():
    X = clusters(20)
    g = GaussianMixture(3, random_state=0).fit(X)
    h = pickle.loads(pickle.dumps(g))
    np.testing.assert_array_equal(g.predict_proba(X), h.predict_proba(X))


def test_sample_shapes_and_labels():
    X = clusters(21)
    for ct in COV_TYPES:
        g = GaussianMixture(3, covariance_type=ct, random_state=0).fit(X)
        Xs, ys = g.sample(50)
        assert Xs.shape == (50, 3) and ys.shape == (50,)
        assert set(np.unique(ys)) <= {0, 1, 2}


@pytest.mark.parametrize("bad, match", [
    (np.array([[1.0, np.nan], [0.0, 1.0], [2.0, 2.0]]), "NaN"),
    (np.array([[1.0, np.inf], [0.0, 1.0], [2.0, 2.0]]), "NaN or infinity"),
    (np.zeros(5), "2-D"),
    (np.zeros((0, 2)), "0 sample"),
    (np.zeros((1, 2)), "needs at least"),
    (np.array([["a", "b"], ["c", "d"]]), "real numbers"),
])
def test_bad_X_is_refused_with_a_clear_message(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        GaussianMixture(1).fit(bad)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_components=0), "n_components"),
    (dict(covariance_type="banana"), "covariance_type"),
    (dict(tol=-1), "tol"),
    (dict(reg_covar=-1), "reg_covar"),
    (dict(max_iter=-1), "max_iter"),
    (dict(n_init=0), "n_init"),
    (dict(init_params="nope"), "init_params"),
    (dict(weights_init=[0.5, 0.6]), "weights_init"),
    (dict(weights_init=[0.5]), "weights_init"),
    (dict(means_init=np.zeros((2, 5))), "means_init"),
    (dict(precisions_init=np.ones((2, 3, 3)) * -1), "precisions_init"),
    (dict(precisions_init=np.ones(3)), "precisions_init"),
    (dict(n_jobs=0), "n_jobs"),
])
def test_bad_parameters_are_refused_at_fit(kwargs, match):
    X = clusters(22)
    kwargs = {"n_components": 2, **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        GaussianMixture(**kwargs).fit(X)


def test_bad_sample_weight_and_feature_mismatch():
    X = clusters(23)
    g = GaussianMixture(2)
    for w, match in [(np.ones(5), "shape"), (-np.ones(len(X)), "non-negative"),
                     (np.zeros(len(X)), "zero for every sample"),
                     (np.full(len(X), np.nan), "NaN")]:
        with pytest.raises(ValueError, match=match):
            g.fit(X, sample_weight=w)
    g.fit(X)
    with pytest.raises(ValueError, match="3 features"):
        g.predict(X[:, :2])


def test_collapsed_component_names_component_and_remedy():
    X = np.vstack([np.zeros((20, 2)), np.random.default_rng(24).standard_normal((50, 2)) + 5])
    with pytest.raises(ValueError, match=r"component 0 .*reg_covar"):
        GaussianMixture(2, reg_covar=0, means_init=[[0, 0], [5, 5]],
                        weights_init=[0.5, 0.5], precisions_init=np.stack([np.eye(2)] * 2),
                        max_iter=3).fit(X)


def test_predict_before_fit_raises_not_fitted():
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        GaussianMixture(2).predict(np.zeros((3, 2)))


@pytest.mark.parametrize("ct", COV_TYPES)
@pytest.mark.parametrize("init", ["given", "random", "random_from_data"])
def test_fit_does_not_depend_on_the_unit_of_sample_weight(ct, init):
    X = clusters(26, n=300)
    w = np.random.default_rng(26).uniform(0.0, 2.0, len(X))
    w[:5] = 0.0
    kw = sk_start(X, 3, ct) if init == "given" else dict(init_params=init, random_state=0)
    fits = []
    for scale in (1.0, 1e-15, 1e12):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(GaussianMixture(3, covariance_type=ct, max_iter=10, tol=0,
                                        **kw).fit(X, sample_weight=w * scale))
    for g in fits[1:]:
        for attr in ["weights_", "means_", "covariances_"]:
            assert rel(getattr(g, attr), getattr(fits[0], attr)) < 1e-10, attr
        assert rel(g.lower_bounds_, fits[0].lower_bounds_) < 1e-10


def test_an_empty_component_still_gets_finite_parameters():
    # the floor on nk keeps an empty component from dividing by zero
    X = clusters(27, n=200, k=2)
    g = GaussianMixture(3, covariance_type="diag", max_iter=3, tol=0,
                        means_init=np.vstack([X[:2], [[1e4] * 3]]),
                        weights_init=[0.4, 0.4, 0.2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        g.fit(X, sample_weight=np.full(len(X), 1e-15))
    assert np.all(np.isfinite(g.means_)) and g.weights_[2] < 1e-10


@pytest.mark.parametrize("init_params", ["k-means++", "random_from_data"])
def test_zero_weight_rows_never_seed_a_component(init_params):
    rng = np.random.default_rng(28)
    good = rng.standard_normal((40, 2))
    outliers = rng.standard_normal((400, 2)) * 50 + 1000  # k-means++ would love them
    X = np.vstack([outliers[:200], good, outliers[200:]])
    w = np.r_[np.zeros(200), np.ones(40), np.zeros(200)]
    for seed in range(10):
        g = GaussianMixture(4, init_params=init_params, random_state=seed,
                            max_iter=0).fit(X, sample_weight=w)
        # each initial mean is one of the positive-weight rows
        for m in g.means_:
            assert np.min(np.abs(good - m).sum(axis=1)) == 0, (seed, m)
    with pytest.raises(ValueError, match="sample_weight has 2 positive"):
        GaussianMixture(3, init_params=init_params).fit(X[:5], sample_weight=[0, 1, 0, 1, 0])


def _collapse_parts(message):
    """(what collapsed, cause, remedy) of a collapse message."""
    m = re.match(r"Fitting the mixture failed: (.*?) collapsed \((\w+) covariance\): "
                 r"its (.*?); (.*?)\. (Increase reg_covar.*)$", message)
    assert m, message
    return m.group(1), m.group(4), m.group(5)


def test_collapse_messages_agree_across_covariance_types():
    rng = np.random.default_rng(29)
    # 2 distinct points for 3 components; a constant feature
    few = np.repeat(rng.standard_normal((2, 2)) * 5, 50, axis=0)
    constant = rng.standard_normal((150, 3))
    constant[:, 1] = 2.5
    cases = {"few": (few, COV_TYPES), "constant": (constant, ["full", "tied", "diag"])}
    for name, (X, types) in cases.items():
        parts = {}
        for ct in types:
            with pytest.raises(ValueError) as info:
                GaussianMixture(3, covariance_type=ct, reg_covar=0, random_state=0).fit(X)
            parts[ct] = _collapse_parts(str(info.value))
        for ct, (where, cause, remedy) in parts.items():
            assert where == ("the shared (tied) covariance" if ct == "tied" else where)
            if ct != "tied":
                assert re.fullmatch(r"component [0-2]", where), where
        # the same cause and remedy, whatever the covariance type
        assert len({p[1:] for p in parts.values()}) == 1, parts
        cause, remedy = next(iter(parts.values()))[1:]
        if name == "constant":
            assert cause == "feature 1 is constant in X"
            assert "drop/rescale the feature" in remedy and "reseed" not in remedy
        else:
            assert "too few distinct points" in cause
            assert "on_collapse='reseed'" in remedy and "fewer components" in remedy
