"""The Gaussian family's passes over rows with NaN: marginal E-step, expected statistics.

Called by :class:`fastem.families.gaussian.GaussianFamily` when a data source
hands it ``missing=`` (a :class:`fastem._missing.MissingRows`): the kernels
of :mod:`fastem.kernels.gaussian_missing` give statistics in the layout of
the complete-data pass, so the M-step, chunking, Dask and ``partial_fit``
are unchanged. A row with no observed value contributes nothing to a fit;
its log-likelihood is 0 and its responsibilities are the mixing weights.
"""
import numpy as np

from .._threads import lane_pass
from ..kernels import gaussian_missing as kernels

_LOG_2PI = np.log(2 * np.pi)


def _diag_inputs(family, params, dtype):
    """Per-iteration constants of the diagonal NaN pass
    (:func:`fastem.kernels.gaussian_missing.diag_missing_lanes`)."""
    from .gaussian import _is_far
    means = np.ascontiguousarray(params["means"])
    K, D = means.shape
    pc = params["precisions_cholesky"]
    prec = pc ** 2 if family.covariance_type == "diag" else \
        np.repeat((pc ** 2)[:, None], D, axis=1)
    center = (params["weights"] @ means).astype(dtype)
    offset = means - center.astype(np.float64)
    W = np.ascontiguousarray(np.vstack([
        (prec * offset).T, -0.5 * prec.T,
        0.5 * (np.log(prec) - _LOG_2PI - prec * offset ** 2).T]), dtype=dtype)
    exact = _is_far((prec * offset ** 2).sum(axis=1))
    return (center, W, family._log_weights(params), exact, means,
            np.ascontiguousarray(prec), np.ascontiguousarray(1.0 / prec))


def _patterns(rows):
    """``(order, starts, perms, n_obs)`` of the rows grouped by pattern:
    each pattern's observed features first, then its missing ones."""
    order, starts, observed = rows.groups()
    perms = np.ascontiguousarray(np.argsort(~observed, axis=1, kind="stable"),
                                 dtype=np.int64)
    return order, starts, perms, observed.sum(axis=1).astype(np.int64)


def run(family, X, w, params, rows, want_stats, want_outputs=False, want_resp=False,
        want_fill=False, serial=False):
    """One pass of the NaN-aware kernel over ``X``.

    Parameters
    ----------
    family : GaussianFamily
    X : ndarray of shape (N, D) — NaN marks a missing entry
    w : ndarray of shape (N,) — sample weights (used when ``want_stats``)
    params : dict of the family's parameters
    rows : :class:`fastem._missing.MissingRows` of ``X``
    want_stats : bool
        Accumulate statistics (fit), else compute per-row outputs.
    want_outputs, want_resp, want_fill : bool
        Per-row log-likelihoods and labels; responsibilities; conditional
        means of the missing entries (full/tied only; diag mixes the means).

    Returns
    -------
    stats, loglik, n_bad, (row_logp, labels, resp or None, fill or None)
    """
    K, D = params["means"].shape
    N = X.shape[0]
    unobserved = rows.unobserved_rows()
    if want_stats and unobserved.size:  # such rows contribute nothing
        w = w.copy()
        w[unobserved] = 0.0
    row_logp = np.empty(N if want_outputs else 0)
    labels = np.empty(N if want_outputs else 0, dtype=np.int64)
    resp = np.empty((N if want_resp else 0, K))
    full = family.covariance_type in ("full", "tied")
    fill = np.zeros((N if want_fill and full else 0, D))
    if full:
        order, starts, perms, n_obs = _patterns(rows)
        cov = params["covariances"]
        cov = np.ascontiguousarray(cov[None] if family.covariance_type == "tied" else cov)
        Kc = cov.shape[0]
        stats, (loglik, _), n_bad = lane_pass(
            kernels.full_missing_lanes,
            (X, np.ascontiguousarray(w[order]) if want_stats else w, order, starts,
             perms, n_obs, np.ascontiguousarray(params["means"]), cov,
             family._log_weights(params)),
            (want_stats, row_logp, labels, resp, fill),
            ((K,), (K, D), (Kc, D, D)), N, family.block_rows, family.n_jobs, serial)
        # outputs were written by sorted position: back to row order
        for out in (row_logp, labels, resp, fill):
            if out.shape[0]:
                out[order] = out.copy()
    else:
        stats, (loglik, _), n_bad = lane_pass(
            kernels.diag_missing_lanes, (X, w, *_diag_inputs(family, params, X.dtype)),
            (want_stats, row_logp, labels, resp), ((K,), (K, D), (K, D)), N,
            family.block_rows, family.n_jobs, serial)
    if unobserved.size:  # the prior: log-likelihood 0, weights as responsibilities
        weights = params["weights"]
        if want_outputs:
            row_logp[unobserved] = 0.0
            labels[unobserved] = int(np.argmax(weights))
        if want_resp:
            resp[unobserved] = weights
        if fill.shape[0]:
            fill[unobserved] = weights @ params["means"]
    return stats, loglik, n_bad, (row_logp, labels, resp if want_resp else None,
                                  fill if fill.shape[0] else None)


def impute(family, X, params, rows, serial=False):
    """``X`` with each NaN replaced by ``sum_k p(k | x_o) E[x_m | x_o, k]`` (a new array).

    Parameters
    ----------
    X : ndarray of shape (N, D), float
    rows : :class:`fastem._missing.MissingRows` of ``X``

    Returns
    -------
    ndarray of shape (N, D), X's dtype
    """
    missing = np.isnan(X)
    out = np.array(X, copy=True)
    if not missing.any():
        return out
    full = family.covariance_type in ("full", "tied")
    _, _, _, (_, _, resp, fill) = run(family, X, np.ones(0), params, rows, False,
                                      want_resp=not full, want_fill=full, serial=serial)
    if not full:  # diag/spherical: E[x_m | x_o, k] is the mean itself
        fill = resp @ params["means"]
    out[missing] = fill[missing]
    return out


def fill_column_means(X, w):
    """``X`` with each NaN replaced by its column's weighted observed mean (a copy;
    ``X`` itself when it has no NaN). Only for initialization, which needs
    complete rows: EM itself never fills values in."""
    missing = np.isnan(X)
    if not missing.any():
        return X
    observed = ~missing
    ww = observed * np.asarray(w, np.float64)[:, None]
    means = (np.where(observed, X, 0.0) * ww).sum(axis=0) / np.maximum(ww.sum(axis=0),
                                                                        1e-300)
    return np.where(missing, means.astype(X.dtype), X)
