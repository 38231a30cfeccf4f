"""fastem: compiled EM kernels; fast drop-ins for scikit-learn's mixtures and k-means."""
from .cluster import KMeans
from .mixture import GaussianMixture
from .mixture import BayesianGaussianMixture
from .discrete import BernoulliMixture, BinomialMixture, CategoricalMixture, PoissonMixture

__all__ = ["GaussianMixture", "KMeans", "BernoulliMixture", "BinomialMixture",
           "CategoricalMixture", "PoissonMixture"]
__all__ += ["BayesianGaussianMixture"]
__version__ = "0.1.0"
