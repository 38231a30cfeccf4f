"""Slow, obviously correct NumPy Lloyd's algorithm, the reference for the kernels."""
import numpy as np


def naive_lloyd(X, centers, n_iter, sample_weight=None):
    """Run ``n_iter`` plain Lloyd iterations from ``centers``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    centers : ndarray of shape (n_clusters, n_features)
    n_iter : int
    sample_weight : ndarray of shape (n_samples,) or None

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), float64
    labels : ndarray of shape (n_samples,), assignment to the returned centers
    inertia : float
    """
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
    centers = np.array(centers, dtype=np.float64)
    for _ in range(n_iter):
        labels = assign(X, centers)
        for k in range(len(centers)):
            members = labels == k
            if w[members].sum() > 0:  # the tests avoid empty clusters
                centers[k] = (w[members, None] * X[members]).sum(0) / w[members].sum()
    labels = assign(X, centers)
    inertia = float((w * ((X - centers[labels]) ** 2).sum(1)).sum())
    return centers, labels, inertia


def assign(X, centers):
    """Index of the closest center (squared Euclidean distance) for each row."""
    d = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
    return d.argmin(1)
