"""FactorAnalysis and MixtureOfFactorAnalyzers: against scikit-learn, against a
naive NumPy EM (tests/naive_factor.py), and properties."""
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_wine
from sklearn.decomposition import FactorAnalysis as SkFactorAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import fastem
import naive_factor


def _sklearn_fit(est, X):
    """scikit-learn's fit with BLAS on one thread: its per-iteration SVDs of
    small matrices run 15x slower with threads on a busy 2-core machine."""
    with threadpool_limits(1):
        return est.fit(X)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _wine():
    return StandardScaler().fit_transform(load_wine().data)


def _digits():
    return load_digits().data


def _blobs(n=900, d=6, k=3, q=2, seed=0, dtype=np.float64):
    """Rows from a mixture of factor analyzers (unequal scales, overlapping)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(k, d))
    loadings = rng.normal(size=(k, d, q))
    labels = np.arange(n) % k
    z = rng.standard_normal((n, q))
    X = centers[labels] + np.einsum("ndj,nj->nd", loadings[labels], z)
    return (X + rng.standard_normal((n, d)) * rng.uniform(0.3, 1.0, d)).astype(dtype)


def _mfa_init(X, k, q, seed=1):
    rng = np.random.default_rng(seed)
    X = np.asarray(X, np.float64)
    idx = np.linspace(0, X.shape[0] - 1, k).astype(int)
    return dict(weights_init=np.full(k, 1.0 / k), means_init=X[idx].copy(),
                loadings_init=rng.normal(scale=0.5, size=(k, X.shape[1], q)),
                noise_variance_init=np.ones((k, X.shape[1])))


# =================================================================== FactorAnalysis
# Both run to convergence: scikit-learn with tol=1e-10 (its SVD iteration),
# fastem with tol=1e-11 (EM takes smaller steps); measured agreement: loglike
# and score within 5e-12 relative, the covariance within 8.3e-7 (Frobenius,
# relative) — the likelihood is flat along some directions of the covariance.
@pytest.mark.parametrize("data, q", [("wine", 1), ("wine", 2), ("digits", 2),
                                     ("digits", 5)])
def test_factor_analysis_reaches_sklearn_maximum_likelihood(data, q):
    X = _wine() if data == "wine" else _digits()
    sk = _sklearn_fit(SkFactorAnalysis(q, tol=1e-10, max_iter=100_000,
                                       svd_method="lapack"), X)
    fa = fastem.FactorAnalysis(q, tol=1e-11, max_iter=100_000).fit(X)
    assert sk.n_iter_ < 100_000 and fa.n_iter_ < 100_000  # both converged
    np.testing.assert_allclose(fa.loglike_[-1], sk.loglike_[-1], rtol=1e-6)
    np.testing.assert_allclose(fa.score(X), sk.score(X), rtol=1e-6)
    cov, ref = fa.get_covariance(), sk.get_covariance()
    assert np.linalg.norm(cov - ref) <= 1e-6 * np.linalg.norm(ref)
    np.testing.assert_allclose(fa.get_precision() @ cov, np.eye(X.shape[1]), atol=1e-6)
    np.testing.assert_allclose(fa.score_samples(X), sk.score_samples(X), rtol=1e-5)
    np.testing.assert_allclose(fa.mean_, X.mean(axis=0), rtol=1e-12, atol=1e-12)


def test_factor_analysis_same_update_as_sklearn_from_the_same_start():
    """Transform, covariance and scores are scikit-learn's formulas: with the
    same fitted attributes the outputs are equal."""
    X = _wine()
    fa = fastem.FactorAnalysis(3, max_iter=50).fit(X)
    sk = SkFactorAnalysis(3).fit(X)
    sk.components_, sk.noise_variance_, sk.mean_ = fa.components_, fa.noise_variance_, fa.mean_
    np.testing.assert_allclose(fa.transform(X), sk.transform(X), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fa.get_covariance(), sk.get_covariance(), rtol=1e-12)
    np.testing.assert_allclose(fa.get_precision(), sk.get_precision(), rtol=1e-8,
                               atol=1e-10)
    np.testing.assert_allclose(fa.score_samples(X), sk.score_samples(X), rtol=1e-10)


def _match_sign_and_order(a, b):
    """``b`` (factors, features) reordered and sign-flipped to best match ``a``."""
    order = [int(np.argmax(np.abs(b @ row))) for row in a]
    b = b[order]
    return b * np.sign((a * b).sum(axis=1))[:, None]


@pytest.mark.parametrize("rotation", [None, "varimax", "quartimax"])
def test_components_and_rotation_match_sklearn(rotation):
    """fastem reports scikit-learn's basis of factors (see
    ``canonical_loadings``), so rotated components agree too. Both run to
    convergence (tol 1e-12 / 1e-13): measured agreement 4e-8 of the largest
    loading (1e-6 at tol 1e-10 / 1e-11)."""
    from sklearn.decomposition._factor_analysis import _ortho_rotation
    from fastem.families.factor import orthogonal_rotation

    if rotation is not None:
        W = np.random.default_rng(0).normal(size=(13, 4))
        np.testing.assert_allclose(orthogonal_rotation(W, rotation),
                                   _ortho_rotation(W, rotation), rtol=1e-12, atol=1e-12)
    X = _wine()
    fa = fastem.FactorAnalysis(2, rotation=rotation, tol=1e-13, max_iter=10_000).fit(X)
    sk = _sklearn_fit(SkFactorAnalysis(2, rotation=rotation, tol=1e-12, max_iter=10_000,
                                       svd_method="lapack"), X)
    b = _match_sign_and_order(fa.components_, sk.components_)
    np.testing.assert_allclose(fa.components_, b, atol=1e-6 * np.abs(b).max())


def test_isotropic_noise_is_probabilistic_pca():
    """Tipping & Bishop's closed form: sigma^2 is the mean of the discarded
    eigenvalues of the covariance, W W^T = U_q (L_q - sigma^2) U_q^T."""
    X = _wine()
    q = 3
    fa = fastem.FactorAnalysis(q, noise="isotropic", tol=1e-12, max_iter=100_000).fit(X)
    cov = np.cov(X.T, bias=True)
    vals, vecs = np.linalg.eigh(cov)
    vals, vecs = vals[::-1], vecs[:, ::-1]
    sigma2 = vals[q:].mean()
    np.testing.assert_allclose(fa.noise_variance_, sigma2, rtol=1e-6)
    expected = vecs[:, :q] @ np.diag(vals[:q] - sigma2) @ vecs[:, :q].T
    np.testing.assert_allclose(fa.components_.T @ fa.components_, expected,
                               atol=1e-6 * np.abs(expected).max())


@pytest.mark.parametrize("noise", ["diagonal", "isotropic"])
def test_factor_analysis_loglike_is_monotone(noise):
    for seed in range(5):
        X = _blobs(n=300, d=7, k=2, seed=seed)
        fa = fastem.FactorAnalysis(seed % 3 + 1, noise=noise, tol=0, max_iter=200).fit(X)
        ll = np.asarray(fa.loglike_)
        assert np.all(np.diff(ll) >= -1e-10 * np.abs(ll[1:])), ll


def test_factor_analysis_weights_threads_and_chunks():
    X = _blobs(n=4300, d=5, k=2, seed=3)
    reps = np.random.default_rng(3).integers(0, 4, X.shape[0])
    kw = dict(n_components=2, tol=0, max_iter=30)
    a = fastem.FactorAnalysis(**kw).fit(X, sample_weight=reps)
    b = fastem.FactorAnalysis(**kw).fit(np.repeat(X, reps, axis=0))
    np.testing.assert_allclose(a.components_, b.components_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(a.noise_variance_, b.noise_variance_, rtol=1e-8)
    np.testing.assert_allclose(a.loglike_, b.loglike_, rtol=1e-10)
    one = fastem.FactorAnalysis(**kw, n_jobs=1).fit(X)
    two = fastem.FactorAnalysis(**kw, n_jobs=2).fit(X)
    for name in ("components_", "noise_variance_", "mean_", "loglike_"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name))
    chunked = fastem.FactorAnalysis(**kw, chunk_size=1000).fit(X)
    np.testing.assert_allclose(chunked.components_, one.components_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(chunked.transform(X), one.transform(X), rtol=1e-8,
                               atol=1e-10)


def test_factor_analysis_bad_input():
    X = _wine()
    with pytest.raises(ValueError, match="n_components=14 must be at most n_features=13"):
        fastem.FactorAnalysis(14).fit(X)
    with pytest.raises(ValueError, match="n_components"):
        fastem.FactorAnalysis(-1).fit(X)
    with pytest.raises(ValueError, match="noise_variance_init"):
        fastem.FactorAnalysis(2, noise_variance_init=np.ones(12)).fit(X)
    with pytest.raises(ValueError, match="noise_variance_init must be positive"):
        fastem.FactorAnalysis(2, noise_variance_init=-np.ones(13)).fit(X)
    for bad in (dict(rotation="oblimin"), dict(svd_method="arpack"), dict(noise="pink"),
                dict(tol=-1.0), dict(max_iter=0)):
        with pytest.raises(ValueError, match=list(bad)[0]):
            fastem.FactorAnalysis(2, **bad).fit(X)
    nan = X.copy()
    nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fastem.FactorAnalysis(2).fit(nan)
    assert np.isnan(nan[3, 2])  # the user's array is untouched


# ====================================================== MixtureOfFactorAnalyzers
@pytest.mark.parametrize("shared, noise", [(False, "diagonal"), (False, "isotropic"),
                                           (True, "diagonal"), (True, "isotropic")])
def test_mfa_equals_naive_em_from_the_same_start(shared, noise):
    X = _blobs(n=1500, d=6, k=3, q=2, seed=2)
    init = _mfa_init(X, 3, 2)
    m = fastem.MixtureOfFactorAnalyzers(3, n_factors=2, shared_noise=shared, noise=noise,
                                        tol=0, max_iter=8, reg_covar=0, n_jobs=2,
                                        **init).fit(X)
    params = tuple(init[k] for k in ("weights_init", "means_init", "loadings_init",
                                     "noise_variance_init"))
    history = []
    for _ in range(8):
        params, ll = naive_factor.em_step(X, np.ones(len(X)), *params, shared=shared,
                                          isotropic=noise == "isotropic")
        history.append(ll)
    np.testing.assert_allclose(m.lower_bounds_, history, rtol=1e-10)
    for got, want in zip((m.weights_, m.means_, m.loadings_, m.noise_variance_), params):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8 * np.abs(want).max())
    logp = naive_factor.log_densities(X, *params)
    from scipy.special import logsumexp
    np.testing.assert_allclose(m.score_samples(X), logsumexp(logp, axis=1), rtol=1e-10)
    np.testing.assert_allclose(m.predict_proba(X),
                               np.exp(logp - logsumexp(logp, axis=1)[:, None]),
                               atol=1e-10)


def test_mfa_transform_is_the_posterior_factor_mean():
    X = _blobs(n=200, d=5, k=2, q=2, seed=4)
    m = fastem.MixtureOfFactorAnalyzers(2, n_factors=2, max_iter=5, random_state=0).fit(X)
    resp = m.predict_proba(X)
    want = np.zeros((len(X), 2))
    for k in range(2):
        C = m.covariances_[k]
        beta = np.linalg.solve(C, m.loadings_[k]).T
        want += resp[:, k, None] * ((X - m.means_[k]) @ beta.T)
    np.testing.assert_allclose(m.transform(X), want, rtol=1e-9, atol=1e-12)


def test_mfa_properties_weights_threads_chunks_float32():
    X = _blobs(n=4300, d=5, k=3, q=2, seed=5)
    init = _mfa_init(X, 3, 2)
    kw = dict(n_components=3, n_factors=2, tol=0, max_iter=10, **init)
    one = fastem.MixtureOfFactorAnalyzers(**kw, n_jobs=1).fit(X)
    two = fastem.MixtureOfFactorAnalyzers(**kw, n_jobs=2).fit(X)
    for name in ("weights_", "means_", "loadings_", "noise_variance_", "lower_bounds_"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name))
    assert np.all(np.diff(one.lower_bounds_) >= -1e-12 * np.abs(one.lower_bounds_[1:]))
    reps = np.random.default_rng(5).integers(0, 4, len(X))
    reps[np.linspace(0, len(X) - 1, 3).astype(int)] = 1  # rows the start refers to
    a = fastem.MixtureOfFactorAnalyzers(**kw).fit(X, sample_weight=reps)
    b = fastem.MixtureOfFactorAnalyzers(**kw).fit(np.repeat(X, reps, axis=0))
    for name in ("weights_", "means_", "loadings_", "noise_variance_"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-8,
                                   atol=1e-10)
    chunked = fastem.MixtureOfFactorAnalyzers(**kw, chunk_size=1000).fit(X)
    np.testing.assert_allclose(chunked.loadings_, one.loadings_, rtol=1e-9, atol=1e-11)
    f32 = fastem.MixtureOfFactorAnalyzers(**kw).fit(X.astype(np.float32))
    assert f32.loadings_.dtype == np.float32 and f32.transform(X).dtype == np.float64
    np.testing.assert_allclose(f32.means_, one.means_, atol=1e-4 * np.abs(X).max())


def test_mfa_with_d_minus_1_factors_approaches_full_gaussian_mixture():
    """With q = D - 1 and a tiny noise floor any covariance is reachable: EM
    climbs to the full mixture's maximum (measured gap 1.4e-12 after 300
    iterations), far above the diagonal mixture's."""
    X = _blobs(n=600, d=4, k=2, q=1, seed=6)
    init = _mfa_init(X, 2, 3)
    start = dict(weights_init=init["weights_init"], means_init=init["means_init"])
    full = fastem.GaussianMixture(2, covariance_type="full", reg_covar=0, tol=1e-12,
                                  max_iter=2000, **start).fit(X)
    diag = fastem.GaussianMixture(2, covariance_type="diag", reg_covar=0, tol=1e-12,
                                  max_iter=2000, **start).fit(X)
    mfa = fastem.MixtureOfFactorAnalyzers(2, n_factors=3, reg_covar=1e-10, tol=0,
                                          max_iter=300, **init).fit(X)
    gap = full.lower_bound_ - mfa.lower_bound_
    assert -1e-12 < gap < 1e-9, (full.lower_bound_, mfa.lower_bound_)
    assert full.lower_bound_ - diag.lower_bound_ > 1e-2
    np.testing.assert_allclose(mfa.covariances_, full.covariances_, rtol=1e-4, atol=1e-6)


def test_mfa_bad_input():
    X = _blobs(n=90, d=4, k=3)
    for kw, match in [(dict(n_factors=4), "n_factors=4 must be less than n_features=4"),
                      (dict(n_factors=0), "n_factors"), (dict(n_factors=1.5), "n_factors"),
                      (dict(noise="pink"), "noise"), (dict(shared_noise="yes"), "shared_noise"),
                      (dict(reg_covar=-1.0), "reg_covar"),
                      (dict(loadings_init=np.zeros((3, 4, 2))), "loadings_init"),
                      (dict(noise_variance_init=np.ones((3, 5))), "noise_variance_init"),
                      (dict(noise_variance_init=np.zeros((3, 4))),
                       "noise_variance_init must be positive"),
                      (dict(means_init=np.zeros((2, 4))), "means_init")]:
        with pytest.raises((ValueError, TypeError), match=match):
            fastem.MixtureOfFactorAnalyzers(3, **{"n_factors": 1, **kw}).fit(X)
    nan = X.copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fastem.MixtureOfFactorAnalyzers(3).fit(nan)


def test_mfa_api_sample_bic_and_sources():
    da = pytest.importorskip("dask.array")
    X = _blobs(n=3000, d=5, k=2, q=1, seed=7)
    m = fastem.MixtureOfFactorAnalyzers(2, n_factors=1, random_state=0).fit(X)
    Xs, labels = m.sample(500)
    assert Xs.shape == (500, 5) and set(labels) <= {0, 1}
    n_par = 1 + 2 * 5 + 2 * 5 + 2 * 5
    np.testing.assert_allclose(m.bic(X), -2 * m.score(X) * len(X) + n_par * np.log(len(X)))
    np.testing.assert_array_equal(m.fit_predict(X), m.predict(X))
    d = fastem.MixtureOfFactorAnalyzers(2, n_factors=1, random_state=0).fit(
        da.from_array(X, chunks=1000))
    np.testing.assert_allclose(d.loadings_, m.loadings_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.asarray(d.transform(da.from_array(X, chunks=1000))),
                               d.transform(X), rtol=1e-10, atol=1e-12)
    fa = fastem.FactorAnalysis(2).fit(X)
    fd = fastem.FactorAnalysis(2).fit(da.from_array(X, chunks=700))
    np.testing.assert_allclose(fd.components_, fa.components_, rtol=1e-8, atol=1e-10)


def test_factor_analysis_huge_scale():
    """Data at 2**498 ~ 1e150 (squares near float64's limit) fit to the scaled
    model, exactly up to round-off. (Tiny scales meet scikit-learn's absolute
    1e-12 floor on the noise variances, which this drop-in keeps.)"""
    X = _blobs(n=200, d=5, k=2, seed=8)
    s = 2.0 ** 498
    fa = fastem.FactorAnalysis(2, tol=0, max_iter=20,
                               noise_variance_init=np.full(5, s * s)).fit(X * s)
    ref = fastem.FactorAnalysis(2, tol=0, max_iter=20).fit(X)
    np.testing.assert_allclose(fa.components_, ref.components_ * s, rtol=1e-10)
    np.testing.assert_allclose(fa.noise_variance_, ref.noise_variance_ * s * s, rtol=1e-10)
    np.testing.assert_allclose(fa.transform(X * s), ref.transform(X), rtol=1e-9,
                               atol=1e-12)
    assert np.isfinite(fa.loglike_).all()
