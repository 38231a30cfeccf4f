"""fastem.cluster.KMeans against scikit-learn, a naive reference, and properties."""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.cluster import KMeans as SKKMeans
from sklearn.datasets import load_digits, load_iris, load_wine, make_blobs
from sklearn.metrics import euclidean_distances

from fastem.cluster import KMeans
from fastem.families import kmeans as engine
from fastem.families.kmeans import BLOCK_ROWS, _bounded_state
from fastem.kernels import kmeans as kernels

from naive_kmeans import naive_lloyd


def _blobs(n=3000, d=5, centers=7, seed=1):
    return make_blobs(n, d, centers=centers, random_state=seed)[0]


DATASETS = {
    "iris": lambda: load_iris().data,
    "wine": lambda: load_wine().data,
    "digits": lambda: load_digits().data,
    "blobs": _blobs,
}


def _init_rows(X, k, seed=0):
    return X[np.random.default_rng(seed).permutation(len(X))[:k]].copy()


def _assert_same_as_sklearn(fk, sk):
    assert_array_equal(fk.labels_, sk.labels_)
    assert fk.n_iter_ == sk.n_iter_
    scale = np.abs(sk.cluster_centers_).max()
    assert_allclose(fk.cluster_centers_, sk.cluster_centers_, rtol=1e-7,
                    atol=1e-7 * scale)
    assert_allclose(fk.inertia_, sk.inertia_, rtol=1e-7)


# ------------------------------------------------------------ vs scikit-learn
@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("tol", [0.0, 1e-4])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("bounded", [True, False])
def test_equal_to_sklearn_same_init(name, tol, weighted, bounded, monkeypatch):
    if not bounded:  # the passes of small data (conftest: bounded everywhere)
        monkeypatch.setattr(engine, "MIN_BOUNDED_ROWS", 10**9)
    X = DATASETS[name]()
    k = 8
    init = _init_rows(X, k)
    w = np.random.default_rng(3).uniform(0.1, 3.0, len(X)) if weighted else None
    params = dict(n_clusters=k, init=init, n_init=1, tol=tol, max_iter=300)
    sk = SKKMeans(algorithm="lloyd", **params).fit(X, sample_weight=w)
    fk = KMeans(**params).fit(X, sample_weight=w)
    _assert_same_as_sklearn(fk, sk)


@pytest.mark.parametrize("avx512", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k, n_features", [(5, 7), (20, 16), (6, 24)])
def test_both_screens_equal_sklearn(avx512, dtype, k, n_features, monkeypatch):
    """The float32 screen scores directly or through sgemm depending on the
    CPU (kernels.kmeans.direct_screen): both ways, on any CPU, the fit is
    scikit-learn's (20 x 16 and 6 x 24: direct for AVX2 code only)."""
    from fastem.kernels import kmeans as kk
    monkeypatch.setattr(kk, "full_width_avx512_code", lambda: avx512)
    X = _blobs(3000, n_features, k).astype(dtype)
    init = _init_rows(X, k)
    params = dict(n_clusters=k, init=init, n_init=1, tol=0, max_iter=30)
    sk = SKKMeans(algorithm="lloyd", **params).fit(X)
    fk = KMeans(**params).fit(X)
    if dtype == np.float64:
        _assert_same_as_sklearn(fk, sk)
    else:  # as test_float32_labels_equal_sklearn_on_non_grid_data
        assert_array_equal(fk.labels_, sk.labels_)
        assert fk.n_iter_ == sk.n_iter_
        atol = 4 * np.finfo(np.float32).eps * np.abs(X).max()
        assert_allclose(fk.cluster_centers_, sk.cluster_centers_, rtol=0, atol=atol)


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
@pytest.mark.parametrize("max_iter", [1, 3])
def test_equal_to_sklearn_capped_iterations(max_iter):
    X = _blobs(5000, 8, 12)
    init = _init_rows(X, 20)
    sk = SKKMeans(20, init=init, n_init=1, max_iter=max_iter, tol=0).fit(X)
    fk = KMeans(20, init=init, n_init=1, max_iter=max_iter, tol=0).fit(X)
    _assert_same_as_sklearn(fk, sk)


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_same_random_state_same_result_as_sklearn(init):
    # the initializers consume the random state exactly as scikit-learn's
    X = load_digits().data
    sk = SKKMeans(10, init=init, n_init=2, random_state=0).fit(X)
    fk = KMeans(10, init=init, n_init=2, random_state=0).fit(X)
    _assert_same_as_sklearn(fk, sk)


def test_empty_cluster_relocated_like_sklearn():
    X = _blobs(2000, 3, 4)
    init = _init_rows(X, 6)
    init[2] = 1e4  # far from every row: empty after the first assignment
    init[4] = -1e4
    sk = SKKMeans(6, init=init, n_init=1).fit(X)
    fk = KMeans(6, init=init, n_init=1).fit(X)
    assert np.isfinite(fk.cluster_centers_).all()
    assert np.unique(fk.labels_).size == 6
    _assert_same_as_sklearn(fk, sk)


def test_callable_init():
    X = _blobs()

    def init(X, n_clusters, random_state):
        return X[:n_clusters] * 1.0

    sk = SKKMeans(5, init=init, n_init=1).fit(X)
    fk = KMeans(5, init=init, n_init=1).fit(X)
    _assert_same_as_sklearn(fk, sk)


# ------------------------------------------------------------ vs naive NumPy
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_naive_lloyd(weighted):
    X = _blobs(4000, 6, 5, seed=7)
    init = _init_rows(X, 5, seed=2)
    w = np.random.default_rng(0).uniform(0, 2, len(X)) if weighted else None
    fk = KMeans(5, init=init, n_init=1, max_iter=4, tol=0).fit(X, sample_weight=w)
    centers, labels, inertia = naive_lloyd(X, init, 4, w)
    assert_allclose(fk.cluster_centers_, centers, rtol=1e-10, atol=1e-10)
    assert_array_equal(fk.labels_, labels)
    assert_allclose(fk.inertia_, inertia, rtol=1e-10)


# ------------------------------------------------------------ properties
def test_integer_weights_equal_repeated_rows():
    X = _blobs(600, 4, 3)
    init = _init_rows(X, 4)
    reps = np.random.default_rng(1).integers(0, 4, len(X))
    reps[:4] = 1
    a = KMeans(4, init=init, n_init=1, tol=0).fit(X, sample_weight=reps)
    b = KMeans(4, init=init, n_init=1, tol=0).fit(np.repeat(X, reps, axis=0))
    assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-10)
    assert_allclose(a.inertia_, b.inertia_, rtol=1e-10)
    assert_array_equal(np.repeat(a.labels_, reps), b.labels_)


def test_zero_weight_equals_dropped_row():
    X = _blobs(600, 4, 3)
    init = _init_rows(X, 4)
    w = np.ones(len(X))
    w[::7] = 0
    keep = w > 0
    init = X[keep][:4].copy()
    a = KMeans(4, init=init, n_init=1).fit(X, sample_weight=w)
    b = KMeans(4, init=init, n_init=1).fit(X[keep])
    assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-10)
    assert_allclose(a.inertia_, b.inertia_, rtol=1e-10)
    assert_array_equal(a.labels_[keep], b.labels_)


@pytest.mark.parametrize("n_features, n_clusters", [(6, 9), (16, 12)],
                         ids=["dense", "bounds"])
def test_thread_count_does_not_change_bits(monkeypatch, n_features, n_clusters):
    monkeypatch.setattr(kernels, "_MIN_THREADED_WORK", 0)  # small data, threaded all the same
    assert kernels.bounds_pay(n_clusters, n_features) == (n_features == 16)
    X = _blobs(5 * BLOCK_ROWS + 17, n_features, n_clusters)
    init = _init_rows(X, n_clusters)
    fits = [KMeans(n_clusters, init=init, n_init=1, tol=0, max_iter=8, n_jobs=j).fit(X)
            for j in (1, 2)]
    assert_array_equal(fits[0].cluster_centers_, fits[1].cluster_centers_)
    assert_array_equal(fits[0].labels_, fits[1].labels_)
    assert fits[0].inertia_ == fits[1].inertia_


def test_lloyd_pass_bits_for_any_thread_count(monkeypatch):
    monkeypatch.setattr(kernels, "_MIN_THREADED_WORK", 0)  # small data, threaded all the same
    X = _blobs(7 * 512 + 3, 5, 6)
    centers = _init_rows(X, 6)
    shift = X.mean(0)
    w = np.random.default_rng(0).uniform(0, 2, len(X))
    results = []
    for n in (1, 2, 3):
        labels = np.full(len(X), -1, np.int32)
        out = kernels.lloyd_pass(X, w, shift, centers, (centers ** 2).sum(1),
                                 labels, 512, True, n_threads=n)
        results.append((labels,) + out)
    serial_labels = np.full(len(X), -1, np.int32)
    serial = (serial_labels,) + kernels.lloyd_pass_serial(
        X, w, shift, centers, (centers ** 2).sum(1), serial_labels, 512, True)
    for other in (*results[1:], serial):
        for a, b in zip(results[0], other):
            assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1, 3), (7, 1), (1000, 16), (30_001, 5), (3, 200)])
def test_column_means_equal_numpy_bit_for_bit(dtype, shape):
    """The centering point is X.mean(axis=0) itself: the labels agree with
    scikit-learn's bit for bit only from the same centered rows."""
    from fastem.kernels.kmeans import column_means
    rng = np.random.default_rng(shape[0])
    X = (rng.standard_normal(shape) * rng.uniform(0.1, 1e4, shape[1])
         + rng.uniform(-1e5, 1e5, shape[1])).astype(dtype)
    means = column_means(X)
    assert means.dtype == dtype
    assert_array_equal(means, X.mean(axis=0))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_kmeans_plusplus_draws_sklearn_seeds_from_uncentered_rows(dtype, weighted,
                                                                  monkeypatch):
    # scikit-learn draws k-means++ seeds from a centered copy of X; the engine
    # centers a chunk at a time (here 100 rows: many chunks, a short last one)
    from sklearn.cluster._kmeans import _kmeans_plusplus
    from sklearn.utils.extmath import row_norms

    from fastem._threads import parallel_region
    monkeypatch.setattr(engine, "SEED_CHUNK_SIZE", 600)
    rng = np.random.default_rng(7)
    for offset, k in ((0.0, 1), (0.0, 9), (1e4, 20)):
        X = (_blobs(2345, 6, 7) + offset).astype(dtype)
        w = rng.uniform(0, 2, len(X)) if weighted else np.ones(len(X))
        shift = X.mean(axis=0)
        Xc = X - shift
        want, _ = _kmeans_plusplus(Xc, k, row_norms(Xc, squared=True), w.astype(dtype),
                                   np.random.RandomState(k))
        for n_threads in (1, 2):
            with parallel_region(n_threads):
                got = engine.kmeans_plusplus(X, shift, w, k, np.random.RandomState(k))
            assert got.dtype == dtype
            assert_array_equal(got, want)


def test_mixture_kmeans_start_does_not_copy_X():
    import tracemalloc

    from fastem.families.gaussian import GaussianFamily
    # the k-means++ seeds, the Lloyd runs and the statistics of their labels
    X = _blobs(40_000, 64, 4)  # a centered copy would be 20.5 MB
    w = np.ones(len(X))
    family = GaussianFamily(4, "diag")
    family._initial_statistics(X[:3000], w[:3000], np.random.RandomState(0))  # compile
    tracemalloc.start()
    family._initial_statistics(X, w, np.random.RandomState(0))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < X.nbytes / 3, peak


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("data", ["blobs, weighted", "grid ties", "three empty"])
def test_blas_passes_equal_compiled_passes(dtype, data):
    # the mixtures' start on small data runs NumPy's passes: the same labels,
    # iterations and relocations as the kernels', centers to round-off
    rng = np.random.default_rng(5)
    w = np.ones(5000)
    if data == "grid ties":  # rows exactly equidistant from two centers
        X = rng.integers(0, 6, size=(5000, 3)).astype(dtype)
        init = X[::500][:10] + dtype(0.5)
    else:
        X = _blobs(5000, 6, 5, seed=2).astype(dtype)
        init = _init_rows(X, 8)
    if data == "blobs, weighted":
        w = rng.uniform(0, 3, len(X))
        w[::9] = 0.0
    if data == "three empty":  # far from every row: empty after the first pass
        init[[1, 4, 6]] = 1e4 * np.arange(1, 4)[:, None]
    fits = []
    for compiled in (True, False):
        source = engine.ArrayData(X, lambda a: a)
        source.set_weights(w)
        fits.append(engine.fit_lloyd(
            source, len(init), init=init, n_init=1, max_iter=300, tol=0.0,
            random_state=np.random.RandomState(0), n_threads=1, serial=True,
            prune=False, compiled=compiled))
    compiled, blas = fits
    assert_array_equal(blas.labels, compiled.labels)
    assert blas.n_iter == compiled.n_iter
    assert_allclose(blas.centers, compiled.centers, rtol=1e-12, atol=1e-12)
    assert_allclose(blas.inertia, compiled.inertia, rtol=1e-12)
    assert_allclose(blas.inertias, compiled.inertias, rtol=1e-9)
    if data == "three empty":
        assert np.unique(blas.labels).size == len(init)


@pytest.mark.parametrize("n", [1, 2, 3, 8, 9, 40])
def test_top_rows_equal_a_full_sort(n):
    # the relocation candidates: largest first, ties by row index, for any n
    rng = np.random.default_rng(n)
    dist = rng.integers(0, 30, 500).astype(np.float64)  # many ties
    dist[::7] = -1.0
    before = dist.copy()
    want = np.lexsort((np.arange(500), -dist))[:n]
    assert_array_equal(engine._top_rows(dist, n), want)
    assert_array_equal(dist, before)  # restored


def test_random_state_reproducible_bit_for_bit():
    X = _blobs()
    a = KMeans(6, init="random", n_init=3, random_state=42).fit(X)
    b = KMeans(6, init="random", n_init=3, random_state=42).fit(X)
    assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert_array_equal(a.labels_, b.labels_)
    assert a.inertia_ == b.inertia_


def test_float32_close_to_float64():
    X = _blobs(3000, 5, 4)
    init = _init_rows(X, 4)
    a = KMeans(4, init=init, n_init=1).fit(X)
    b = KMeans(4, init=init, n_init=1).fit(X.astype(np.float32))
    assert b.cluster_centers_.dtype == np.float32
    assert_allclose(b.cluster_centers_, a.cluster_centers_, rtol=1e-4, atol=1e-4)
    assert_allclose(b.inertia_, a.inertia_, rtol=1e-4)
    assert (a.labels_ == b.labels_).mean() > 0.999


@pytest.mark.parametrize("bounded", [True, False])
def test_inertia_history_non_increasing(bounded, monkeypatch):
    if not bounded:  # the dense passes take it from their statistics too
        monkeypatch.setattr(engine, "MIN_BOUNDED_ROWS", 10**9)
    X = _blobs(3000, 5, 8)
    fk = KMeans(8, init="random", n_init=1, random_state=0, tol=0).fit(X)
    assert len(fk.inertias_) == fk.n_iter_
    assert np.all(np.diff(fk.inertias_) <= 1e-9 * fk.inertias_[0])
    assert fk.inertias_[-1] >= fk.inertia_ * (1 - 1e-9)


def test_input_never_modified_and_layouts():
    X = _blobs(1000, 4, 3)
    init = _init_rows(X, 3)
    ref = KMeans(3, init=init, n_init=1).fit(X)
    ro = X.copy()
    ro.setflags(write=False)
    fortran = np.asfortranarray(X)
    strided = np.repeat(X, 2, axis=1)[:, ::2]
    for data in (ro, fortran, strided):
        before = data.copy()
        fk = KMeans(3, init=init, n_init=1, copy_x=False).fit(data)
        assert_array_equal(data, before)
        assert_array_equal(fk.labels_, ref.labels_)
        assert_array_equal(fk.cluster_centers_, ref.cluster_centers_)


def test_predict_transform_score():
    X = _blobs(2000, 4, 5)
    fk = KMeans(5, random_state=0).fit(X)
    assert_array_equal(fk.predict(X), fk.labels_)
    assert fk.predict(X).dtype == np.int32
    assert_allclose(fk.score(X), -fk.inertia_, rtol=1e-10)
    d = fk.transform(X)
    assert d.shape == (len(X), 5)
    assert_allclose(d, euclidean_distances(X, fk.cluster_centers_), rtol=1e-7, atol=1e-7)
    assert_array_equal(fk.fit_predict(X), fk.labels_)
    assert_allclose(KMeans(5, random_state=0).fit_transform(X), d, rtol=1e-12)
    w = np.random.default_rng(0).uniform(0, 1, len(X))
    sk = SKKMeans(5, init=fk.cluster_centers_, n_init=1).fit(X)
    assert_allclose(fk.score(X, sample_weight=w), sk.score(X, sample_weight=w), rtol=1e-7)
    # float32 rows against float64 centers
    assert_array_equal(fk.predict(X.astype(np.float32)).shape, (len(X),))


def test_params_and_clone():
    km = KMeans(3, n_jobs=1, tol=0.5)
    assert km.get_params()["n_clusters"] == 3
    assert clone(km).get_params() == km.get_params()
    km.set_params(n_clusters=4)
    assert km.n_clusters == 4


def test_gaussian_mixture_style_call():
    X = _blobs(1500, 3, 4)
    w = np.random.default_rng(0).uniform(0.5, 1.5, len(X))
    rs = np.random.RandomState(0)
    labels = KMeans(n_clusters=4, n_init=1, random_state=rs).fit(X, sample_weight=w).labels_
    assert labels.shape == (len(X),)
    assert np.unique(labels).size == 4


def test_single_cluster():
    X = _blobs(500, 3, 2)
    fk = KMeans(1, n_init=1, random_state=0).fit(X)
    assert_allclose(fk.cluster_centers_[0], X.mean(0), rtol=1e-12)
    assert fk.n_iter_ <= 2


def test_duplicate_points_warn_like_sklearn():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0]]), 10, axis=0)
    with pytest.warns(Warning, match="distinct clusters"):
        KMeans(3, init=np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]]), n_init=1).fit(X)


def test_array_init_with_n_init_warns():
    X = _blobs(300, 2, 2)
    with pytest.warns(RuntimeWarning, match="n_init"):
        KMeans(2, init=X[:2], n_init=3).fit(X)


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize("X, match", [
    (np.array([[0.0, 1.0], [np.nan, 1.0], [2.0, 2.0]]), "X contains NaN"),
    (np.arange(10.0), "X must be 2-D"),
    (np.ones((2, 2)), "n_samples=2 should be >= n_clusters=3"),
])
def test_bad_X(X, match):
    with pytest.raises(ValueError, match=match):
        KMeans(3).fit(X)


@pytest.mark.parametrize("params, exc, match", [
    (dict(n_clusters=0), ValueError, "n_clusters"),
    (dict(n_clusters=2.5), TypeError, "n_clusters"),
    (dict(max_iter=0), ValueError, "max_iter"),
    (dict(tol=-1.0), ValueError, "tol"),
    (dict(n_init="many"), ValueError, "n_init"),
    (dict(n_init=0), ValueError, "n_init"),
    (dict(init="kmeans"), ValueError, "init"),
    (dict(init=5), TypeError, "init"),
    (dict(algorithm="fast"), ValueError, "algorithm"),
    (dict(n_jobs=0), ValueError, "n_jobs"),
    (dict(init=np.zeros((2, 2))), ValueError, "init must have shape"),
    (dict(init=np.zeros((3, 5))), ValueError, "init has 5 features"),
    (dict(init=np.full((3, 2), np.nan)), ValueError, "init contains NaN"),
])
def test_bad_params(params, exc, match):
    X = _blobs(100, 2, 3)
    with pytest.raises(exc, match=match):
        KMeans(**{"n_clusters": 3, **params}).fit(X)


@pytest.mark.parametrize("w, match", [
    (np.ones(5), r"sample_weight must have shape"),
    (-np.ones(100), "non-negative"),
    (np.zeros(100), "zero for every sample"),
])
def test_bad_sample_weight(w, match):
    X = _blobs(100, 2, 3)
    with pytest.raises(ValueError, match=match):
        KMeans(3).fit(X, sample_weight=w)


def test_predict_feature_mismatch_and_unfitted():
    X = _blobs(100, 2, 3)
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        KMeans(3).predict(X)
    fk = KMeans(3, random_state=0).fit(X)
    with pytest.raises(ValueError, match="X has 3 features"):
        fk.predict(np.ones((4, 3)))
    with pytest.raises(ValueError, match="X has 3 features"):
        fk.transform(np.ones((4, 3)))


def test_no_warning_on_max_iter():
    # scikit-learn issues no ConvergenceWarning when max_iter is hit
    X = _blobs(1000, 3, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        KMeans(5, random_state=0, max_iter=1).fit(X)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bound_pruning_keeps_sklearn_labels_on_ties(dtype):
    # integer grid data and centers: many rows exactly equidistant from two
    # centers, where a bound-pruned decision could differ from an argmin
    rng = np.random.default_rng(0)
    X = rng.integers(0, 6, size=(6000, 3)).astype(dtype)
    init = X[:: 600][:10].copy() + 0.5
    sk = SKKMeans(10, init=init, n_init=1, tol=0, max_iter=30).fit(X)
    fk = KMeans(10, init=init, n_init=1, tol=0, max_iter=30).fit(X)
    if dtype == np.float64:
        _assert_same_as_sklearn(fk, sk)
    else:
        assert_array_equal(fk.labels_, sk.labels_)
        assert fk.n_iter_ == sk.n_iter_


def test_float32_screen_defers_near_ties_to_float64():
    # rows a hair (1e-9, far below float32's resolution) to either side of
    # the plane halfway between two fitted centers: float32 scores cannot
    # tell the sides apart, float64 ones can; every label is scikit-learn's
    rng = np.random.default_rng(1)
    X = rng.normal(0, 3, (3000, 3))
    init = np.array([[-2.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 5.0, 5.0]])
    sk = SKKMeans(3, init=init, n_init=1, tol=0, max_iter=2).fit(X)
    fk = KMeans(3, init=init, n_init=1, tol=0, max_iter=2).fit(X)
    assert_array_equal(fk.labels_, sk.labels_)
    c0, c1 = sk.cluster_centers_[:2]
    normal = (c1 - c0) / np.linalg.norm(c1 - c0)
    along = rng.normal(0, 1, (3000, 3))
    along -= np.outer(along @ normal, normal)  # stay in the plane
    Y = (c0 + c1) / 2 + along * 0.1 + np.outer(rng.choice([-1e-9, 1e-9], 3000), normal)
    labels = fk.predict(Y)
    assert_array_equal(labels, sk.predict(Y))
    assert set(labels) == {0, 1}  # both sides of the plane occur


@pytest.mark.parametrize("n_features", [4, 20])  # 8 x 4: bounds do not pay
@pytest.mark.parametrize("weights", ["ones", "fractional with zeros"])
def test_bounded_pass_equals_dense_pass(weights, n_features):
    """Same labels, sums to round-off (a block of bounds moves its changed
    rows between clusters), and a cluster emptied by moves weighs exactly 0."""
    X = _blobs(6 * 512, n_features, 5, seed=3)
    centers = _init_rows(X, 8)
    shift = X.mean(0)
    rng = np.random.default_rng(0)
    w = (np.ones(len(X)) if weights == "ones"
         else rng.uniform(0.1, 2.0, len(X)) * (rng.uniform(size=len(X)) > 0.2))
    lab_b = np.full(len(X), -1, np.int32)
    state = _bounded_state(X, 8, 512)
    assert state["block_cached"].shape == (6,)  # the blocks' statistics are kept
    previous = centers.copy()
    n_scored = []
    for it in range(18):
        if it == 15:  # center 7 leaves, once every block is on its bounds
            # (blocks whose bounds fail wait up to 8 passes): its rows move
            centers[7] = 1e3
        drift = np.sqrt(((centers - previous) ** 2).sum(1))
        previous = centers.copy()
        sq = (centers ** 2).sum(1)
        lab_d = lab_b.copy()
        dense = kernels.lloyd_pass(X, w, shift, centers, sq, lab_d, 512, True)
        out = kernels.bounded_lloyd_pass(
            X, w, shift, centers, sq, lab_b, state["lower"], state["upper"],
            state["block_mode"], state["block_period"], drift, 512,
            state["block_sums"], state["block_weights"], state["block_counts"],
            state["block_cached"], state["block_sq_norms"], state["rows32"],
            state["row_sq"])
        n_scored.append(out[4])
        assert_array_equal(lab_b, lab_d)
        assert_allclose(out[0], dense[0], rtol=1e-12, atol=1e-9)
        if weights == "ones":
            assert_array_equal(out[1], dense[1])
        assert_allclose(out[1], dense[1], rtol=1e-12)
        assert_array_equal(out[1] == 0, dense[1] == 0)
        assert_allclose(out[2], dense[2], rtol=1e-10)  # inertia
        assert out[3] == dense[3]  # labels changed
        full = out[1] > 0
        centers = centers.copy()
        centers[full] = out[0][full] / out[1][full, None]
    assert out[1][7] == 0.0 and (lab_b != 7).all()
    assert n_scored[0] == len(X)
    if kernels.bounds_pay(8, n_features):
        assert min(n_scored) < len(X) // 2  # the bounds prune
    else:
        assert min(n_scored) == len(X)


def _near_ties(offset, k=12, d=16, n=6 * 512, seed=7):
    """Rows whose two nearest of ``k`` centers are equally far to within every
    gap from 1e-13 to 1e-2 (so around the float32 screen's near-tie margin),
    and the centers; K x D > 128: the bounded, screened pass."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 10, (k, d)) + offset
    a, b = rng.integers(0, k, n), rng.integers(0, k, n)
    b = np.where(a == b, (b + 1) % k, b)
    normal = centers[b] - centers[a]
    normal /= np.linalg.norm(normal, axis=1)[:, None]
    along = rng.normal(0, 1, (n, d))
    along -= (along * normal).sum(1)[:, None] * normal
    gap = 10.0 ** rng.uniform(-13, -2, n) * rng.choice([-1, 1], n)
    X = (centers[a] + centers[b]) / 2 + 0.5 * along + gap[:, None] * normal
    return X, centers


def _centered(centers, shift, dtype):
    """``centers - shift`` in ``dtype`` and their squared norms, as a fit
    passes them to the kernels."""
    c = (centers - shift).astype(dtype)
    return c, np.einsum("ij,ij->i", c, c)


def _dense_labels(X, shift, centers):
    """Labels of a dense pass, which scores every row in X's dtype as
    scikit-learn does (the same BLAS call)."""
    labels = np.full(len(X), -1, np.int32)
    kernels.lloyd_pass(X, np.ones(len(X)), shift, *_centered(centers, shift, X.dtype),
                       labels, 512, True)
    return labels


def _bounded_pass(X, shift, centers, labels, state, drift):
    """A bounded pass at ``centers``; returns the rows it scored."""
    return kernels.bounded_lloyd_pass(
        X, np.ones(len(X)), shift, *_centered(centers, shift, X.dtype),
        labels, state["lower"], state["upper"], state["block_mode"],
        state["block_period"], drift, 512, state["block_sums"], state["block_weights"],
        state["block_counts"], state["block_cached"], state["block_sq_norms"],
        state["rows32"], state["row_sq"])[4]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_screen_labels_near_ties_as_exact_scores(offset, dtype):
    """The screened pass labels near ties as the dense pass."""
    X, centers = _near_ties(offset)
    X, centers = X.astype(dtype), centers.astype(dtype)
    shift = X.mean(0)
    labels = np.full(len(X), -1, np.int32)
    _bounded_pass(X, shift, centers, labels, _bounded_state(X, len(centers), 512),
                  np.zeros(len(centers)))
    assert_array_equal(labels, _dense_labels(X, shift, centers))


@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_bounds_settle_near_ties_as_exact_scores(offset):
    """Bounds taken from float32 scores, then moved by the centers' drift,
    settle no row whose label changes. A fifth of the rows lie nearer
    center 0 than center 1 by one to three times the float32 screen's
    near-tie margin (so they keep their float32 scores), the rest near one
    of 12 centers; centers 0 and 1 then move along their normal and flip
    about half of the first rows. The next pass labels every row as the
    dense pass (with bounds not widened by the float32 scores' round-off,
    a row is mislabelled)."""
    rng = np.random.default_rng(7)
    k, d, n = 12, 16, 12 * 512
    u = np.finfo(np.float32).eps / 2
    centers = rng.normal(0, 10, (k, d)) + offset
    normal = centers[1] - centers[0]
    dist = np.linalg.norm(normal)
    normal /= dist
    along = rng.normal(0, 1, (n, d))
    along -= np.outer(along @ normal, normal)
    X = centers[rng.integers(0, k, n)] + along
    near = rng.uniform(size=n) < 0.2
    mid = (centers[0] + centers[1]) / 2 + 0.5 * along[near]
    cmax = np.linalg.norm(centers - X.mean(0), axis=1).max()
    margin = 8 * u * cmax**2 + (8 * d + 32) * u * cmax * np.linalg.norm(mid - X.mean(0), axis=1)
    gap = margin * rng.uniform(1.0, 3.0, len(mid))  # ||x - c_1||^2 - ||x - c_0||^2
    X[near] = mid - (gap / (2 * dist))[:, None] * normal
    shift = X.mean(0)
    labels = np.full(n, -1, np.int32)
    state = _bounded_state(X, k, 512)
    _bounded_pass(X, shift, centers, labels, state, np.zeros(k))
    assert (labels[near] == 0).all()
    moved = centers.copy()
    moved[:2] -= np.median(margin) / dist * normal  # the gaps shrink by 2 median(margin)
    drift = np.sqrt(((moved - centers) ** 2).sum(1))
    n_scored = _bounded_pass(X, shift, moved, labels, state, drift)
    dense = _dense_labels(X, shift, moved)
    assert 0.3 < (dense[near] == 1).mean() < 0.7
    assert_array_equal(labels, dense)
    assert n_scored < n // 4  # the bounds settled rows


# ------------------------------------------------------------ far from the origin
def _far_float32(n=2000, d=4, k=6, offset=3e3, seed=5):
    """float32 blobs of spread ~1 centered ``offset`` away from the origin."""
    X = make_blobs(n, d, centers=k, cluster_std=1.0, center_box=(-4, 4),
                   random_state=seed)[0]
    return (X + offset).astype(np.float32)


def _exact_distances(X, centers):
    """Distances in float64 from the (exactly upcast) rows and centers."""
    X64, C64 = X.astype(np.float64), centers.astype(np.float64)
    return np.sqrt(((X64[:, None, :] - C64[None, :, :]) ** 2).sum(axis=2))


@pytest.mark.parametrize("offset", [0.0, 3e3])
def test_float32_predict_transform_score_far_from_origin(offset):
    X = _far_float32(offset=offset)
    fk = KMeans(6, init=_init_rows(X, 6), n_init=1).fit(X)
    Xt = _far_float32(n=1500, offset=offset, seed=6)  # new rows, same clusters
    exact = _exact_distances(Xt, fk.cluster_centers_)
    d = fk.transform(Xt)
    assert d.dtype == np.float32
    # float64 accuracy, then rounded to float32
    assert_allclose(d, exact, rtol=2 * np.finfo(np.float32).eps, atol=0)
    assert_array_equal(fk.predict(Xt), exact.argmin(axis=1))
    inertia = (exact.min(axis=1) ** 2).sum()
    assert fk.score(Xt) == pytest.approx(-inertia, rel=1e-6)


def test_float64_rows_after_a_float32_fit_stay_float64():
    # scikit-learn's transform computes in the common dtype (float64 here);
    # rows a hair off the midpoint of two centers: rounding them to float32
    # changes their closest center
    X = _far_float32(offset=10.0)
    fk = KMeans(6, init=_init_rows(X, 6), n_init=1).fit(X)
    c = fk.cluster_centers_.astype(np.float64)
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, 6, (400, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    u = c[pairs[:, 1]] - c[pairs[:, 0]]
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    t = rng.uniform(-3e-7, 3e-7, (len(pairs), 1))
    Xt = (c[pairs[:, 0]] + c[pairs[:, 1]]) / 2 + t * u
    exact = _exact_distances(Xt, fk.cluster_centers_)
    rounded = _exact_distances(Xt.astype(np.float32), fk.cluster_centers_)
    assert (exact.argmin(axis=1) != rounded.argmin(axis=1)).sum() > 10
    d = fk.transform(Xt)
    assert d.dtype == np.float64
    assert_allclose(d, exact, rtol=1e-12)
    assert_array_equal(fk.predict(Xt), exact.argmin(axis=1))
    assert fk.score(Xt) == pytest.approx(-(exact.min(axis=1) ** 2).sum(), rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_float32_labels_equal_sklearn_on_non_grid_data(seed):
    # float32 rows whose sums are not exact (unlike the integer grid above):
    # labels identical, centers equal up to float32 accumulation (scikit-learn
    # sums in float32, fastem in float64)
    X = make_blobs(3000, 5, centers=6, cluster_std=2.0, random_state=seed)[0]
    X = X.astype(np.float32)
    init = _init_rows(X, 6, seed=seed)
    sk = SKKMeans(6, init=init, n_init=1, tol=0, max_iter=30).fit(X)
    fk = KMeans(6, init=init, n_init=1, tol=0, max_iter=30).fit(X)
    assert fk.cluster_centers_.dtype == np.float32
    assert_array_equal(fk.labels_, sk.labels_)
    assert fk.n_iter_ == sk.n_iter_
    scale = np.abs(X).max()
    eps = np.finfo(np.float32).eps
    assert_allclose(fk.cluster_centers_, sk.cluster_centers_, rtol=0,
                    atol=4 * eps * scale)  # measured 1.5
    assert_allclose(fk.inertia_, sk.inertia_, rtol=2e-6)
