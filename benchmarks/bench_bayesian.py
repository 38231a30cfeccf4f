"""BayesianGaussianMixture, fastem paired with scikit-learn: every covariance
and prior type.

Both libraries fit the same data from the same random start (same
``random_state``; ``init_params='random_from_data'``, but ``'random'`` for
tied, whose scikit-learn initial covariance from one-hot rows is inexact, see
tests/test_bayesian_mixture.py) with ``N_ITER`` iterations and ``tol=0``.
Kernels are compiled (or loaded) in ``setup``.
``bench_fit.Fit`` also times the ``bgm-diag``/``bgm-full`` models of
``fastem compare``; this file adds the prior types, the other covariance
types and memory at many components.
"""
import warnings

from .common import N_ITER, compare, sizes

try:
    from asv_runner.benchmarks.mark import SkipNotImplemented
except ImportError:  # older asv
    SkipNotImplemented = NotImplementedError

COV_TYPES = ["full", "tied", "diag", "spherical"]
PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]


def _fit(lib, X, n_components, covariance_type, prior_type, max_iter=N_ITER):
    import fastem
    import sklearn.mixture

    if lib == "fastem" and not hasattr(fastem, "BayesianGaussianMixture"):
        raise SkipNotImplemented("this fastem has no BayesianGaussianMixture")
    cls = fastem.BayesianGaussianMixture if lib == "fastem" else \
        sklearn.mixture.BayesianGaussianMixture
    est = cls(n_components=n_components, covariance_type=covariance_type,
              weight_concentration_prior_type=prior_type, max_iter=max_iter, tol=0,
              init_params="random" if covariance_type == "tied" else "random_from_data",
              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 on purpose
        return est.fit(X)


class BayesianFit:
    """One fit of ``N_ITER`` iterations, 8 features, 8 components."""

    params = (COV_TYPES, PRIOR_TYPES, sizes([10_000, 200_000]))
    param_names = ["covariance_type", "prior_type", "n_samples"]
    timeout = 900
    number = 1
    repeat = (1, 5, 30.0)
    warmup_time = 0.0

    def setup(self, covariance_type, prior_type, n_samples):
        self.X = compare.gaussian_blobs(n_samples, 8, 8, "float64", 0)
        self.args = (8, covariance_type, prior_type)
        _fit("fastem", self.X[:2000], *self.args)  # compile / load every kernel used

    def time_fastem(self, *params):
        _fit("fastem", self.X, *self.args)

    def time_sklearn(self, *params):
        _fit("sklearn", self.X, *self.args)

    def track_speedup(self, *params):
        """scikit-learn whole-fit time / fastem whole-fit time, best of 3 interleaved."""
        import time
        best = {}
        for _ in range(3):
            for lib in ("fastem", "sklearn"):
                start = time.perf_counter()
                _fit(lib, self.X, *self.args)
                t = time.perf_counter() - start
                best[lib] = min(best.get(lib, t), t)
        return best["sklearn"] / best["fastem"]

    track_speedup.unit = "ratio"

    def track_max_rel_diff(self, *params):
        """Largest relative difference of the fitted parameters from scikit-learn's."""
        ours, theirs = (_fit(lib, self.X, *self.args) for lib in ("fastem", "sklearn"))
        return compare.max_relative_difference(
            ours, theirs, ("weights_", "means_", "covariances_"))

    track_max_rel_diff.unit = "relative"


class BayesianMemory:
    """Peak memory of a 2-iteration fit with many components (4 features, 64
    components): scikit-learn holds several N x K arrays, fastem none."""

    params = (["diag", "full"], sizes([200_000]))
    param_names = ["covariance_type", "n_samples"]
    timeout = 900

    def setup(self, covariance_type, n_samples):
        self.X = compare.gaussian_blobs(n_samples, 4, 64, "float64", 0)
        _fit("fastem", self.X[:2000], 64, covariance_type, "dirichlet_process", 2)

    def peakmem_fastem(self, covariance_type, n_samples):
        _fit("fastem", self.X, 64, covariance_type, "dirichlet_process", 2)

    def peakmem_sklearn(self, covariance_type, n_samples):
        _fit("sklearn", self.X, 64, covariance_type, "dirichlet_process", 2)
