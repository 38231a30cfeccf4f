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
from ._data import ArrayData, default_chunk_rows
from ._labels import LabelledData, check_labels, labelled_start
from ._missing import MISSING_OPTIONS
from ._threads import one_blas_thread
from ._validation import (check_data, check_feature_names, check_float, check_int,
                          check_n_features, check_observed, check_option,
                          check_random_state)


def store_params(estimator, args):
    """Set each constructor argument (``locals()`` of ``__init__``) as an
    attribute of the same name (scikit-learn's convention: ``__init__``
    stores its arguments unchanged)."""
    for name, value in args.items():
        if name != "self":
            setattr(estimator, name, value)


def _is_dask_array(X):
    """True for a ``dask.array.Array`` (without importing Dask when it is unused)."""
    return type(X).__module__.startswith("dask.") and hasattr(X, "to_delayed")


def _check_handles_missing(estimator, family, source):
    """A guard: NaN reach only families whose passes marginalize them."""
    if source.has_nan and not family.handles_missing:
        raise ValueError(f"X contains NaN and {type(estimator).__name__} cannot "
                         f"marginalize missing values; remove or impute them.")


def _reseeder(family):
    """The family's re-seeding M-step when it was built with ``on_collapse='reseed'``."""
    if family.on_collapse == "reseed":
        return family.reseed
    return None


def _initial_params(family, source, sample, random_state):
    """The family's initialization from ``sample`` (the source's initialization
    rows, ``(X, w)``); with partly labelled rows, then informed by the labels
    (see :func:`~fastem._labels.labelled_start`)."""
    params = family.initialize(*sample, random_state)
    if not isinstance(source, LabelledData):
        return params
    return labelled_start(
        family, source, params, sample,
        lambda stats, p: _driver.m_step(family.maximize, _reseeder(family), stats, p)[0])


class BaseMixture(DensityMixin, BaseEstimator):
    """Mixture fitted by EM; subclasses bind a family (see module docstring)."""

    #: rows of X needed at the least, as scikit-learn's mixtures
    _min_samples = 2
    # defaults of the streaming and online parameters for estimators that
    # do not take them in their constructor
    chunk_size = None
    learning_decay = 0.7
    learning_offset = 10.0
    #: why ``fit`` refuses ``y``; None: partly labelled rows are supported
    _labels_refused = None
    # estimators without a ``missing`` parameter refuse NaN in X
    missing = "raise"

    # --------------------------------------------------------------- hooks
    def _make_family(self, n_features):
        """Return the family for these constructor parameters (validated)."""
        raise NotImplementedError

    def _set_attributes(self, params, dtype):
        """Set the fitted public attributes from float64 ``params``."""
        raise NotImplementedError

    def _check_streamable(self):
        """Refuse settings that need all rows at once when X comes in pieces."""

    def _check_X(self, X, name="X", reset=False):
        """Validate X (families with a data domain override this)."""
        dtype = None if reset else getattr(self, "_fit_dtype", None)
        return check_data(X, name, dtype=dtype, owner=self,
                          allow_nan=BaseMixture._allows_nan(self))

    def _allows_nan(self):
        """True with ``missing='marginalize'``: NaN in X are missing values.

        (Estimators borrowing ``_source``/``_check_X`` without the attribute
        refuse NaN.)"""
        return check_option(getattr(self, "missing", "raise"), "missing",
                            MISSING_OPTIONS, owner=self) == "marginalize"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.missing == "marginalize"
        return tags

    # ------------------------------------------------------------ fitting
    def _check_common_params(self):
        check_int(self.n_components, "n_components", low=1, owner=self)
        check_float(self.tol, "tol", low=0.0, owner=self)
        check_int(self.max_iter, "max_iter", low=0, owner=self)
        check_int(self.n_init, "n_init", low=1, owner=self)
        check_int(self.verbose, "verbose", low=0, owner=self)
        check_int(self.verbose_interval, "verbose_interval", low=1, owner=self)
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise TypeError(f"warm_start must be a bool, got {self.warm_start!r}.")
        self._allows_nan()  # validates ``missing``

    def _source(self, X, sample_weight=None, reset=False):
        """The rows of ``X`` as a data source: Dask, streamed in chunks, or in memory.

        A ``dask.array.Array`` gives a distributed source; a ``np.memmap`` (or
        any array when ``chunk_size`` is set) is streamed in row chunks; anything
        else is validated and processed whole.
        """
        def check(chunk):
            return self._check_X(chunk, reset=reset)

        check_feature_names(self, X, reset=reset)  # DataFrame column names
        allow_nan = BaseMixture._allows_nan(self)
        if _is_dask_array(X):
            from .distributed import DaskData
            if reset:
                self._check_streamable()
            source = DaskData(X, check, allow_nan)
        else:
            if isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[0] > 0:
                chunk_rows = self.chunk_size
                if chunk_rows is None and isinstance(X, np.memmap):
                    chunk_rows = default_chunk_rows(X.shape[1], X.dtype.itemsize)
            else:
                chunk_rows = None
            if reset and chunk_rows is not None and chunk_rows < X.shape[0]:
                self._check_streamable()
            source = ArrayData(X, check, chunk_rows, allow_nan)
        if not reset:
            check_n_features(source, self.n_features_in_,
                             estimator=type(self).__name__)
        source.set_weights(sample_weight)
        return source

    def _with_labels(self, source, X, y):
        """``source`` with the partly known components ``y`` (see :mod:`fastem._labels`).

        None, or a ``y`` of only -1, returns ``source`` itself: the fit is
        then the unlabelled fit, bit for bit.
        """
        if y is None:
            return source
        name = type(self).__name__
        if self._labels_refused is not None:
            raise ValueError(f"{name} does not take y (partly labelled rows): "
                             f"{self._labels_refused}. Pass y=None.")
        if _is_dask_array(X) or _is_dask_array(y):
            raise ValueError("y (partly labelled rows) is not supported with Dask "
                             "arrays; pass y=None, or fit NumPy (or np.memmap) X with a "
                             "NumPy y.")
        labels = check_labels(y, source.n_samples, self.n_components)
        return source if labels is None else LabelledData(source, labels)

    def _check_observed(self, source):
        """With NaN in the rows to fit: every feature observed in a row of
        positive weight (else a ValueError naming the feature)."""
        if source.has_nan:
            check_observed(*source.observed_summary())

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters by EM (best of ``n_init`` runs).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A NumPy array, a ``np.memmap`` (streamed in chunks, bounded
            memory) or a ``dask.array.Array`` (fitted on the Dask cluster).
        y : array-like of shape (n_samples,), default=None
            Partly known components: ``y[i] = k`` (``0 <= k < n_components``)
            fixes row ``i``'s responsibilities to component ``k`` in every
            E-step, ``-1`` leaves the row unlabelled (scikit-learn's
            semi-supervised convention). A labelled row adds
            ``log weights_[k] + log p(x | k)`` to the lower bound. With every
            row labelled the fit is the per-class maximum likelihood (for a
            Gaussian: per-class means and covariances, plus ``reg_covar``),
            reached in the first M-step. Given initial parameters
            (``*_init``) are the start as they are; else the initialization
            runs as without labels, its components are renumbered to match
            the labelled classes, and each labelled component is re-estimated
            from its labelled rows widened half-way towards the data (see
            :func:`fastem._labels.labelled_start`). None, or all -1: the
            unlabelled fit, bit for bit. A NumPy array aligned with the rows
            (also for a memmap X); refused (ValueError) with a Dask X.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight counts as that many
            copies of the row.

        Returns
        -------
        self
        """
        self._fit(X, sample_weight, y)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the most probable component of each row, shape (n_samples,).

        Equal to ``fit(X, y).predict(X)`` for any ``max_iter`` and ``tol``:
        the prediction of a labelled row is the model's, not its label.
        """
        source = self._fit(X, sample_weight, y)
        return source.row_outputs(self._family, self._params)[1]

    def _fit(self, X, sample_weight, y=None):
        self._check_common_params()
        if self.chunk_size is not None:
            check_int(self.chunk_size, "chunk_size", low=1, owner=self)
        source = self._source(X, sample_weight, reset=True)
        self._check_observed(source)
        source = self._with_labels(source, X, y)
        needed = max(self._min_samples, self.n_components)
        if source.n_samples < needed:
            raise ValueError(f"X has {source.n_samples} samples, but n_components="
                             f"{self.n_components} needs at least {needed}.")
        warm = self.warm_start and hasattr(self, "_params")
        if warm:
            check_n_features(source, self.n_features_in_,
                             estimator=type(self).__name__)
        family = self._make_family(source.n_features)
        _check_handles_missing(self, family, source)
        family.prepare(source)
        random_state = check_random_state(self.random_state, owner=self)
        if warm:
            family.adopt_data_description(self._family)
            if _reseeder(family) is not None:  # no initialization builds the pool
                family.hold_rows(*source.init_sample(random_state))
        with one_blas_thread():  # the M-steps between passes too
            run = _driver.fit_em(
                lambda params: source.statistics(family, params),
                family.maximize,
                lambda: _initial_params(family, source, source.init_sample(random_state),
                                        random_state),
                n_init=self.n_init, total_weight=source.total_weight, tol=self.tol,
                max_iter=self.max_iter,
                warm_params=self._params if warm else None,
                warm_lower_bound=self.lower_bound_ if warm else -np.inf,
                verbose=self.verbose, verbose_interval=self.verbose_interval,
                reseed=_reseeder(family), objective=family.objective)
        family.release_rows()  # a fitted model holds no training rows
        self._store(family, run.params, source)
        self.converged_ = run.converged
        self.n_iter_ = run.n_iter
        self.lower_bound_ = run.lower_bound
        self.lower_bounds_ = list(run.lower_bounds)
        self.n_reseeds_ = len(run.reseeded)
        # partial_fit continues from this fit: its running statistics start
        # as the last pass's, per unit weight (see ``partial_fit``)
        self._online = {
            "stats": None if run.stats is None else
            tuple(s / source.total_weight for s in run.stats),
            "params": run.stats_params, "steps": 0, "prior_steps": 0.0,
            "fit_weight": source.total_weight, "reseeds": 0}
        return source

    def _store(self, family, params, source):
        self._family = family
        self._params = params
        self._fit_dtype = source.dtype
        self.n_features_in_ = source.n_features
        self._set_attributes(params, source.dtype)

    def partial_fit(self, X, y=None, sample_weight=None):
        """One step of online (stepwise) EM on a batch of rows.

        The batch's statistics, at the current parameters and per unit of
        weight, are blended into running statistics with step size
        ``(prior_steps + n_steps + learning_offset) ** -learning_decay``
        (Cappé & Moulines 2009; Liang & Klein 2009), then the M-step runs on
        the running statistics.

        On an unfitted estimator the first call initializes from its batch
        (``init_params``, ``*_init``) and ``prior_steps`` is 0. After
        :meth:`fit` the stream continues from the fitted parameters: the
        running statistics start as the fit's last statistics pass (per unit
        weight), and the fit counts as if its data had already been streamed
        in batches like the first one, ``prior_steps = fit weight / batch
        weight``, so a small batch moves a model fitted on much data a little
        (a batch of n rows after a fit on N rows has step about
        ``(N / n) ** -learning_decay``).

        ``lower_bound_`` is the batch's mean log-likelihood before the step,
        ``lower_bounds_`` the history of the stream (restarted by ``fit``),
        ``n_iter_`` its number of steps.

        Parameters
        ----------
        X : array-like of shape (n_batch, n_features)
        y : array-like of shape (n_batch,), default=None
            Partly known components of the batch's rows, as in :meth:`fit`
            (-1: unlabelled); the first batch's labels also inform the
            initialization as in :meth:`fit`.
        sample_weight : array-like of shape (n_batch,), default=None

        Returns
        -------
        self
        """
        self._check_common_params()
        check_float(self.learning_decay, "learning_decay", low=0.5, high=1.0, owner=self)
        check_float(self.learning_offset, "learning_offset", low=1.0, owner=self)
        first = getattr(self, "_online", None) is None
        source = self._source(X, sample_weight, reset=first)
        if first:  # the batch initializes every feature
            self._check_observed(source)
        source = self._with_labels(source, X, y)
        if first:
            family = self._make_family(source.n_features)
            _check_handles_missing(self, family, source)
            rows, w = source.init_sample(check_random_state(self.random_state, owner=self))
            if rows.shape[0] < self.n_components:
                raise ValueError(f"The first batch has {rows.shape[0]} samples, but "
                                 f"n_components={self.n_components} needs at least "
                                 f"{self.n_components} to initialize.")
            with one_blas_thread():
                params = _initial_params(family, source, (rows, w),
                                         check_random_state(self.random_state, owner=self))
            self._online = {"stats": None, "params": None, "steps": 0,
                            "prior_steps": 0.0, "reseeds": 0}
            self.lower_bounds_ = []
        else:
            family, params = self._family, self._params
            if _reseeder(family) is not None:  # re-seed from this batch's rows
                family.hold_rows(*source.init_sample(
                    check_random_state(self.random_state, owner=self)))
        state = self._online
        stats, loglik = source.statistics(family, params)
        batch = tuple(s / source.total_weight for s in stats)
        if "fit_weight" in state:  # first step after fit: a new stream begins
            state["prior_steps"] = state.pop("fit_weight") / source.total_weight
            self.lower_bounds_ = []
        if state["stats"] is None:
            running = batch
        else:
            step = (state["prior_steps"] + state["steps"]
                    + self.learning_offset) ** -self.learning_decay
            previous = family.rebase(state["stats"], state["params"], params)
            running = tuple((1 - step) * a + step * b for a, b in zip(previous, batch))
        try:
            new_params, reseeded = _driver.m_step(family.maximize, _reseeder(family),
                                                  running, params)
        finally:
            family.release_rows()
        state.update(stats=running, params=params, steps=state["steps"] + 1,
                     reseeds=state["reseeds"] + reseeded)
        self.n_reseeds_ = state["reseeds"]
        self._store(family, new_params, source)
        self.lower_bound_ = loglik / source.total_weight
        self.lower_bounds_.append(self.lower_bound_)
        self.n_iter_ = state["steps"]
        self.converged_ = False
        return self

    # -------------------------------------------------------- predictions
    def _checked(self, X):
        check_is_fitted(self, "_params")
        return self._source(X)

    def score_samples(self, X):
        """Log-likelihood of each row under the model, shape (n_samples,).

        A Dask array in gives a lazy Dask array out.
        """
        return self._checked(X).row_outputs(self._family, self._params)[0]

    def score(self, X, y=None, sample_weight=None):
        """Mean (weighted, if ``sample_weight`` is given) log-likelihood of ``X``."""
        source = self._checked(X)
        source.set_weights(sample_weight)
        return source.mean(source.row_outputs(self._family, self._params)[0])

    def predict(self, X):
        """Most probable component of each row, shape (n_samples,)."""
        return self._checked(X).row_outputs(self._family, self._params)[1]

    def predict_proba(self, X):
        """Posterior probability of each component, shape (n_samples, n_components)."""
        source = self._checked(X)
        return source.row_outputs(self._family, self._params, want_resp=True)[2]

    def bic(self, X):
        """Bayesian information criterion of ``X`` (lower is better)."""
        n = self._checked(X).n_samples
        return -2 * self.score(X) * n + self._n_parameters() * np.log(n)

    def aic(self, X):
        """Akaike information criterion of ``X`` (lower is better)."""
        n = self._checked(X).n_samples
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
        n_samples = check_int(n_samples, "n_samples", low=1, owner=self)
        X, labels = self._family.sample(self._params, n_samples,
                                        check_random_state(self.random_state, owner=self))
        return X.astype(self._fit_dtype, copy=False), labels
