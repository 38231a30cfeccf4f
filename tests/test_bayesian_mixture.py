"""fastem.BayesianGaussianMixture against scikit-learn's, and its properties.

scikit-learn is exact enough here to be the reference in every case but one:
for ``covariance_type='tied'`` it computes the data scatter as ``X.T @ X``,
which assumes every row's responsibilities sum to 1. The one-hot initial
responsibilities of ``init_params='random_from_data'`` give K rows one
responsibility and every other row none, so its initial tied covariance
counts all N rows; fastem's counts the K chosen rows (the same formula as for
every other start). Tied fits are therefore compared from ``'random'`` and
``'kmeans'`` starts. Far from the origin scikit-learn's ``E[x x^T] - E[x]E[x]^T``
loses the covariances; fastem is compared there against scikit-learn on the
centered data (every quantity is translation-equivariant).
"""
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBGM

from fastem import BayesianGaussianMixture

COV_TYPES = ["full", "tied", "diag", "spherical"]
PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]

#: fitted attributes compared with scikit-learn's
ATTRIBUTES = ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
              "mean_precision_", "degrees_of_freedom_", "mean_prior_",
              "covariance_prior_", "weight_concentration_prior_", "mean_precision_prior_",
              "degrees_of_freedom_prior_", "lower_bound_", "lower_bounds_"]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def blobs(n=300, d=3, k=4, seed=0, spread=5.0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=spread, size=(k, d))
    return centers[np.arange(n) % k] + rng.standard_normal((n, d))


DATASETS = {
    "iris": lambda: load_iris().data,
    "wine": lambda: load_wine().data,
    "digits": lambda: load_digits().data[:300, 20:36],  # a subset: 300 x 16
    "blobs": lambda: blobs(),
}


def fixed_start(X, k, ct):
    """fastem's fixed start: responsibilities from this Gaussian mixture."""
    d = X.shape[1]
    idx = np.linspace(0, len(X) - 1, k).astype(int)
    prec = {"full": np.stack([np.eye(d)] * k), "tied": np.eye(d),
            "diag": np.ones((k, d)), "spherical": np.ones(k)}[ct]
    return dict(weights_init=np.full(k, 1.0 / k), means_init=np.array(X[idx], float),
                precisions_init=prec)


def assert_same_fit(ours, theirs, rtol=1e-7):
    for name in ATTRIBUTES:
        np.testing.assert_allclose(np.ravel(getattr(ours, name)),
                                   np.ravel(getattr(theirs, name)), rtol=rtol, atol=0,
                                   err_msg=name)
    np.testing.assert_allclose(np.hstack(ours.weight_concentration_),
                               np.hstack(theirs.weight_concentration_), rtol=rtol,
                               err_msg="weight_concentration_")
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("ct", COV_TYPES)
@pytest.mark.parametrize("data", sorted(DATASETS))
def test_equals_sklearn_from_the_same_random_start(data, ct, prior_type):
    X = DATASETS[data]()
    inits = ["random", "kmeans"] if ct == "tied" else ["random", "random_from_data"]
    for init in inits:
        kw = dict(n_components=5, covariance_type=ct, init_params=init,
                  weight_concentration_prior_type=prior_type, random_state=3,
                  max_iter=12, tol=0)
        ours = BayesianGaussianMixture(**kw).fit(X)
        theirs = SkBGM(**kw).fit(X)
        assert_same_fit(ours, theirs)
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X),
                                   rtol=1e-7, atol=1e-12)
        np.testing.assert_allclose(ours.score_samples(X), theirs.score_samples(X),
                                   rtol=1e-7)
        assert ours.score(X) == pytest.approx(theirs.score(X), rel=1e-7)


@pytest.mark.parametrize("ct", COV_TYPES)
def test_user_priors_tol_convergence_and_sample_equal_sklearn(ct):
    X = DATASETS["wine"]()[:, :4]
    D = X.shape[1]
    prior = {"full": np.diag(np.arange(1.0, D + 1)) + 0.1, "tied": 2 * np.eye(D),
             "diag": np.arange(1.0, D + 1), "spherical": 3.0}[ct]
    kw = dict(n_components=4, covariance_type=ct, init_params="random", random_state=1,
              weight_concentration_prior=0.3, mean_precision_prior=0.5,
              mean_prior=X.mean(0) + 1, degrees_of_freedom_prior=D + 1.5,
              covariance_prior=prior, tol=1e-4, max_iter=300)
    ours = BayesianGaussianMixture(**kw).fit(X)
    theirs = SkBGM(**kw).fit(X)
    assert ours.converged_ and theirs.converged_
    assert_same_fit(ours, theirs)
    for a, b in zip(ours.sample(50), theirs.sample(50)):
        np.testing.assert_allclose(a, b, rtol=1e-7)
    # warm start continues as scikit-learn's does
    ours.set_params(warm_start=True, max_iter=3, tol=0).fit(X)
    theirs.set_params(warm_start=True, max_iter=3, tol=0).fit(X)
    assert_same_fit(ours, theirs)


@pytest.mark.parametrize("ct", COV_TYPES)
def test_elbo_history_is_monotone(ct):
    for seed in range(4):
        X = blobs(n=200, d=2 + seed % 2, k=3, seed=seed, spread=1.5)  # overlapping
        w = np.random.default_rng(seed).uniform(0.2, 3.0, len(X)) if seed % 2 else None
        for prior_type in PRIOR_TYPES:
            est = BayesianGaussianMixture(
                n_components=6, covariance_type=ct, reg_covar=0, max_iter=40, tol=0,
                weight_concentration_prior_type=prior_type, init_params="random",
                random_state=seed).fit(X, sample_weight=w)
            hist = np.asarray(est.lower_bounds_)
            assert len(hist) == 40
            assert np.all(np.diff(hist) >= -1e-10 * np.abs(hist[1:])), (seed, hist)
            assert hist[-1] > hist[0]


@pytest.mark.parametrize("ct", COV_TYPES)
def test_dirichlet_process_switches_extra_components_off_like_sklearn(ct):
    X = blobs(n=600, d=2, k=3, seed=4, spread=8.0)
    kw = dict(n_components=10, covariance_type=ct, init_params="kmeans", random_state=0,
              max_iter=300, tol=1e-6)
    ours = BayesianGaussianMixture(**kw).fit(X)
    theirs = SkBGM(**kw).fit(X)
    active = ours.weights_ > 1e-3
    np.testing.assert_array_equal(active, theirs.weights_ > 1e-3)
    assert active.sum() == 3
    np.testing.assert_allclose(ours.weights_, theirs.weights_, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("ct", COV_TYPES)
def test_integer_weights_equal_repeated_rows_and_chunks_equal_whole(ct, prior_type,
                                                                    tmp_path):
    X = blobs(n=300, d=3, k=3, seed=5, spread=2.0)
    reps = np.random.default_rng(5).integers(0, 4, len(X))
    kw = dict(n_components=4, covariance_type=ct, max_iter=10,
              weight_concentration_prior_type=prior_type, tol=0,
              **fixed_start(X[reps > 0], 4, ct))
    weighted = BayesianGaussianMixture(**kw).fit(X, sample_weight=reps)
    repeated = BayesianGaussianMixture(**kw).fit(np.repeat(X, reps, axis=0))
    chunked = BayesianGaussianMixture(chunk_size=70, **kw).fit(X, sample_weight=reps)
    mm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=X.dtype,
                                   shape=X.shape)
    mm[:] = X
    mm.flush()
    memmapped = BayesianGaussianMixture(chunk_size=64, **kw).fit(
        np.load(tmp_path / "X.npy", mmap_mode="r+"), sample_weight=reps)
    for other in (repeated, chunked, memmapped):
        for name in ["weights_", "means_", "covariances_", "mean_prior_",
                     "covariance_prior_", "degrees_of_freedom_", "lower_bounds_"]:
            np.testing.assert_allclose(np.ravel(getattr(other, name)),
                                       np.ravel(getattr(weighted, name)),
                                       rtol=1e-9, atol=1e-12, err_msg=name)
        np.testing.assert_array_equal(other.predict(X), weighted.predict(X))


@pytest.mark.parametrize("ct", COV_TYPES)
def test_one_thread_equals_two_threads_bit_for_bit(ct):
    X = blobs(n=5000, d=3, k=4, seed=6, spread=2.0)  # > 2 blocks: parallel passes
    w = np.random.default_rng(6).uniform(0.5, 1.5, len(X))
    fits = [BayesianGaussianMixture(n_components=5, covariance_type=ct, n_jobs=n,
                                    init_params="random", random_state=0, max_iter=8,
                                    tol=0).fit(X, sample_weight=w) for n in (1, 2)]
    for name in ["weights_", "means_", "covariances_", "precisions_cholesky_"]:
        np.testing.assert_array_equal(getattr(fits[0], name), getattr(fits[1], name))
    assert fits[0].lower_bounds_ == fits[1].lower_bounds_


@pytest.mark.parametrize("ct", COV_TYPES)
def test_far_from_origin_covariances_stay_right(ct):
    X = blobs(n=400, d=3, k=3, seed=7, spread=3.0)
    kw = dict(n_components=3, covariance_type=ct, init_params="random", random_state=2,
              max_iter=10, tol=0)
    for offset, dtype, rtol in ((1e8, np.float64, 1e-7), (1e4, np.float32, 1e-5)):
        Xf = (X + offset).astype(dtype)
        # scikit-learn on the data the fit really sees, moved back to the origin
        ref = SkBGM(**kw).fit(Xf.astype(np.float64) - offset)
        ours = BayesianGaussianMixture(**kw).fit(Xf)
        assert ours.covariances_.dtype == dtype
        scale = np.abs(ref.covariances_).max()
        np.testing.assert_allclose(ours.covariances_, ref.covariances_, rtol=rtol,
                                   atol=rtol * scale,
                                   err_msg=f"{offset} {dtype.__name__}")
        assert ours.lower_bound_ == pytest.approx(ref.lower_bound_, rel=rtol)
        # means live at the offset: one M-step rounds a few times there
        # (``(beta0 m0 + nk xk) / beta``, and X's dtype on return). Checked
        # after one iteration: each iteration's roundings move the next one's
        # responsibilities, and over 10 iterations of 30 seeds the means
        # drifted up to 60 ulps from scikit-learn's (1 iteration: 1.8 at most)
        kw1 = dict(kw, max_iter=1)
        ref = SkBGM(**kw1).fit(Xf.astype(np.float64) - offset)
        ours = BayesianGaussianMixture(**kw1).fit(Xf)
        ulp = np.finfo(dtype).eps * offset
        np.testing.assert_allclose(ours.means_.astype(np.float64) - offset, ref.means_,
                                   rtol=0, atol=8 * ulp)


def test_dask_source_equals_in_memory():
    da = pytest.importorskip("dask.array")
    X = blobs(n=3000, d=3, k=3, seed=8)
    w = np.random.default_rng(8).uniform(0.5, 1.5, len(X))
    kw = dict(n_components=3, covariance_type="full", max_iter=6, tol=0,
              **fixed_start(X, 3, "full"))
    whole = BayesianGaussianMixture(**kw).fit(X, sample_weight=w)
    dist = BayesianGaussianMixture(**kw).fit(da.from_array(X, chunks=(700, 3)),
                                             sample_weight=w)
    for name in ["weights_", "means_", "covariances_", "mean_prior_", "covariance_prior_",
                 "lower_bounds_"]:
        np.testing.assert_allclose(np.ravel(getattr(dist, name)),
                                   np.ravel(getattr(whole, name)), rtol=1e-10,
                                   err_msg=name)


def test_fit_predict_equals_fit_then_predict_and_no_partial_fit_or_bic():
    X = blobs(seed=9)
    kw = dict(n_components=4, init_params="random", random_state=0, max_iter=4)
    a = BayesianGaussianMixture(**kw).fit_predict(X)
    np.testing.assert_array_equal(a, BayesianGaussianMixture(**kw).fit(X).predict(X))
    est = BayesianGaussianMixture()
    for name in ("partial_fit", "bic", "aic"):
        assert not hasattr(est, name)
        with pytest.raises(AttributeError, match=f"no {name}"):
            getattr(est, name)


D3 = 3  # features of the data below


@pytest.mark.parametrize("kwargs, match", [
    (dict(weight_concentration_prior=0.0), "weight_concentration_prior"),
    (dict(weight_concentration_prior=-1.0), "weight_concentration_prior"),
    (dict(mean_precision_prior=0.0), "mean_precision_prior"),
    (dict(mean_prior=np.zeros(D3 + 1)), "mean_prior must have shape"),
    (dict(mean_prior=np.full(D3, np.nan)), "mean_prior"),
    (dict(degrees_of_freedom_prior=D3 - 1.0), "degrees_of_freedom_prior.*greater than 2"),
    (dict(degrees_of_freedom_prior=-1.0), "degrees_of_freedom_prior"),
    (dict(covariance_prior=-np.eye(D3)), "covariance_prior.*positive-definite"),
    (dict(covariance_prior=np.triu(np.ones((D3, D3)))), "covariance_prior.*symmetric"),
    (dict(covariance_prior=np.eye(D3 + 1)), "covariance_prior must have shape"),
    (dict(covariance_type="diag", covariance_prior=np.zeros(D3)),
     "covariance_prior must be positive"),
    (dict(covariance_type="spherical", covariance_prior=0.0), "covariance_prior"),
    (dict(weight_concentration_prior_type="pitman_yor"),
     "weight_concentration_prior_type"),
    (dict(means_init=np.zeros((2, D3))), "weights_init, means_init and precisions_init"),
])
def test_invalid_priors_are_refused_naming_the_argument(kwargs, match):
    X = blobs(n=60, d=D3, k=2)
    before = {k: np.copy(v) for k, v in kwargs.items() if isinstance(v, np.ndarray)}
    with pytest.raises((ValueError, TypeError), match=match):
        BayesianGaussianMixture(n_components=2, **kwargs).fit(X)
    for k, v in before.items():
        np.testing.assert_array_equal(kwargs[k], v)  # the user's arrays unchanged
