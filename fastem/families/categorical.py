"""Categorical family (latent class analysis): one category code per feature.

Feature ``d`` takes codes ``0 .. n_categories[d] - 1``. All features'
categories are stacked into ``C = sum n_categories`` rows; feature ``d``
starts at ``offsets[d]``.

Parameters: ``weights`` (K,), ``probs`` (K, C) float64, each feature's block
of a row summing to 1. Statistics: ``nk = sum w r`` (K,) and
``counts`` (C, K), the per-category sums of ``w r``. The M-step maximizes
``sum counts log p`` over the simplex with every probability
``>= smoothing`` (exact, by iterative clipping), so the log-likelihood never
decreases.

The pass gathers consecutive features jointly (groups whose category counts
multiply to at most ``_GROUP_CODES``): the kernel sees one table row per
(group, joint code) holding the sum of its features' log-probabilities, and
returns counts per joint code, which are summed back to per-feature counts.
"""
import numpy as np

from ..kernels import discrete as kernels
from ._counts import DiscreteFamily

#: consecutive features are gathered jointly while the product of their
#: category counts stays at most this (one gather per group, not per feature)
_GROUP_CODES = 64


class CategoricalFamily(DiscreteFamily):
    """Mixture of products of categoricals.

    Parameters
    ----------
    n_components : int
    n_categories : (D,) int array
    **kwargs : see :class:`~fastem.families._counts.DiscreteFamily`;
        ``param_init`` is a (K, C) stacked probability array.
    """

    param_name = "probs"

    def __init__(self, n_components, n_categories, **kwargs):
        super().__init__(n_components, **kwargs)
        self.n_categories = np.asarray(n_categories, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.n_categories)[:-1]]).astype(
            np.int64)
        self._make_groups()

    def _make_groups(self):
        """Group consecutive features; joint code = sum code_d * stride_d."""
        groups, current, size = [], [], 1
        for d, c in enumerate(self.n_categories):
            if current and size * c > _GROUP_CODES:
                groups.append(current)
                current, size = [], 1
            current.append(d)
            size *= int(c)
        groups.append(current)
        D = len(self.n_categories)
        self._group = np.array([0] + [f[-1] + 1 for f in groups], dtype=np.int64)
        self._stride = np.empty(D, dtype=np.int64)
        sizes = []
        for g, feats in enumerate(groups):
            stride = 1
            for d in reversed(feats):  # last feature of a group varies fastest
                self._stride[d] = stride
                stride *= int(self.n_categories[d])
            sizes.append(stride)
        self._groups = groups
        self._group_offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        # per group: (joint codes, features) table of each feature's code
        self._joint = [np.stack(np.unravel_index(np.arange(size), self.n_categories[feats]),
                                axis=1) for feats, size in zip(groups, sizes)]

    def _group_table(self, logp):
        """(C, K) per-feature log-probabilities -> (C_joint, K) per joint code."""
        parts = []
        for feats, joint in zip(self._groups, self._joint):
            t = np.zeros((joint.shape[0], logp.shape[1]))
            for col, d in enumerate(feats):
                t += logp[self.offsets[d] + joint[:, col]]
            parts.append(t)
        return np.ascontiguousarray(np.vstack(parts))

    def _statistic(self, joint_counts):
        """(C_joint, K) counts per joint code -> (C, K) counts per (feature, code)."""
        out = np.zeros((int(self.n_categories.sum()), joint_counts.shape[1]))
        for feats, joint, off in zip(self._groups, self._joint, self._group_offsets):
            block = joint_counts[off:off + joint.shape[0]]
            for col, d in enumerate(feats):
                np.add.at(out, self.offsets[d] + joint[:, col], block)
        return out

    def _run(self, X, w, params, want_stats, row_logp, labels, resp, serial):
        logp = self._group_table(np.log(params["probs"]).T)  # (C_joint, K)
        inputs = (X, w, self._group, self._stride, self._group_offsets, logp,
                  self._log_weights(params))
        return self._kernel_call(kernels.categorical_lanes, inputs,
                                 (want_stats, row_logp, labels, resp),
                                 ((self.n_components,), logp.shape), X.shape[0],
                                 self.block_rows, serial)

    # ---------------------------------------------------------------- M-step
    def maximize(self, stats, params):
        nk, counts = stats
        return {"weights": self._weights(nk, params),
                "probs": self._project(counts.T)}

    def _project(self, counts):
        """Per feature and component: argmax of ``sum c log p`` with ``p >= eps``."""
        eps = self.smoothing
        probs = np.empty_like(counts, dtype=np.float64)
        for off, n_cat in zip(self.offsets, self.n_categories):
            c = counts[:, off:off + n_cat]
            clipped = np.zeros(c.shape, dtype=bool)
            for _ in range(n_cat):
                n_free = n_cat - clipped.sum(axis=1, keepdims=True)
                free_mass = 1.0 - eps * (n_cat - n_free)
                free_total = np.where(clipped, 0.0, c).sum(axis=1, keepdims=True)
                safe = np.where(free_total > 0, free_total, 1.0)
                p = np.where(free_total > 0, c * free_mass / safe, free_mass / n_free)
                p = np.where(clipped, eps, p)
                new = (p < eps) & ~clipped
                if not new.any():
                    break
                clipped |= new
            probs[:, off:off + n_cat] = p
        return probs

    # -------------------------------------------------------- initialization
    def _resp_statistics(self, X, r):
        counts = np.zeros((int(self.n_categories.sum()), r.shape[1]))
        for d, off in enumerate(self.offsets):
            np.add.at(counts, off + X[:, d], r)
        return r.sum(axis=0), counts

    def _from_rows(self, X, w, idx):
        K = len(idx)
        freq = self._resp_statistics(X, w[:, None])[1][:, 0] / w.sum()
        onehot = np.zeros((K, freq.shape[0]))
        for d, off in enumerate(self.offsets):
            onehot[np.arange(K), off + X[idx, d]] = 1.0
        return self._project(0.5 * (onehot + freq))

    # ------------------------------------------------------------ the rest
    def n_parameters(self, params):
        K = self.n_components
        return int(K * (self.n_categories - 1).sum()
                   + (K - 1 if self.learn_weights else 0))

    def split(self, probs):
        """Stacked (K, C) probabilities -> list of (K, n_categories[d]) arrays."""
        return [probs[:, off:off + n] for off, n in zip(self.offsets, self.n_categories)]

    def sample(self, params, n_samples, random_state):
        weights, probs = params["weights"], params["probs"]
        counts = random_state.multinomial(n_samples, weights)
        D = self.n_categories.shape[0]
        parts = []
        for k, n in enumerate(counts):
            x = np.empty((n, D), dtype=np.int64)
            for d, p in enumerate(self.split(probs)):
                cdf = np.cumsum(p[k])
                x[:, d] = np.minimum(np.searchsorted(cdf, random_state.uniform(size=n)
                                                     * cdf[-1], side="right"),
                                     self.n_categories[d] - 1)
            parts.append(x)
        labels = np.concatenate([np.full(n, j, dtype=int) for j, n in enumerate(counts)])
        return np.vstack(parts), labels
