"""Slow, obviously correct NumPy reference for the mixture of factor analyzers.

Each component's covariance ``C_k = L_k L_k^T + diag(psi_k)`` is formed and
inverted densely (no Woodbury), responsibilities are an (N, K) array, and the
M-step is Ghahramani & Hinton's (1996) in raw (unshifted) coordinates.
"""
import numpy as np
from scipy.special import logsumexp


def log_densities(X, weights, means, loadings, psi):
    """(N, K) ``log pi_k + log N(x; mu_k, C_k)`` with dense covariances."""
    N, D = X.shape
    out = np.empty((N, len(weights)))
    for k in range(len(weights)):
        C = loadings[k] @ loadings[k].T + np.diag(psi[k])
        diff = X - means[k]
        sign, logdet = np.linalg.slogdet(C)
        maha = np.einsum("nd,nd->n", diff, np.linalg.solve(C, diff.T).T)
        out[:, k] = np.log(weights[k]) - 0.5 * (D * np.log(2 * np.pi) + logdet + maha)
    return out


def em_step(X, w, weights, means, loadings, psi, shared=False, isotropic=False,
            floor=0.0, y=None):
    """One EM iteration; returns the new parameters and the mean log-likelihood
    of the old ones. ``y``: partly known components (-1: unknown), whose
    rows' responsibilities are fixed (see ``naive_labels``)."""
    N, D = X.shape
    K, _, q = loadings.shape
    logp = log_densities(X, weights, means, loadings, psi)
    if y is None:
        ll = logsumexp(logp, axis=1)
        r = np.exp(logp - ll[:, None]) * w[:, None]
        total = float(w @ ll)
    else:
        import naive_labels
        r, total = naive_labels.e_step(logp, w, y)
    new_means, new_loadings, resid = np.empty((K, D)), np.empty((K, D, q)), np.empty((K, D))
    nk = r.sum(axis=0)
    for k in range(K):
        C = loadings[k] @ loadings[k].T + np.diag(psi[k])
        beta = np.linalg.solve(C, loadings[k]).T  # (q, D)
        ez = (X - means[k]) @ beta.T  # (N, q)
        ezz_post = np.eye(q) - beta @ loadings[k]
        za = np.hstack([ez, np.ones((N, 1))])
        sxz = (X * r[:, k, None]).T @ za  # (D, q + 1), raw x
        szz = (za * r[:, k, None]).T @ za
        szz[:q, :q] += nk[k] * ezz_post
        aug = np.linalg.solve(szz, sxz.T).T
        new_loadings[k], new_means[k] = aug[:, :q], aug[:, q]
        resid[k] = r[:, k] @ (X * X) - np.einsum("dj,dj->d", aug, sxz)
    if shared:
        psi_new = np.repeat((resid.sum(0) / nk.sum())[None], K, axis=0)
    else:
        psi_new = resid / nk[:, None]
    if isotropic:
        psi_new = np.repeat(psi_new.mean(axis=1, keepdims=True), D, axis=1)
    psi_new = np.maximum(psi_new, floor)
    return (nk / nk.sum(), new_means, new_loadings, psi_new), total / float(w.sum())
