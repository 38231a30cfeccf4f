"""MixtureImputer: NaN filled with conditional means under a Gaussian mixture."""
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._base import store_params
from .mixture import GaussianMixture


class MixtureImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Impute missing values (NaN) by a Gaussian mixture fitted around them.

    ``fit`` fits a :class:`~fastem.GaussianMixture` with
    ``missing='marginalize'`` (exact EM on the observed entries, no value
    filled in while fitting); ``transform`` replaces each NaN of a row by its
    conditional mean under the mixture, ``sum_k p(k | x_o) E[x_m | x_o, k]``
    (see :meth:`fastem.GaussianMixture.impute`). A drop-in next to
    ``sklearn.impute.SimpleImputer`` and ``IterativeImputer`` in a ``Pipeline``.

    Parameters
    ----------
    n_components, covariance_type, tol, reg_covar, max_iter, n_init, \
init_params, weights_init, means_init, precisions_init, random_state, \
warm_start, verbose, verbose_interval, n_jobs, chunk_size, on_collapse
        As :class:`~fastem.GaussianMixture` (``n_components`` defaults to 1:
        a single Gaussian, i.e. linear regression of each missing entry on
        the observed ones).

    Attributes
    ----------
    mixture_ : GaussianMixture
        The fitted mixture.
    n_iter_ : int
        EM iterations of the mixture's best run.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        When X had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import MixtureImputer
    >>> X = np.array([[1.0, 2.0], [2.0, 4.1], [3.0, np.nan], [4.0, 7.9]])
    >>> filled = MixtureImputer(random_state=0).fit_transform(X)
    >>> bool(5.5 < filled[2, 1] < 6.5)
    True
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3,
                 reg_covar=1e-6, max_iter=100, n_init=1, init_params="kmeans",
                 weights_init=None, means_init=None, precisions_init=None,
                 random_state=None, warm_start=False, verbose=0, verbose_interval=10,
                 n_jobs=None, chunk_size=None, on_collapse="raise"):
        store_params(self, locals())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X, y=None, sample_weight=None):
        """Fit the mixture on ``X`` (NaN are missing values).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        mixture = self.mixture_ if self.warm_start and hasattr(self, "mixture_") \
            else GaussianMixture()
        mixture.set_params(**self.get_params(), missing="marginalize")
        mixture.fit(X, sample_weight=sample_weight)
        self.mixture_ = mixture
        self.n_iter_ = mixture.n_iter_
        self.n_features_in_ = mixture.n_features_in_
        if hasattr(mixture, "feature_names_in_"):
            self.feature_names_in_ = mixture.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def transform(self, X):
        """``X`` with each NaN replaced by its conditional mean.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
            A new array; ``X`` is not modified.
        """
        check_is_fitted(self, "mixture_")
        return self.mixture_.impute(X)

    def fit_transform(self, X, y=None, sample_weight=None):
        """Fit, then impute ``X``; equal to ``fit(X).transform(X)``."""
        return self.fit(X, sample_weight=sample_weight).transform(X)
