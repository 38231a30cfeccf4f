"""Discrete mixtures: fastem against a straightforward vectorized NumPy EM.

scikit-learn has no discrete mixtures, so the baseline is the NumPy EM a
user would write (:func:`numpy_em`, in this file): per iteration one
``X @ A`` for the log-densities, a max-subtracted log-sum-exp on the
(N, K) matrix, the responsibilities and ``R^T X`` for the statistics
(categorical: the same with a sparse one-hot encoding of X built once).
Both start from identical parameters (``weights_init`` and
``probs_init``/``rates_init``) and run a fixed number of iterations
(``tol=0``).

asv imports this module (classes with ``params``/``setup``/``time_*``/
``track_*``); nothing runs at import. ``python benchmarks/bench_discrete.py
[N]`` prints per-iteration ratios (NumPy time / fastem time) at N=1,000,000,
D=32, K=16, measured in one process, interleaved, best of repeats.
"""
import sys
import time
import warnings

import numpy as np

FAMILIES = ["bernoulli", "binomial", "poisson", "categorical"]
N_FEATURES = 32
N_COMPONENTS = 16
N_TRIALS = 10
N_CATEGORIES = 4
N_ITER = 10
SMOOTHING = 1e-10


# ------------------------------------------------------------------ data
def make_data(family, n_samples, n_features=N_FEATURES, n_components=N_COMPONENTS,
              seed=0):
    """Counts drawn from a random mixture of the family (float64; int32 codes)."""
    rng = np.random.default_rng(seed)
    z = rng.integers(0, n_components, n_samples)
    shape = (n_samples, n_features)
    if family == "bernoulli":
        p = rng.uniform(0.05, 0.95, (n_components, n_features))
        return (rng.random(shape) < p[z]).astype(np.float64)
    if family == "binomial":
        p = rng.uniform(0.05, 0.95, (n_components, n_features))
        return rng.binomial(N_TRIALS, p[z]).astype(np.float64)
    if family == "poisson":
        lam = rng.uniform(0.5, 20.0, (n_components, n_features))
        return rng.poisson(lam[z]).astype(np.float64)
    p = rng.dirichlet(np.ones(N_CATEGORIES), size=(n_components, n_features))
    u = rng.random(shape)[..., None]
    return (u > np.cumsum(p[z], axis=-1)).sum(axis=-1).astype(np.int32)


def initial_params(family, X, n_components=N_COMPONENTS, seed=1):
    """Same starting point for both libraries: (weights, parameter)."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(n_components, 10.0))
    D = X.shape[1]
    if family in ("bernoulli", "binomial"):
        return weights, rng.uniform(0.2, 0.8, (n_components, D))
    if family == "poisson":
        return weights, rng.uniform(1.0, 15.0, (n_components, D))
    return weights, [rng.dirichlet(np.ones(N_CATEGORIES), size=n_components)
                     for _ in range(D)]


# ------------------------------------------------------- the two sides
def fit_fastem(family, X, init, max_iter=N_ITER, n_jobs=None):
    import fastem
    weights, param = init
    K = len(weights)
    kw = dict(weights_init=weights, max_iter=max_iter, tol=0, n_jobs=n_jobs,
              smoothing=SMOOTHING)
    if family == "bernoulli":
        model = fastem.BernoulliMixture(K, probs_init=param, **kw)
    elif family == "binomial":
        model = fastem.BinomialMixture(K, n_trials=N_TRIALS, probs_init=param, **kw)
    elif family == "poisson":
        model = fastem.PoissonMixture(K, rates_init=param, **kw)
    else:
        model = fastem.CategoricalMixture(K, probs_init=param, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X)


def _logsumexp_rows(lp):
    m = lp.max(axis=1)
    lse = m + np.log(np.exp(lp - m[:, None]).sum(axis=1))
    return lse


def numpy_em(family, X, init, n_iter=N_ITER, sample_weight=None):
    """Straightforward vectorized NumPy EM; returns (weights, param, logliks).

    Same model, smoothing and M-step as fastem (so the results agree).
    """
    from scipy.special import gammaln
    weights, param = init
    weights = np.array(weights, dtype=np.float64)
    w = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    lls = []
    if family == "categorical":
        from scipy import sparse
        n_cat = np.array([p.shape[1] for p in param])
        offsets = np.concatenate([[0], np.cumsum(n_cat)[:-1]])
        N, D = X.shape
        onehot = sparse.csr_matrix(
            (np.ones(N * D), (X + offsets).ravel(), np.arange(0, N * D + 1, D)),
            shape=(N, n_cat.sum()))
        probs = np.hstack(param)  # (K, C)
        for _ in range(n_iter):
            lp = onehot @ np.log(probs).T + np.log(weights)
            lse = _logsumexp_rows(lp)
            lls.append(w @ lse)
            resp = np.exp(lp - lse[:, None]) * w[:, None]
            nk = resp.sum(axis=0)
            counts = (onehot.T @ resp).T  # (K, C)
            for o, c in zip(offsets, n_cat):
                blk = counts[:, o:o + c]
                p = blk / blk.sum(axis=1, keepdims=True)
                if (p < SMOOTHING).any():  # the floor, only when it binds
                    from fastem.families.categorical import CategoricalFamily
                    p = CategoricalFamily(len(nk), [c], smoothing=SMOOTHING)._project(blk)
                probs[:, o:o + c] = p
            weights = nk / nk.sum()
        return weights, [probs[:, o:o + c] for o, c in zip(offsets, n_cat)], lls
    X = np.asarray(X, dtype=np.float64)
    param = np.array(param, dtype=np.float64)
    if family == "poisson":
        const = -(w @ gammaln(X + 1.0).sum(axis=1))
    elif family == "binomial":
        const = w @ (gammaln(N_TRIALS + 1.0) - gammaln(X + 1.0)
                     - gammaln(N_TRIALS - X + 1.0)).sum(axis=1)
    else:
        const = 0.0
    n = 1 if family == "bernoulli" else N_TRIALS
    for _ in range(n_iter):
        if family == "poisson":
            A = np.log(param)
            b = np.log(weights) - param.sum(axis=1)
        else:
            log_q = np.log1p(-param)
            A = np.log(param) - log_q
            b = np.log(weights) + n * log_q.sum(axis=1)
        lp = X @ A.T + b
        lse = _logsumexp_rows(lp)
        lls.append(w @ lse + const)
        resp = np.exp(lp - lse[:, None]) * w[:, None]
        nk = resp.sum(axis=0)
        sx = resp.T @ X
        if family == "poisson":
            param = np.maximum(sx / nk[:, None], SMOOTHING)
        else:
            param = np.clip(sx / (n * nk[:, None]), SMOOTHING, 1 - SMOOTHING)
        weights = nk / nk.sum()
    return weights, param, lls


def max_rel_diff(model, result):
    """Largest relative difference between fastem's and NumPy's parameters."""
    weights, param, _ = result
    mine = model.rates_ if hasattr(model, "rates_") else model.probs_
    if isinstance(mine, list):
        mine, param = np.hstack(mine), np.hstack(param)
    return float(max(np.max(np.abs(mine - param) / np.abs(param)),
                     np.max(np.abs(model.weights_ - weights) / weights)))


# ------------------------------------------------------------------ asv
class DiscreteFit:
    """A fit of N_ITER EM iterations (tol=0) from the same parameters."""

    params = (FAMILIES, [100_000, 1_000_000])
    param_names = ["family", "n_samples"]
    timeout = 900

    def setup(self, family, n_samples):
        self.X = make_data(family, n_samples)
        self.init = initial_params(family, self.X)
        fit_fastem(family, self.X[:3000], self.init, max_iter=2)  # warm the JIT

    def time_fastem(self, family, n_samples):
        fit_fastem(family, self.X, self.init)

    def time_numpy(self, family, n_samples):
        numpy_em(family, self.X, self.init)

    def track_max_rel_diff_vs_numpy(self, family, n_samples):
        return max_rel_diff(fit_fastem(family, self.X, self.init),
                            numpy_em(family, self.X, self.init))

    track_max_rel_diff_vs_numpy.unit = "relative"


class DiscretePredict:
    """predict_proba of 1M rows by a fitted mixture."""

    params = (FAMILIES,)
    param_names = ["family"]
    timeout = 600

    def setup(self, family):
        self.X = make_data(family, 1_000_000)
        self.model = fit_fastem(family, self.X[:20_000],
                                initial_params(family, self.X), max_iter=3)
        self.model.predict_proba(self.X[:100])

    def time_predict_proba(self, family):
        self.model.predict_proba(self.X)

    def time_score_samples(self, family):
        self.model.score_samples(self.X)


def timeraw_import_and_first_fit():
    """Cold import + first fit of each family (compiled kernels from the cache)."""
    return """
import numpy as np
import fastem
X = (np.random.default_rng(0).random((2000, 8)) < 0.4).astype(float)
fastem.BernoulliMixture(3, random_state=0, max_iter=5).fit(X)
fastem.PoissonMixture(3, random_state=0, max_iter=5).fit(X)
fastem.CategoricalMixture(3, random_state=0, max_iter=5).fit(X.astype(int))
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
    return {name: min(v) for name, v in times.items()}


def main(n_samples=1_000_000, repeats=3, families=FAMILIES):
    lo, hi = 1, 1 + N_ITER
    print(f"Discrete mixtures, N={n_samples:,}, D={N_FEATURES}, K={N_COMPONENTS}; "
          f"per-iteration time = (fit with {hi} iterations - fit with {lo}) / {N_ITER}, "
          f"tol=0, same initial parameters; best of {repeats}, interleaved; "
          f"ratio = NumPy time / fastem time")
    for family in families:
        X = make_data(family, n_samples)
        init = initial_params(family, X)
        t = time.perf_counter()
        fit_fastem(family, X[:3000], init, max_iter=2)
        fit_fastem(family, X[:3000].astype(np.float32) if family != "categorical"
                   else X[:3000], init, max_iter=2)
        compile_s = time.perf_counter() - t
        best = _best_interleaved({
            "numpy_lo": lambda: numpy_em(family, X, init, lo),
            "fastem_lo": lambda: fit_fastem(family, X, init, lo),
            "numpy_hi": lambda: numpy_em(family, X, init, hi),
            "fastem_hi": lambda: fit_fastem(family, X, init, hi),
        }, repeats)
        per_np = (best["numpy_hi"] - best["numpy_lo"]) / N_ITER
        per_fe = (best["fastem_hi"] - best["fastem_lo"]) / N_ITER
        diff = max_rel_diff(fit_fastem(family, X, init, hi), numpy_em(family, X, init, hi))
        print(f"  {family:12s} per iteration: numpy {per_np * 1e3:7.1f} ms, fastem "
              f"{per_fe * 1e3:6.1f} ms -> ratio {per_np / per_fe:5.2f}x   "
              f"(whole {hi}-iteration fit: {best['numpy_hi'] / best['fastem_hi']:.2f}x; "
              f"max param rel diff {diff:.1e}; JIT load/compile {compile_s:.1f} s)")
        del X


if __name__ == "__main__":
    import os
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = sys.argv[1:]
    main(int(args[0]) if args else 1_000_000,
         families=args[1:] if len(args) > 1 else FAMILIES)
