"""Missing values (issue 14): speed of the NaN passes and "better than imputing first".

Run from the repository root::

    python benchmarks/missing_targets.py            # everything (~5 min on 2 cores)
    python benchmarks/missing_targets.py speed      # (a) pass cost with NaN
    python benchmarks/missing_targets.py accuracy   # (b) vs imputing first

(a) Speed: the cost of one statistics pass (the per-iteration work of EM;
the M-step is O(K D^3) and the same either way) on X with 30% of its
entries missing, divided by the cost on the complete X of the same N, D, K,
in the same process, at the same parameters, compile excluded (warmed up on
small data first), each the best of several interleaved repeats. The pass
is the one an in-memory fit runs (its data source, with the rows grouped by
pattern once per fit, which is not counted).
Targets: diag <= 2x; full with up to 64 distinct missingness patterns <= 3x.
Then full's cost against the number of distinct patterns, up to every row
its own pattern (30% MCAR with D=16).

(b) Accuracy: generated data (N=100,000, D=8, K=4 touching anisotropic
clusters, 30% MCAR): parameter error against the truth after matching
components, for fastem's marginal EM, SimpleImputer(mean) + GaussianMixture
and IterativeImputer + GaussianMixture (scikit-learn's), with their times.
Real data (scikit-learn's wine, standardized, 20% MCAR, 10 masks):
imputation RMSE on the removed values for fastem's MixtureImputer, mean
imputation and IterativeImputer.
"""
import os
import sys
import time
import warnings

import numpy as np

# this checkout's fastem, whatever is installed
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fastem  # noqa: E402

warnings.simplefilter("ignore")  # ConvergenceWarning of the fixed-iteration fits


# ------------------------------------------------------------------- speed
def _clusters(n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) + rng.normal(scale=3.0, size=(k, d))[
        rng.integers(0, k, n)]


def _mask(shape, n_patterns, rate, rng):
    """Missingness: ``rate`` MCAR per entry (``n_patterns`` None), or rows
    drawn from ``n_patterns`` patterns, the first complete (so every
    feature is observed), the others each missing about ``rate * n_patterns
    / (n_patterns - 1)`` of the features (in all, about ``rate`` of the
    entries)."""
    n, d = shape
    if n_patterns is None:
        return rng.uniform(size=shape) < rate
    patterns = rng.uniform(size=(n_patterns, d)) < rate * n_patterns / max(
        n_patterns - 1, 1)
    patterns[0] = False
    patterns[patterns.all(axis=1), 0] = False
    return patterns[rng.integers(0, n_patterns, n)]


def _start(X, k, ct):
    d = X.shape[1]
    prec = {"full": np.stack([np.eye(d)] * k), "tied": np.eye(d),
            "diag": np.ones((k, d)), "spherical": np.ones(k)}[ct]
    return dict(weights_init=np.full(k, 1.0 / k),
                means_init=np.nan_to_num(X[:k]), precisions_init=prec)


def _pass(X, k, ct, missing):
    """The statistics pass an in-memory fit runs once per EM iteration (its
    data source, rows grouped by pattern once), at the parameters after one
    iteration from the fixed start."""
    est = fastem.GaussianMixture(k, covariance_type=ct, max_iter=1, tol=0,
                                 reg_covar=1e-3, missing=missing, **_start(X, k, ct))
    est.fit(X)
    source = est._source(X)
    source.statistics(est._family, est._params)  # the grouping, once
    return lambda: source.statistics(est._family, est._params)


def pass_seconds(cases, k, ct, repeats=15):
    """Best-of-``repeats`` seconds of one statistics pass for each
    ``(X, missing)``, the cases interleaved so that load on the machine hits
    them alike."""
    passes = [_pass(X, k, ct, missing) for X, missing in cases]
    best = [np.inf] * len(cases)
    for _ in range(repeats):
        for i, run in enumerate(passes):
            t = time.perf_counter()
            run()
            best[i] = min(best[i], time.perf_counter() - t)
    return best


def speed(n=200_000, d=16, k=8):
    rng = np.random.default_rng(0)
    X = _clusters(n, d, k)
    for ct in ("diag", "spherical", "full", "tied"):  # warm up: compile excluded
        small = X[:3000].copy()
        fastem.GaussianMixture(k, covariance_type=ct, max_iter=2).fit(small)
        small[_mask(small.shape, None, 0.3, rng)] = np.nan
        fastem.GaussianMixture(k, covariance_type=ct, max_iter=2,
                               missing="marginalize").fit(small)
    print(f"(a) statistics pass (one per EM iteration), N={n:,}, D={d}, K={k}, "
          "30% missing; ratio = with NaN / complete")
    mcar = np.where(_mask(X.shape, None, 0.3, rng), np.nan, X)
    for ct in ("diag", "spherical"):
        base, nan = pass_seconds([(X, "raise"), (mcar, "marginalize")], k, ct)
        print(f"  {ct:9s} MCAR: complete {base * 1e3:7.1f} ms, NaN {nan * 1e3:7.1f} ms,"
              f" ratio {nan / base:5.2f}  (target <= 2)")
    small = _clusters(n, 8, k)  # D=8: at most 256 patterns, MCAR
    small_nan = np.where(_mask(small.shape, None, 0.3, rng), np.nan, small)
    for ct in ("full", "tied"):
        base, nan = pass_seconds([(small, "raise"), (small_nan, "marginalize")], k, ct)
        distinct = len(np.unique(np.packbits(np.isnan(small_nan), axis=1), axis=0))
        print(f"  {ct:9s} D=8 MCAR ({distinct} patterns): complete {base * 1e3:7.1f} ms, "
              f"NaN {nan * 1e3:7.1f} ms, ratio {nan / base:5.2f}", flush=True)
    for ct in ("full", "tied"):
        for n_patterns in (8, 64, 512, 4096, 32768, None):
            Xp = np.where(_mask(X.shape, n_patterns, 0.3, rng), np.nan, X)
            missing = np.isnan(Xp)
            distinct = len(np.unique(np.packbits(missing, axis=1), axis=0))
            base, nan = pass_seconds([(X, "raise"), (Xp, "marginalize")], k, ct,
                                     repeats=15 if distinct <= 512 else 5)
            target = "  (target <= 3)" if distinct <= 64 and ct == "full" else ""
            print(f"  {ct:9s} {distinct:6d} patterns ({missing.mean():4.0%} missing): "
                  f"complete {base * 1e3:7.1f} ms, NaN {nan * 1e3:7.1f} ms, "
                  f"ratio {nan / base:5.2f}{target}", flush=True)


# ---------------------------------------------------------------- accuracy
def _truth(d=8, k=4, seed=0):
    """Touching, anisotropic, unequal clusters."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=2.5, size=(k, d))
    covs = []
    for _ in range(k):
        A = rng.normal(size=(d, d)) / np.sqrt(d)
        covs.append(A @ A.T + 0.3 * np.eye(d))
    weights = np.array([0.4, 0.3, 0.2, 0.1])[:k]
    return weights / weights.sum(), means, np.stack(covs)


def _sample(weights, means, covs, n, rng):
    labels = rng.choice(len(weights), size=n, p=weights)
    chol = np.linalg.cholesky(covs)
    z = rng.standard_normal((n, means.shape[1]))
    return means[labels] + np.einsum("nij,nj->ni", chol[labels], z)


def parameter_error(truth, weights, means, covs):
    """Mean over components, after matching them to the truth by their means:
    |mean - true mean|, relative Frobenius error of the covariance, |weight error|."""
    from scipy.optimize import linear_sum_assignment
    tw, tm, tc = truth
    cost = ((tm[:, None] - means[None]) ** 2).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    mean_err = np.mean([np.linalg.norm(means[c] - tm[r]) for r, c in zip(rows, cols)])
    cov_err = np.mean([np.linalg.norm(covs[c] - tc[r]) / np.linalg.norm(tc[r])
                       for r, c in zip(rows, cols)])
    w_err = np.mean([abs(weights[c] - tw[r]) for r, c in zip(rows, cols)])
    return mean_err, cov_err, w_err


def generated(n=100_000, rate=0.3, seed=0):
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, SimpleImputer
    from sklearn.mixture import GaussianMixture as SkGMM

    truth = _truth()
    rng = np.random.default_rng(seed)
    X = _sample(*truth, n, rng)
    Xn = np.where(rng.uniform(size=X.shape) < rate, np.nan, X)
    k = len(truth[0])
    kw = dict(covariance_type="full", n_init=3, max_iter=500, tol=1e-4, random_state=0)
    fastem.GaussianMixture(k, max_iter=2, missing="marginalize").fit(Xn[:3000])  # compile
    print(f"(b) generated: N={n:,}, D={X.shape[1]}, K={k}, {rate:.0%} MCAR; parameter "
          "error vs truth (mean over matched components)")
    print(f"  {'method':38s} {'|mean err|':>10s} {'cov rel err':>11s} {'|w err|':>8s} "
          f"{'seconds':>8s}")
    rows = []
    t = time.perf_counter()
    est = fastem.GaussianMixture(k, missing="marginalize", **kw).fit(Xn)
    rows.append(("fastem marginal EM", est, time.perf_counter() - t))
    oracle = fastem.GaussianMixture(k, **kw).fit(X)
    for name, imputer in (("SimpleImputer(mean) + GaussianMixture", SimpleImputer()),
                          ("IterativeImputer + GaussianMixture",
                           IterativeImputer(max_iter=10, random_state=0))):
        t = time.perf_counter()
        filled = imputer.fit_transform(Xn)
        est_i = SkGMM(k, **kw).fit(filled)
        rows.append((name, est_i, time.perf_counter() - t))
    rows.append(("(no missing values: fastem on complete X)", oracle, np.nan))
    for name, e, seconds in rows:
        m, c, w = parameter_error(truth, e.weights_, e.means_, e.covariances_)
        print(f"  {name:38s} {m:10.4f} {c:11.4f} {w:8.4f} {seconds:8.2f}")


def wine(rate=0.2, n_masks=10):
    from sklearn.datasets import load_wine
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, SimpleImputer

    X = load_wine().data
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    methods = {
        "fastem MixtureImputer(K=1, full)": lambda: fastem.MixtureImputer(
            1, reg_covar=1e-3, random_state=0),
        "fastem MixtureImputer(K=3, full)": lambda: fastem.MixtureImputer(
            3, reg_covar=1e-3, n_init=3, random_state=0),
        "SimpleImputer(mean)": SimpleImputer,
        "IterativeImputer": lambda: IterativeImputer(max_iter=10, random_state=0),
    }
    errors = {name: [] for name in methods}
    seconds = {name: 0.0 for name in methods}
    for seed in range(n_masks):
        rng = np.random.default_rng(100 + seed)
        removed = rng.uniform(size=X.shape) < rate
        removed[removed.all(axis=1), 0] = False
        Xn = np.where(removed, np.nan, X)
        for name, make in methods.items():
            t = time.perf_counter()
            filled = make().fit_transform(Xn)
            seconds[name] += time.perf_counter() - t
            errors[name].append(np.sqrt(np.mean((filled[removed] - X[removed]) ** 2)))
    print(f"(b) wine ({X.shape[0]} x {X.shape[1]}, standardized), {rate:.0%} MCAR, "
          f"{n_masks} masks: imputation RMSE on the removed values (standard units)")
    for name in methods:
        e = np.array(errors[name])
        print(f"  {name:34s} RMSE {e.mean():.4f} +- {e.std():.4f}   "
              f"{seconds[name] / n_masks * 1e3:7.1f} ms per fit_transform")


def main(argv):
    what = argv[0] if argv else "all"
    if what in ("all", "speed"):
        speed()
    if what in ("all", "accuracy"):
        generated()
        wine()


if __name__ == "__main__":
    main(sys.argv[1:])
