"""KMeans benchmarks: fastem against scikit-learn's Lloyd on the same data and init.

asv imports this module (classes with ``params``/``setup``/``time_*``); nothing
runs at import. ``python benchmarks/bench_kmeans.py`` measures the speed
targets in one process, interleaving fastem and scikit-learn, and prints
best-of-repeats ratios (scikit-learn time / fastem time), after the median
ratio of whole fits on small data (10,000 x 2 rows, K=3, defaults).
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

N_CLUSTERS = 64
N_ITER = 20
#: rows per chunk of the streamed fit beside the in-memory one
STREAM_CHUNK = 65_536
#: what an in-memory fit of 16 features keeps per row: int32 label, float64
#: lower and upper bounds and squared norm, the row in float32
ROW_STATE_BYTES = 4 + 3 * 8 + 16 * 4


def separated_data(n_samples, n_features=16, seed=0):
    """64 well-separated blobs."""
    from sklearn.datasets import make_blobs
    X, _ = make_blobs(n_samples, n_features, centers=64, cluster_std=1.0,
                      center_box=(-50, 50), random_state=seed)
    return X


def overlapping_data(n_samples, n_features=16, seed=0):
    """16 blobs (to be fitted with 64 clusters) plus 2% uniform noise."""
    from sklearn.datasets import make_blobs
    n_noise = n_samples // 50
    X, _ = make_blobs(n_samples - n_noise, n_features, centers=16, cluster_std=2.0,
                      center_box=(-20, 20), random_state=seed)
    rng = np.random.default_rng(seed)
    noise = rng.uniform(X.min(0), X.max(0), size=(n_noise, n_features))
    X = np.vstack([X, noise])
    return X[rng.permutation(len(X))]


def touching_data(n_samples, n_features=16, seed=0):
    """16 clusters that touch, of unequal sizes and shapes, in 2% noise
    (``fastem._compare.touching_clusters``), to be fitted with 64 clusters."""
    from fastem._compare import touching_clusters
    return touching_clusters(n_samples, n_features, 16, seed=seed)


DATA = {"separated": separated_data, "overlapping": overlapping_data,
        "touching": touching_data}


def data_maker(kind):
    """``DATA[kind]`` with the ``make_data`` signature of ``fastem._compare``
    (the cluster count is the dataset's own; K=64 is fitted)."""
    def make(n_samples, n_features, n_components, dtype="float64", seed=0):
        return DATA[kind](n_samples, n_features, seed).astype(dtype)
    return make


def initial_centers(X, k=N_CLUSTERS, seed=0):
    """The first k rows of a shuffle: the same init array for both libraries."""
    return X[np.random.default_rng(seed).permutation(len(X))[:k]].copy()


def fit_fastem(X, init, max_iter=N_ITER, chunk_size=None):
    from fastem.cluster import KMeans
    return KMeans(len(init), init=init, n_init=1, max_iter=max_iter, tol=0,
                  chunk_size=chunk_size).fit(X)


def fit_sklearn(X, init, max_iter=N_ITER):
    from sklearn.cluster import KMeans
    return KMeans(len(init), init=init, n_init=1, max_iter=max_iter, tol=0,
                  algorithm="lloyd").fit(X)


class KMeansFit:
    """One fit of 20 Lloyd iterations (tol=0), fastem and scikit-learn."""

    params = ([100_000, 1_000_000], ["separated", "overlapping", "touching"],
              ["float64", "float32"])
    param_names = ["n_samples", "data", "dtype"]
    timeout = 600

    def setup(self, n_samples, data, dtype):
        self.X = DATA[data](n_samples).astype(dtype)
        self.init = initial_centers(self.X)
        fit_fastem(self.X[:5000], self.init, max_iter=2)  # warm the JIT

    def time_fastem(self, n_samples, data, dtype):
        fit_fastem(self.X, self.init)

    def time_sklearn(self, n_samples, data, dtype):
        fit_sklearn(self.X, self.init)

    def track_labels_equal_sklearn(self, n_samples, data, dtype):
        return float(np.array_equal(fit_fastem(self.X, self.init).labels_,
                                    fit_sklearn(self.X, self.init).labels_))


class KMeansSmall:
    """A whole fit of small data with scikit-learn's defaults (k-means++,
    tol=1e-4): 10,000 x 2 rows, K=3, where fixed costs decide."""

    def setup(self):
        self.X = small_data()
        fit_small("fastem", self.X)  # warm the JIT

    def time_fastem(self):
        fit_small("fastem", self.X)

    def time_sklearn(self):
        fit_small("sklearn", self.X)


def small_data():
    """10,000 x 2 rows in 3 blobs."""
    from sklearn.datasets import make_blobs
    return make_blobs(10_000, 2, centers=3, random_state=0)[0]


def fit_small(library, X):
    """``library``'s KMeans(3, random_state=0) fitted to ``X``, defaults otherwise."""
    if library == "fastem":
        from fastem.cluster import KMeans
    else:
        from sklearn.cluster import KMeans
    return KMeans(3, random_state=0).fit(X)


class KMeansPredict:
    """Assign 1M rows to 64 fitted centers."""

    params = (["float64", "float32"],)
    param_names = ["dtype"]

    def setup(self, dtype):
        X = separated_data(1_000_000).astype(dtype)
        self.X = X
        self.fk = fit_fastem(X[:20_000], initial_centers(X), max_iter=5)
        self.sk = fit_sklearn(X[:20_000], initial_centers(X), max_iter=5)
        self.fk.predict(X[:100])

    def time_fastem(self, dtype):
        self.fk.predict(self.X)

    def time_sklearn(self, dtype):
        self.sk.predict(self.X)


def timeraw_import_and_first_fit():
    """Cold import + first fit (loads compiled kernels from the cache)."""
    return """
import numpy as np
from fastem.cluster import KMeans
X = np.random.default_rng(0).normal(size=(2000, 4))
KMeans(4, random_state=0).fit(X)
"""


# ---------------------------------------------------------------- main
def _best_interleaved(fns, repeats):
    times = {name: [] for name in fns}
    out = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            out[name] = fn()
            times[name].append(time.perf_counter() - t)
    return {name: min(v) for name, v in times.items()}, out


def _pruned_shares(fit, n_samples):
    """The share of rows the bounds kept off the scoring, per iteration (%)."""
    return " ".join(f"{100 * (1 - n / n_samples):.0f}" for n in fit._n_scored)


def _compile_times():
    code = ("import time; t=time.perf_counter(); import numpy as np; "
            "from fastem.cluster import KMeans; "
            "X=np.random.default_rng(0).normal(size=(3000,4)); "
            "KMeans(4, random_state=0).fit(X); KMeans(4, random_state=0).fit(X.astype('float32')); "
            "print(time.perf_counter()-t)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        run = [sys.executable, "-c", code]
        cold = float(subprocess.run(run, env=env, cwd=here, capture_output=True,
                                    text=True, check=True).stdout)
        warm = float(subprocess.run(run, env=env, cwd=here, capture_output=True,
                                    text=True, check=True).stdout)
    return cold, warm


def _small_fits(repeats=40):
    """Median whole-fit times of :func:`fit_small`, the libraries interleaved."""
    X = small_data()
    fit_small("fastem", X)
    fit_small("sklearn", X)
    times = {"fastem": [], "sklearn": []}
    for _ in range(repeats):
        for library in times:
            t = time.perf_counter()
            fit_small(library, X)
            times[library].append(time.perf_counter() - t)
    fastem, sklearn = (float(np.median(times[k])) for k in ("fastem", "sklearn"))
    print(f"KMeans(3) on 10,000 x 2 rows, scikit-learn's defaults, median of {repeats} "
          f"interleaved fits: sklearn {1e3 * sklearn:.2f} ms, fastem {1e3 * fastem:.2f} ms "
          f"-> ratio {sklearn / fastem:.2f}x")


def main(n_samples=1_000_000, repeats=3):
    _small_fits()
    print(f"KMeans, N={n_samples:,}, D=16, K={N_CLUSTERS}, {N_ITER} iterations "
          f"(tol=0), same init array; best of {repeats}, interleaved; "
          f"ratio = scikit-learn time / fastem time")
    fit_fastem(separated_data(5000), initial_centers(separated_data(5000)), 2)
    fit_fastem(separated_data(5000).astype(np.float32),
               initial_centers(separated_data(5000).astype(np.float32)), 2)
    f64_times = {}
    for name, make in DATA.items():
        X = make(n_samples)
        init = initial_centers(X)
        best, out = _best_interleaved({
            "sklearn": lambda: fit_sklearn(X, init),
            "fastem": lambda: fit_fastem(X, init),
        }, repeats)
        fk, sk = out["fastem"], out["sklearn"]
        same = np.array_equal(fk.labels_, sk.labels_)
        rel = np.abs(fk.cluster_centers_ - sk.cluster_centers_).max() / np.abs(
            sk.cluster_centers_).max()
        f64_times[name] = best["fastem"]
        print(f"  {name:12s} float64: sklearn {best['sklearn']:.3f} s, fastem "
              f"{best['fastem']:.3f} s -> ratio {best['sklearn'] / best['fastem']:.2f}x"
              f"  (labels identical: {same}, n_iter {fk.n_iter_}/{sk.n_iter_}, "
              f"max center rel diff {rel:.1e})")
        print(f"  {'':12s} rows pruned (not scored) per iteration: "
              f"{_pruned_shares(fk, len(X))}")
        # streamed fits (memmaps, Dask blocks) run the dense pass: what the
        # bounds would save there, against the per-row state they would need
        streamed, _ = _best_interleaved(
            {"streamed": lambda: fit_fastem(X, init, chunk_size=STREAM_CHUNK)}, repeats)
        print(f"  {'':12s} streamed in chunks of {STREAM_CHUNK:,} rows (dense pass, no "
              f"per-row state): {streamed['streamed']:.3f} s, "
              f"{streamed['streamed'] / best['fastem']:.2f}x the in-memory fit's time, "
              f"which keeps {ROW_STATE_BYTES} bytes per row (label, bounds, norm, the "
              f"row in float32: {ROW_STATE_BYTES * len(X) / 1e6:.0f} MB here)")
        X32 = X.astype(np.float32)
        init32 = init.astype(np.float32)
        best32, out32 = _best_interleaved({
            "sklearn": lambda: fit_sklearn(X32, init32),
            "fastem": lambda: fit_fastem(X32, init32),
            "fastem64": lambda: fit_fastem(X, init),
        }, repeats)
        print(f"  {name:12s} float32: sklearn {best32['sklearn']:.3f} s, fastem "
              f"{best32['fastem']:.3f} s -> ratio "
              f"{best32['sklearn'] / best32['fastem']:.2f}x; fastem float32 is "
              f"{best32['fastem64'] / best32['fastem']:.2f}x faster than its float64")
        del X, X32
    cold, warm = _compile_times()
    print(f"  compile: first fit in a fresh process with an empty cache "
          f"{cold:.1f} s; with the cache filled {warm:.2f} s (import + 2 small fits)")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
