"""Factor models: factor analysis on the data's moments, and the mixture of
factor analyzers family.

Factor analysis (``x = mu + Lambda z + eps``, ``z ~ N(0, I_q)``,
``eps ~ N(0, Psi)``, ``Psi`` diagonal or ``sigma^2 I``) needs the data only
through its weighted mean and covariance ``S``: one pass
(:class:`MomentsPass`), then EM on ``S`` alone (:func:`fa_em_step`), each
iteration O(D^2 q).

The mixture of factor analyzers (Ghahramani & Hinton 1996) has per component
k a weight ``pi_k``, mean ``mu_k``, loadings ``Lambda_k`` (D, q) and noise
``Psi_k`` (diagonal, optionally shared across components and/or isotropic).
Parameters (float64): ``weights`` (K,), ``means`` (K, D), ``loadings``
(K, D, q), ``noise_variance`` (K, D) (always full (K, D); shared or isotropic
noise is equal across components or features). Statistics, around the means
of the parameters of the pass: ``sxz = sum r y [E z, 1]^T`` (K, D, q + 1),
``szz = sum r E[[z, 1][z, 1]^T]`` (K, q + 1, q + 1; its corner is ``sum r``)
and ``sxx = sum r y^2`` (K, D), with ``y = x - mu_k``.
"""
import numpy as np
from scipy import linalg

from .. import _config
from .._driver import ComponentCollapse
from .._threads import lane_pass
from ..kernels import factor as kernels
from ._base import Family, relative_floor

NOISE_TYPES = ("diagonal", "isotropic")
_LOG_2PI = np.log(2 * np.pi)
#: scikit-learn's floor on factor analysis noise variances (its ``SMALL``)
FA_NOISE_FLOOR = 1e-12


# ================================================================ moments pass
class MomentsPass:
    """The weighted moments of X around a shift: a data source's "family".

    ``statistics(X, w, {"shift": c})`` returns ``((S,), 0.0)`` with
    ``S = sum w [x - c, 1][x - c, 1]^T`` of shape (D + 1, D + 1), additive
    over chunks and Dask blocks (see :mod:`fastem._data`).
    """

    def __init__(self, n_jobs=None, block_rows=_config.BLOCK_ROWS):
        self.n_jobs = n_jobs
        self.block_rows = block_rows

    def statistics(self, X, sample_weight, params, serial=False):
        D = X.shape[1]
        stats, _, _ = lane_pass(
            kernels.moments_lanes, (X, sample_weight, params["shift"]), (True,),
            ((D + 1, D + 1),), X.shape[0], self.block_rows, self.n_jobs, serial)
        return stats, 0.0


def mean_and_covariance(S, shift):
    """Weighted mean (D,), covariance (D, D) and total weight from moments ``S``."""
    D = S.shape[0] - 1
    total = S[D, D]
    delta = S[:D, D] / total
    cov = S[:D, :D] / total - np.outer(delta, delta)
    return shift + delta, 0.5 * (cov + cov.T), total


# ============================================================ factor analysis
def _structured(psi, isotropic):
    """``psi`` (D,) as is, or its mean repeated (isotropic noise)."""
    return np.full_like(psi, psi.mean()) if isotropic else psi


def initial_loadings(cov, psi, n_factors, svd_method="lapack", iterated_power=3,
                     random_state=None):
    """The best loadings for noise ``psi``: scikit-learn's factor-analysis step.

    With ``s_j, v_j`` the top eigenpairs of ``Psi^-1/2 S Psi^-1/2``, the
    loadings maximizing the likelihood given ``Psi`` are
    ``Psi^1/2 v_j sqrt(max(s_j - 1, 0))``. ``svd_method='lapack'`` takes an
    exact eigen-decomposition of the D x D matrix, ``'randomized'`` a
    randomized SVD of it with ``iterated_power`` power iterations.

    Returns
    -------
    loadings : ndarray of shape (D, n_factors)
    """
    D = cov.shape[0]
    if n_factors == 0:
        return np.zeros((D, 0))
    root = np.sqrt(psi)
    scaled = cov / root[:, None] / root[None, :]
    if svd_method == "randomized" and n_factors < D:
        from sklearn.utils.extmath import randomized_svd
        _, s, vt = randomized_svd(scaled, n_factors, n_iter=iterated_power,
                                  random_state=random_state)
        vecs = vt.T
    else:
        s, vecs = linalg.eigh(scaled)
        s, vecs = s[::-1][:n_factors], vecs[:, ::-1][:, :n_factors]
    return root[:, None] * vecs * np.sqrt(np.maximum(s - 1.0, 0.0))


def _posterior_operator(loadings, psi):
    """``beta = (I + L^T Psi^-1 L)^-1 L^T Psi^-1`` (q, D) and ``M^-1`` (q, q)."""
    q = loadings.shape[1]
    lp = loadings.T / psi
    M = np.eye(q) + lp @ loadings
    c = linalg.cho_factor(M, lower=True)
    return linalg.cho_solve(c, lp), linalg.cho_solve(c, np.eye(q)), c


def fa_loglik(cov, loadings, psi, total_weight):
    """Total log-likelihood ``sum w log N(x; mean, L L^T + Psi)`` from the covariance.

    ``-W/2 (D log 2 pi + log det C + tr(C^-1 S))`` by the Woodbury identity and
    the matrix determinant lemma: O(D^2 q), no D x D inverse.
    """
    D = cov.shape[0]
    beta, _, c = _posterior_operator(loadings, psi)
    log_det = 2 * np.log(np.diag(c[0])).sum() + np.log(psi).sum()
    trace = (np.diag(cov) / psi).sum() - np.einsum("jd,dj->", beta, cov @ (loadings / psi[:, None]))
    return -0.5 * total_weight * (D * _LOG_2PI + log_det + trace)


def fa_em_step(cov, loadings, psi, isotropic=False, floor=FA_NOISE_FLOOR):
    """One EM step of factor analysis on the covariance ``cov`` (D, D).

    E-step: ``beta = Lambda^T C^-1``, ``E[z z^T] = I - beta Lambda + beta S beta^T``
    (averaged over rows); M-step: ``Lambda' = S beta^T E[z z^T]^-1``,
    ``Psi' = diag(S - Lambda' beta S)`` (its mean for isotropic noise), at
    least ``floor``.

    Returns
    -------
    loadings : (D, q), psi : (D,)
    """
    q = loadings.shape[1]
    if q == 0:
        return loadings, np.maximum(_structured(np.diag(cov).copy(), isotropic), floor)
    beta, m_inv, _ = _posterior_operator(loadings, psi)
    sb = cov @ beta.T  # (D, q): S beta^T
    ezz = m_inv + beta @ sb
    new = linalg.solve(ezz, sb.T, assume_a="pos").T
    resid = np.diag(cov) - np.einsum("dj,dj->d", new, sb)
    return new, np.maximum(_structured(resid, isotropic), floor)


def canonical_loadings(loadings, psi):
    """The same model's loadings in scikit-learn's basis of factors.

    Loadings are identified up to an orthogonal rotation of the factors;
    scikit-learn's are ``Psi^1/2 v_j sqrt(s_j - 1)`` with ``v_j`` orthonormal,
    the eigenvectors of ``Psi^-1/2 Lambda Lambda^T Psi^-1/2`` at a fixed point.
    The SVD ``Psi^-1/2 Lambda = U s V^T`` gives that basis,
    ``Psi^1/2 U s``, ordered by decreasing ``s`` (signs as the SVD's).

    Returns
    -------
    loadings : ndarray of shape (D, q)
    """
    if loadings.shape[1] == 0:
        return loadings
    root = np.sqrt(psi)[:, None]
    u, s, _ = linalg.svd(loadings / root, full_matrices=False)
    return root * u * s


def orthogonal_rotation(components, method="varimax", tol=1e-6, max_iter=100):
    """Varimax or quartimax rotation of ``components`` (n_features, n_factors).

    The orthogonal rotation ``R`` maximizing the criterion is found by the
    classic SVD iteration: ``U s V^T = svd(A^T (B^3 - gamma B diag(mean_rows(B^2))))``
    with ``B = A R``, ``gamma = 1`` (varimax) or 0 (quartimax), then
    ``R = U V^T``; it stops when ``sum(s)`` grows by less than ``tol``
    (relative), as scikit-learn's rotation.

    Returns
    -------
    rotated : ndarray of shape (n_factors, n_features)
    """
    n_rows, n_cols = components.shape
    rotation = np.eye(n_cols)
    criterion = 0.0
    gamma = 1.0 if method == "varimax" else 0.0
    for _ in range(max_iter):
        rotated = components @ rotation
        target = rotated ** 3 - gamma * rotated * ((rotated ** 2).sum(axis=0) / n_rows)
        u, s, vt = np.linalg.svd(components.T @ target)
        rotation = u @ vt
        new_criterion = s.sum()
        if criterion != 0 and new_criterion < criterion * (1 + tol):
            break
        criterion = new_criterion
    return (components @ rotation).T


# ============================================ mixture of factor analyzers
class FactorMixtureFamily(Family):
    """Mixture of factor analyzers.

    Parameters
    ----------
    n_components, n_factors : int
    noise : {'diagonal', 'isotropic'}
    shared_noise : bool
        One noise variance vector for all components.
    reg_covar : float
        Floor on every noise variance (EM stays monotone: the floored update
        is the constrained maximizer).
    init_params : str
        As GaussianMixture's (the first responsibilities).
    weights_init, means_init, loadings_init, noise_variance_init : arrays or None
        Validated user initial values (float64); noise_variance_init (K, D).
    n_jobs : int or None
    """

    def __init__(self, n_components, n_factors, noise="diagonal", shared_noise=False,
                 reg_covar=1e-6, init_params="kmeans", weights_init=None,
                 means_init=None, loadings_init=None, noise_variance_init=None,
                 n_jobs=None, block_rows=_config.BLOCK_ROWS):
        self.n_components = n_components
        self.n_factors = n_factors
        self.noise = noise
        self.shared_noise = shared_noise
        self.reg_covar = reg_covar
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.loadings_init = loadings_init
        self.noise_variance_init = noise_variance_init
        self.n_jobs = n_jobs
        self.block_rows = block_rows

    # ------------------------------------------------------------------ pass
    def _kernel_args(self, params):
        """Per-iteration constants: inverse noise, ``A_k^T``, ``L_k^-1``, log normalizers."""
        means = np.ascontiguousarray(params["means"])
        loadings, psi = params["loadings"], params["noise_variance"]
        K, D = means.shape
        q = loadings.shape[2]
        inv_psi = 1.0 / psi
        AT = np.empty((K, D, q))
        L_inv = np.empty((K, q, q))
        log_det = np.empty(K)
        for k in range(K):
            lp = loadings[k].T * inv_psi[k]  # (q, D)
            L = linalg.cholesky(np.eye(q) + lp @ loadings[k], lower=True)
            L_inv[k] = linalg.solve_triangular(L, np.eye(q), lower=True)
            AT[k] = (L_inv[k] @ lp).T
            log_det[k] = 2 * np.log(np.diag(L)).sum() + np.log(psi[k]).sum()
        with np.errstate(divide="ignore"):
            log_norm = np.log(params["weights"]) - 0.5 * (D * _LOG_2PI + log_det)
        return means, np.ascontiguousarray(inv_psi), AT, L_inv, log_norm

    def _run(self, X, w, params, want_stats, row_logp, labels, resp, serial,
             z_mean=None, args=None):
        """One pass of :func:`~fastem.kernels.factor.mfa_lanes` (``args``: the
        ``_kernel_args`` of ``params`` when already computed)."""
        K, D, q = params["loadings"].shape
        if z_mean is None:
            z_mean = np.empty((0, q))
        stats, (loglik, _), n_bad = lane_pass(
            kernels.mfa_lanes, (X, w, *(args or self._kernel_args(params))),
            (want_stats, row_logp, labels, resp, z_mean),
            ((K, D, q + 1), (K, q + 1, q + 1), (K, D)), X.shape[0], self.block_rows,
            self.n_jobs, serial)
        return stats, loglik, n_bad

    def statistics(self, X, sample_weight, params, serial=False):
        args = self._kernel_args(params)
        (sxz, szz, sxx), loglik, n_bad = self._run(
            X, sample_weight, params, True, np.empty(0), np.empty(0, np.int64),
            np.empty((0, self.n_components)), serial, args=args)
        if n_bad:
            raise ValueError(
                f"{n_bad} sample(s) of X have zero probability under every component "
                "(their squared distances overflow). Rescale X (e.g. standardize it).")
        # E[z z^T | x] = M^-1 + E[z] E[z]^T: the M^-1 part once per component
        q = self.n_factors
        L_inv = args[3]
        szz[:, :q, :q] += szz[:, q, q, None, None] * np.einsum("kji,kjl->kil", L_inv, L_inv)
        return (sxz, szz, sxx), loglik

    def posterior_factors(self, X, params, serial=False):
        """``E[z | x] = sum_k p(k | x) E[z | x, k]`` per row, shape (n, q)."""
        n = X.shape[0]
        z_mean = np.zeros((n, self.n_factors))
        self._run(X, np.ones(0), params, False, np.empty(0), np.empty(0, np.int64),
                  np.empty((0, self.n_components)), serial, z_mean)
        return z_mean

    # ---------------------------------------------------------------- M-step
    def maximize(self, stats, params):
        """Closed-form M-step (Ghahramani & Hinton 1996) on the augmented loadings.

        ``[Lambda_k, mu_k - c_k] = sxz_k szz_k^-1``, then
        ``Psi_k = diag(sxx_k - [Lambda_k, mu_k - c_k] sxz_k^T) / n_k``
        (summed over components when shared, averaged over features when
        isotropic), floored at ``reg_covar``.

        Raises
        ------
        ComponentCollapse
            When a noise variance is not positive with ``reg_covar=0``.
        """
        sxz, szz, sxx = stats
        q = self.n_factors
        K, D = sxx.shape
        nk = szz[:, q, q]
        floor = relative_floor(nk)
        loadings = np.empty((K, D, q))
        means = np.empty((K, D))
        resid = np.empty((K, D))
        for k in range(K):
            gram = szz[k] + floor * np.eye(q + 1)  # an empty component stays solvable
            aug = linalg.solve(gram, sxz[k].T, assume_a="pos").T  # (D, q + 1)
            loadings[k] = aug[:, :q]
            means[k] = params["means"][k] + aug[:, q]
            resid[k] = sxx[k] - np.einsum("dj,dj->d", aug, sxz[k])
        nk = nk + floor
        if self.shared_noise:
            psi = np.repeat((resid.sum(axis=0) / nk.sum())[None], K, axis=0)
        else:
            psi = resid / nk[:, None]
        if self.noise == "isotropic":
            psi = np.repeat(psi.mean(axis=1, keepdims=True), D, axis=1)
        psi = np.maximum(psi, self.reg_covar)
        self._check_noise(psi)
        return {"weights": nk / nk.sum(), "means": means, "loadings": loadings,
                "noise_variance": psi}

    def _check_noise(self, psi):
        bad = ~(psi > 0)  # NaN counts
        if bad.any():
            k, d = np.argwhere(bad)[0]
            where = "the shared noise" if self.shared_noise else f"component {k}"
            raise ComponentCollapse(
                f"Fitting the mixture of factor analyzers failed: {where} collapsed: "
                f"its noise variance along feature {d} is {psi[k, d]:.3g} (it sits on "
                "too few distinct points, or a feature is constant). Increase reg_covar "
                "(e.g. reg_covar=1e-6) or use fewer components or factors.",
                components=sorted(set(np.argwhere(bad)[:, 0].tolist())),
                reseedable=False)

    def rebase(self, stats, from_params, to_params):
        """Move statistics from ``from_params['means']`` to ``to_params['means']``.

        With ``delta = c_from - c_to``: ``y' = y + delta``, so
        ``sxz' = sxz + delta szz[q]`` and ``sxx' = sxx + 2 delta sx + n delta^2``.
        """
        sxz, szz, sxx = stats
        q = self.n_factors
        delta = from_params["means"] - to_params["means"]
        sxz_new = sxz + delta[:, :, None] * szz[:, q, None, :]
        sx = sxz[:, :, q]
        sxx_new = sxx + 2 * delta * sx + szz[:, q, q, None] * delta ** 2
        return sxz_new, szz, sxx_new

    # -------------------------------------------------------- initialization
    def initialize(self, X, sample_weight, random_state):
        """Initial parameters; user ``*_init`` arrays replace what they give.

        Without all four ``*_init`` arrays, a full-covariance Gaussian mixture
        initialization (``init_params``, ``weights_init``, ``means_init``, as
        GaussianMixture) gives weights, means and covariances; each
        component's loadings and noise are then scikit-learn's factor-analysis
        step on its covariance from ``Psi = diag(cov)``.
        """
        K, q = self.n_components, self.n_factors
        given = (self.weights_init, self.means_init, self.loadings_init,
                 self.noise_variance_init)
        if all(v is not None for v in given):
            return self._structure({"weights": self.weights_init.copy(),
                                    "means": self.means_init.copy(),
                                    "loadings": self.loadings_init.copy(),
                                    "noise_variance": self.noise_variance_init.copy()})
        from .gaussian import GaussianFamily
        gauss = GaussianFamily(K, "full", self.reg_covar, self.init_params,
                               weights_init=self.weights_init, means_init=self.means_init,
                               n_jobs=self.n_jobs)
        params = gauss.initialize(X, sample_weight, random_state)
        covs = params["covariances"]
        D = covs.shape[1]
        loadings = np.empty((K, D, q))
        psi = np.empty((K, D))
        for k in range(K):
            var = np.diag(covs[k])
            loadings[k] = initial_loadings(covs[k], var, q)
            psi[k] = np.maximum(var - (loadings[k] ** 2).sum(axis=1),
                                max(self.reg_covar, 1e-3 * var.mean()))
        if self.loadings_init is not None:
            loadings = self.loadings_init.copy()
        if self.noise_variance_init is not None:
            psi = self.noise_variance_init.copy()
        return self._structure({"weights": params["weights"], "means": params["means"],
                                "loadings": loadings, "noise_variance": psi})

    def _structure(self, params):
        """Impose shared/isotropic noise on initial parameters (weighted means)."""
        psi = params["noise_variance"]
        if self.shared_noise:
            psi = np.repeat((params["weights"] @ psi)[None], psi.shape[0], axis=0)
        if self.noise == "isotropic":
            psi = np.repeat(psi.mean(axis=1, keepdims=True), psi.shape[1], axis=1)
        params["noise_variance"] = np.maximum(psi, self.reg_covar)
        return params

    # ------------------------------------------------------------ the rest
    def n_parameters(self, params):
        K, D, q = params["loadings"].shape
        noise = {(False, "diagonal"): K * D, (True, "diagonal"): D,
                 (False, "isotropic"): K, (True, "isotropic"): 1}[
            (bool(self.shared_noise), self.noise)]
        # loadings are identified up to a rotation of the factors
        return int(K - 1 + K * D + K * (D * q - q * (q - 1) / 2) + noise)

    def sample(self, params, n_samples, random_state):
        """Draw ``(X, labels)``: ``x = mu_k + Lambda_k z + sqrt(psi_k) eps``."""
        weights, means = params["weights"], params["means"]
        loadings, psi = params["loadings"], params["noise_variance"]
        counts = random_state.multinomial(n_samples, weights)
        parts = []
        for k, n in enumerate(counts):
            z = random_state.standard_normal((n, loadings.shape[2]))
            eps = random_state.standard_normal((n, means.shape[1]))
            parts.append(means[k] + z @ loadings[k].T + eps * np.sqrt(psi[k]))
        labels = np.concatenate([np.full(n, k, dtype=int) for k, n in enumerate(counts)])
        return np.vstack(parts), labels
