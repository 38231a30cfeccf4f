"""Poisson family: non-negative counts, a product of Poissons per component.

Parameters: ``weights`` (K,), ``rates`` (K, D), float64. Statistics:
``nk = sum w r`` (K,), ``sx = sum w r x`` (K, D). The M-step is
``rates = sx / nk`` floored at ``smoothing`` (the exact maximizer on
``rates >= smoothing``, so the log-likelihood never decreases).

Missing entries (NaN, with ``missing``): a missing count drops out of its
row's product, and feature d's M-step is ``sx_kd / mass_kd`` with
``mass_kd`` the responsibility mass of the rows that observe it.
"""
import numpy as np
from scipy.special import gammaln

from ._base import relative_floor
from ._counts import LinearFamily

#: counts below this get -log x! from a table; larger ones from lgamma
_TABLE_SIZE = 4096


class PoissonFamily(LinearFamily):
    """Mixture of products of Poissons ``Poisson(rate_kd)``."""

    param_name = "rates"
    _table = -gammaln(np.arange(_TABLE_SIZE, dtype=np.float64) + 1.0)

    def _linear_terms(self, params):
        rates = params["rates"]
        b = self._log_weights(params) - rates.sum(axis=1)
        return np.ascontiguousarray(np.log(rates)), b

    def _missing_terms(self, params):
        rates = params["rates"]
        return np.ascontiguousarray(np.hstack([np.log(rates), -rates]))

    def maximize(self, stats, params):
        nk, sx, mass = self._split(stats)
        rates = np.maximum(sx / (mass + relative_floor(nk)), self.smoothing)
        return {"weights": self._weights(nk, params), "rates": rates}

    def _from_rows(self, X, w, idx):
        rows, mean = self._seed_rows(X, w, idx)
        return np.maximum(0.5 * (rows + mean), self.smoothing)

    def sample(self, params, n_samples, random_state):
        weights, rates = params["weights"], params["rates"]
        counts = random_state.multinomial(n_samples, weights)
        X = np.vstack([random_state.poisson(lam, size=(n, lam.shape[0]))
                       for lam, n in zip(rates, counts)]).astype(np.float64)
        labels = np.concatenate([np.full(n, j, dtype=int) for j, n in enumerate(counts)])
        return X, labels
