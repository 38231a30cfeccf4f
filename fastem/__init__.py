"""fastem: compiled EM kernels; fast drop-ins for scikit-learn's mixtures and k-means."""
from .cluster import KMeans
from .mixture import GaussianMixture

__all__ = ["GaussianMixture", "KMeans"]
__version__ = "0.1.0"
