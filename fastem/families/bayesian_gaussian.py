"""Bayesian Gaussian family: variational Bayes (VB) on the Gaussian pass.

The VB E-step is a Gaussian statistics pass at *effective* parameters: the
posterior means ``m_k``, the precisions ``nu_k W_k`` (held, as in
scikit-learn, through the normalized covariances ``covariances = W_k^-1 /
nu_k``) and a per-component constant added to the log-weight,

    E[log pi_k] - D/2 log nu_k + 1/2 (D log 2 + sum_d digamma((nu_k - d) / 2))
    - D / (2 beta_k),

which is scikit-learn's ``_estimate_log_prob`` plus ``_estimate_log_weights``.
So the fused pass of :class:`~fastem.families.gaussian.GaussianFamily` runs
unchanged, fed these constants (``_log_weights``).

The ELBO needs ``sum_n w_n sum_k r_nk log r_nk``. It follows from what the
pass already returns, with no N x K array and no change to the kernels:
``log r_nk = log p_nk - log p_n`` and ``sum_k r_nk = 1``, so

    sum w r log r = sum_k nk_k c_k - 1/2 sum_k tr(P_k S_k) - sum_n w_n log p_n

with ``c_k`` the component constant (log-weight + Gaussian normalizer), ``P_k``
the precision and ``S_k = sum w r (x - m_k)(x - m_k)^T`` the second moments
the pass accumulates around ``m_k`` anyway. It is appended to the statistics
(additive like them), so chunked and Dask passes sum it too.

Parameters (float64): ``weights``, ``means``, ``covariances``,
``precisions_cholesky`` (shaped as scikit-learn's), plus
``weight_concentration`` ((2, K) for the Dirichlet process: its two Beta
parameters; (K,) for a Dirichlet distribution), ``mean_precision`` (K,),
``degrees_of_freedom`` ((K,), or (1,) for tied) and ``log_weights`` (K,), the
effective constants above.
"""
import numpy as np
from scipy.special import betaln, digamma, gammaln

from .._driver import ComponentCollapse
from .gaussian import (GaussianFamily, _checked_precision_cholesky,
                       precision_cholesky_from_precisions, precisions_from_cholesky)

PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
_EPS = 10 * np.finfo(np.float64).eps  # scikit-learn's floor added to nk


class BayesianGaussianFamily(GaussianFamily):
    """Variational Bayesian Gaussian mixture family.

    Parameters
    ----------
    n_components, covariance_type, reg_covar, init_params, n_jobs
        As :class:`~fastem.families.gaussian.GaussianFamily`.
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}
    weight_concentration_prior, mean_precision_prior : float or None
        Validated (positive); None: ``1 / n_components`` and 1.
    mean_prior : (D,) ndarray or None
        None: the (weighted) mean of X, set by :meth:`prepare`.
    degrees_of_freedom_prior : float or None
        None: D.
    covariance_prior : ndarray, float or None
        Shaped by covariance type; None: the covariance of X (ddof=1,
        weights counting as copies of rows), set by :meth:`prepare`.
    weights_init, means_init, precisions_init : ndarray or None
        A fixed start (fastem's addition, all three together): the initial
        responsibilities are the posteriors under this Gaussian mixture.
    """

    #: its pass (at effective parameters) has no NaN variant: the estimator refuses NaN
    handles_missing = False

    def __init__(self, n_components, covariance_type, reg_covar, init_params,
                 weight_concentration_prior_type, weight_concentration_prior,
                 mean_precision_prior, mean_prior, degrees_of_freedom_prior,
                 covariance_prior, weights_init=None, means_init=None,
                 precisions_init=None, n_jobs=None):
        super().__init__(n_components, covariance_type, reg_covar, init_params,
                         weights_init=weights_init, means_init=means_init,
                         precisions_init=precisions_init, n_jobs=n_jobs)
        self.prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.total_weight = None

    # ------------------------------------------------------------- priors
    def prepare(self, source):
        """Fill the data-dependent default priors from every row of ``source``.

        ``mean_prior`` and ``covariance_prior`` default to the weighted mean
        and covariance (ddof=1) of X: one single-component Gaussian pass
        (same compiled kernel) around the first row, exact far from the origin.
        """
        self.total_weight = source.total_weight
        if self.mean_prior is not None and self.covariance_prior is not None:
            return
        full = self.covariance_type in ("full", "tied")
        row = np.asarray(source.X[:1], dtype=np.float64)
        D = row.shape[1]
        moments = GaussianFamily(1, "full" if full else "diag", n_jobs=self.n_jobs)
        params = {"weights": np.ones(1), "means": row,
                  "precisions_cholesky": np.eye(D)[None] if full else np.ones((1, D))}
        (nk, sx, sxx), _ = source.statistics(moments, params)
        n = nk[0]
        if self.mean_prior is None:
            self.mean_prior = row[0] + sx[0] / n
        if self.covariance_prior is None:
            if not n > 1:
                raise ValueError(
                    f"sample_weight sums to {n:g}: the default covariance_prior, the "
                    "covariance of X with ddof=1, needs a total weight above 1. Pass "
                    "covariance_prior, or weights that count rows.")
            if full:
                cov = (sxx[0] - np.outer(sx[0], sx[0]) / n) / (n - 1)
                self.covariance_prior = 0.5 * (cov + cov.T)
            else:
                var = (sxx[0] - sx[0] ** 2 / n) / (n - 1)
                self.covariance_prior = var if self.covariance_type == "diag" \
                    else float(var.mean())

    @property
    def weight_concentration_prior_(self):
        a = self.weight_concentration_prior
        return 1.0 / self.n_components if a is None else a

    @property
    def mean_precision_prior_(self):
        b = self.mean_precision_prior
        return 1.0 if b is None else b

    def degrees_of_freedom_prior_(self, D):
        nu = self.degrees_of_freedom_prior
        return float(D) if nu is None else nu

    # --------------------------------------------------------------- pass
    def _log_weights(self, params):
        return params["log_weights"]

    def statistics(self, X, sample_weight, params, serial=False):
        """Gaussian statistics at the effective parameters, plus ``sum w r log r``.

        Returns
        -------
        stats : (nk (K,), sx (K, D), sxx, wrlogr (1,))
        loglik : float — ``sum w log p(x)`` under the effective densities
        """
        (nk, sx, sxx), loglik = super().statistics(X, sample_weight, params, serial)
        log_norm = self._kernel_args(params, X.dtype)[-1]
        precisions = _precisions(params["precisions_cholesky"], self.covariance_type)
        if self.covariance_type == "spherical":
            quadratic = precisions * sxx.sum(axis=1)
        else:
            quadratic = (precisions * sxx).reshape(sxx.shape[0], -1).sum(axis=1)
        wrlogr = nk @ log_norm - 0.5 * quadratic.sum() - loglik
        return (nk, sx, sxx, np.array([wrlogr])), loglik

    # ------------------------------------------------------------- M-step
    def maximize(self, stats, params):
        """VB M-step: posteriors of the weights, means and precisions."""
        return self._posteriors(stats[0], stats[1], stats[2], params["means"])

    def _posteriors(self, nk, sx, sxx, shift):
        """scikit-learn's ``_m_step`` from statistics around ``shift``.

        ``nk`` gets scikit-learn's floor ``10 eps``; ``xk`` and ``sk`` (with
        ``reg_covar``) are its ``_estimate_gaussian_parameters``.
        """
        K, D = sx.shape
        ct = self.covariance_type
        nk = nk + _EPS
        xk, sk, _ = self._moments(nk, sx, sxx, shift)
        alpha0 = self.weight_concentration_prior_
        beta0 = self.mean_precision_prior_
        nu0 = self.degrees_of_freedom_prior_(D)
        m0, psi0 = self.mean_prior, self.covariance_prior
        if self.prior_type == "dirichlet_process":
            concentration = np.vstack(
                [1.0 + nk, alpha0 + np.hstack((np.cumsum(nk[::-1])[-2::-1], 0))])
        else:
            concentration = alpha0 + nk
        beta = beta0 + nk
        means = (beta0 * m0 + nk[:, None] * xk) / beta[:, None]
        diff = xk - m0
        if ct == "full":
            nu = nu0 + nk
            cov = psi0 + nk[:, None, None] * sk + (nk * beta0 / beta)[:, None, None] * (
                diff[:, :, None] * diff[:, None, :])
            cov /= nu[:, None, None]
        elif ct == "tied":
            nu = np.array([nu0 + nk.sum() / K])
            cov = (psi0 + sk * nk.sum() / K
                   + beta0 / K * np.dot((nk / beta) * diff.T, diff)) / nu[0]
        elif ct == "diag":
            nu = nu0 + nk
            cov = (psi0 + nk[:, None] * (sk + (beta0 / beta)[:, None] * diff ** 2)) \
                / nu[:, None]
        else:
            nu = nu0 + nk
            cov = (psi0 + nk * (sk + beta0 / beta * np.mean(diff ** 2, axis=1))) / nu
        if ct in ("diag", "spherical"):
            if not np.all(cov > 0):
                self._not_positive_definite(np.flatnonzero(~(cov > 0).reshape(K, -1)
                                                           .all(axis=1)))
            prec_chol = 1.0 / np.sqrt(cov)
        else:
            prec_chol, failure = _checked_precision_cholesky(cov, ct, np.zeros(D))
            if failure is not None:
                self._not_positive_definite(failure[0])
        params = {"weights": _weights(concentration, self.prior_type), "means": means,
                  "covariances": cov, "precisions_cholesky": prec_chol,
                  "weight_concentration": concentration, "mean_precision": beta,
                  "degrees_of_freedom": nu}
        params["log_weights"] = self._effective_log_weights(params, D)
        return params

    def _not_positive_definite(self, components):
        ct = self.covariance_type
        where = "the shared (tied) covariance" if ct == "tied" else \
            f"component(s) {[int(k) for k in components if k is not None]}"
        raise ComponentCollapse(
            f"Fitting the mixture failed: the posterior covariance of {where} is not "
            f"positive definite ({ct} covariance); a feature may be constant in X. "
            "Increase reg_covar (e.g. reg_covar=1e-6) or pass a positive-definite "
            "covariance_prior.", components=list(components), reseedable=False)

    def _effective_log_weights(self, params, D):
        """(K,) ``E[log pi_k]`` plus scikit-learn's ``_estimate_log_prob`` terms
        beyond the Gaussian log-density at the normalized covariances."""
        c, nu, beta = (params["weight_concentration"], params["degrees_of_freedom"],
                       params["mean_precision"])
        if self.prior_type == "dirichlet_process":
            digamma_sum = digamma(c[0] + c[1])
            log_pi = (digamma(c[0]) - digamma_sum
                      + np.hstack((0, np.cumsum(digamma(c[1]) - digamma_sum)[:-1])))
        else:
            log_pi = digamma(c) - digamma(np.sum(c))
        log_lambda = D * np.log(2.0) + np.sum(
            digamma(0.5 * (nu - np.arange(0, D)[:, None])), 0)
        return log_pi - 0.5 * D * np.log(nu) + 0.5 * (log_lambda - D / beta)

    def objective(self, stats, loglik, params):
        """The ELBO of an iteration (scikit-learn's ``_compute_lower_bound``).

        ``stats`` are the pass's (at the previous parameters: its ``sum w r
        log r``), ``params`` the M-step's result; constants dropped as
        scikit-learn drops them.
        """
        ct = self.covariance_type
        D = params["means"].shape[1]
        nu, beta = params["degrees_of_freedom"], params["mean_precision"]
        log_det = _log_det_cholesky(params["precisions_cholesky"], ct, D) \
            - 0.5 * D * np.log(nu)
        wishart = -(nu * log_det + nu * D * 0.5 * np.log(2.0)
                    + np.sum(gammaln(0.5 * (nu - np.arange(D)[:, None])), 0))
        log_wishart = self.n_components * wishart[0] if ct == "tied" else wishart.sum()
        c = params["weight_concentration"]
        if self.prior_type == "dirichlet_process":
            log_norm_weight = -np.sum(betaln(c[0], c[1]))
        else:
            log_norm_weight = gammaln(np.sum(c)) - np.sum(gammaln(c))
        return float(-stats[3][0] - log_wishart - log_norm_weight
                     - 0.5 * D * np.sum(np.log(beta)))

    # ----------------------------------------------------- initialization
    def initialize(self, X, sample_weight, random_state):
        """Initial posteriors as scikit-learn's ``_initialize``: the VB M-step
        on the initial responsibilities of ``init_params`` (the same draws).

        With ``means_init`` (and the other two ``*_init``) the initial
        responsibilities are the posteriors under that Gaussian mixture. On a
        sample of the rows (streamed or Dask data) the statistics are scaled
        to the total weight, so the priors weigh them as they will the data's.
        """
        if self.means_init is not None:
            fixed = GaussianFamily(self.n_components, self.covariance_type,
                                   n_jobs=self.n_jobs)
            pc = precision_cholesky_from_precisions(self.precisions_init,
                                                    self.covariance_type)
            params = {"weights": self.weights_init, "means": self.means_init,
                      "precisions_cholesky": pc}
            stats, _ = fixed.statistics(X, sample_weight, params)
            shift = self.means_init
        else:
            stats, shift = self._initial_statistics(X, sample_weight, random_state)
        sampled = float(np.sum(sample_weight))
        if self.total_weight is not None and sampled != self.total_weight:
            stats = tuple(s * (self.total_weight / sampled) for s in stats)
        return self._posteriors(*stats, shift)


def _precisions(prec_chol, covariance_type):
    """Precisions shaped like the pass's second moments: (K, D, D) full,
    (1, D, D) tied, (K, D) diag, (K,) spherical."""
    p = precisions_from_cholesky(prec_chol, covariance_type)
    return p[None] if covariance_type == "tied" else p


def _log_det_cholesky(prec_chol, covariance_type, D):
    """scikit-learn's ``_compute_log_det_cholesky``, shape (K,) or (1,) for tied."""
    if covariance_type == "full":
        return np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return np.array([np.log(np.diag(prec_chol)).sum()])
    if covariance_type == "diag":
        return np.log(prec_chol).sum(axis=1)
    return D * np.log(prec_chol)


def _weights(concentration, prior_type):
    """Expected mixture weights, as scikit-learn's ``_set_parameters``."""
    if prior_type == "dirichlet_process":
        a, b = concentration
        total = a + b
        weights = a / total * np.hstack((1, np.cumprod(b / total)[:-1]))
        return weights / np.sum(weights)
    return concentration / np.sum(concentration)
