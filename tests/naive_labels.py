"""Slow, obviously correct NumPy reference for semi-supervised EM.

Row by row: an unlabelled row (``y = -1``) gets the posterior
responsibilities and adds ``log sum_k pi_k p(x | k)``; a row labelled ``k``
gets responsibility 1 on ``k`` and adds ``log pi_k + log p(x | k)``. The
M-steps are written out from the weighted responsibilities; log-densities
come from ``naive_gaussian`` and ``naive_discrete`` (scipy.stats).
"""
import numpy as np
from scipy.special import logsumexp

import naive_discrete
import naive_gaussian

_EPS = 10 * np.finfo(np.float64).eps  # fastem's relative floor on nk


def e_step(log_joint, w, y):
    """Weighted responsibilities (N, K), labelled rows one-hot, and ``sum w log p``.

    ``log_joint[i, k] = log pi_k + log p(x_i | k)``.
    """
    N, K = log_joint.shape
    resp = np.zeros((N, K))
    row_ll = np.empty(N)
    for i in range(N):
        if y[i] >= 0:
            resp[i, y[i]] = 1.0
            row_ll[i] = log_joint[i, y[i]]
        else:
            row_ll[i] = logsumexp(log_joint[i])
            resp[i] = np.exp(log_joint[i] - row_ll[i])
    return resp * w[:, None], float(w @ row_ll)


def gaussian_m_step(X, r, covariance_type, reg_covar):
    """Weights, means and covariances (``reg_covar`` on the diagonal) of weighted ``r``."""
    nk = r.sum(axis=0)
    K, D = r.shape[1], X.shape[1]
    means = r.T @ X / nk[:, None]
    covs = np.stack([((X - means[k]).T * r[:, k]) @ (X - means[k]) / nk[k]
                     for k in range(K)])
    if covariance_type == "full":
        cov = covs + reg_covar * np.eye(D)
    elif covariance_type == "tied":
        cov = np.einsum("k,kde->de", nk, covs) / nk.sum() + reg_covar * np.eye(D)
    else:
        var = np.diagonal(covs, axis1=1, axis2=2) + reg_covar
        cov = var if covariance_type == "diag" else var.mean(axis=1)
    return nk / nk.sum(), means, cov


def gaussian_em(X, w, y, weights, means, covariances, covariance_type, reg_covar,
                n_iter):
    """``n_iter`` semi-supervised EM steps; returns (weights, means, cov, logliks)."""
    X = np.asarray(X, dtype=np.float64)
    lls = []
    for _ in range(n_iter):
        r, ll = e_step(naive_gaussian.log_densities(X, weights, means, covariances,
                                                    covariance_type), w, y)
        lls.append(ll)
        weights, means, covariances = gaussian_m_step(X, r, covariance_type, reg_covar)
    return weights, means, covariances, lls


def discrete_em(kind, X, w, y, weights, param, n_iter, n_trials=1, smoothing=1e-10):
    """Semi-supervised EM for 'binomial' / 'poisson' (param (K, D)) or
    'categorical' (param: list of (K, C_d)); returns (weights, param, logliks)."""
    X = np.asarray(X, dtype=np.float64)
    lls = []
    for _ in range(n_iter):
        if kind == "binomial":
            lj = naive_discrete.log_joint_binomial(X, weights, param, n_trials)
        elif kind == "poisson":
            lj = naive_discrete.log_joint_poisson(X, weights, param)
        else:
            lj = naive_discrete.log_joint_categorical(X, weights, param)
        r, ll = e_step(lj, w, y)
        lls.append(ll)
        nk = r.sum(axis=0)
        floored = nk[:, None] + _EPS * nk.sum()
        if kind == "binomial":
            param = np.clip(r.T @ X / (n_trials * floored), smoothing, 1 - smoothing)
        elif kind == "poisson":
            param = np.maximum(r.T @ X / floored, smoothing)
        else:
            codes = X.astype(np.int64)
            param = [np.array([naive_discrete.project_simplex_floor(
                [r[codes[:, d] == c, k].sum() for c in range(p.shape[1])], smoothing)
                for k in range(p.shape[0])]) for d, p in enumerate(param)]
        weights = nk / nk.sum()
    return weights, param, lls
