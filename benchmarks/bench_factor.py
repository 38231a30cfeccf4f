"""Factor models: FactorAnalysis and MixtureOfFactorAnalyzers against their
references on the same data (see ``benchmarks/factor_targets.py`` for the
issue's full-size targets).

FactorAnalysis fits to convergence with each library's defaults; the mixture
fits run a fixed number of iterations with ``tol=0`` from the same
``weights_init``/``means_init``. Kernels are compiled in ``setup``.
"""
import warnings

import numpy as np

try:
    from asv_runner.benchmarks.mark import SkipNotImplemented
except ImportError:  # older asv
    SkipNotImplemented = NotImplementedError

import fastem

from .common import sizes
from .factor_targets import factor_data, mfa_data

N_ITER = 5


def _needs(name):
    if not hasattr(fastem, name):  # an older commit: n/a
        raise SkipNotImplemented(f"fastem has no {name}")
    return getattr(fastem, name)


class FactorAnalysisFit:
    """Whole fit, D=64, q=8, defaults (tol=1e-2)."""

    params = sizes([20_000, 200_000])
    param_names = ["n_samples"]
    timeout = 600
    number = 1
    repeat = (1, 5, 30.0)
    warmup_time = 0.0

    def setup(self, n_samples):
        cls = _needs("FactorAnalysis")
        self.X = factor_data(n_samples, 64, 8)
        cls(8).fit(self.X[:2000])

    def time_fastem(self, n_samples):
        fastem.FactorAnalysis(8).fit(self.X)

    def time_sklearn(self, n_samples):
        from sklearn.decomposition import FactorAnalysis
        FactorAnalysis(8).fit(self.X)


class FactorMixtureFit:
    """``N_ITER`` iterations, D=64, K=8, q=4: MFA against full and diag mixtures."""

    params = (["mfa", "fastem-full", "fastem-diag", "sklearn-full"], sizes([20_000]))
    param_names = ["model", "n_samples"]
    timeout = 900
    number = 1
    repeat = (1, 5, 30.0)
    warmup_time = 0.0

    def setup(self, model, n_samples):
        _needs("MixtureOfFactorAnalyzers")
        self.X = mfa_data(n_samples, 64, 8, 4)
        rng = np.random.default_rng(1)
        self.init = dict(weights_init=np.full(8, 1 / 8),
                         means_init=self.X[rng.choice(n_samples, 8, replace=False)].copy())
        self.time_fit(model, 2000)  # compile

    def _make(self, model):
        kw = dict(max_iter=N_ITER, tol=0, **self.init)
        if model == "mfa":
            return fastem.MixtureOfFactorAnalyzers(8, n_factors=4, **kw)
        if model == "sklearn-full":
            from sklearn.mixture import GaussianMixture
            return GaussianMixture(8, covariance_type="full", **kw)
        return fastem.GaussianMixture(8, covariance_type=model.split("-")[1], **kw)

    def time_fit(self, model, n_samples):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tol=0: never "converged"
            self._make(model).fit(self.X[:n_samples])
