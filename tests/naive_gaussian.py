"""Slow, obviously correct NumPy references for the Gaussian statistics pass."""
import numpy as np
from scipy.special import logsumexp


def log_densities(X, weights, means, covariances, covariance_type):
    """log(w_k N(x | mu_k, Sigma_k)) for every row and component, shape (N, K)."""
    X = np.asarray(X, dtype=np.float64)
    N, D = X.shape
    K = means.shape[0]
    out = np.empty((N, K))
    for k in range(K):
        if covariance_type == "full":
            cov = covariances[k]
        elif covariance_type == "tied":
            cov = covariances
        elif covariance_type == "diag":
            cov = np.diag(covariances[k])
        else:
            cov = np.eye(D) * covariances[k]
        diff = X - means[k]
        maha = np.einsum("nd,de,ne->n", diff, np.linalg.inv(cov), diff)
        _, logdet = np.linalg.slogdet(cov)
        out[:, k] = np.log(weights[k]) - 0.5 * (D * np.log(2 * np.pi) + logdet + maha)
    return out


def statistics(X, w, weights, means, covariances, covariance_type, shift=None):
    """Weighted statistics (responsibilities at the given parameters) around
    ``shift`` (default: ``means``), and sum of w * log p(x)."""
    X = np.asarray(X, dtype=np.float64)
    lp = log_densities(X, weights, means, covariances, covariance_type)
    row_ll = logsumexp(lp, axis=1)
    resp = np.exp(lp - row_ll[:, None])
    r = resp * w[:, None]
    nk = r.sum(axis=0)
    K = means.shape[0]
    means = means if shift is None else shift
    sx = np.stack([r[:, k] @ (X - means[k]) for k in range(K)])
    if covariance_type in ("full", "tied"):
        sxx = np.stack([(X - means[k]).T @ ((X - means[k]) * r[:, [k]]) for k in range(K)])
        if covariance_type == "tied":  # one shared factor: summed over components
            sxx = sxx.sum(axis=0, keepdims=True)
    else:
        sxx = np.stack([r[:, k] @ (X - means[k]) ** 2 for k in range(K)])
    return (nk, sx, sxx), float(w @ row_ll), row_ll, resp
