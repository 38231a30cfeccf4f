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

Missing entries (a pass given ``missing``): codes come as floats with NaN
marking a missing one, which the kernel reads as code ``-1``. It drops out
of the row's product: in the missing-entry layout of the groups each feature
has one more level, "missing", first, with log-probability 0 and counts that
are discarded, and the kernel's group offsets are shifted so that code
``-1`` indexes it (``offset + sum (code_d + 1) stride_d``). The
M-step normalizes each feature's counts over its observed codes, which is
the division by the responsibility mass of the rows that observe it. A row
observing nothing is ignored in the fit (see
:func:`fastem.kernels.discrete_missing.categorical_missing_lanes`).
"""
import numpy as np

from ..kernels import discrete as kernels
from ..kernels import discrete_missing
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
        self._layouts = {False: _Groups(self.n_categories, False)}

    def _groups_for(self, missing):
        """The group layout of complete codes, or of codes with missing (-1) entries."""
        if missing not in self._layouts:
            self._layouts[missing] = _Groups(self.n_categories, missing)
        return self._layouts[missing]

    def _group_table(self, logp, layout):
        """(C, K) per-feature log-probabilities -> (C_joint, K) per joint code."""
        parts = []
        for feats, joint in zip(layout.groups, layout.joint):
            t = np.zeros((joint.shape[0], logp.shape[1]))
            for col, d in enumerate(feats):
                code = joint[:, col]
                if layout.missing:  # a missing code adds log 1 = 0
                    t += np.where((code >= 0)[:, None],
                                  logp[self.offsets[d] + np.maximum(code, 0)], 0.0)
                else:
                    t += logp[self.offsets[d] + code]
            parts.append(t)
        return np.ascontiguousarray(np.vstack(parts))

    def _statistic(self, sums):
        """(C_joint, K) counts per joint code, with the pass's layout ->
        (C, K) counts per (feature, code); counts of missing codes are dropped."""
        joint_counts, layout = sums
        out = np.zeros((int(self.n_categories.sum()), joint_counts.shape[1]))
        for feats, joint, off in zip(layout.groups, layout.joint, layout.group_offsets):
            block = joint_counts[off:off + joint.shape[0]]
            for col, d in enumerate(feats):
                code = joint[:, col]
                if layout.missing:
                    seen = code >= 0
                    np.add.at(out, self.offsets[d] + code[seen], block[seen])
                else:
                    np.add.at(out, self.offsets[d] + code, block)
        return out

    def _run(self, X, w, params, want_stats, row_logp, labels, resp, serial,
             missing=None):
        if missing is None and X.dtype.kind == "f":
            # float codes of data without NaN (an estimator that accepts
            # missing values keeps float input as float): today's pass
            X = np.ascontiguousarray(X, dtype=np.int32)
        layout = self._groups_for(missing is not None)
        logp = self._group_table(np.log(params["probs"]).T, layout)  # (C_joint, K)
        inputs = (X, w, layout.group, layout.stride, layout.kernel_offsets, logp,
                  self._log_weights(params))
        kernel = (kernels.categorical_lanes if missing is None
                  else discrete_missing.categorical_missing_lanes)
        nk, joint_counts, loglik, const, n_bad = self._kernel_call(
            kernel, inputs, (want_stats, row_logp, labels, resp),
            ((self.n_components,), logp.shape), X.shape[0], self.block_rows, serial)
        return nk, (joint_counts, layout), loglik, const, n_bad

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
        X = _int_codes(X)
        counts = np.zeros((int(self.n_categories.sum()), r.shape[1]))
        for d, off in enumerate(self.offsets):
            seen = X[:, d] >= 0  # missing codes (-1) count nowhere
            if seen.all():
                np.add.at(counts, off + X[:, d], r)
            else:
                np.add.at(counts, off + X[seen, d], r[seen])
        return r.sum(axis=0), counts

    def _from_rows(self, X, w, idx):
        X = _int_codes(X)
        K = len(idx)
        # per-feature frequencies (``_project`` normalizes each feature over
        # its observed codes), averaged with the seed rows' one-hot codes
        freq = self._resp_statistics(X, w[:, None])[1][:, 0] / w.sum()
        onehot = np.zeros((K, freq.shape[0]))
        for d, off in enumerate(self.offsets):
            seen = X[idx, d] >= 0
            onehot[np.arange(K)[seen], off + X[idx, d][seen]] = 1.0
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


def _int_codes(X):
    """Integer codes, a missing (NaN) one as -1 (integer input unchanged)."""
    if X.dtype.kind != "f":
        return X
    return np.where(np.isnan(X), -1, X).astype(np.int64)


class _Groups:
    """How the categorical pass gathers features: consecutive features in
    groups of at most ``_GROUP_CODES`` joint codes.

    Parameters
    ----------
    n_categories : (D,) int64
    missing : bool
        Codes may be -1 (missing): each feature has a "missing" level first
        (level = code + 1).

    Attributes
    ----------
    groups : list of lists of feature indices
    group : (G + 1,) int64 — group g holds features ``group[g]:group[g+1]``
    stride : (D,) int64 — joint level = sum level_d * stride_d
    group_offsets : (G,) int64 — first row of each group in the joint table
    kernel_offsets : (G,) int64 — what the kernel adds to ``sum code_d *
        stride_d`` (``group_offsets`` shifted so that code -1 is level 0)
    joint : list of (size_g, len(group g)) int64 — each joint row's code per
        feature (-1: missing)
    """

    def __init__(self, n_categories, missing):
        self.missing = missing
        shift = 1 if missing else 0
        levels = n_categories + shift
        groups, current, size = [], [], 1
        for d, c in enumerate(levels):
            if current and size * c > _GROUP_CODES:
                groups.append(current)
                current, size = [], 1
            current.append(d)
            size *= int(c)
        groups.append(current)
        self.group = np.array([0] + [f[-1] + 1 for f in groups], dtype=np.int64)
        self.stride = np.empty(len(levels), dtype=np.int64)
        sizes = []
        for feats in groups:
            stride = 1
            for d in reversed(feats):  # last feature of a group varies fastest
                self.stride[d] = stride
                stride *= int(levels[d])
            sizes.append(stride)
        self.groups = groups
        self.group_offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.kernel_offsets = self.group_offsets + shift * np.array(
            [self.stride[feats].sum() for feats in groups], dtype=np.int64)
        self.joint = [np.stack(np.unravel_index(np.arange(size), levels[feats]), axis=1)
                      - shift for feats, size in zip(groups, sizes)]
