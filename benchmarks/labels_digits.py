"""Partly labelled rows on scikit-learn's digits: adjusted Rand index with 5% of the labels.

Run from the repository top: ``python benchmarks/labels_digits.py`` (about
half a minute; ``--seeds 3`` for a quick look). ``--overhead`` instead
measures what the labelled path costs per iteration: GaussianMixture on
400,000 generated rows (D=16, K=8, 'diag' and 'full'), 10 iterations with
``tol=0`` from the same ``*_init`` start, without labels and with 5% of the
rows labelled, compiled on small data first, alternately, best of 3; the
ratio of the two times (the labelled fit's one-time split of the rows by
label included).

The 1,797 8x8 digit images are scaled to [0, 1] and projected on their first
20 principal components (the 64 raw pixels hold constant and near-constant
features, which make a 10-component Gaussian mixture either collapse or, with
a large ``reg_covar``, blur into the pixel noise; 20 components keep 89%
of the variance and give 'full' covariances enough rows per
parameter). ``GaussianMixture(10, covariance_type='full', reg_covar=1e-3)``
is fitted per seed twice from the same ``random_state``: without labels, and
with the true digit of about 5% of the rows (drawn with that seed, the rest
``-1``). The adjusted Rand index of ``predict`` against the true digits is
reported over all rows and over the unlabelled rows only (the labelled rows'
own predictions are not forced to their labels, but they are the easy ones),
as the mean (and standard deviation) over the seeds. The same with 'diag'
covariances on the raw 64 pixels (``reg_covar=1e-2``) is printed beside.
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fastem  # noqa: E402

LABELLED_FRACTION = 0.05


def settings():
    """(name, data, estimator kwargs) of the cases measured."""
    X, digits = load_digits(return_X_y=True)
    X = X / 16.0
    pca = PCA(20, random_state=0).fit(X)
    return digits, [
        ("PCA-20, full", pca.transform(X), dict(covariance_type="full", reg_covar=1e-3)),
        ("raw 64 pixels, diag", X, dict(covariance_type="diag", reg_covar=1e-2)),
    ]


def measure(X, digits, kwargs, seeds):
    """Per seed: ARI (all rows, unlabelled rows) without and with 5% of the labels."""
    rows = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        y = np.where(rng.uniform(size=digits.shape[0]) < LABELLED_FRACTION, digits, -1)
        unseen = y < 0
        plain = fastem.GaussianMixture(10, random_state=seed, **kwargs).fit(X).predict(X)
        told = fastem.GaussianMixture(10, random_state=seed, **kwargs).fit(X, y).predict(X)
        rows.append((adjusted_rand_score(digits, plain),
                     adjusted_rand_score(digits[unseen], plain[unseen]),
                     adjusted_rand_score(digits, told),
                     adjusted_rand_score(digits[unseen], told[unseen]),
                     int((~unseen).sum())))
    return np.array(rows)


def overhead(n=400_000, d=16, k=8, n_iter=10, repeats=3):
    """Print the per-iteration time with 5% of the rows labelled over without."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, k, n)
    X = rng.normal(size=(n, d)) + rng.normal(scale=3.0, size=(k, d))[truth]
    y = np.where(rng.uniform(size=n) < LABELLED_FRACTION, truth, -1)
    for ct in ("diag", "full"):
        first = fastem.GaussianMixture(k, covariance_type=ct, max_iter=3,
                                       random_state=0).fit(X[:5000])
        kw = dict(covariance_type=ct, max_iter=n_iter, tol=0.0,
                  weights_init=first.weights_, means_init=first.means_,
                  precisions_init=first.precisions_)
        fastem.GaussianMixture(k, **kw).fit(X[:3000], y[:3000])  # compile both paths
        best = {"without": np.inf, "with": np.inf}
        for _ in range(repeats):
            for name, labels in (("without", None), ("with", y)):
                t0 = time.perf_counter()
                fastem.GaussianMixture(k, **kw).fit(X, labels)
                best[name] = min(best[name], (time.perf_counter() - t0) / n_iter)
        print(f"{ct:>5}: {best['without'] * 1e3:.1f} ms/iteration without labels, "
              f"{best['with'] * 1e3:.1f} ms with 5% labelled: "
              f"{best['with'] / best['without']:.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--overhead", action="store_true",
                        help="time per iteration with labels over without")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    if args.overhead:
        overhead()
        return
    digits, cases = settings()
    print(f"digits: {digits.shape[0]} rows, {LABELLED_FRACTION:.0%} labelled, "
          f"{args.seeds} seeds; ARI mean (sd)")
    print(f"{'case':<22} {'unlabelled fit':>16} {'5% labels':>16}   "
          f"{'unlabelled rows only: without':>30} {'with':>14}")
    for name, X, kwargs in cases:
        r = measure(X, digits, kwargs, args.seeds)
        mean, sd = r.mean(axis=0), r.std(axis=0)

        def cell(i):
            return f"{mean[i]:.3f} ({sd[i]:.3f})"
        print(f"{name:<22} {cell(0):>16} {cell(2):>16}   {cell(1):>30} {cell(3):>14}"
              f"   [{mean[4]:.0f} labelled rows]")


if __name__ == "__main__":
    main()
