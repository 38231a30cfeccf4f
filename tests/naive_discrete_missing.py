"""Slow, obviously correct NumPy EM references for the discrete mixtures with
missing entries (NaN), row by row.

A missing entry drops out of its row's product: a row's log-density under
component k is log w_k plus the scipy.stats log-pmf of its observed entries
only. A row with no observed entry carries no evidence and is left out of the
fit. Each feature's M-step divides by the responsibility mass of the rows
that observe it, with the same smoothing constraint and relative floor as
fastem's M-step.
"""
import numpy as np
from scipy.special import logsumexp
from scipy.stats import binom, poisson

from naive_discrete import project_simplex_floor

_EPS = 10 * np.finfo(np.float64).eps


def _row_logpmf(x, logpmf):
    """Sum of ``logpmf(x_d, d)`` over the observed entries of row ``x``."""
    return sum(logpmf(v, d) for d, v in enumerate(x) if not np.isnan(v))


def log_joint_binomial(X, weights, probs, n_trials):
    """log(w_k prod_{d observed} Bin(x_d | n, p_kd)), shape (N, K), one row at a time."""
    out = np.empty((X.shape[0], len(weights)))
    for i, x in enumerate(np.asarray(X, dtype=np.float64)):
        for k in range(len(weights)):
            out[i, k] = np.log(weights[k]) + _row_logpmf(
                x, lambda v, d: binom.logpmf(v, n_trials, probs[k, d]))
    return out


def log_joint_poisson(X, weights, rates):
    out = np.empty((X.shape[0], len(weights)))
    for i, x in enumerate(np.asarray(X, dtype=np.float64)):
        for k in range(len(weights)):
            out[i, k] = np.log(weights[k]) + _row_logpmf(
                x, lambda v, d: poisson.logpmf(v, rates[k, d]))
    return out


def log_joint_categorical(X, weights, probs):
    """``probs`` is a list of (K, C_d) arrays; X holds codes, NaN where missing."""
    out = np.empty((X.shape[0], len(weights)))
    for i, x in enumerate(np.asarray(X, dtype=np.float64)):
        for k in range(len(weights)):
            out[i, k] = np.log(weights[k]) + _row_logpmf(
                x, lambda v, d: np.log(probs[d][k, int(v)]))
    return out


def e_step(log_joint, X, w):
    """Weighted responsibilities (0 for rows with nothing observed), ``sum w log p(x_o)``
    over the rows with something observed, per-row log p(x_o), unweighted
    responsibilities (the weights for a row with nothing observed)."""
    row_ll = logsumexp(log_joint, axis=1)
    resp = np.exp(log_joint - row_ll[:, None])
    seen = (~np.isnan(np.asarray(X, dtype=np.float64))).any(axis=1)
    wr = resp * (w * seen)[:, None]
    return wr, float((w * seen) @ row_ll), row_ll, resp


def _weights(r, weights, learn_weights):
    nk = r.sum(axis=0)
    return nk / nk.sum() if learn_weights else weights


def _observed(X):
    X = np.asarray(X, dtype=np.float64)
    obs = ~np.isnan(X)
    return np.where(obs, X, 0.0), obs.astype(np.float64)


def em_binomial(X, w, weights, probs, n_trials, n_iter, smoothing=1e-10,
                learn_weights=True):
    """``n_iter`` EM steps; returns (weights, probs, sum w log p(x_o) per step)."""
    X0, M = _observed(X)
    lls = []
    for _ in range(n_iter):
        r, ll, _, _ = e_step(log_joint_binomial(X, weights, probs, n_trials), X, w)
        lls.append(ll)
        mass = r.T @ M  # (K, D): responsibility mass of the rows observing d
        probs = np.clip(r.T @ X0 / (n_trials * (mass + _EPS * r.sum())), smoothing,
                        1 - smoothing)
        weights = _weights(r, weights, learn_weights)
    return weights, probs, lls


def em_poisson(X, w, weights, rates, n_iter, smoothing=1e-10, learn_weights=True):
    X0, M = _observed(X)
    lls = []
    for _ in range(n_iter):
        r, ll, _, _ = e_step(log_joint_poisson(X, weights, rates), X, w)
        lls.append(ll)
        mass = r.T @ M
        rates = np.maximum(r.T @ X0 / (mass + _EPS * r.sum()), smoothing)
        weights = _weights(r, weights, learn_weights)
    return weights, rates, lls


def em_categorical(X, w, weights, probs, n_iter, smoothing=1e-10, learn_weights=True):
    X = np.asarray(X, dtype=np.float64)
    lls = []
    for _ in range(n_iter):
        r, ll, _, _ = e_step(log_joint_categorical(X, weights, probs), X, w)
        lls.append(ll)
        new = []
        for d, p in enumerate(probs):
            counts = np.zeros(p.shape)
            for c in range(p.shape[1]):
                counts[:, c] = r[X[:, d] == c].sum(axis=0)  # NaN equals no code
            new.append(np.array([project_simplex_floor(ck, smoothing) for ck in counts]))
        probs = new
        weights = _weights(r, weights, learn_weights)
    return weights, probs, lls
