"""Fit fastem and scikit-learn from the same starting point and compare them.

Run: python examples/quickstart.py
"""
import time

import numpy as np
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import fastem

X, _ = make_blobs(n_samples=200_000, n_features=8, centers=8, random_state=0)
K, n_iter = 8, 20

# Same initial parameters for both libraries, fixed number of iterations.
start = SkGaussianMixture(K, covariance_type="diag", max_iter=1, tol=0,
                          random_state=0).fit(X[:5000])
init = dict(weights_init=start.weights_, means_init=start.means_,
            precisions_init=start.precisions_)
fastem.GaussianMixture(K, covariance_type="diag", max_iter=1, **init).fit(X[:100])  # compile

print(f"{'model':<22}{'fastem s':>10}{'sklearn s':>11}{'speedup':>9}{'max rel diff':>14}")
for name, ours, theirs, attr in [
    ("GaussianMixture diag",
     fastem.GaussianMixture(K, covariance_type="diag", max_iter=n_iter, tol=0, **init),
     SkGaussianMixture(K, covariance_type="diag", max_iter=n_iter, tol=0, **init),
     "means_"),
    ("KMeans",
     fastem.KMeans(K, init=start.means_, n_init=1, max_iter=n_iter, tol=0),
     SkKMeans(K, init=start.means_, n_init=1, max_iter=n_iter, tol=0),
     "cluster_centers_"),
]:
    t0 = time.perf_counter()
    ours.fit(X)
    t1 = time.perf_counter()
    theirs.fit(X)
    t2 = time.perf_counter()
    a, b = getattr(ours, attr), getattr(theirs, attr)
    diff = np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12))
    print(f"{name:<22}{t1 - t0:>10.3f}{t2 - t1:>11.3f}{(t2 - t1) / (t1 - t0):>8.1f}x{diff:>14.2e}")
