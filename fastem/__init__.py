"""fastem: compiled EM kernels; fast drop-ins for scikit-learn's mixtures and k-means."""
from .cluster import KMeans
from .mixture import BayesianGaussianMixture, GaussianMixture
from .discrete import BernoulliMixture, BinomialMixture, CategoricalMixture, PoissonMixture
from .decomposition import FactorAnalysis, MixtureOfFactorAnalyzers
from .impute import MixtureImputer

__all__ = ["GaussianMixture", "BayesianGaussianMixture", "KMeans", "BernoulliMixture",
           "BinomialMixture", "CategoricalMixture", "PoissonMixture", "FactorAnalysis",
           "MixtureOfFactorAnalyzers"]
__all__ += ["MixtureImputer"]
__version__ = "0.1.0"
