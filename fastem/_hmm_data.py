"""Where an HMM's sequences come from: one NumPy array, or a Dask array.

Both expose the same E-step (:meth:`statistics`) and inference calls over an
:class:`~fastem.families.hmm.HMMFamily`. A Dask array is rechunked so that
every row block holds whole sequences (the batches of
:func:`~fastem.families.hmm.batches`); each iteration runs the family's pass
on every block in a task (serial kernels: the blocks are the parallelism),
tree-reduces the additive statistics and runs the M-step on the client.
"""
import numpy as np

from .families.hmm import batches

#: rows of a Dask array read (from its start) to initialize a fit
INIT_ROWS = 100_000


class ArraySequences:
    """Sequences concatenated in one in-memory array ``X`` with row boundaries ``starts``."""

    def __init__(self, X, starts, seq_weight):
        self.X, self.starts, self.seq_weight = X, starts, seq_weight
        self.n_samples = X.shape[0]

    def init_sample(self):
        return self.X

    def statistics(self, family, params):
        return family.statistics(self.X, self.starts, self.seq_weight, params)

    def posteriors(self, family, params):
        return family.posteriors(self.X, self.starts, params)

    def loglik(self, family, params):
        return family.loglik(self.X, self.starts, params)

    def viterbi(self, family, params):
        return family.viterbi(self.X, self.starts, params)


def _block_call(method, family, X, starts, weights, params):
    return getattr(family, method)(X, starts, *(() if weights is None else (weights,)),
                                   params)


def _add(*parts):
    stats = tuple(sum(p[0][i] for p in parts) for i in range(len(parts[0][0])))
    return stats, sum(p[1] for p in parts)


class DaskSequences:
    """Sequences in a ``dask.array.Array``, one task per block of whole sequences.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    starts : (n_seq + 1,) int64 — sequence boundaries in rows
    seq_weight : (n_seq,) float64
    check : callable(ndarray) -> ndarray — the estimator's validation of a block
    """

    def __init__(self, X, starts, seq_weight, check):
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D of shape (n_samples, n_features), got a "
                             f"{X.ndim}-D Dask array of shape {X.shape}.")
        if any(np.isnan(c) for c in X.chunks[0]):
            raise ValueError("X has unknown chunk sizes; call X.compute_chunk_sizes() first.")
        self.starts, self.seq_weight = starts, seq_weight
        self.groups = batches(starts)
        rows = tuple(int(starts[hi] - starts[lo]) for lo, hi in self.groups)
        self.X = X.rechunk((rows, -1)).map_blocks(check, dtype=check(
            np.asarray(X[:1].compute())).dtype).persist()
        self.n_samples = X.shape[0]

    def init_sample(self):
        """The first rows (whole array if small): what the initialization sees."""
        return np.asarray(self.X[:INIT_ROWS].compute())

    def _tasks(self, method, family, params, weighted):
        import dask
        family = dask.delayed(family)  # shipped once
        params = dask.delayed(params)
        tasks = []
        for block, (lo, hi) in zip(self.X.to_delayed().ravel(), self.groups):
            starts = self.starts[lo:hi + 1] - self.starts[lo]
            weights = self.seq_weight[lo:hi] if weighted else None
            tasks.append(dask.delayed(_block_call)(method, family, block, starts, weights,
                                                   params))
        return tasks

    def statistics(self, family, params):
        import dask
        from .distributed import tree_reduce
        serial = family.serial_copy()
        return dask.compute(tree_reduce(self._tasks("statistics", serial, params, True),
                                        _add))[0]

    def _gather(self, method, family, params):
        import dask
        return dask.compute(*self._tasks(method, family.serial_copy(), params, False))

    def posteriors(self, family, params):
        parts = self._gather("posteriors", family, params)
        return sum(p[0] for p in parts), np.concatenate([p[1] for p in parts])

    def loglik(self, family, params):
        return float(sum(self._gather("loglik", family, params)))

    def viterbi(self, family, params):
        parts = self._gather("viterbi", family, params)
        return sum(p[0] for p in parts), np.concatenate([p[1] for p in parts])
