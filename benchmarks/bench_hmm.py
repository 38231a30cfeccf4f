"""Hidden Markov models: fastem.hmm against hmmlearn (its faster 'scaling' code).

Both libraries fit the same sequences from identical initial parameters
(``init_params=""``) for a fixed number of iterations (``tol=0``). Cases:

- ``gaussian-one``: GaussianHMM diag, one sequence of T rows, K=8, D=4;
- ``gaussian-many``: the same model on sequences of 5,000 rows;
- ``categorical``: CategoricalHMM, one sequence, K=8, 32 symbols.

asv imports this module (``time_*``, ``peakmem_*``; skipped when hmmlearn
or a fastem without ``fastem.hmm`` is installed); nothing runs at import.
``benchmarks/hmm_targets.py`` prints the issue's per-iteration ratios.
"""
import numpy as np

CASES = ["gaussian-one", "gaussian-many", "categorical"]
N_STATES = 8
N_FEATURES = 4
N_SYMBOLS = 32
SEQUENCE_LENGTH = 5_000
N_ITER = 3


def make_case(case, n_samples, seed=0):
    """``(X, lengths, initial parameters)`` of a case: sticky state paths."""
    rng = np.random.default_rng(seed)
    K = N_STATES
    trans = np.full((K, K), 0.05 / (K - 1))
    np.fill_diagonal(trans, 0.95)
    states = np.empty(n_samples, dtype=np.int64)
    states[0] = 0
    u = rng.random(n_samples)
    cdf = np.cumsum(trans, axis=1)
    for t in range(1, n_samples):  # a few seconds at 1e6: cached by the callers
        states[t] = np.searchsorted(cdf[states[t - 1]], u[t])
    states = np.minimum(states, K - 1)
    start = {"startprob_": np.full(K, 1.0 / K),
             "transmat_": 0.5 * trans + 0.5 / K}
    if case == "categorical":
        probs = rng.dirichlet(np.full(N_SYMBOLS, 0.5), size=K)
        X = (rng.random(n_samples)[:, None] > np.cumsum(probs[states], axis=1)).sum(axis=1)
        X = np.minimum(X, N_SYMBOLS - 1)[:, None].astype(np.int64)
        start["emissionprob_"] = rng.dirichlet(np.ones(N_SYMBOLS), size=K)
        lengths = [n_samples]
    else:
        means = rng.normal(0, 3, (K, N_FEATURES))
        X = means[states] + rng.normal(size=(n_samples, N_FEATURES))
        start["means_"] = means + rng.normal(0, 0.5, means.shape)
        start["covars_"] = np.full((K, N_FEATURES), 1.5)
        lengths = ([n_samples] if case == "gaussian-one" else
                   [SEQUENCE_LENGTH] * (n_samples // SEQUENCE_LENGTH))
        X = X[:sum(lengths)]
    return X, lengths, start


def make_model(case, lib, start, n_iter=N_ITER, n_jobs=None):
    """An unfitted model of ``lib`` ('fastem' or 'hmmlearn') holding ``start``."""
    if lib == "fastem":
        from fastem import hmm as module
        kwargs = {"n_jobs": n_jobs}
    else:
        from hmmlearn import hmm as module
        kwargs = {}
    if case == "categorical":
        model = module.CategoricalHMM(N_STATES, n_features=N_SYMBOLS, init_params="",
                                      n_iter=n_iter, tol=0, implementation="scaling",
                                      **kwargs)
    else:
        model = module.GaussianHMM(N_STATES, covariance_type="diag", init_params="",
                                   n_iter=n_iter, tol=0, implementation="scaling", **kwargs)
    for attr, value in start.items():
        setattr(model, attr, value.copy())
    return model


def available(lib):
    """True when ``lib``'s HMMs can be imported."""
    try:
        if lib == "fastem":
            import fastem.hmm  # noqa: F401
        else:
            import hmmlearn.hmm  # noqa: F401
    except ImportError:
        return False
    return True


class HMMFit:
    """A fit of ``N_ITER`` iterations; the per-iteration ratio is time_hmmlearn / time_fastem."""

    params = (CASES, [200_000])
    param_names = ["case", "n_samples"]
    timeout = 600

    def setup(self, case, n_samples):
        if not (available("fastem") and available("hmmlearn")):
            raise NotImplementedError("needs fastem.hmm and hmmlearn")
        import logging
        logging.getLogger("hmmlearn").setLevel(logging.ERROR)
        self.X, self.lengths, self.start = make_case(case, n_samples)
        small = slice(0, 2 * SEQUENCE_LENGTH)  # compile outside the timing
        make_model(case, "fastem", self.start, n_iter=1).fit(
            self.X[small], None if case != "gaussian-many" else [SEQUENCE_LENGTH] * 2)

    def time_fastem(self, case, n_samples):
        make_model(case, "fastem", self.start).fit(self.X, self.lengths)

    def time_hmmlearn(self, case, n_samples):
        make_model(case, "hmmlearn", self.start).fit(self.X, self.lengths)

    def peakmem_fastem(self, case, n_samples):
        make_model(case, "fastem", self.start).fit(self.X, self.lengths)

    def peakmem_hmmlearn(self, case, n_samples):
        make_model(case, "hmmlearn", self.start).fit(self.X, self.lengths)
