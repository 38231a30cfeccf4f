"""KMeans on sparse CSR input: fastem against scikit-learn's sparse Lloyd.

The data are text-like: a TF-IDF-style CSR matrix (about 20 stored values per
row, feature frequencies following a Zipf law, rows L2-normalized), 200,000 x
20,000 with 0.1% non-zeros; K=20 from the same 20 random rows for both
libraries, 20 Lloyd iterations (``tol=0``).

asv imports this module (classes with ``params``/``setup``/``time_*``); nothing
runs at import. ``python benchmarks/bench_kmeans_sparse.py`` measures the
target in one process (compile excluded: both libraries first fit a tiny
matrix), alternating fastem and scikit-learn, and prints best-of-repeats
ratios (scikit-learn time / fastem time) per whole fit and per iteration.
"""
import sys
import time

import numpy as np

N_SAMPLES = 200_000
N_FEATURES = 20_000
DENSITY = 0.001
N_CLUSTERS = 20
N_ITER = 20


def text_like(n_samples=N_SAMPLES, n_features=N_FEATURES, density=DENSITY,
              dtype="float64", seed=0):
    """A TF-IDF-like CSR matrix: per row a Poisson number of terms (mean
    ``density * n_features``) drawn from a Zipf law over the features,
    weighted by log term counts times inverse document frequency, rows
    L2-normalized."""
    import scipy.sparse as sp
    rng = np.random.default_rng(seed)
    per_row = rng.poisson(density * n_features, n_samples)
    p = 1.0 / (np.arange(n_features) + 10.0) ** 1.05
    p /= p.sum()
    cols = rng.permutation(n_features)[rng.choice(n_features, per_row.sum(), p=p)]
    rows = np.repeat(np.arange(n_samples), per_row)
    X = sp.csr_matrix((np.ones(cols.size), (rows, cols)), shape=(n_samples, n_features))
    X.sum_duplicates()
    df = np.bincount(X.indices, minlength=n_features)
    idf = np.log((1.0 + n_samples) / (1.0 + df)) + 1.0
    X.data = np.log1p(X.data) * idf[X.indices]
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ X
    return X.tocsr().astype(dtype)


def initial_centers(X, k=N_CLUSTERS, seed=0):
    """k random rows, dense: the same init array for both libraries."""
    rows = np.random.default_rng(seed).choice(X.shape[0], k, replace=False)
    return X[rows].toarray()


def fit_fastem(X, init, max_iter=N_ITER):
    from fastem.cluster import KMeans
    return KMeans(len(init), init=init, n_init=1, max_iter=max_iter, tol=0).fit(X)


def fit_sklearn(X, init, max_iter=N_ITER):
    from sklearn.cluster import KMeans
    return KMeans(len(init), init=init, n_init=1, max_iter=max_iter, tol=0,
                  algorithm="lloyd").fit(X)


def _warm_up():
    """Compile (or load) fastem's sparse kernels for both dtypes."""
    for dtype in ("float64", "float32"):
        X = text_like(3000, 500, 0.02, dtype)
        init = initial_centers(X, 5)
        fit_fastem(X, init, 2).transform(X[:10])
        fit_sklearn(X, init, 2)


class KMeansSparseFit:
    """One fit of 20 Lloyd iterations (tol=0) on the text-like CSR matrix."""

    params = (["float64", "float32"],)
    param_names = ["dtype"]
    timeout = 600

    def setup(self, dtype):
        _warm_up()
        self.X = text_like(dtype=dtype)
        self.init = initial_centers(self.X)

    def time_fastem(self, dtype):
        fit_fastem(self.X, self.init)

    def time_sklearn(self, dtype):
        fit_sklearn(self.X, self.init)

    def peakmem_fastem(self, dtype):
        fit_fastem(self.X, self.init)


class KMeansSparsePredict:
    """``predict`` of the text-like matrix against fitted centers."""

    params = (["float64", "float32"],)
    param_names = ["dtype"]

    def setup(self, dtype):
        _warm_up()
        self.X = text_like(dtype=dtype)
        init = initial_centers(self.X)
        self.fastem = fit_fastem(self.X, init, 2)
        self.sklearn = fit_sklearn(self.X, init, 2)

    def time_fastem(self, dtype):
        self.fastem.predict(self.X)

    def time_sklearn(self, dtype):
        self.sklearn.predict(self.X)


def _best(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(repeats=3):
    import threadpoolctl
    _warm_up()
    print(f"CSR {N_SAMPLES}x{N_FEATURES}, {DENSITY:.1%} non-zeros, K={N_CLUSTERS}, "
          f"{N_ITER} iterations (tol=0), same init; best of {repeats}; "
          f"threadpoolctl: {[i['internal_api'] for i in threadpoolctl.threadpool_info()]}")
    print(f"{'dtype':8} {'sklearn s':>10} {'fastem s':>9} {'fit ratio':>9} "
          f"{'it ratio':>9} {'labels equal':>12}")
    for dtype in ("float64", "float32"):
        X = text_like(dtype=dtype)
        init = initial_centers(X)
        t_sk, t_fe = np.inf, np.inf
        for _ in range(repeats):  # alternate, so both see the same machine load
            t, sk = _best(lambda: fit_sklearn(X, init), 1)
            t_sk = min(t_sk, t)
            t, fe = _best(lambda: fit_fastem(X, init), 1)
            t_fe = min(t_fe, t)
        # per iteration: a 20-iteration fit minus a 1-iteration fit (fixed costs out)
        t_sk1, _ = _best(lambda: fit_sklearn(X, init, 1), repeats)
        t_fe1, _ = _best(lambda: fit_fastem(X, init, 1), repeats)
        it_ratio = (t_sk - t_sk1) / max(t_fe - t_fe1, 1e-9)
        same = bool((fe.labels_ == sk.labels_).all())
        print(f"{dtype:8} {t_sk:10.3f} {t_fe:9.3f} {t_sk / t_fe:8.2f}x {it_ratio:8.2f}x "
              f"{str(same):>12}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
