"""asv: GaussianMixture on X with NaN (``missing='marginalize'``) against the complete X.

Each case fits ``N_ITER`` EM iterations (``tol=0``) from fixed initial
parameters; ``rate=0`` is the complete-data fit (``missing='raise'``), the
baseline of the ratios in ``benchmarks/missing_targets.py``. A commit
without ``missing`` is skipped (asv shows n/a).
"""
import warnings

import numpy as np

import fastem

N_SAMPLES = 100_000
N_FEATURES = 8
N_COMPONENTS = 8
N_ITER = 5


class MissingFit:
    params = (["diag", "full"], [0.0, 0.3])
    param_names = ["covariance_type", "missing_rate"]

    def setup(self, covariance_type, rate):
        if "missing" not in fastem.GaussianMixture().get_params():
            raise NotImplementedError("this fastem has no missing='marginalize'")
        rng = np.random.default_rng(0)
        centers = rng.normal(scale=3.0, size=(N_COMPONENTS, N_FEATURES))
        X = centers[rng.integers(0, N_COMPONENTS, N_SAMPLES)] + rng.standard_normal(
            (N_SAMPLES, N_FEATURES))
        if rate:
            X[rng.uniform(size=X.shape) < rate] = np.nan
        self.X = X
        prec = (np.stack([np.eye(N_FEATURES)] * N_COMPONENTS) if covariance_type == "full"
                else np.ones((N_COMPONENTS, N_FEATURES)))
        self.kwargs = dict(covariance_type=covariance_type, max_iter=N_ITER, tol=0,
                           missing="marginalize" if rate else "raise",
                           weights_init=np.full(N_COMPONENTS, 1.0 / N_COMPONENTS),
                           means_init=centers, precisions_init=prec)
        self.time_fit(covariance_type, rate)  # compile outside the timing

    def time_fit(self, covariance_type, rate):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fastem.GaussianMixture(N_COMPONENTS, **self.kwargs).fit(self.X)
