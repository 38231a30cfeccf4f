"""scikit-learn estimator plumbing shared by every mixture.

A concrete mixture builds a :class:`~fastem.families._base.Family` from its
constructor parameters (``_make_family``) and turns fitted parameters into
public attributes (``_set_attributes``); everything else — validation, the
EM driver, predictions, BIC/AIC, sampling — lives here.
"""
import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils.validation import check_is_fitted

from . import _driver
from ._threads import parallel_region
from ._validation import (check_data, check_float, check_int, check_n_features,
                          check_random_state, check_sample_weight)


class BaseMixture(DensityMixin, BaseEstimator):
    """Mixture fitted by EM; subclasses bind a family (see module docstring)."""

    #: rows of X needed at the least, as scikit-learn's mixtures
    _min_samples = 2

    # --------------------------------------------------------------- hooks
    def _make_family(self, n_features):
        """Return the family for these constructor parameters (validated)."""
        raise NotImplementedError

    def _set_attributes(self, params, dtype):
        """Set the fitted public attributes from float64 ``params``."""
        raise NotImplementedError

    def _check_X(self, X, name="X", reset=False):
        """Validate X (families with a data domain override this)."""
        dtype = None if reset else getattr(self, "_fit_dtype", None)
        return check_data(X, name, dtype=dtype)

    # ------------------------------------------------------------ fitting
    def _check_common_params(self):
        check_int(self.n_components, "n_components", low=1)
        check_float(self.tol, "tol", low=0.0)
        check_int(self.max_iter, "max_iter", low=0)
        check_int(self.n_init, "n_init", low=1)
        check_int(self.verbose, "verbose", low=0)
        check_int(self.verbose_interval, "verbose_interval", low=1)
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise TypeError(f"warm_start must be a bool, got {self.warm_start!r}.")

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters by EM (best of ``n_init`` runs).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight counts as that many
            copies of the row.

        Returns
        -------
        self
        """
        self._fit(X, sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the most probable component of each row, shape (n_samples,).

        Equal to ``fit(X).predict(X)`` for any ``max_iter`` and ``tol``.
        """
        X = self._fit(X, sample_weight)
        return self._family.row_outputs(X, self._params)[1]

    def _fit(self, X, sample_weight):
        self._check_common_params()
        X = self._check_X(X, reset=True)
        n_samples, n_features = X.shape
        if n_samples < max(self._min_samples, self.n_components):
            raise ValueError(
                f"X has {n_samples} samples, but n_components={self.n_components} "
                f"needs at least {max(self._min_samples, self.n_components)}.")
        w = check_sample_weight(sample_weight, n_samples)
        warm = self.warm_start and hasattr(self, "_params")
        if warm:
            check_n_features(X, self.n_features_in_)
        family = self._make_family(n_features)
        random_state = check_random_state(self.random_state)
        with parallel_region(self.n_jobs):  # one BLAS limit for the whole fit
            run = _driver.fit_em(
                lambda params: family.statistics(X, w, params),
                family.maximize,
                lambda: family.initialize(X, w, random_state),
                n_init=self.n_init, total_weight=float(w.sum()), tol=self.tol,
                max_iter=self.max_iter,
                warm_params=self._params if warm else None,
                warm_lower_bound=self.lower_bound_ if warm else -np.inf,
                verbose=self.verbose, verbose_interval=self.verbose_interval)
        self._family = family
        self._params = run.params
        self._fit_dtype = X.dtype
        self.n_features_in_ = n_features
        self._set_attributes(run.params, X.dtype)
        self.converged_ = run.converged
        self.n_iter_ = run.n_iter
        self.lower_bound_ = run.lower_bound
        self.lower_bounds_ = list(run.lower_bounds)
        return X

    # -------------------------------------------------------- predictions
    def _checked(self, X):
        check_is_fitted(self, "_params")
        X = self._check_X(X)
        check_n_features(X, self.n_features_in_)
        return X

    def score_samples(self, X):
        """Log-likelihood of each row under the model, shape (n_samples,)."""
        X = self._checked(X)
        return self._family.row_outputs(X, self._params)[0]

    def score(self, X, y=None, sample_weight=None):
        """Mean (weighted, if ``sample_weight`` is given) log-likelihood of ``X``."""
        log_p = self.score_samples(X)
        w = check_sample_weight(sample_weight, log_p.shape[0])
        return float(w @ log_p / w.sum())

    def predict(self, X):
        """Most probable component of each row, shape (n_samples,)."""
        X = self._checked(X)
        return self._family.row_outputs(X, self._params)[1]

    def predict_proba(self, X):
        """Posterior probability of each component, shape (n_samples, n_components)."""
        X = self._checked(X)
        return self._family.row_outputs(X, self._params, want_resp=True)[2]

    def bic(self, X):
        """Bayesian information criterion of ``X`` (lower is better)."""
        n = self._checked(X).shape[0]
        return -2 * self.score(X) * n + self._n_parameters() * np.log(n)

    def aic(self, X):
        """Akaike information criterion of ``X`` (lower is better)."""
        n = self._checked(X).shape[0]
        return -2 * self.score(X) * n + 2 * self._n_parameters()

    def _n_parameters(self):
        return self._family.n_parameters(self._params)

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        labels : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "_params")
        n_samples = check_int(n_samples, "n_samples", low=1)
        X, labels = self._family.sample(self._params, n_samples,
                                        check_random_state(self.random_state))
        return X.astype(self._fit_dtype, copy=False), labels
