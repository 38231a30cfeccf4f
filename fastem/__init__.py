"""fastem: compiled EM kernels; fast drop-ins for scikit-learn's mixtures and k-means.

The estimators' modules are imported on first use (``fastem.KMeans`` imports
:mod:`fastem.cluster` only), so ``import fastem`` costs little more than its
dependencies.
"""
import importlib

#: public name -> the module that defines it
_ESTIMATORS = {
    "GaussianMixture": "mixture", "BayesianGaussianMixture": "mixture",
    "KMeans": "cluster",
    "BernoulliMixture": "discrete", "BinomialMixture": "discrete",
    "CategoricalMixture": "discrete", "PoissonMixture": "discrete",
    "FactorAnalysis": "decomposition", "MixtureOfFactorAnalyzers": "decomposition",
    "MixtureImputer": "impute",
}

#: the public modules, also imported on first use (``fastem.hmm``, ...)
_MODULES = ("cluster", "decomposition", "discrete", "distributed", "hmm", "impute",
            "mixture")

__all__ = list(_ESTIMATORS)
__version__ = "0.1.0"


def __getattr__(name):
    if name in _ESTIMATORS:
        value = getattr(importlib.import_module(f".{_ESTIMATORS[name]}", __name__), name)
    elif name in _MODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # found directly next time
    return value


def __dir__():
    return sorted({*globals(), *_ESTIMATORS, *_MODULES})
