"""KMeans on scipy.sparse input, and the functional API (k_means, kmeans_plusplus),
against scikit-learn from the same initial centers, and properties."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.cluster import KMeans as SKKMeans
from sklearn.cluster import k_means as sk_k_means
from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer

from fastem.cluster import KMeans, k_means, kmeans_plusplus
from fastem.families.kmeans import BLOCK_ROWS

# float64 fits agree with scikit-learn's to this relative tolerance
RTOL = 1e-12


def _corpus(n_docs=600, seed=0):
    """TF-IDF rows of a generated corpus: 4 topics of 40 words (10 shared)."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(130)]
    topics = [np.r_[np.arange(t * 30, t * 30 + 30), np.arange(120, 130)] for t in range(4)]
    docs = []
    for _ in range(n_docs):
        words = topics[rng.integers(4)]
        length = rng.integers(5, 30)
        weights = 1.0 / np.arange(1, words.size + 1)
        picks = rng.choice(words, length, p=weights / weights.sum())
        docs.append(" ".join(vocab[i] for i in picks))
    return TfidfVectorizer().fit_transform(docs).tocsr()


DATASETS = {
    "tfidf": _corpus,
    "digits": lambda: sp.csr_matrix(load_digits().data),
    "random": lambda: sp.random(1500, 400, density=0.02, format="csr", random_state=0),
}


def _init_rows(X, k, seed=0):
    return X[np.random.default_rng(seed).permutation(X.shape[0])[:k]].toarray()


def _fit_both(X, init, w=None, **params):
    params = dict(n_clusters=len(init), init=init, n_init=1, **params)
    sk = SKKMeans(algorithm="lloyd", **params).fit(X, sample_weight=w)
    fk = KMeans(**params).fit(X, sample_weight=w)
    return fk, sk


def _assert_same_fit(fk, sk, rtol=RTOL):
    assert_array_equal(fk.labels_, sk.labels_)
    assert fk.n_iter_ == sk.n_iter_
    scale = np.abs(sk.cluster_centers_).max()
    assert_allclose(fk.cluster_centers_, sk.cluster_centers_, rtol=rtol,
                    atol=rtol * scale)
    assert_allclose(fk.inertia_, sk.inertia_, rtol=rtol)


# ------------------------------------------------------------ vs scikit-learn
@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("tol", [0.0, 1e-4])
@pytest.mark.parametrize("weighted", [False, True])
def test_float64_equal_to_sklearn_same_init(name, tol, weighted):
    X = DATASETS[name]()
    w = np.random.default_rng(3).uniform(0.1, 3.0, X.shape[0]) if weighted else None
    fk, sk = _fit_both(X, _init_rows(X, 6), w, tol=tol, max_iter=100)
    _assert_same_fit(fk, sk)
    assert fk.cluster_centers_.dtype == np.float64 and fk.labels_.dtype == np.int32
    # the history ends at the fitted inertia's level and never increases
    assert np.all(np.diff(fk.inertias_) <= 1e-12 * fk.inertias_[0])


@pytest.mark.parametrize("name", ["tfidf", "digits"])
def test_float32_labels_equal_sklearn(name):
    # scikit-learn sums float32 rows in float32, fastem in float64: labels
    # identical, centers equal to float32 accumulation
    X = DATASETS[name]().astype(np.float32)
    fk, sk = _fit_both(X, _init_rows(X, 6), tol=0, max_iter=30)
    assert fk.cluster_centers_.dtype == np.float32
    assert_array_equal(fk.labels_, sk.labels_)
    assert fk.n_iter_ == sk.n_iter_
    eps = np.finfo(np.float32).eps
    scale = np.abs(X.data).max()
    assert_allclose(fk.cluster_centers_, sk.cluster_centers_, rtol=0,
                    atol=8 * eps * scale)
    assert_allclose(fk.inertia_, sk.inertia_, rtol=2e-6)


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_same_random_state_same_fit_as_sklearn(init):
    X = DATASETS["tfidf"]()
    w = np.random.default_rng(6).uniform(0.5, 2.0, X.shape[0])
    params = dict(n_clusters=5, init=init, n_init=2, random_state=7)
    sk = SKKMeans(**params).fit(X, sample_weight=w)
    fk = KMeans(**params).fit(X, sample_weight=w)
    _assert_same_fit(fk, sk)
    # float32 rows: the same draws and first iteration as scikit-learn
    X32 = X.astype(np.float32)
    sk = SKKMeans(**params, max_iter=1).fit(X32, sample_weight=w)
    fk = KMeans(**params, max_iter=1).fit(X32, sample_weight=w)
    assert_array_equal(fk.labels_, sk.labels_)
    assert_allclose(fk.cluster_centers_, sk.cluster_centers_, rtol=0, atol=1e-6)


def test_predict_transform_score_equal_sklearn():
    X = DATASETS["random"]()
    fk, sk = _fit_both(X, _init_rows(X, 5), max_iter=50)
    Xt = sp.random(300, X.shape[1], density=0.03, format="csr", random_state=1)
    w = np.random.default_rng(0).uniform(0.5, 2.0, 300)
    assert_array_equal(fk.predict(Xt), sk.predict(Xt))
    assert_allclose(fk.transform(Xt), sk.transform(Xt), rtol=RTOL, atol=0)
    assert fk.score(Xt, sample_weight=w) == pytest.approx(
        sk.score(Xt, sample_weight=w), rel=RTOL)
    assert_array_equal(fk.fit_predict(X), sk.labels_)
    assert_allclose(fk.fit_transform(X), sk.transform(X), rtol=RTOL, atol=0)


def test_float32_transform_same_arithmetic_as_sklearn():
    # with the same float32 centers the distances are scikit-learn's (float64
    # arithmetic on upcast rows, rounded to float32) to the last bit or so
    X = DATASETS["digits"]().astype(np.float32)
    sk = SKKMeans(4, init=_init_rows(X, 4), n_init=1, max_iter=5).fit(X)
    fk = KMeans(4, init=sk.cluster_centers_, n_init=1, max_iter=1).fit(X)
    fk.cluster_centers_ = sk.cluster_centers_.copy()
    got, want = fk.transform(X), sk.transform(X)
    assert got.dtype == np.float32
    assert_allclose(got, want, rtol=2 * np.finfo(np.float32).eps, atol=0)


@pytest.mark.parametrize("name", ["random", "digits"])
def test_empty_clusters_relocated_like_sklearn(name):
    # data whose farthest row is unique (in the TF-IDF rows, orthogonal unit
    # rows tie at distance 2, and scikit-learn's argpartition breaks ties in
    # no specified order; fastem takes the lowest row index)
    X = DATASETS[name]()
    init = _init_rows(X, 6)
    init[2] = 100.0  # far from every row: empty after the first assignment
    fk, sk = _fit_both(X, init, tol=0, max_iter=100)
    _assert_same_fit(fk, sk)
    assert np.unique(fk.labels_).size == 6


def test_several_empty_clusters_relocated_farthest_first():
    # three clusters empty at once: they take the three rows farthest from
    # their centers, the farthest to the lowest empty index (scikit-learn
    # takes the same three rows, in an order argpartition leaves unspecified)
    X = DATASETS["random"]()
    dense = X.toarray()
    init = _init_rows(X, 7)
    init[[1, 3, 4]] = 50.0
    fk = KMeans(7, init=init, n_init=1, max_iter=1).fit(X)
    kept = init[[0, 2, 5, 6]]
    first = np.argmin(((dense[:, None] - kept[None]) ** 2).sum(-1), axis=1)
    far = np.argsort(-((dense - kept[first]) ** 2).sum(1), kind="stable")[:3]
    assert_array_equal(fk.cluster_centers_[[1, 3, 4]], dense[far])
    sk = SKKMeans(7, init=init, n_init=1, max_iter=1).fit(X)

    def rowset(a):
        return a[np.lexsort(a.T[::-1])]
    assert_array_equal(rowset(fk.cluster_centers_[[1, 3, 4]]),
                       rowset(sk.cluster_centers_[[1, 3, 4]]))
    assert_allclose(fk.cluster_centers_[[0, 2, 5, 6]], sk.cluster_centers_[[0, 2, 5, 6]],
                    rtol=RTOL, atol=1e-15)


# ------------------------------------------------------------ properties
def test_integer_weights_equal_repeated_rows():
    X = DATASETS["tfidf"]()
    counts = np.random.default_rng(1).integers(1, 4, X.shape[0])
    init = _init_rows(X, 5)
    a = KMeans(5, init=init, n_init=1, tol=0).fit(X, sample_weight=counts)
    b = KMeans(5, init=init, n_init=1, tol=0).fit(X[np.repeat(np.arange(X.shape[0]),
                                                              counts)])
    assert_array_equal(a.labels_, b.labels_[np.cumsum(counts) - counts])
    assert a.n_iter_ == b.n_iter_
    assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=RTOL, atol=1e-15)
    assert_allclose(a.inertia_, b.inertia_, rtol=RTOL)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_thread_count_does_not_change_bits(dtype):
    # more than two blocks of rows, so that two threads do run
    n = 3 * BLOCK_ROWS + 17
    X = sp.random(n, 300, density=0.02, format="csr", random_state=2, dtype=dtype)
    w = np.random.default_rng(2).uniform(0.5, 2.0, n)
    init = _init_rows(X, 8)
    runs = [KMeans(8, init=init, n_init=1, tol=0, max_iter=15, n_jobs=n_jobs).fit(
        X, sample_weight=w) for n_jobs in (1, 2)]
    for attr in ("labels_", "cluster_centers_", "inertias_"):
        assert_array_equal(getattr(runs[0], attr), getattr(runs[1], attr))
    assert runs[0].inertia_ == runs[1].inertia_
    assert_array_equal(runs[0].transform(X), runs[1].transform(X))


def test_other_formats_and_input_untouched():
    X = DATASETS["random"]()
    before = X.data.copy(), X.indices.copy(), X.indptr.copy()
    init = _init_rows(X, 4)
    ref = KMeans(4, init=init, n_init=1).fit(X)
    ref.predict(X), ref.transform(X), ref.score(X)
    for got, want in zip((X.data, X.indices, X.indptr), before):
        assert_array_equal(got, want)
    for other in (X.tocsc(), X.tocoo(), sp.csr_array(X), X.tolil()):
        fk = KMeans(4, init=init, n_init=1).fit(other)
        assert_array_equal(fk.labels_, ref.labels_)
        assert_array_equal(fk.cluster_centers_, ref.cluster_centers_)
        assert_array_equal(fk.predict(other), ref.labels_)
    # integer data become float64
    counts = (X * 10).astype(np.int64)
    assert KMeans(4, init=init, n_init=1).fit(counts).cluster_centers_.dtype == np.float64


def test_sparse_predict_equals_dense_predict():
    X = DATASETS["digits"]()
    fk = KMeans(8, random_state=0).fit(X)
    assert_array_equal(fk.predict(X), fk.predict(X.toarray()))
    assert_allclose(fk.transform(X), fk.transform(X.toarray()), rtol=1e-9, atol=1e-9)
    assert fk.score(X) == pytest.approx(fk.score(X.toarray()), rel=1e-9)


def test_mixed_dtypes_at_predict():
    # float32 centers with float64 rows (and the reverse) are compared in float64
    X = DATASETS["tfidf"]()
    init = _init_rows(X, 4)
    f32 = KMeans(4, init=init, n_init=1).fit(X.astype(np.float32))
    f64 = KMeans(4, init=init, n_init=1).fit(X)
    assert f32.transform(X).dtype == np.float64
    assert f64.transform(X.astype(np.float32)).dtype == np.float64
    assert_array_equal(f64.predict(X.astype(np.float32)).shape, (X.shape[0],))
    assert_allclose(f32.transform(X), f64.transform(X), rtol=0, atol=1e-5)


def test_fewer_distinct_points_than_clusters_warns():
    X = sp.csr_matrix(np.repeat(np.eye(3), 5, axis=0))
    with pytest.warns(ConvergenceWarning, match=r"Number of distinct clusters \(3\) "
                      r"found smaller than n_clusters \(4\)"):
        KMeans(4, random_state=0, n_init=1).fit(X)
    with pytest.warns(ConvergenceWarning, match=r"Number of distinct clusters \(3\)"):
        KMeans(4, random_state=0, n_init=1).fit(X.toarray())


# ------------------------------------------------------------ functional API
@pytest.mark.parametrize("sparse", [False, True])
def test_k_means_equals_kmeans_and_sklearn(sparse):
    X = DATASETS["tfidf"]()
    X = X if sparse else X.toarray()
    w = np.random.default_rng(4).uniform(0.5, 2.0, X.shape[0])
    got = k_means(X, 5, sample_weight=w, random_state=3, return_n_iter=True)
    est = KMeans(5, random_state=3).fit(X, sample_weight=w)
    want = sk_k_means(X, 5, sample_weight=w, random_state=3, return_n_iter=True)
    assert len(got) == 4 and len(k_means(X, 5, random_state=3)) == 3
    assert_array_equal(got[0], est.cluster_centers_)
    assert_array_equal(got[1], est.labels_)
    assert got[2] == est.inertia_ and got[3] == est.n_iter_
    assert_array_equal(got[1], want[1])
    assert got[3] == want[3]
    assert_allclose(got[0], want[0], rtol=1e-9, atol=1e-12)
    assert_allclose(got[2], want[2], rtol=1e-9)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kmeans_plusplus_same_draws_as_sklearn(sparse, dtype):
    X = DATASETS["digits"]().astype(dtype)
    X = X if sparse else X.toarray()
    w = np.random.default_rng(5).integers(1, 4, X.shape[0]).astype(float)
    for kwargs in (dict(random_state=11), dict(random_state=11, sample_weight=w,
                                              n_local_trials=3)):
        centers, indices = kmeans_plusplus(X, 7, **kwargs)
        want_centers, want_indices = sk_kmeans_plusplus(X, 7, **kwargs)
        assert_array_equal(indices, want_indices)
        assert_array_equal(centers, want_centers)
        assert centers.dtype == dtype and centers.shape == (7, 64)
    rows = X[indices]
    assert_array_equal(centers, rows.toarray() if sparse else rows)


def test_kmeans_plusplus_errors():
    X = DATASETS["digits"]()
    with pytest.raises(ValueError, match=r"n_samples=1797 should be >= n_clusters=2000"):
        kmeans_plusplus(X, 2000)
    with pytest.raises(ValueError, match="x_squared_norms"):
        kmeans_plusplus(X, 3, x_squared_norms=np.ones(5))
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans_plusplus(X, 0)
    with pytest.raises(ValueError, match="sample_weight"):
        kmeans_plusplus(X, 3, sample_weight=np.ones(4))


# ------------------------------------------------------------ bad input
def test_bad_sparse_input():
    X = DATASETS["random"]()
    bad = X.copy()
    bad.data[5] = np.nan
    row = int(np.searchsorted(bad.indptr, 5, side="right")) - 1
    with pytest.raises(ValueError, match=rf"Input X contains NaN.*row {row}, column "
                                         rf"{bad.indices[5]}"):
        KMeans(3).fit(bad)
    bad.data[5] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        KMeans(3).fit(bad)
    with pytest.raises(ValueError, match="0 sample"):
        KMeans(3).fit(sp.csr_matrix((0, 4)))
    with pytest.raises(ValueError, match="n_samples=2 should be >= n_clusters=3"):
        KMeans(3).fit(X[:2])
    with pytest.raises(ValueError, match=r"sample_weight"):
        KMeans(3).fit(X, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="init"):
        KMeans(3, init=np.zeros((3, 5)), n_init=1).fit(X)
    with pytest.raises(ValueError, match="Complex"):
        KMeans(3).fit(X.astype(np.complex128))
    with pytest.raises(NotFittedError):
        KMeans(3).predict(X)
    fk = KMeans(3, n_init=1, random_state=0).fit(X)
    for method in (fk.predict, fk.transform, fk.score):
        with pytest.raises(ValueError, match="X has 399 features, but KMeans is "
                                             "expecting 400 features as input"):
            method(X[:, :399])
        with pytest.raises(ValueError, match="Input X contains NaN"):
            method(bad.astype(np.float64) * np.nan)
