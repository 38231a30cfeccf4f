"""KMeans on data that outgrows memory: chunked/memmap streaming, Dask, partial_fit."""
import threading
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.cluster import MiniBatchKMeans
from sklearn.datasets import make_blobs

from fastem.cluster import KMeans

try:
    import dask.array as da
except ImportError:  # the Dask tests skip; the streaming tests still run
    da = None
needs_dask = pytest.mark.skipif(da is None, reason="needs dask")


def blobs(n=12_000, d=4, k=6, seed=1, std=1.5):
    return make_blobs(n, d, centers=k, cluster_std=std, random_state=seed)[0]


def init_rows(X, k, seed=0):
    return X[np.random.default_rng(seed).permutation(len(X))[:k]].copy()


def save_memmap(tmp_path, X, name="x.npy"):
    path = tmp_path / name
    np.save(path, X)
    return np.load(path, mmap_mode="r")


def assert_same_fit(a, b, rtol=1e-12):
    """``a`` (streamed/distributed) equals ``b`` (in memory) to round-off."""
    labels = a.labels_.compute() if hasattr(a.labels_, "compute") else a.labels_
    assert_array_equal(labels, b.labels_)
    assert a.n_iter_ == b.n_iter_
    scale = np.abs(b.cluster_centers_).max()
    assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=rtol,
                    atol=rtol * scale)
    assert_allclose(a.inertia_, b.inertia_, rtol=rtol)
    assert_allclose(a.inertias_, b.inertias_, rtol=rtol)


# ------------------------------------------------------------ chunked streaming
@pytest.mark.parametrize("chunk_size", [1000, 4096, 5000])
@pytest.mark.parametrize("tol", [0.0, 1e-4])
def test_chunked_equals_in_memory(chunk_size, tol):
    X = blobs()
    w = np.random.default_rng(2).uniform(0.1, 2.0, len(X))
    kw = dict(n_clusters=8, init=init_rows(X, 8), n_init=1, tol=tol, max_iter=100)
    whole = KMeans(**kw).fit(X, sample_weight=w)
    chunked = KMeans(chunk_size=chunk_size, **kw).fit(X, sample_weight=w)
    assert_same_fit(chunked, whole)
    assert_array_equal(chunked.predict(X), whole.predict(X))
    assert_allclose(chunked.transform(X), whole.transform(X), rtol=1e-12, atol=1e-12)
    assert chunked.score(X, sample_weight=w) == pytest.approx(
        whole.score(X, sample_weight=w), rel=1e-12)


def test_memmap_is_streamed_and_equals_in_memory(tmp_path):
    X = blobs(n=20_000).astype(np.float32)
    mm = save_memmap(tmp_path, X)
    kw = dict(n_clusters=6, init=init_rows(X, 6), n_init=1, tol=0, max_iter=30)
    streamed = KMeans(chunk_size=4096, **kw).fit(mm)
    whole = KMeans(**kw).fit(X)
    assert streamed.cluster_centers_.dtype == np.float32
    assert_array_equal(streamed.labels_, whole.labels_)
    assert_allclose(streamed.cluster_centers_, whole.cluster_centers_, rtol=1e-5,
                    atol=1e-5)
    assert_array_equal(streamed.predict(mm), whole.predict(X))
    assert_allclose(streamed.transform(mm), whole.transform(X), rtol=1e-5, atol=1e-4)
    assert streamed.score(mm) == pytest.approx(whole.score(X), rel=1e-5)


def spy_chunks_and_init_rows(monkeypatch):
    """Record the rows of each Lloyd chunk and of each initialization sample."""
    from fastem.families import kmeans as lloyd
    seen = {"chunks": [], "init": []}
    lloyd_part, init_centroids = lloyd.lloyd_part, lloyd.init_centroids

    def chunk_spy(X, *args):
        seen["chunks"].append(X.shape[0])
        return lloyd_part(X, *args)

    def init_spy(Xc, *args):
        seen["init"].append(Xc.shape[0])
        return init_centroids(Xc, *args)
    monkeypatch.setattr(lloyd, "lloyd_part", chunk_spy)
    monkeypatch.setattr(lloyd, "init_centroids", init_spy)
    return seen


@pytest.mark.parametrize("chunk_size", [None, 1500])
def test_kmeans_plus_plus_from_a_sample_on_chunks(tmp_path, monkeypatch, chunk_size):
    # small knobs so that 8000 rows are really chunked and really sampled
    from fastem import _config
    monkeypatch.setattr(_config, "STREAM_CHUNK_BYTES", 2048 * 4 * 8)  # 2048 rows
    monkeypatch.setattr(_config, "INIT_SAMPLE_ROWS", 3000)
    X = blobs(n=8000, k=5, std=1.0)
    mm = save_memmap(tmp_path, X)
    whole = KMeans(5, random_state=0).fit(X)
    seen = spy_chunks_and_init_rows(monkeypatch)
    streamed = KMeans(5, random_state=0, chunk_size=chunk_size).fit(mm)
    rows = 2048 if chunk_size is None else chunk_size  # None: the default chunks
    n_chunks = -(-8000 // rows)
    assert seen["init"] == [3000]
    assert seen["chunks"][:n_chunks] == [rows] * (n_chunks - 1) + [8000 % rows]
    assert len(seen["chunks"]) == n_chunks * streamed.n_iter_
    assert np.isfinite(streamed.cluster_centers_).all()
    # separated blobs: both find the same clustering from different seeds
    assert streamed.inertia_ == pytest.approx(whole.inertia_, rel=1e-9)
    assert streamed.score(mm) == pytest.approx(whole.score(X), rel=1e-12)


def test_chunked_n_init_keeps_the_best_run():
    X = blobs(n=6000, k=4)
    kw = dict(init="random", random_state=0, chunk_size=1500, max_iter=15)
    runs = KMeans(10, n_init=4, **kw).fit(X)
    one = KMeans(10, n_init=1, **kw).fit(X)
    assert runs.inertia_ <= one.inertia_ * (1 + 1e-12)
    assert runs.inertia_ == pytest.approx(-runs.score(X), rel=1e-12)


def far_init(X, k):
    """Rows as centers, one of them far from all data: empty at iteration 0."""
    init = init_rows(X, k)
    init[-1] = X.max(axis=0) + 100.0
    return init


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
def test_empty_cluster_relocation_chunked_equals_in_memory():
    X = blobs(n=6000, k=5)
    kw = dict(n_clusters=6, init=far_init(X, 6), n_init=1, tol=0, max_iter=50)
    whole = KMeans(**kw).fit(X)
    chunked = KMeans(chunk_size=1024, **kw).fit(X)
    assert_same_fit(chunked, whole)
    assert np.unique(chunked.labels_).size == 6


def tied_outliers_problem():
    """Three clusters empty at once whose candidate rows tie.

    Integer rows near the origin, five centers symmetric under a quarter
    turn, three centers far away (empty after the first assignment) and four
    outliers at the same distance (49**2) from their centers, at scattered
    row positions: which three outliers fill which empty cluster is decided
    by the tie rule alone.
    """
    rng = np.random.default_rng(3)
    X = np.round(rng.standard_normal((3000, 2)) * 3)
    X[[2900, 17, 1500, 611]] = [[50, 0], [0, 50], [-50, 0], [0, -50]]
    init = np.array([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1],
                     [1e4, 1e4], [1e4, -1e4], [-1e4, 1e4]], dtype=float)
    return X, dict(n_clusters=8, init=init, n_init=1, tol=0, max_iter=30)


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
def test_three_empty_clusters_relocate_alike_in_memory_and_chunked():
    X, kw = tied_outliers_problem()
    whole = KMeans(**{**kw, "max_iter": 1}).fit(X)
    # every far center took an outlier in the first update
    moved = whole.cluster_centers_[5:]
    assert (np.abs(moved).max(axis=1) == 50).all()
    whole = KMeans(**kw).fit(X)
    for chunk_size in (1000, 777):
        chunked = KMeans(chunk_size=chunk_size, **kw).fit(X)
        assert_same_fit(chunked, whole, rtol=1e-10)


def test_fit_on_a_stream_equals_fit_with_float32_and_weights_zero_drop_rows():
    X = blobs(n=5000)
    w = np.ones(len(X))
    w[::3] = 0.0
    kw = dict(n_clusters=5, init=init_rows(X, 5), n_init=1, tol=0, max_iter=40)
    a = KMeans(chunk_size=999, **kw).fit(X, sample_weight=w)
    b = KMeans(**kw).fit(X[w > 0])
    assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-12, atol=1e-12)
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-12)


# ------------------------------------------------------------ streaming bad input
def test_memmap_with_nan_in_a_later_chunk_is_refused(tmp_path):
    X = blobs(n=5000)
    X[4321, 1] = np.nan
    mm = save_memmap(tmp_path, X)
    with pytest.raises(ValueError, match="NaN"):
        KMeans(3, chunk_size=1000).fit(mm)
    good = KMeans(3, random_state=0).fit(np.nan_to_num(X))
    with pytest.raises(ValueError, match="NaN"):
        good.predict(mm)


def test_empty_and_mismatched_streams_are_refused(tmp_path):
    empty = save_memmap(tmp_path, np.zeros((0, 3)), "empty.npy")
    with pytest.raises(ValueError, match="0 sample"):
        KMeans(2).fit(empty)
    X = blobs(n=3000, d=3)
    fk = KMeans(3, random_state=0, chunk_size=1000).fit(X)
    mm = save_memmap(tmp_path, X[:, :2], "narrow.npy")
    for method in (fk.predict, fk.transform, fk.score):
        with pytest.raises(ValueError, match="X has 2 features"):
            method(mm)
    with pytest.raises(ValueError, match="n_samples=2 should be >= n_clusters=3"):
        KMeans(3, chunk_size=1).fit(X[:2])
    with pytest.raises(ValueError, match="chunk_size"):
        KMeans(3, chunk_size=0).fit(X)


# ------------------------------------------------------------ partial_fit
def batches(X, n_epochs, n_batches, seed=1):
    rng = np.random.default_rng(seed)
    return [X[rows] for _ in range(n_epochs)
            for rows in np.array_split(rng.permutation(len(X)), n_batches)]


def test_partial_fit_equals_sklearn_minibatch_updates():
    X = blobs(n=12_000)
    init = init_rows(X, 6)
    w = np.random.default_rng(4).uniform(0.5, 2.0, len(X))
    fk = KMeans(6, init=init)
    sk = MiniBatchKMeans(6, init=init, n_init=1, reassignment_ratio=0)
    for start in range(0, len(X), 1000):
        sl = slice(start, start + 1000)
        fk.partial_fit(X[sl], sample_weight=w[sl])
        sk.partial_fit(X[sl], sample_weight=w[sl])
        assert_allclose(fk.cluster_centers_, sk.cluster_centers_, rtol=1e-10,
                        atol=1e-10)
    assert fk.n_steps_ == sk.n_steps_ == 12
    assert_array_equal(fk.labels_, sk.labels_)
    assert fk.inertia_ == pytest.approx(sk.inertia_, rel=1e-10)


def test_partial_fit_on_a_stream_reaches_the_batch_answer():
    # stated tolerance: from k-means++ on the first batch, 3 epochs of 30
    # batches put every center within 0.01 of the full-batch fit's (cluster
    # std 1; measured ~2e-4), like sklearn's MiniBatchKMeans on the same stream
    X = blobs(n=30_000, k=6, std=1.0, seed=3)
    full = KMeans(6, random_state=0).fit(X)
    online = KMeans(6, random_state=0)
    sk = MiniBatchKMeans(6, random_state=0, n_init=1)
    for batch in batches(X, 3, 30):
        online.partial_fit(batch)
        sk.partial_fit(batch)
    assert online.n_steps_ == 90
    for model, atol in [(online, 0.01), (sk, 0.05)]:
        order = [int(np.argmin(((full.cluster_centers_ - c) ** 2).sum(1)))
                 for c in model.cluster_centers_]
        assert sorted(order) == list(range(6))
        assert_allclose(model.cluster_centers_, full.cluster_centers_[order], atol=atol)


def test_partial_fit_after_fit_continues_and_refuses_other_features():
    X = blobs(n=3000, d=3)
    fk = KMeans(3, random_state=0).fit(X)
    before = fk.cluster_centers_.copy()
    fk.partial_fit(X[:500])
    assert fk.n_steps_ == 1
    # the fit's centers are a fixed point of the running means
    assert_allclose(fk.cluster_centers_, before, atol=0.05)
    with pytest.raises(ValueError, match="X has 2 features"):
        fk.partial_fit(X[:, :2])
    with pytest.raises(ValueError, match="needs at least 5"):
        KMeans(5).partial_fit(X[:3])
    with pytest.raises(ValueError, match="0 sample"):
        KMeans(2).partial_fit(X[:0])


def test_partial_fit_accepts_a_memmap_batch(tmp_path):
    X = blobs(n=4000)
    mm = save_memmap(tmp_path, X)
    a = KMeans(5, init=init_rows(X, 5), chunk_size=700).partial_fit(mm)
    b = KMeans(5, init=init_rows(X, 5)).partial_fit(X)
    assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-12, atol=1e-12)
    assert_array_equal(a.labels_, b.labels_)


# ------------------------------------------------------------ Dask
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


@needs_dask
def test_local_cluster_fit_equals_in_memory(client):
    X = blobs()
    w = np.random.default_rng(2).uniform(0.5, 1.5, len(X))
    kw = dict(n_clusters=8, init=init_rows(X, 8), n_init=1, tol=0, max_iter=100)
    whole = KMeans(**kw).fit(X, sample_weight=w)
    Xd = da.from_array(X, chunks=(2500, 4))
    dist = KMeans(**kw).fit(Xd, sample_weight=w)
    assert isinstance(dist.labels_, da.Array)
    assert_same_fit(dist, whole)
    labels = dist.predict(Xd)
    assert isinstance(labels, da.Array)
    assert_array_equal(labels.compute(), whole.predict(X))
    distances = dist.transform(Xd)
    assert isinstance(distances, da.Array)
    assert_allclose(distances.compute(), whole.transform(X), rtol=1e-12, atol=1e-12)
    assert dist.score(Xd) == pytest.approx(whole.score(X), rel=1e-12)


@needs_dask
@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
def test_local_cluster_relocates_empty_clusters(client):
    X = blobs(n=6000, k=5)
    kw = dict(n_clusters=6, init=far_init(X, 6), n_init=1, tol=0, max_iter=50)
    whole = KMeans(**kw).fit(X)
    dist = KMeans(**kw).fit(da.from_array(X, chunks=(1000, 4)))
    assert_same_fit(dist, whole)


@needs_dask
def test_local_cluster_inits_from_a_sample(client, monkeypatch):
    from fastem import _config
    monkeypatch.setattr(_config, "INIT_SAMPLE_ROWS", 2000)  # read on the client
    Xs = blobs(n=6000, k=5, std=1.0)
    whole = KMeans(5, random_state=0).fit(Xs)
    seen = spy_chunks_and_init_rows(monkeypatch)
    plus = KMeans(5, random_state=0).fit(da.from_array(Xs, chunks=(1500, 4)))
    assert seen["init"] == [2000]
    assert plus.inertia_ == pytest.approx(whole.inertia_, rel=1e-9)


@needs_dask
@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
def test_three_empty_clusters_relocate_alike_on_dask():
    import dask
    X, kw = tied_outliers_problem()
    whole = KMeans(**kw).fit(X)
    with dask.config.set(scheduler="synchronous"):
        dist = KMeans(**kw).fit(da.from_array(X, chunks=(700, 2)))
        assert_same_fit(dist, whole, rtol=1e-10)


@needs_dask
def test_threaded_scheduler_from_several_threads_does_not_abort():
    import dask
    X = blobs(n=8000)
    Xd = da.from_array(X, chunks=(1000, 4))
    kw = dict(n_clusters=6, init=init_rows(X, 6), n_init=1, tol=0, max_iter=20)
    ref = KMeans(**kw).fit(X)
    results = [None] * 4
    errors = []

    def work(i):
        try:
            with dask.config.set(scheduler="threads"):
                fk = KMeans(**kw).fit(Xd)
                results[i] = fk.cluster_centers_, fk.predict(Xd).compute()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    # the main thread runs parallel kernels at the same time
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        KMeans(**kw).fit(X)
    for t in threads:
        t.join()
    assert not errors
    for centers, labels in results:
        assert_allclose(centers, ref.cluster_centers_, rtol=1e-12, atol=1e-12)
        assert_array_equal(labels, ref.labels_)


@needs_dask
def test_dask_column_chunks_are_merged_and_bad_input_is_refused():
    import dask
    X = blobs(n=3000, d=3)
    kw = dict(n_clusters=4, init=init_rows(X, 4), n_init=1, tol=0, max_iter=30)
    with dask.config.set(scheduler="threads"):
        a = KMeans(**kw).fit(da.from_array(X, chunks=(1000, 1)))
        b = KMeans(**kw).fit(X)
        assert_same_fit(a, b)
        bad = X.copy()
        bad[2500, 0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            KMeans(2).fit(da.from_array(bad, chunks=(1000, 3)))
        with pytest.raises(ValueError, match="2-D"):
            KMeans(2).fit(da.zeros(10, chunks=5))
        with pytest.raises(ValueError, match="0 sample"):
            KMeans(2).fit(da.zeros((0, 3), chunks=(5, 3)))
        with pytest.raises(ValueError, match="sample_weight"):
            KMeans(2).fit(da.from_array(X, chunks=(1000, 3)), sample_weight=np.ones(5))
        narrow = da.from_array(X[:, :2], chunks=(1000, 2))
        for method in (b.predict, b.transform, b.score, b.partial_fit):
            with pytest.raises(ValueError, match="X has 2 features"):
                method(narrow)
