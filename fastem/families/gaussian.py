"""Gaussian family: statistics layout, pass, M-step, initialization, sampling.

Parameters (all float64):

- ``weights`` (K,), ``means`` (K, D)
- ``covariances`` and ``precisions_cholesky`` shaped by covariance type as in
  scikit-learn: full (K, D, D), tied (D, D), diag (K, D), spherical (K,).

Statistics, accumulated around the means of the parameters of the pass:
``nk`` (K,), ``sx`` (K, D) and ``sxx`` — (K, D) for diag/spherical, (K, D, D)
for full, and (1, D, D) for tied: summed over components, all the shared
covariance needs.
"""
import numpy as np
from scipy import linalg

from .. import _config
from .._driver import ComponentCollapse
from .._threads import lane_pass
from ..kernels import gaussian as kernels
from . import gaussian_missing
from ._base import (Family, choose_seed_rows, random_responsibilities,
                    relative_floor)

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_LOG_2PI = np.log(2 * np.pi)

#: A component has collapsed when its variance along a feature (for full/tied:
#: the Cholesky pivot, i.e. the variance given the preceding features) is at
#: most ``collapse_rtol`` times that feature's scale in the data, its mean
#: square ``E[x_d^2] = var_d + mean_d^2``, with, by default,
#: ``collapse_rtol = (eps / 4)**2`` for the data's dtype (``eps`` its machine
#: epsilon): the floor is ``(eps * rms_d / 4)**2``, the data's own resolution.
#: Why this bound:
#:
#: - real data cannot go below it: two distinct values of X's dtype near
#:   ``|x|`` are at least one ulp ``>= eps |x| / 2`` apart, so a component on
#:   two or more distinct values of comparable weight has variance at least
#:   about ``(eps |x| / 2)**2 / 4``. A float64 feature at 1e12 with spread 0.1
#:   (variance 1e-2) is far above its floor, (eps64 * 1e12 / 4)**2 ~ 3e-9.
#: - a component on one distinct point falls to the floor or below: its
#:   variance is the round-off of float64 moments taken around its previous
#:   mean ``m``, of order ``(eps64 |x - m|)**2``, and ``m`` moves onto the
#:   point within an iteration or two. Measured, such components land at or
#:   just under the floor (e.g. 1.2e-32 against 2.5e-32 for features of scale
#:   8), so duplicated points are caught; the tests check it near the origin
#:   and at offsets 1e6 and 1e12.
COLLAPSE_ULPS = 0.25


def default_collapse_rtol(dtype):
    """``(COLLAPSE_ULPS * eps)**2`` for X's dtype: see ``COLLAPSE_ULPS``."""
    return float((COLLAPSE_ULPS * np.finfo(dtype).eps) ** 2)


#: Rows kept (evenly spaced, no random draws) to re-seed collapsed components.
_RESEED_POOL_ROWS = 256
ON_COLLAPSE = ("raise", "reseed")
#: Values of X gathered at a time (a chunk of one component's rows) by the
#: labelled (k-means) start
GATHER_SIZE = 65_536


class GaussianFamily(Family):
    """Gaussian mixture family for one covariance type.

    Parameters
    ----------
    n_components : int
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    reg_covar : float
        Added to the diagonal of every covariance.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}
    weights_init, means_init, precisions_init : arrays or None
        Validated user initial values (float64).
    n_jobs : int or None
        Threads for the parallel pass.
    on_collapse : {'raise', 'reseed'}
        What the M-step does with a collapsed component (see
        ``COLLAPSE_ULPS``): raise :class:`~fastem._driver.ComponentCollapse`
        naming it and the remedies, or (``'reseed'``, handled by the driver
        through :meth:`reseed`) move it to the data point farthest from every
        healthy component, with the data's covariance and a small weight.
    collapse_rtol : float or None
        Collapse floor relative to each feature's mean square; None: the
        data's resolution, ``default_collapse_rtol(X.dtype)``.
    """

    #: NaN entries are marginalized (see :mod:`fastem.families.gaussian_missing`)
    handles_missing = True

    def __init__(self, n_components, covariance_type, reg_covar=1e-6,
                 init_params="kmeans", weights_init=None, means_init=None,
                 precisions_init=None, n_jobs=None, block_rows=_config.BLOCK_ROWS,
                 on_collapse="raise", collapse_rtol=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.n_jobs = n_jobs
        self.block_rows = block_rows
        self.on_collapse = on_collapse
        self.collapse_rtol = collapse_rtol
        # per-feature scale, data covariance and re-seed pool: set from the
        # initialization sample (see ``describe_data``)
        self.feature_scale = None
        self.data_covariance = None
        self.constant_features = None
        self.reseed_pool = None
        self.min_component_variance = 0.0
        self._described = None

    @property
    def _full_moments(self):
        return self.covariance_type in ("full", "tied")

    def _per_factor(self, sxx):
        """Second moments per precision factor: per component (K, ...) but
        summed over components for tied (1, D, D), all its M-step needs."""
        return sxx.sum(axis=0, keepdims=True) if self.covariance_type == "tied" else sxx

    # ------------------------------------------------------------------ pass
    def _kernel_args(self, params, dtype):
        """Per-iteration constants: everything that depends only on parameters.

        Both kinds of pass get a center ``g`` near the data (the weighted mean
        of the means, in the data's dtype so ``x - g`` is exact), the quadratic
        forms in ``y = x - g``, the components too far from ``g`` for the
        shifted forms (``exact``), and what those need: see ``diag_lanes`` and
        ``full_lanes``.
        """
        ct = self.covariance_type
        pc = params["precisions_cholesky"]
        means = np.ascontiguousarray(params["means"])
        K, D = means.shape
        log_w = self._log_weights(params)
        center = (params["weights"] @ means).astype(dtype)
        offset = means - center.astype(np.float64)
        if ct in ("diag", "spherical"):
            prec = pc ** 2 if ct == "diag" else np.repeat((pc ** 2)[:, None], D, axis=1)
            log_norm = log_w + 0.5 * np.log(prec).sum(axis=1) - 0.5 * D * _LOG_2PI
            far = (prec * offset ** 2).sum(axis=1)
            W = np.ascontiguousarray(np.vstack([(prec * offset).T, -0.5 * prec.T]), dtype=dtype)
            const = log_norm - 0.5 * far
            return (center, W, const, _exact_components(far), means,
                    np.ascontiguousarray(prec), log_norm)
        chol = np.ascontiguousarray(pc if ct == "full" else pc[None])
        log_det = np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        log_norm = log_w + np.broadcast_to(log_det, (K,)) - 0.5 * D * _LOG_2PI
        b = np.einsum("kd,kdj->kj", offset, chol if ct == "full" else np.repeat(chol, K, 0))
        factors = np.ascontiguousarray(chol.transpose(1, 0, 2).reshape(D, -1), dtype=dtype)
        return (center, factors, b.astype(dtype), _exact_components((b ** 2).sum(axis=1)), means,
                chol, log_norm)

    def _log_weights(self, params):
        """(K,) per-component log-weight added to the Gaussian log-densities
        (variational Bayes adds its expectation terms here)."""
        with np.errstate(divide="ignore"):
            return np.log(params["weights"])

    def _run(self, X, w, params, want_stats, row_logp, labels, resp, serial):
        K, D = params["means"].shape
        if self._full_moments:
            kernel = kernels.full_lanes
            n_factors = 1 if self.covariance_type == "tied" else K
            shapes = ((K,), (K, D), (n_factors, D, D))
        else:
            kernel, shapes = kernels.diag_lanes, ((K,), (K, D), (K, D))
        stats, (loglik, _), n_bad = lane_pass(
            kernel, (X, w, *self._kernel_args(params, X.dtype)),
            (want_stats, row_logp, labels, resp), shapes, X.shape[0], self.block_rows,
            self.n_jobs, serial)
        return stats, loglik, n_bad

    def statistics(self, X, sample_weight, params, serial=False, missing=None):
        if missing is not None:  # rows with NaN: the marginal pass
            stats, loglik, n_bad, _ = gaussian_missing.run(
                self, X, sample_weight, params, missing, True, serial=serial)
        else:
            empty = np.empty(0)
            stats, loglik, n_bad = self._run(
                X, sample_weight, params, True, empty, np.empty(0, np.int64),
                np.empty((0, self.n_components)), serial)
        if n_bad:
            raise ValueError(
                f"{n_bad} sample(s) of X have zero probability under every component "
                "(their squared distances overflow). Rescale X (e.g. standardize it).")
        return stats, loglik

    def row_outputs(self, X, params, want_resp=False, serial=False, missing=None):
        """Per-row ``(log p(x), label, responsibilities or None)``; with
        ``missing`` (rows with NaN), of the observed coordinates."""
        if missing is None:
            return super().row_outputs(X, params, want_resp, serial)
        return gaussian_missing.run(self, X, np.ones(0), params, missing, False,
                                    want_outputs=True, want_resp=want_resp,
                                    serial=serial)[3][:3]

    def impute(self, X, params, missing, serial=False):
        """``X`` with each NaN replaced by its conditional mean under the
        mixture (a new array); see :func:`gaussian_missing.impute`."""
        return gaussian_missing.impute(self, X, params, missing, serial)

    # ---------------------------------------------------------------- M-step
    def maximize(self, stats, params):
        """New parameters from statistics accumulated around ``params['means']``.

        Raises
        ------
        ComponentCollapse
            When a component's variance along a feature falls to
            ``collapse_rtol`` times that feature's scale or below (the same
            test for all four covariance types), naming the component, the
            feature and the remedies.
        """
        weights, means, cov, feature_var = self._m_step(stats, params)
        return self._finish(weights, means, cov, feature_var)

    def _m_step(self, stats, params):
        """Raw M-step: weights, means, covariances and per-feature variances.

        ``feature_var`` is, for diag/spherical, the (K, D) per-feature
        variances with ``reg_covar`` (the spherical variance is their mean):
        the diag collapse test and re-seeding read it.
        """
        nk, sx, sxx = stats
        nk = nk + relative_floor(nk)  # empty components never divide by 0
        means, cov, feature_var = self._moments(nk, sx, sxx, params["means"])
        return nk / nk.sum(), means, cov, feature_var

    def _moments(self, nk, sx, sxx, shift):
        """Means and covariances (``reg_covar`` added) of statistics around ``shift``.

        ``nk`` (K,) must be positive (floored by the caller). Returns
        ``means`` (K, D), ``cov`` shaped by covariance type and
        ``feature_var``, the (K, D) per-feature variances for diag/spherical
        (None for full/tied).
        """
        delta = sx / nk[:, None]
        means = shift + delta
        ct = self.covariance_type
        feature_var = None
        if ct == "full":
            cov = sxx / nk[:, None, None] - delta[:, :, None] * delta[:, None, :]
            cov = 0.5 * (cov + cov.transpose(0, 2, 1))
            cov[:, np.arange(cov.shape[1]), np.arange(cov.shape[1])] += self.reg_covar
        elif ct == "tied":
            scatter = sxx[0] - np.einsum("k,kd,ke->de", nk, delta, delta)
            cov = scatter / nk.sum()
            cov = 0.5 * (cov + cov.T)
            cov.flat[:: cov.shape[0] + 1] += self.reg_covar
        else:
            feature_var = sxx / nk[:, None] - delta ** 2 + self.reg_covar
            cov = feature_var if ct == "diag" else feature_var.mean(axis=1)
        return means, cov, feature_var

    def _finish(self, weights, means, cov, feature_var):
        ct = self.covariance_type
        floor = self._collapse_floor(means.shape[1])
        if ct == "spherical":
            # one variance per component, the mean over features: a constant
            # feature alone does not make it singular (as scikit-learn), so
            # the test is on the mean, against the mean of the floors
            bad = ~(cov > floor.mean())  # NaN counts as collapsed
            if bad.any():
                ks = np.flatnonzero(bad).tolist()
                self._collapse(ks, ks[0], None, cov[ks[0]])
            prec_chol = 1.0 / np.sqrt(cov)
        elif ct == "diag":
            bad = ~(feature_var > floor)  # NaN counts as collapsed
            if bad.any():
                where = np.argwhere(bad)
                constant = self._constant_features()
                hits = [] if constant is None else \
                    [i for i, (_, d) in enumerate(where) if constant[d]]
                k, d = where[hits[0] if hits else 0]  # a constant feature first
                ks = sorted(set(where[:, 0].tolist()))
                self._collapse(ks, int(k), int(d), feature_var[k, d])
            prec_chol = 1.0 / np.sqrt(cov)
        else:
            prec_chol, failure = _checked_precision_cholesky(cov, ct, floor)
            if failure is not None:
                ks, k, d, value = failure
                self._collapse(ks, k, d, value)
        return {"weights": weights, "means": means, "covariances": cov,
                "precisions_cholesky": prec_chol}

    def _collapse_floor(self, D):
        if self.feature_scale is None:
            return np.zeros(D)
        return np.maximum(self.collapse_rtol * self.feature_scale,
                          self.min_component_variance)

    def _constant_features(self):
        """(D,) bool: features constant in the data (None before a description)."""
        return self.constant_features

    def _collapse(self, components, k, d, value):
        """Raise :class:`ComponentCollapse` for ``components`` (first: ``k``, feature ``d``;
        ``d`` None for a spherical variance, the mean over features)."""
        ct = self.covariance_type
        where = "the shared (tied) covariance" if ct == "tied" else f"component {k}"
        what = "variance" if ct in ("diag", "spherical") else \
            "variance given the preceding features (Cholesky pivot)"
        constant_features = self._constant_features()
        if d is None:  # spherical: every feature at once
            scale = None if self.feature_scale is None else self.feature_scale.mean()
            constant = constant_features is not None and bool(constant_features.all())
            if constant and constant_features.size == 1:
                d = 0
            along, of = "(mean over the features)", "the features' mean scale"
        else:
            scale = None if self.feature_scale is None else self.feature_scale[d]
            constant = constant_features is not None and bool(constant_features[d])
            along, of = f"along feature {d}", "that feature's scale"
        detail = (f"its {what} {along} is {value:.3g}"
                  + ("" if scale is None else
                     f", at most {self.collapse_rtol:g} x {of} "
                     f"(variance + mean^2 = {scale:.3g})"))
        constant_what = "every feature" if d is None else f"feature {d}"
        cause = (f"{constant_what} is constant in X" if constant else
                 "it sits on too few distinct points (duplicated points, more "
                 "components than distinct points) or a feature is constant")
        remedy = ("Increase reg_covar (e.g. reg_covar=1e-6), use fewer components, "
                  "or drop/rescale the feature" if constant else
                  "Increase reg_covar (e.g. reg_covar=1e-6), use fewer components, "
                  "or pass on_collapse='reseed' to re-seed collapsed components")
        raise ComponentCollapse(
            f"Fitting the mixture failed: {where} collapsed ({ct} covariance): "
            f"{detail}; {cause}. {remedy}.",
            components=[None] if ct == "tied" else list(components),
            reseedable=not constant)

    # --------------------------------------------------------- re-seeding
    def describe_data(self, X, w):
        """Per-feature scale, covariance and constancy of the (init) sample.

        Called once per fit. The scale only sets the collapse floor and the
        covariance only seeds re-seeded components, so both come from at
        most ``DESCRIBE_SAMPLE_ROWS`` evenly spaced rows of positive weight
        (no random draws, so results do not change); whether a feature is
        constant is decided on every row.
        """
        w = np.asarray(w, dtype=np.float64)
        # n_init > 1 on the same rows: describe once (ids only, so the family,
        # which the fitted estimator keeps and pickles, holds no data)
        key = (id(X), X.shape, float(w.sum()))
        if self._described == key:
            return
        rows = _evenly_spaced_rows(w, _config.DESCRIBE_SAMPLE_ROWS)
        xs = np.asarray(X[rows], np.float64)
        ws = w[rows]
        shift = xs[::max(1, len(rows) // 1000)].mean(axis=0)  # near the mean
        d = xs - shift
        offset = ws @ d / ws.sum()
        mean = shift + offset
        self.data_covariance = d.T @ (d * ws[:, None]) / ws.sum() - np.outer(offset, offset)
        self.feature_scale = np.diag(self.data_covariance) + mean ** 2
        self.min_component_variance = _RANGE[np.dtype(X.dtype)]["min_component"]
        if self.collapse_rtol is None:
            self.collapse_rtol = default_collapse_rtol(X.dtype)
        var = np.diag(self.data_covariance)
        tiny = ~(var > np.maximum(self.collapse_rtol * self.feature_scale,
                                  _RANGE[np.dtype(X.dtype)]["min_variance"]))
        if tiny.any() and len(rows) < X.shape[0]:
            # (nearly) constant in the sample: measure those features on every row
            cols = np.flatnonzero(tiny)
            sub = np.asarray(X[:, cols], np.float64)
            col_mean = w @ sub / w.sum()
            col_var = w @ (sub - col_mean) ** 2 / w.sum()
            self.data_covariance[cols, cols] = col_var
            self.feature_scale[cols] = col_var + col_mean ** 2
        self.constant_features = ~(np.diag(self.data_covariance)
                                   > self.collapse_rtol * self.feature_scale)
        _check_data_range(X, self.data_covariance, self.feature_scale)
        if self.on_collapse == "reseed":
            self.hold_rows(X, w)
        self._described = key

    def hold_rows(self, X, w):
        """Build the re-seed pool: up to ``_RESEED_POOL_ROWS`` evenly spaced
        rows of positive weight (no random draws). Transient: the estimator
        calls :meth:`release_rows` when the fit (or online step) ends."""
        rows = _evenly_spaced_rows(np.asarray(w), _RESEED_POOL_ROWS)
        self.reseed_pool = np.ascontiguousarray(
            gaussian_missing.fill_column_means(X[rows], np.asarray(w)[rows]),
            dtype=np.float64)

    def release_rows(self):
        self.reseed_pool = None

    def adopt_data_description(self, other):
        """Reuse the scale and covariance of a previous fit's family (warm start)."""
        self.feature_scale = other.feature_scale
        self.data_covariance = other.data_covariance
        self.constant_features = other.constant_features
        self.min_component_variance = other.min_component_variance
        self.collapse_rtol = other.collapse_rtol

    def reseed(self, stats, params, components):
        """M-step that re-seeds the collapsed ``components`` instead of failing.

        Each collapsed component moves to the pool row farthest (in units of
        each feature's standard deviation) from every healthy component's mean
        and from the rows already chosen; its covariance becomes the data's
        (plus ``reg_covar``) and its weight ``0.1 / n_components`` before the
        weights are renormalized. A tied fit resets the shared covariance to
        the data's. Raises :class:`ComponentCollapse` (not re-seedable) if
        the result still collapses, e.g. on a constant feature.
        """
        weights, means, cov, feature_var = self._m_step(stats, params)
        K, D = means.shape
        ct = self.covariance_type
        data_cov = self.data_covariance + self.reg_covar * np.eye(D)
        if ct == "tied":
            cov = data_cov.copy()
        else:
            collapsed = [k for k in components if k is not None]
            healthy = [k for k in range(K) if k not in collapsed]
            unit = np.sqrt(np.maximum(np.diag(self.data_covariance), 1e-300))
            pool = self.reseed_pool / unit
            anchors = [means[k] / unit for k in healthy]
            for k in collapsed:
                if anchors:
                    dist = np.min([((pool - a) ** 2).sum(axis=1) for a in anchors], axis=0)
                    row = int(np.argmax(dist))
                else:
                    row = 0
                means[k] = self.reseed_pool[row]
                anchors.append(pool[row])
                weights[k] = 0.1 / K
                if ct == "full":
                    cov[k] = data_cov
                elif ct == "diag":
                    feature_var[k] = np.diag(data_cov)
                    cov = feature_var
                else:
                    feature_var[k] = np.diag(data_cov)
                    cov[k] = feature_var[k].mean()
            weights = weights / weights.sum()
        try:
            return self._finish(weights, means, cov, feature_var)
        except ComponentCollapse as exc:
            raise ComponentCollapse(
                f"{exc} Re-seeding with the data's covariance did not help: X "
                "itself is degenerate (a constant feature, or fewer distinct points "
                "than features); set reg_covar > 0.",
                components=exc.components, reseedable=False) from None

    def rebase(self, stats, from_params, to_params):
        """Move statistics from the shift ``from_params['means']`` to ``to_params['means']``.

        With ``delta = c_from - c_to``: ``x - c_to = (x - c_from) + delta``,
        so ``sx' = sx + nk delta`` and ``sxx' = sxx + sx delta^T + delta sx^T
        + nk delta delta^T`` (its diagonal for diag/spherical). Exact algebra.
        """
        nk, sx, sxx = stats
        delta = from_params["means"] - to_params["means"]
        sx_new = sx + nk[:, None] * delta
        if self._full_moments:
            cross = sx[:, :, None] * delta[:, None, :]
            sxx_new = sxx + self._per_factor(
                cross + cross.transpose(0, 2, 1)
                + nk[:, None, None] * delta[:, :, None] * delta[:, None, :])
        else:
            sxx_new = sxx + 2 * sx * delta + nk[:, None] * delta ** 2
        return nk, sx_new, sxx_new

    def shared_parameters(self):
        """A tied covariance is shared by all components."""
        return ("covariances", "precisions_cholesky") if self.covariance_type == "tied" \
            else ()

    # -------------------------------------------------------- initialization
    def initialize(self, X, sample_weight, random_state):
        """Initial parameters as scikit-learn's ``_initialize_parameters``.

        Responsibilities come from ``init_params``; user ``weights_init``,
        ``means_init`` and ``precisions_init`` then replace what they give.
        When all three are given no data-driven initialization runs.
        """
        K = self.n_components
        # rows with NaN (missing='marginalize'): the data-driven start and the
        # data description use column means in their place
        X = gaussian_missing.fill_column_means(X, sample_weight)
        self.describe_data(X, sample_weight)
        given = (self.weights_init, self.means_init, self.precisions_init)
        if all(v is not None for v in given):
            params = {"weights": self.weights_init, "means": self.means_init}
            params["precisions_cholesky"] = precision_cholesky_from_precisions(
                self.precisions_init, self.covariance_type)
            params["covariances"] = covariances_from_precision_cholesky(
                params["precisions_cholesky"], self.covariance_type)
            return _copy(params)
        stats, shift = self._initial_statistics(X, sample_weight, random_state)
        try:
            params = self.maximize(stats, {"means": shift})
        except ComponentCollapse as exc:
            if self.on_collapse != "reseed" or not exc.reseedable:
                raise
            params = self.reseed(stats, {"means": shift}, exc.components)
        if self.weights_init is not None:
            params["weights"] = self.weights_init.copy()
        if self.means_init is not None:
            params["means"] = self.means_init.copy()
        if self.precisions_init is not None:
            params["precisions_cholesky"] = precision_cholesky_from_precisions(
                self.precisions_init, self.covariance_type)
            params["covariances"] = covariances_from_precision_cholesky(
                params["precisions_cholesky"], self.covariance_type)
        assert params["means"].shape[0] == K
        return params

    def _initial_statistics(self, X, w, random_state):
        """Statistics of the initial responsibilities, and the shift they are around."""
        K = self.n_components
        if self.init_params in ("k-means++", "random_from_data"):
            # seeds are rows of positive weight only (a zero-weight row is
            # not data); with all weights positive, scikit-learn's draws
            if self.init_params == "random_from_data":
                idx = choose_seed_rows(K, w, random_state)
            else:
                from sklearn.cluster import kmeans_plusplus
                if np.count_nonzero(w) < K:
                    choose_seed_rows(K, w, random_state)  # raises the clear error
                _, idx = kmeans_plusplus(X, K, random_state=random_state,
                                         sample_weight=np.asarray(w, np.float64))
            # one-hot responsibilities on K chosen rows: each mean is its row
            shift = np.asarray(X[idx], dtype=np.float64)
            zeros = np.zeros((K, X.shape[1], X.shape[1])) if self._full_moments \
                else np.zeros((K, X.shape[1]))
            return (np.ones(K), np.zeros_like(shift), self._per_factor(zeros)), shift
        if self.init_params == "kmeans":
            from .kmeans import kmeans_labels
            labels = kmeans_labels(X, w, K, random_state, self.n_jobs)
            return self._label_statistics(X, w, labels)
        return self._random_statistics(X, w, random_state)

    def _label_statistics(self, X, w, labels):
        """Statistics of one-hot responsibilities given by ``labels``, around
        each component's weighted mean; a component's rows are gathered about
        :data:`GATHER_SIZE` values at a time (X is never copied whole)."""
        K, D = self.n_components, X.shape[1]
        nk = np.bincount(labels, weights=w, minlength=K)
        order = np.argsort(labels, kind="stable")
        bounds = np.searchsorted(labels[order], np.arange(K + 1))
        shift = np.zeros((K, D))
        sxx = np.zeros((K, D, D)) if self._full_moments else np.zeros((K, D))
        for k in range(K):
            rows = order[bounds[k]:bounds[k + 1]]
            if rows.size == 0:
                continue
            step = max(1, GATHER_SIZE // D)
            chunks = [rows[i:i + step] for i in range(0, rows.size, step)]
            total = w[rows].sum()  # all-zero weights: any point will do (nk is 0)
            shift[k] = (sum(w[c] @ np.asarray(X[c], dtype=np.float64) for c in chunks)
                        / total if total > 0 else X[rows[0]])
            for c in chunks:
                d = np.asarray(X[c], dtype=np.float64) - shift[k]
                sxx[k] += (d * w[c][:, None]).T @ d if self._full_moments else w[c] @ (d * d)
        return (nk, np.zeros((K, D)), self._per_factor(sxx)), shift

    def _random_statistics(self, X, w, random_state):
        """Statistics of uniform-random responsibilities, drawn chunk by chunk.

        Draws the same numbers, in the same order, as scikit-learn's single
        ``uniform(size=(n_samples, n_components))`` call, without an N x K array.
        """
        K, D = self.n_components, X.shape[1]
        center = (w @ X) / w.sum()
        shift = np.repeat(center[None], K, axis=0)
        nk = np.zeros(K)
        sx = np.zeros((K, D))
        sxx = np.zeros((K, D, D)) if self._full_moments else np.zeros((K, D))
        for start, stop, r in random_responsibilities(X.shape[0], K, w, random_state,
                                                      _config.PREDICT_CHUNK_ROWS):
            d = np.asarray(X[start:stop], dtype=np.float64) - center
            nk += r.sum(axis=0)
            sx += r.T @ d
            if self._full_moments:
                sxx += np.einsum("nk,nd,ne->kde", r, d, d, optimize=True)
            else:
                sxx += r.T @ (d * d)
        return (nk, sx, self._per_factor(sxx)), shift

    # ------------------------------------------------------------ the rest
    def n_parameters(self, params):
        K, D = params["means"].shape
        cov_params = {"full": K * D * (D + 1) / 2, "diag": K * D,
                      "tied": D * (D + 1) / 2, "spherical": K}[self.covariance_type]
        return int(cov_params + K * D + K - 1)

    def sample(self, params, n_samples, random_state):
        """Draw ``n_samples`` points; returns ``(X, labels)`` as scikit-learn's ``sample``."""
        weights, means, cov = params["weights"], params["means"], params["covariances"]
        counts = random_state.multinomial(n_samples, weights)
        ct = self.covariance_type
        if ct == "full":
            X = np.vstack([random_state.multivariate_normal(m, c, int(n))
                           for m, c, n in zip(means, cov, counts)])
        elif ct == "tied":
            X = np.vstack([random_state.multivariate_normal(m, cov, int(n))
                           for m, n in zip(means, counts)])
        else:
            X = np.vstack([m + random_state.standard_normal(size=(n, means.shape[1]))
                           * np.sqrt(c) for m, c, n in zip(means, cov, counts)])
        labels = np.concatenate([np.full(n, j, dtype=int) for j, n in enumerate(counts)])
        return X, labels


def _is_far(b_norm2):
    """(K,) bool: components whose squared distance from the center, in their
    own standard deviations, is too large for the shifted quadratic forms."""
    return ~(b_norm2 <= kernels.FAR_FROM_CENTER)  # NaN counts as far


def _exact_components(b_norm2):
    """The passes' ``exact``: :func:`_is_far`, or None when no component is
    (the kernels' specialization without that path, quicker to compile)."""
    far = _is_far(b_norm2)
    return far if far.any() else None


def _checked_precision_cholesky(cov, covariance_type, floor):
    """Precision Cholesky factors of full/tied ``cov``, with the collapse test.

    A covariance fails when its Cholesky factorization fails or a squared
    pivot (variance of feature ``d`` given features ``< d``) is at most
    ``floor[d]``.

    Returns
    -------
    prec_chol, failure
        ``failure`` is None, or ``(components, k, d, pivot variance)`` for the
        failed components (k None for tied) and the first one's feature.
    """
    tied = covariance_type == "tied"
    covs = cov[None] if tied else cov
    out = np.empty_like(covs)
    eye = np.eye(covs.shape[-1])
    failed, first = [], None
    for k, c in enumerate(covs):
        try:
            c_chol = linalg.cholesky(c, lower=True)
            pivots = np.diag(c_chol) ** 2
            ok = bool(np.all(pivots > floor))
        except (linalg.LinAlgError, ValueError):  # not PD, or NaN/inf entries
            ok = False
        if not ok:
            failed.append(k)
            if first is None:
                first = (k, *_first_low_pivot(c, floor))
            continue
        out[k] = linalg.solve_triangular(c_chol, eye, lower=True).T
    if failed:
        if tied:
            return None, ([None], None, first[1], first[2])
        return None, (failed, first[0], first[1], first[2])
    return (out[0] if tied else out), None


#: Safe range of the data, per dtype: a feature's mean square E[x^2] at most
#: ``max_scale`` (squared deviations and their sums must not overflow) and a
#: non-constant feature's variance at least ``min_variance`` (its precision
#: must not overflow); a component variance below ``min_component`` counts as
#: collapsed. float32 X is fitted with float32 log-density terms and returns
#: float32 parameters, hence its narrower range. 1e±150 data fit in float64.
_RANGE = {
    np.dtype(np.float32): dict(max_scale=1e34, min_variance=1e-30, min_component=1e-36),
    np.dtype(np.float64): dict(max_scale=1e306, min_variance=1e-306,
                               min_component=1e-305),
}


def _evenly_spaced_rows(w, n_rows):
    """Indices of at most ``n_rows`` evenly spaced rows of positive weight ``w``."""
    positive = w > 0
    candidates = None if positive.all() else np.flatnonzero(positive)
    m = w.shape[0] if candidates is None else candidates.size
    k = min(m, n_rows)
    picks = np.arange(k) * (m - 1) // max(k - 1, 1)  # increasing: k <= m
    return picks if candidates is None else candidates[picks]


def _check_data_range(X, data_cov, scale):
    """Refuse X whose squares or precisions would overflow its dtype."""
    limits = _RANGE[np.dtype(X.dtype)]
    var = np.diag(data_cov)
    too_big = ~(scale <= limits["max_scale"])  # inf/NaN (overflowed) included
    too_small = var < limits["min_variance"]
    if too_small.any():  # rare: only a feature that is not constant is refused
        cols = np.flatnonzero(too_small)
        sub = np.asarray(X)[:, cols]
        too_small[cols] = sub.max(axis=0) > sub.min(axis=0)
    bad = np.flatnonzero(too_big | too_small)
    if bad.size:
        d = int(bad[0])
        what = (f"its mean square is {scale[d]:.3g} (above {limits['max_scale']:g})"
                if too_big[d] else
                f"its variance is {var[d]:.3g} (below {limits['min_variance']:g})")
        fix = ("Pass X.astype(np.float64), or rescale X (e.g. standardize it)."
               if X.dtype == np.float32 else "Rescale X (e.g. standardize it).")
        raise ValueError(
            f"X is {X.dtype} and feature {d} is out of {X.dtype}'s safe range: {what}, "
            f"so squared deviations or precisions would overflow {X.dtype}. {fix}")


def _first_low_pivot(c, floor):
    """Feature and value of the first Cholesky pivot of ``c`` at most ``floor[d]``.

    A plain Cholesky that never fails, run only to name the feature in an
    error message: the pivot of feature ``d`` is its variance given features
    ``< d``.
    """
    D = c.shape[0]
    L = np.zeros_like(c)
    for d in range(D):
        pivot = c[d, d] - L[d, :d] @ L[d, :d]
        if not pivot > floor[d]:
            return d, float(pivot)
        L[d, d] = np.sqrt(pivot)
        L[d + 1:, d] = (c[d + 1:, d] - L[d + 1:, :d] @ L[d, :d]) / L[d, d]
    return 0, float("nan")  # only round-off disagrees with scipy: blame feature 0


def precision_cholesky_from_precisions(precisions, covariance_type):
    """Cholesky factors of user-given precisions (as scikit-learn)."""
    # flip, factor, flip back: an upper-triangular factor, like the one
    # computed from covariances (and scikit-learn's)
    def upper(p):
        return linalg.cholesky(p[::-1, ::-1], lower=True)[::-1, ::-1]

    if covariance_type == "full":
        return np.stack([upper(p) for p in precisions])
    if covariance_type == "tied":
        return np.ascontiguousarray(upper(precisions))
    return np.sqrt(precisions)


def covariances_from_precision_cholesky(prec_chol, covariance_type):
    """Covariances matching the given precision Cholesky factors."""
    if covariance_type in ("diag", "spherical"):
        return 1.0 / prec_chol ** 2
    chols = prec_chol[None] if covariance_type == "tied" else prec_chol
    covs = np.stack([np.linalg.inv(c @ c.T) for c in chols])
    return covs[0] if covariance_type == "tied" else covs


def precisions_from_cholesky(prec_chol, covariance_type):
    """Precision matrices (or vectors) from their Cholesky factors."""
    if covariance_type == "full":
        return np.einsum("kij,klj->kil", prec_chol, prec_chol)
    if covariance_type == "tied":
        return prec_chol @ prec_chol.T
    return prec_chol ** 2


def _copy(params):
    return {k: np.array(v, dtype=np.float64) for k, v in params.items()}
