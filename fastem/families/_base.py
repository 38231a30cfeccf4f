"""What a model family provides to the EM driver and the estimators.

A family is a small object: the layout of its sufficient statistics, its
statistics pass, its M-step, its initializer and its parameter count. The
driver never looks inside parameters or statistics; it only calls these
methods. Parameters are a dict of float64 arrays; statistics are a tuple of
float64 arrays, additive across chunks of rows evaluated at the same
parameters (which is what chunked, distributed and online fitting rely on).
"""
import numpy as np


class Family:
    """Interface of a mixture family (documentation and defaults only).

    Missing values (NaN in X)
    -------------------------
    An estimator with ``missing='marginalize'`` lets NaN through validation
    (infinity is always refused); its family must then marginalize them.
    The contract, shared by every family that does (``handles_missing``):

    - The data source records whether X holds any NaN (``source.has_nan``).
      Before a fit, the estimator checks that every feature is observed in
      some row of positive weight (``source.observed_summary()``, per-feature
      ``(count, weight)``; :func:`fastem._validation.check_observed`), so a
      family never sees a feature without data. :meth:`prepare` may read
      ``source.has_nan`` and ``source.observed_summary()``.
    - When the source holds NaN, *every* pass over it (each chunk, Dask block
      or the whole array) calls ``statistics(X, w, params, serial=...,
      missing=rows)`` and ``row_outputs(X, params, want_resp, serial=...,
      missing=rows)``, ``rows`` a :class:`fastem._missing.MissingRows` of that
      ``X`` (a given chunk may have no NaN; ``rows.groups()`` gives rows
      grouped by missingness pattern, computed once per in-memory fit).
      Without NaN the keyword is not passed at all, so a family that does not
      handle missing values needs no change, and one that does runs exactly
      its complete-data pass (bit-for-bit the fit without
      ``missing='marginalize'``).
    - A missing entry is marginalized: it drops out of the row's likelihood
      (exact for product-form families; the observed-coordinates marginal for
      Gaussians) and the M-step uses its expected statistics (or divides by
      the responsibility mass of the rows that observe the feature). The
      statistics keep their layout and stay additive, so chunked, Dask and
      ``partial_fit`` work unchanged. ``loglik`` is the observed-data
      log-likelihood.
    - A row with no observed value contributes nothing to the statistics or
      ``loglik`` (its log-likelihood is 0; ``row_outputs`` gives it label
      ``argmax(weights)`` and responsibilities equal to the weights).
    - :meth:`initialize` may receive rows with NaN (the init sample).
    """

    #: whether the family's passes accept ``missing=`` (see above); a fit
    #: on X holding NaN with a family without it is refused (a guard: the
    #: estimator's validation should have refused the NaN already)
    handles_missing = False

    #: what the M-step does with a collapsed component: ``'raise'``, or
    #: ``'reseed'`` (then the driver calls :meth:`reseed` instead)
    on_collapse = "raise"

    #: the lower bound of an EM iteration, ``objective(stats, loglik,
    #: new_params) -> float`` (variational Bayes: the ELBO); None: the mean
    #: log-likelihood ``loglik / total weight``
    objective = None

    def prepare(self, source):
        """Learn what the fit needs from all of the data before initializing
        (e.g. data-dependent priors); ``source`` is a data source of
        :mod:`fastem._data`. Nothing by default."""

    def initialize(self, X, sample_weight, random_state):
        """Initial parameters from data (honouring any user ``*_init``)."""
        raise NotImplementedError

    def statistics(self, X, sample_weight, params, serial=False):
        """One pass over ``X``: ``(stats, loglik)`` with ``loglik = sum w log p(x)``.

        Families with ``handles_missing`` also take ``missing=`` (see the
        class docstring)."""
        raise NotImplementedError

    def maximize(self, stats, params):
        """M-step: new parameters from ``stats`` accumulated at ``params``."""
        raise NotImplementedError

    def _run(self, X, w, params, want_stats, row_logp, labels, resp, serial):
        """One pass of the family's kernel over ``X``: statistics when
        ``want_stats``, else the per-row outputs (written into the arrays)."""
        raise NotImplementedError

    def row_outputs(self, X, params, want_resp=False, serial=False):
        """Per-row ``(log p(x), label, responsibilities or None)`` for predict."""
        n = X.shape[0]
        row_logp = np.empty(n)
        labels = np.empty(n, dtype=np.int64)
        resp = np.empty((n if want_resp else 0, self.n_components))
        self._run(X, np.ones(0), params, False, row_logp, labels, resp, serial)
        return row_logp, labels, (resp if want_resp else None)

    def reseed(self, stats, params, components):
        """M-step that re-seeds the collapsed ``components`` (``on_collapse='reseed'``)."""
        raise NotImplementedError

    def adopt_data_description(self, other):
        """Reuse what ``other``, a previous fit's family, learned about the
        data (warm start). Nothing by default."""

    def rebase(self, stats, from_params, to_params):
        """Express ``stats`` accumulated at ``from_params`` as if at ``to_params``.

        Only families whose statistics are taken around a parameter-dependent
        shift need this (online EM blends statistics of different steps);
        raw statistics are returned unchanged.
        """
        return stats

    def shared_parameters(self):
        """Names of the parameters shared by all components; every other
        parameter array is per component along its first axis."""
        return ()

    def permute_components(self, params, order):
        """Parameters with component ``order[c]`` of ``params`` as component ``c``."""
        shared = self.shared_parameters()
        return {name: value if name in shared else value[order]
                for name, value in params.items()}

    def take_components(self, params, other, components):
        """``params`` with the ``components`` (and the shared parameters) of
        ``other``; the mixing weights stay those of ``params``."""
        shared = self.shared_parameters()
        out = {}
        for name, value in params.items():
            if name in shared:
                out[name] = other[name].copy()
                continue
            out[name] = value.copy()
            if name != "weights":
                out[name][components] = other[name][components]
        return out

    def hold_rows(self, X, sample_weight):
        """Keep a few rows for the M-step's use (re-seeding) until :meth:`release_rows`."""

    def release_rows(self):
        """Drop every training row held: a fitted model keeps no data."""

    def n_parameters(self, params):
        """Number of free parameters (for BIC/AIC)."""
        raise NotImplementedError

    def sample(self, params, n_samples, random_state):
        """Draw ``(X, labels)`` from the mixture."""
        raise NotImplementedError


def relative_floor(nk):
    """A floor for each component's total responsibility ``nk``, relative to
    the total weight: empty components never divide by zero, and scaling every
    sample weight by any factor scales the floor alike (the fit does not
    depend on the weights' unit)."""
    return 10 * np.finfo(np.float64).eps * nk.sum()


def choose_seed_rows(n_components, sample_weight, random_state):
    """``n_components`` distinct rows drawn uniformly among rows of positive weight.

    With every weight positive, the same draw as scikit-learn's
    ``random_state.choice(n_samples, size=n_components, replace=False)``.
    A zero-weight row is never chosen (it is not part of the data).
    """
    w = np.asarray(sample_weight)
    positive = np.flatnonzero(w > 0)
    if positive.size < n_components:
        raise ValueError(
            f"sample_weight has {positive.size} positive entries, but n_components="
            f"{n_components} needs at least {n_components} rows of positive weight "
            "to initialize.")
    if positive.size == w.shape[0]:
        return random_state.choice(w.shape[0], size=n_components, replace=False)
    return positive[random_state.choice(positive.size, size=n_components, replace=False)]


def add_statistics(a, b):
    """Sum two statistics tuples of the same family (element-wise)."""
    return tuple(x + y for x, y in zip(a, b))


def random_responsibilities(n_samples, n_components, sample_weight, random_state,
                            chunk_rows):
    """Yield ``(start, stop, r)``: uniform-random, row-normalized, weighted responsibilities.

    Draws the same numbers, in the same order, as scikit-learn's single
    ``uniform(size=(n_samples, n_components))`` call, ``chunk_rows`` rows at a
    time, so the initialization never holds an N x K array.
    """
    for start in range(0, n_samples, chunk_rows):
        stop = min(start + chunk_rows, n_samples)
        r = random_state.uniform(size=(stop - start, n_components))
        r /= r.sum(axis=1, keepdims=True)
        r *= sample_weight[start:stop, None]
        yield start, stop, r

