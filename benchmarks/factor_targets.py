"""Measure the factor models' targets (issue 16); print ratios and a curve.

Run from the repository top: ``python benchmarks/factor_targets.py`` (about
10 minutes on 2 cores; ``--scale 0.1`` for a quick look at a tenth of the
rows). Every ratio is measured in one process, fastem and scikit-learn on
the same data, after a warm-up fit on small data (compile excluded), best of
``--repeats``:

- FactorAnalysis, N=1,000,000, D=64, q=8, whole fit to convergence with
  each library's defaults (``tol=1e-2``): goal >= 10x scikit-learn.
- MixtureOfFactorAnalyzers, N=200,000, D=256, K=8, q=8, per EM iteration
  (iterations of a warm start after a one-iteration fit, same
  ``weights_init``/``means_init``, ``tol=0``): goal >= 5x fastem's
  GaussianMixture(covariance_type='full'), and the ratio to scikit-learn's
  full GaussianMixture.
- Held-out mean log-likelihood on (dequantized) digits (D=64) over q against
  diag and full Gaussian mixtures.

asv does not collect this module (it defines no benchmarks).
"""
import argparse
import time
import warnings

import numpy as np


def _best(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def factor_data(n, d, q, seed=0):
    """Rows of a factor model with unequal noise and loadings."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(q, d))
    X = rng.standard_normal((n, q)) @ W
    X += rng.standard_normal((n, d)) * rng.uniform(0.5, 2.0, d)
    return X + rng.normal(scale=5.0, size=d)


def mfa_data(n, d, k, q, seed=0):
    """Rows of a mixture of K factor analyzers, touching clusters of unequal sizes."""
    rng = np.random.default_rng(seed)
    sizes = rng.dirichlet(np.full(k, 3.0))
    labels = rng.choice(k, size=n, p=sizes)
    X = rng.normal(scale=1.5, size=(k, d))[labels] + rng.standard_normal((n, d))
    for c in range(k):
        rows = labels == c
        X[rows] += rng.standard_normal((rows.sum(), q)) @ rng.normal(size=(q, d))
    return X


def factor_analysis_target(scale, repeats):
    """Whole fits with defaults; returns the single-thread ratio.

    scikit-learn runs with BLAS held to one thread: on a busy 2-core machine
    its SVDs ran up to 15x slower with BLAS threads (spinning threads fight the
    other processes). fastem is timed on one thread (``n_jobs=1``, the
    like-for-like ratio) and on all cores.
    """
    import fastem
    from sklearn.decomposition import FactorAnalysis
    from threadpoolctl import threadpool_limits
    n, d, q = int(1_000_000 * scale), 64, 8
    X = factor_data(n, d, q)
    fastem.FactorAnalysis(q).fit(X[:5000])  # compile
    one = fastem.FactorAnalysis(q, n_jobs=1)
    t_one = _best(lambda: one.fit(X), repeats)
    ours = fastem.FactorAnalysis(q)
    t_ours = _best(lambda: ours.fit(X), repeats)
    ref = FactorAnalysis(q)
    with threadpool_limits(1):
        t_ref = _best(lambda: ref.fit(X), 1)
    print(f"FactorAnalysis N={n} D={d} q={q} (defaults, tol=1e-2): scikit-learn (BLAS 1 "
          f"thread) {t_ref:.2f} s ({ref.n_iter_} it, loglike {ref.loglike_[-1]:.8g}); "
          f"fastem 1 thread {t_one:.2f} s: {t_ref / t_one:.1f}x, all cores {t_ours:.2f} s: "
          f"{t_ref / t_ours:.1f}x ({ours.n_iter_} it, loglike {ours.loglike_[-1]:.8g}) "
          f"(goal >= 10x)", flush=True)
    return t_ref / t_one


def _per_iteration(make, X, m, repeats):
    """Seconds per EM iteration: a fit of one iteration (the initialization),
    then ``m`` more iterations by a warm start, timed alone (best of ``repeats``)."""
    est = make(1)
    est.fit(X)
    est.set_params(warm_start=True, max_iter=m)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        est.fit(X)
        best = min(best, time.perf_counter() - start)
    return best / m


def mfa_target(scale, repeats, m=1):
    """Per-iteration ratios; scikit-learn with BLAS on one thread (see
    :func:`factor_analysis_target`); returns the ratio to fastem's full mixture."""
    import fastem
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits
    n, d, k, q = int(200_000 * scale), 256, 8, 8
    X = mfa_data(n, d, k, q)
    rng = np.random.default_rng(1)
    init = dict(weights_init=np.full(k, 1.0 / k),
                means_init=X[rng.choice(n, k, replace=False)].copy())
    fastem.MixtureOfFactorAnalyzers(k, n_factors=q, max_iter=2, **init).fit(X[:3000])
    fastem.GaussianMixture(k, max_iter=2, **init).fit(X[:3000])
    t_mfa = _per_iteration(lambda it: fastem.MixtureOfFactorAnalyzers(
        k, n_factors=q, max_iter=it, tol=0, **init), X, 2 * m, repeats)
    t_full = _per_iteration(lambda it: fastem.GaussianMixture(
        k, covariance_type="full", max_iter=it, tol=0, **init), X, m, repeats)
    print(f"MixtureOfFactorAnalyzers N={n} D={d} K={k} q={q} per iteration: "
          f"{t_mfa:.3f} s; fastem GaussianMixture(full) {t_full:.3f} s: "
          f"{t_full / t_mfa:.1f}x (goal >= 5x)", flush=True)
    with threadpool_limits(1):
        t_sk = _per_iteration(lambda it: GaussianMixture(
            k, covariance_type="full", max_iter=it, tol=0, **init), X, m, 1)
    print(f"  scikit-learn GaussianMixture(full) (BLAS 1 thread) {t_sk:.3f} s: "
          f"{t_sk / t_mfa:.1f}x", flush=True)
    return t_full / t_mfa


def digits_curve(factors=(1, 2, 4, 8, 16, 32), k=10, seed=0):
    """Held-out mean log-likelihood on digits: MFA over q, diag and full GMMs.

    The 8x8 images hold integers 0..16, some pixels constant, on which any
    continuous density is degenerate; as usual for density estimation on
    quantized images they are dequantized first (``+ U(0, 1)`` noise).
    """
    import fastem
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X = load_digits().data
    X = X + np.random.default_rng(seed).uniform(size=X.shape)
    train, test = train_test_split(X, test_size=0.3, random_state=seed)
    rows = []
    for ct in ("diag", "full"):
        g = fastem.GaussianMixture(k, covariance_type=ct, random_state=seed,
                                   max_iter=300).fit(train)
        rows.append((f"GaussianMixture {ct}", g.score(train), g.score(test)))
    for q in factors:
        m = fastem.MixtureOfFactorAnalyzers(k, n_factors=q, random_state=seed,
                                            max_iter=300).fit(train)
        rows.append((f"MixtureOfFactorAnalyzers q={q}", m.score(train), m.score(test)))
    print(f"dequantized digits (D=64, K={k}, 70/30 split): mean log-likelihood")
    print(f"  {'model':34s} {'train':>9s} {'held-out':>9s}")
    for name, train_ll, test_ll in rows:
        print(f"  {name:34s} {train_ll:9.2f} {test_ll:9.2f}")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", choices=["fa", "mfa", "digits"], default=None)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    if args.only in (None, "fa"):
        factor_analysis_target(args.scale, args.repeats)
    if args.only in (None, "mfa"):
        mfa_target(args.scale, args.repeats)
    if args.only in (None, "digits"):
        digits_curve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
