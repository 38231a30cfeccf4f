"""The HMMs' default initialization (hmmlearn's k-means) and the threads it runs on."""
import logging

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from fastem import hmm

hmmlearn_hmm = pytest.importorskip("hmmlearn.hmm")
logging.getLogger("hmmlearn").setLevel(logging.ERROR)

LENGTHS = [60, 1, 45, 30]


def _blobs(seed):
    """Three separated blobs in 2-D, in runs (every cluster has many rows)."""
    rng = np.random.RandomState(seed)
    centers = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    labels = np.repeat(np.arange(3), -(-sum(LENGTHS) // 3))[:sum(LENGTHS)]
    return centers[labels] + rng.normal(size=(sum(LENGTHS), 2))


def test_gmmhmm_default_initialization_equals_hmmlearn():
    """Same ``random_state``: GMMHMM's nested k-means start equals hmmlearn's,
    so the fits agree (the one-thread k-means changes no result)."""
    X = _blobs(0)
    kwargs = dict(n_components=3, n_mix=2, n_iter=2, tol=0, random_state=5)
    ref = hmmlearn_hmm.GMMHMM(**kwargs).fit(X, LENGTHS)
    ours = hmm.GMMHMM(**kwargs).fit(X, LENGTHS)
    np.testing.assert_allclose(ours.means_, ref.means_, rtol=1e-8)
    np.testing.assert_allclose(ours.score(X, LENGTHS), ref.score(X, LENGTHS), rtol=1e-8)


def _openmp_threads():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "openmp"]


@pytest.mark.parametrize("name", ["GaussianHMM", "GMMHMM"])
def test_initialization_restores_openmp_threads(name):
    """The k-means of a small fit runs on one OpenMP thread, and the
    process's OpenMP thread counts are as before once the fit returns."""
    from sklearn.cluster import KMeans  # loads scikit-learn's OpenMP runtime
    KMeans(2, n_init=1).fit(np.arange(8.0).reshape(4, 2))
    before = _openmp_threads()
    assert before, "scikit-learn's OpenMP runtime should be loaded"
    model = getattr(hmm, name)(3, n_iter=1, random_state=0)
    model.fit(_blobs(1), LENGTHS)
    assert _openmp_threads() == before
    assert np.isfinite(model.means_).all()
