import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def make_clusters(rng, n=600, d=3, k=3, spread=6.0, dtype=np.float64):
    """Well-separated Gaussian clusters, shape (n, d)."""
    centers = rng.normal(scale=spread, size=(k, d))
    labels = rng.integers(0, k, n)
    return (centers[labels] + rng.standard_normal((n, d))).astype(dtype)
