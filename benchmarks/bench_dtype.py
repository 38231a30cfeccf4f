"""float32 against float64 input for the same fastem fit (one statistics pass).

asv: ``time_pass`` per model and dtype. ``python benchmarks/bench_dtype.py``
prints the float64 / float32 time ratio of one pass at N=1,000,000, D=16,
K=16, interleaved, best of 7.
"""
import time

import numpy as np

MODELS = ["diag", "full"]


def _setup(covariance_type, n_samples, n_features=16, n_components=16):
    from fastem.families.gaussian import GaussianFamily

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, n_features)) \
        + 2.0 * rng.integers(0, 8, (n_samples, 1))
    w = np.ones(n_samples)
    family = GaussianFamily(n_components, covariance_type, init_params="kmeans")
    params = family.initialize(X, w, np.random.RandomState(0))
    return family, params, X, w


class Pass:
    params = (MODELS, ["float64", "float32"])
    param_names = ["covariance_type", "dtype"]

    def setup(self, covariance_type, dtype):
        self.family, self.p, X, self.w = _setup(covariance_type, 200_000)
        self.X = X.astype(dtype)
        self.family.statistics(self.X, self.w, self.p)  # compile / load the cache

    def time_pass(self, covariance_type, dtype):
        self.family.statistics(self.X, self.w, self.p)


def main(n_samples=1_000_000, repeats=7):
    for covariance_type in MODELS:
        family, params, X64, w = _setup(covariance_type, n_samples)
        data = {"float64": X64, "float32": X64.astype(np.float32)}
        best = dict.fromkeys(data, np.inf)
        for X in data.values():
            family.statistics(X, w, params)
        for _ in range(repeats):
            for name, X in data.items():
                t = time.perf_counter()
                family.statistics(X, w, params)
                best[name] = min(best[name], time.perf_counter() - t)
        print(f"GaussianMixture {covariance_type:4s} pass, N={n_samples:,}: float64 "
              f"{best['float64'] * 1e3:6.1f} ms, float32 {best['float32'] * 1e3:6.1f} ms "
              f"-> float32 {best['float64'] / best['float32']:.2f}x faster")


if __name__ == "__main__":
    main()
