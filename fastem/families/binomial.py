"""Binomial family (Bernoulli is ``n_trials=1``): heads out of ``n_trials`` per feature.

Parameters: ``weights`` (K,), ``probs`` (K, D), float64. Statistics:
``nk = sum w r`` (K,), ``sx = sum w r x`` (K, D). The M-step is
``probs = sx / (n_trials nk)`` clipped to ``[smoothing, 1 - smoothing]``,
the exact maximizer of the expected complete log-likelihood on that
interval, so the log-likelihood never decreases.

Missing entries (NaN, with ``missing``): a missing count drops out of its
row's product (``n_trials`` stays per feature), and feature d's M-step is
``sx_kd / (n_trials mass_kd)`` with ``mass_kd`` the responsibility mass of
the rows that observe it.
"""
import numpy as np
from scipy.special import gammaln

from ._base import relative_floor
from ._counts import LinearFamily


class BinomialFamily(LinearFamily):
    """Mixture of products of binomials ``Bin(n_trials, p_kd)``.

    See :class:`~fastem.families._counts.DiscreteFamily` for the parameters;
    ``n_trials`` is the number of trials per feature (1: Bernoulli).
    """

    param_name = "probs"

    def __init__(self, n_components, n_trials=1, **kwargs):
        super().__init__(n_components, **kwargs)
        self.n_trials = int(n_trials)
        n = self.n_trials
        if n > 1:  # log C(n, x) for x = 0..n; Bernoulli has no constant
            x = np.arange(n + 1, dtype=np.float64)
            self._table = gammaln(n + 1.0) - gammaln(x + 1.0) - gammaln(n - x + 1.0)

    def _linear_terms(self, params):
        p = params["probs"]
        log_p, log_q = np.log(p), np.log1p(-p)
        b = self._log_weights(params) + self.n_trials * log_q.sum(axis=1)
        return np.ascontiguousarray(log_p - log_q), b

    def _missing_terms(self, params):
        p = params["probs"]
        log_p, log_q = np.log(p), np.log1p(-p)
        return np.ascontiguousarray(np.hstack([log_p - log_q, self.n_trials * log_q]))

    def maximize(self, stats, params):
        nk, sx, mass = self._split(stats)
        eps = self.smoothing
        heads = sx / (self.n_trials * (mass + relative_floor(nk)))
        probs = np.clip(heads, eps, 1.0 - eps)
        return {"weights": self._weights(nk, params), "probs": probs}

    def _from_rows(self, X, w, idx):
        rows, mean = self._seed_rows(X, w, idx)
        rows, mean = rows / self.n_trials, mean / self.n_trials
        eps = self.smoothing
        return np.clip(0.5 * (rows + mean), eps, 1.0 - eps)

    def sample(self, params, n_samples, random_state):
        weights, probs = params["weights"], params["probs"]
        counts = random_state.multinomial(n_samples, weights)
        X = np.vstack([random_state.binomial(self.n_trials, p, size=(n, p.shape[0]))
                       for p, n in zip(probs, counts)]).astype(np.float64)
        labels = np.concatenate([np.full(n, j, dtype=int) for j, n in enumerate(counts)])
        return X, labels
