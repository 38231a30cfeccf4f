"""Slow, obviously correct NumPy references for Gaussian mixtures on rows with NaN.

Row by row: the E-step scores a row by the density of its observed
coordinates; the M-step uses each row's conditional expectations
``E[x_m | x_o, k]`` and covariances ``Cov[x_m | x_o, k]`` (Ghahramani &
Jordan, 1994). Rows with no observed value are skipped (they contribute
nothing). Covariances are handled as full matrices for every type.
"""
import numpy as np
from scipy.special import logsumexp


def full_covariances(covariances, covariance_type, K, D):
    """(K, D, D) matrices from scikit-learn-shaped covariances."""
    c = np.asarray(covariances, np.float64)
    if covariance_type == "full":
        return c.copy()
    if covariance_type == "tied":
        return np.repeat(c[None], K, axis=0)
    if covariance_type == "diag":
        return np.stack([np.diag(v) for v in c])
    return np.stack([np.eye(D) * v for v in c])


def _row_terms(x, weights, means, covs):
    """Log-joint (K,) of a row's observed part, and per component its
    completed row (K, D) and conditional covariance padded to (K, D, D)."""
    K, D = means.shape
    o = ~np.isnan(x)
    m = ~o
    logp = np.empty(K)
    filled = np.empty((K, D))
    cond = np.zeros((K, D, D))
    for k in range(K):
        S = covs[k]
        Soo = S[np.ix_(o, o)]
        diff = x[o] - means[k, o]
        _, logdet = np.linalg.slogdet(Soo)
        logp[k] = np.log(weights[k]) - 0.5 * (o.sum() * np.log(2 * np.pi) + logdet
                                             + diff @ np.linalg.solve(Soo, diff))
        filled[k] = x
        if m.any():
            B = S[np.ix_(m, o)] @ np.linalg.inv(Soo)
            filled[k, m] = means[k, m] + B @ diff
            cond[k][np.ix_(m, m)] = S[np.ix_(m, m)] - B @ S[np.ix_(o, m)]
    return logp, filled, cond


def e_step(X, w, weights, means, covs):
    """Expected statistics around the current means ``c_k``: ``(nk, sum r
    (x_hat - c_k), sum r ((x_hat - c_k)(x_hat - c_k)^T + C))`` and
    ``sum w log p(x_o)`` (centered, so data far from the origin lose nothing)."""
    K, D = means.shape
    nk = np.zeros(K)
    sx = np.zeros((K, D))
    sxx = np.zeros((K, D, D))
    loglik = 0.0
    for x, wi in zip(np.asarray(X, np.float64), w):
        if np.isnan(x).all():
            continue
        logp, filled, cond = _row_terms(x, weights, means, covs)
        ll = logsumexp(logp)
        r = wi * np.exp(logp - ll)
        loglik += wi * ll
        nk += r
        d = filled - means
        sx += r[:, None] * d
        sxx += r[:, None, None] * (d[:, :, None] * d[:, None, :] + cond)
    return nk, sx, sxx, loglik


def m_step(nk, sx, sxx, shift, covariance_type, reg_covar):
    """Weights, means and scikit-learn-shaped covariances from statistics
    around ``shift``."""
    K, D = sx.shape
    delta = sx / nk[:, None]
    means = shift + delta
    scatter = sxx - nk[:, None, None] * delta[:, :, None] * delta[:, None, :]
    if covariance_type == "full":
        cov = scatter / nk[:, None, None] + reg_covar * np.eye(D)
    elif covariance_type == "tied":
        cov = scatter.sum(axis=0) / nk.sum() + reg_covar * np.eye(D)
    else:
        var = np.stack([np.diag(s) for s in scatter]) / nk[:, None] + reg_covar
        cov = var if covariance_type == "diag" else var.mean(axis=1)
    return nk / nk.sum(), means, cov


def fit(X, w, weights, means, covariances, covariance_type, reg_covar, n_iter):
    """``n_iter`` EM iterations from the given parameters.

    Returns
    -------
    weights, means, covariances, lower_bounds (the mean log-likelihood at
    the parameters each iteration starts from, as ``lower_bounds_``)
    """
    K, D = np.asarray(means).shape
    lower_bounds = []
    for _ in range(n_iter):
        covs = full_covariances(covariances, covariance_type, K, D)
        nk, sx, sxx, loglik = e_step(X, w, weights, means, covs)
        lower_bounds.append(loglik / np.sum(w))
        weights, means, covariances = m_step(nk, sx, sxx, means, covariance_type,
                                             reg_covar)
    return weights, means, covariances, lower_bounds


def impute(X, weights, means, covs):
    """Each NaN replaced by ``sum_k p(k | x_o) E[x_m | x_o, k]``."""
    out = np.array(X, np.float64)
    for i, x in enumerate(out):
        if not np.isnan(x).any():
            continue
        if np.isnan(x).all():
            out[i] = weights @ means
            continue
        logp, filled, _ = _row_terms(x, weights, means, covs)
        r = np.exp(logp - logsumexp(logp))
        out[i] = r @ filled
    return out
