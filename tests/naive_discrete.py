"""Slow, obviously correct NumPy EM references for the discrete mixtures.

Log-densities come from scipy.stats (an independent implementation of the
normalizing constants); E-step and M-step are written out row by row in
array form, with the same smoothing constraint as fastem's M-step.
"""
import numpy as np
from scipy.special import logsumexp
from scipy.stats import binom, poisson

_EPS = 10 * np.finfo(np.float64).eps


def random_start(family, n_features, n_components, categories, seed=1):
    """Random initial parameters ``(weights, family parameter)`` of a
    discrete mixture: probabilities, rates, or one (n_components, c) table
    per feature of ``categories`` (categorical)."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(n_components) * 5)
    shape = (n_components, n_features)
    if family in ("bernoulli", "binomial"):
        return weights, rng.uniform(0.2, 0.8, shape)
    if family == "poisson":
        return weights, rng.uniform(1.0, 8.0, shape)
    return weights, [rng.dirichlet(np.ones(c) * 3, size=n_components) for c in categories]


def log_joint_binomial(X, weights, probs, n_trials):
    """log(w_k Bin(x | n, p_k)), shape (N, K)."""
    X = np.asarray(X, dtype=np.float64)
    out = np.empty((X.shape[0], len(weights)))
    for k in range(len(weights)):
        out[:, k] = np.log(weights[k]) + binom.logpmf(X, n_trials, probs[k]).sum(axis=1)
    return out


def log_joint_poisson(X, weights, rates):
    X = np.asarray(X, dtype=np.float64)
    out = np.empty((X.shape[0], len(weights)))
    for k in range(len(weights)):
        out[:, k] = np.log(weights[k]) + poisson.logpmf(X, rates[k]).sum(axis=1)
    return out


def log_joint_categorical(X, weights, probs):
    """``probs`` is a list of (K, C_d) arrays."""
    X = np.asarray(X).astype(np.int64)
    out = np.empty((X.shape[0], len(weights)))
    for k in range(len(weights)):
        out[:, k] = np.log(weights[k])
        for d, p in enumerate(probs):
            out[:, k] += np.log(p[k][X[:, d]])
    return out


def e_step(log_joint, w):
    """Weighted responsibilities and sum w log p(x)."""
    row_ll = logsumexp(log_joint, axis=1)
    resp = np.exp(log_joint - row_ll[:, None])
    return resp * w[:, None], float(w @ row_ll), row_ll, resp


def _weights(r, weights, learn_weights):
    nk = r.sum(axis=0)
    return nk / nk.sum() if learn_weights else weights


def project_simplex_floor(c, eps):
    """argmax sum_j c_j log p_j over p >= eps, sum p = 1 (one vector)."""
    c = np.asarray(c, dtype=np.float64)
    clipped = np.zeros(len(c), dtype=bool)
    while True:
        free = ~clipped
        mass = 1.0 - eps * clipped.sum()
        total = c[free].sum()
        p = np.full(len(c), eps)
        p[free] = c[free] * mass / total if total > 0 else mass / free.sum()
        new = (p < eps) & free
        if not new.any():
            return p
        clipped |= new


def em_binomial(X, w, weights, probs, n_trials, n_iter, smoothing=1e-10,
                learn_weights=True):
    """``n_iter`` EM steps; returns (weights, probs, logliks per step)."""
    X = np.asarray(X, dtype=np.float64)
    lls = []
    for _ in range(n_iter):
        r, ll, _, _ = e_step(log_joint_binomial(X, weights, probs, n_trials), w)
        lls.append(ll)
        nk = r.sum(axis=0)
        probs = np.clip(r.T @ X / (n_trials * (nk[:, None] + _EPS * nk.sum())), smoothing,
                        1 - smoothing)
        weights = _weights(r, weights, learn_weights)
    return weights, probs, lls


def em_poisson(X, w, weights, rates, n_iter, smoothing=1e-10, learn_weights=True):
    X = np.asarray(X, dtype=np.float64)
    lls = []
    for _ in range(n_iter):
        r, ll, _, _ = e_step(log_joint_poisson(X, weights, rates), w)
        lls.append(ll)
        nk = r.sum(axis=0)
        rates = np.maximum(r.T @ X / (nk[:, None] + _EPS * nk.sum()), smoothing)
        weights = _weights(r, weights, learn_weights)
    return weights, rates, lls


def em_categorical(X, w, weights, probs, n_iter, smoothing=1e-10, learn_weights=True):
    X = np.asarray(X).astype(np.int64)
    lls = []
    for _ in range(n_iter):
        r, ll, _, _ = e_step(log_joint_categorical(X, weights, probs), w)
        lls.append(ll)
        new = []
        for d, p in enumerate(probs):
            counts = np.zeros(p.shape)
            for c in range(p.shape[1]):
                counts[:, c] = r[X[:, d] == c].sum(axis=0)
            new.append(np.array([project_simplex_floor(ck, smoothing) for ck in counts]))
        probs = new
        weights = _weights(r, weights, learn_weights)
    return weights, probs, lls
