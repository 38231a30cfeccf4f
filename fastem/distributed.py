"""Dask: the same statistics pass on every block, tree-reduced, M-step on the client.

A :class:`DaskData` source wraps a ``dask.array.Array`` (and optional
weights). Each EM iteration builds one small graph: a task per row block
calls the family's *serial* kernel (blocks are the parallelism; a serial,
GIL-free kernel is safe under Dask's threaded scheduler, where Numba's
default threading layer would abort the process), the O(K·D²) statistics
are summed in a tree (``split_every`` at a time), and one ``compute`` brings
the totals back. Predictions are lazy Dask arrays.

Dask is imported only when a Dask array is passed.
"""
import numpy as np

from . import _config
from ._missing import add_summaries, observed_summary
from ._validation import check_sample_weight
from ._data import block_statistics, missing_keywords, sum_statistics

#: statistics combined per task of the reduction tree
SPLIT_EVERY = 8


def tree_reduce(tasks, combine, split_every=SPLIT_EVERY):
    """Combine delayed ``tasks`` ``split_every`` at a time until one remains."""
    import dask

    while len(tasks) > 1:
        tasks = [dask.delayed(combine)(*tasks[i:i + split_every])
                 for i in range(0, len(tasks), split_every)]
    return tasks[0]


def _call_block(func, X, w, start, args):
    return func(X, np.ones(X.shape[0]) if w is None else w, start, *args)


def _check_block(block, check):
    """Validate one block inside a task (errors surface at compute time)."""
    return check(block)


def _weights_block(w):
    return check_sample_weight(w, w.shape[0]) if w.size else w


class DaskData:
    """Rows of a ``dask.array.Array``, validated block by block and persisted.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Column chunks are merged (one chunk across the features).
    check : callable(block) -> ndarray
        The estimator's validation of a NumPy block.
    allow_nan : bool
        ``check`` lets NaN through (``missing='marginalize'``): record
        whether any is present (``has_nan``, one scan of the persisted
        blocks) and tell the family's passes, as :class:`fastem._data.ArrayData`.
    """

    def __init__(self, X, check, allow_nan=False):
        import dask.array as da

        if X.ndim != 2:
            raise ValueError(f"X must be 2-D of shape (n_samples, n_features), got a "
                             f"{X.ndim}-D Dask array of shape {X.shape}.")
        if any(np.isnan(c) for c in X.chunks[0]):
            raise ValueError("X has unknown chunk sizes; call X.compute_chunk_sizes() "
                             "first.")
        if X.shape[0] == 0:
            raise ValueError("X has 0 sample(s); at least 1 required.")
        if len(X.chunks[1]) > 1:
            X = X.rechunk({1: -1})  # the kernels need whole rows
        probe = check(np.asarray(X[:1].compute()))
        self.dtype = probe.dtype
        self.X = X.map_blocks(_check_block, check, dtype=self.dtype).persist()
        self.shape = self.n_samples, self.n_features = X.shape
        self._da = da
        self.has_nan = bool(allow_nan and da.isnan(self.X).any().compute())
        self.set_weights(None)

    def set_weights(self, sample_weight):
        """Attach sample weights (NumPy or Dask, shape (n_samples,)); None: unit."""
        if sample_weight is None:
            self.sample_weight = None
            self.total_weight = float(self.n_samples)
            return
        da = self._da
        w = sample_weight if hasattr(sample_weight, "dask") else np.asarray(sample_weight)
        if w.shape != (self.n_samples,):
            raise ValueError(f"sample_weight must have shape ({self.n_samples},) to "
                             f"match X, got shape {w.shape}.")
        w = da.asarray(w).astype(np.float64).rechunk((self.X.chunks[0],))
        w = w.map_blocks(_weights_block, dtype=np.float64).persist()
        total = float(w.sum().compute())
        if not total > 0:
            raise ValueError("sample_weight is zero for every sample; at least one "
                             "sample needs a positive weight.")
        self.sample_weight, self.total_weight = w, total

    def _blocks(self):
        xs = self.X.to_delayed().ravel().tolist()
        if self.sample_weight is None:
            return [(x, None) for x in xs]
        return list(zip(xs, self.sample_weight.to_delayed().ravel().tolist()))

    def block_starts(self):
        """Index of the first row of each row block."""
        return np.concatenate([[0], np.cumsum(self.X.chunks[0])[:-1]]).astype(np.int64)

    def map_reduce(self, func, combine, *args):
        """``combine`` of ``func(X_block, w_block, start, *args)`` over the blocks.

        One task per row block (``w_block`` is a float64 array, ones when
        unweighted; ``start`` the block's first row), the partial results
        tree-reduced ``SPLIT_EVERY`` at a time, one ``compute``. ``args`` are
        shipped once, as one shared graph key.
        """
        import dask

        shared = dask.delayed(list(args))
        parts = [dask.delayed(_call_block)(func, x, w, int(s), shared)
                 for (x, w), s in zip(self._blocks(), self.block_starts())]
        return dask.compute(tree_reduce(parts, combine))[0]

    def statistics(self, family, params):
        """One distributed pass: summed statistics and ``sum w log p(x)``.

        Tasks run the family's serial kernel: the blocks are the parallelism.
        """
        return self.map_reduce(block_statistics, sum_statistics, family, params, True,
                               self.has_nan)

    def observed_summary(self):
        """Per-feature ``(count, weight)`` of the rows observing it (see
        :func:`fastem._missing.observed_summary`)."""
        return self.map_reduce(observed_summary, add_summaries)

    def row_outputs(self, family, params, want_resp=False):
        """Lazy per-row ``(log p(x), label, responsibilities or None)``."""
        X = self.X
        has_nan = self.has_nan

        def outputs(b, want=False):
            return family.row_outputs(b, params, want_resp=want, serial=True,
                                      **missing_keywords(b, has_nan))

        logp = X.map_blocks(lambda b: outputs(b)[0], drop_axis=1, dtype=np.float64)
        labels = X.map_blocks(lambda b: outputs(b)[1], drop_axis=1, dtype=np.int64)
        resp = None
        if want_resp:
            K = family.n_components
            resp = X.map_blocks(lambda b: outputs(b, True)[2],
                                chunks=(X.chunks[0], (K,)), dtype=np.float64)
        return logp, labels, resp

    def mean(self, values):
        """Sample-weighted mean of lazy per-row ``values`` (computed)."""
        if self.sample_weight is None:
            return float(values.mean().compute())
        return float((self.sample_weight * values).sum().compute() / self.total_weight)

    def init_sample(self, random_state):
        """A random sample of at most ``INIT_SAMPLE_ROWS`` rows, brought to the client."""
        n = min(self.n_samples, _config.INIT_SAMPLE_ROWS)
        rows = np.sort(random_state.choice(self.n_samples, size=n, replace=False))
        X = np.ascontiguousarray(self.X[rows].compute())
        if self.sample_weight is None:
            return X, np.ones(n)
        return X, np.asarray(self.sample_weight[rows].compute())
