"""Where the rows come from: one in-memory array, or row chunks of a larger one.

The EM driver asks a data source for one statistics pass at given
parameters. Sufficient statistics are additive, so a chunked source runs the
same family pass on each chunk and adds the results; a memory-mapped file is
streamed chunk by chunk and the pages of each processed chunk are handed back
to the operating system, so memory stays bounded by the chunk size whatever
the file size. (The Dask source lives in :mod:`fastem.distributed`.)
"""
import mmap

import numpy as np

from . import _config
from ._missing import MissingRows, add_summaries, observed_summary
from ._validation import check_sample_weight, contains_nan
from .families._base import add_statistics


def default_chunk_rows(n_features, itemsize):
    """Rows per chunk for streamed arrays: about ``STREAM_CHUNK_BYTES``, whole blocks."""
    rows = _config.STREAM_CHUNK_BYTES // max(1, n_features * itemsize)
    return max(_config.BLOCK_ROWS, rows - rows % _config.BLOCK_ROWS)


def missing_keywords(X, has_nan, rows=None):
    """Keywords telling a family's pass about the NaN entries of ``X``.

    ``{}`` for data without NaN (every family's pass is called as before),
    else ``{'missing': rows}`` with ``rows`` a :class:`~fastem._missing.MissingRows`
    of ``X`` (a new one unless a cached one is given). ``has_nan`` is the
    whole source's: every chunk of a source holding NaN anywhere gets the
    keyword (a chunk may then have none), so chunked and in-memory passes
    run the same kernels. Only sources whose estimator accepted NaN
    (``missing='marginalize'``) have ``has_nan``.
    """
    if not has_nan:
        return {}
    return {"missing": MissingRows(X) if rows is None else rows}


def block_statistics(X, w, start, family, params, serial=False, has_nan=False):
    """The family's statistics pass on one chunk or block of rows."""
    return family.statistics(X, w, params, serial=serial, **missing_keywords(X, has_nan))


def sum_statistics(*parts):
    """Add ``(stats, loglik)`` pairs of chunks evaluated at the same parameters."""
    stats, loglik = parts[0]
    for s, ll in parts[1:]:
        stats = add_statistics(stats, s)
        loglik += ll
    return stats, loglik


class ArrayData:
    """Rows of a NumPy array (or memmap), whole or in chunks of ``chunk_rows``.

    Parameters
    ----------
    X : array-like or np.memmap of shape (n_samples, n_features)
        Raw user data; it is validated once, here (chunk by chunk if chunked).
    check : callable(chunk) -> ndarray
        The estimator's validation; returns a C-ordered array of the kernel
        dtype, or raises.
    chunk_rows : int or None
        None processes X whole.
    allow_nan : bool
        ``check`` lets NaN through (``missing='marginalize'``): record
        whether any is present (``has_nan``) and tell the family's passes.

    Attributes
    ----------
    has_nan : bool
        X holds NaN (missing values); then every pass over a chunk with NaN
        gets a :class:`~fastem._missing.MissingRows` (``missing=`` keyword).
    """

    def __init__(self, X, check, chunk_rows=None, allow_nan=False):
        self.has_nan = False
        self._missing_rows = None
        if chunk_rows is None or chunk_rows >= X.shape[0]:
            self.X = check(X)
            self.chunk_rows = None
            self.dtype = self.X.dtype
            self.has_nan = allow_nan and contains_nan(self.X)
        else:
            self.X = X
            self.chunk_rows = int(chunk_rows)
            self.n_samples = X.shape[0]
            dtypes = set()
            for _, chunk in self._raw_chunks():
                checked = check(chunk)
                dtypes.add(checked.dtype)
                self.has_nan = self.has_nan or (allow_nan and contains_nan(checked))
            self.dtype = np.result_type(*dtypes)
        self.shape = self.n_samples, self.n_features = self.X.shape
        self.set_weights(None)

    def set_weights(self, sample_weight):
        """Validate and attach sample weights (None: unit weights, not materialized)."""
        self.sample_weight = None if sample_weight is None else \
            check_sample_weight(sample_weight, self.n_samples)
        self.total_weight = float(self.n_samples if sample_weight is None
                                  else self.sample_weight.sum())

    def mean(self, values):
        """Sample-weighted mean of per-row ``values``, shape (n_samples,)."""
        if self.sample_weight is None:
            return float(values.mean())
        return float(self.sample_weight @ values / self.total_weight)

    # ----------------------------------------------------------- chunking
    def _raw_chunks(self):
        step = self.chunk_rows
        for start in range(0, self.n_samples, step):
            yield start, self.X[start:start + step]
            _release_pages(self.X, start, min(start + step, self.n_samples))

    def chunks(self):
        """Yield ``(start, X_chunk, w_chunk)`` with X in the kernel dtype."""
        if self.chunk_rows is None:
            yield 0, self.X, self._weights(0, self.n_samples)
            return
        for start, raw in self._raw_chunks():
            X = np.ascontiguousarray(raw, dtype=self.dtype)
            yield start, X, self._weights(start, start + X.shape[0])

    def _weights(self, start, stop):
        if self.sample_weight is None:
            # unit weights: one buffer of the largest chunk, sliced (a fresh
            # array per pass costs page faults on every iteration)
            n = self.chunk_rows or self.n_samples
            if getattr(self, "_ones", None) is None or self._ones.shape[0] < n:
                self._ones = np.ones(n)
            return self._ones[:stop - start]
        return self.sample_weight[start:stop]

    def map_reduce(self, func, combine, *args):
        """``combine`` of ``func(X_chunk, w_chunk, start, *args)`` over the chunks.

        Chunks are visited in row order and combined pairwise as they come, so
        only one chunk and the running result are held. ``combine`` takes any
        number of partial results (the Dask source calls it on groups).
        """
        total = None
        for start, X, w in self.chunks():
            part = func(X, w, start, *args)
            total = part if total is None else combine(total, part)
        return total

    # ------------------------------------------------------------- passes
    def _missing(self, X):
        """``missing_keywords`` of a chunk: an in-memory X is grouped by
        missingness pattern once, not once per pass."""
        if self.chunk_rows is None and self.has_nan:
            if self._missing_rows is None:
                self._missing_rows = MissingRows(self.X)
            return missing_keywords(X, True, self._missing_rows)
        return missing_keywords(X, self.has_nan)

    def statistics(self, family, params):
        """One pass: summed statistics and ``sum w log p(x)``."""
        if self.chunk_rows is None:
            return family.statistics(self.X, self._weights(0, self.n_samples), params,
                                     **self._missing(self.X))
        return self.map_reduce(block_statistics, sum_statistics, family, params, False,
                               self.has_nan)

    def observed_summary(self):
        """Per-feature ``(count, weight)`` of the rows observing it (see
        :func:`fastem._missing.observed_summary`)."""
        return self.map_reduce(observed_summary, add_summaries)

    def row_outputs(self, family, params, want_resp=False):
        """Per-row ``(log p(x), label, responsibilities or None)`` over all chunks."""
        parts = [family.row_outputs(X, params, want_resp, **self._missing(X))
                 for _, X, _ in self.chunks()]
        if len(parts) == 1:
            return parts[0]
        return (np.concatenate([p[0] for p in parts]),
                np.concatenate([p[1] for p in parts]),
                np.concatenate([p[2] for p in parts]) if want_resp else None)

    def init_sample(self, random_state):
        """Rows to initialize from: all of them in memory, a random sample if chunked.

        Returns
        -------
        X : ndarray of shape (n, n_features); w : ndarray of shape (n,)
        """
        if self.chunk_rows is None:
            return self.X, self._weights(0, self.n_samples)
        n = min(self.n_samples, _config.INIT_SAMPLE_ROWS)
        rows = np.sort(random_state.choice(self.n_samples, size=n, replace=False))
        # gathered chunk by chunk, each chunk's pages released before the next:
        # scattered rows fault in (nearly) every page of a memmap at once
        parts = []
        for start in range(0, self.n_samples, self.chunk_rows):
            stop = min(start + self.chunk_rows, self.n_samples)
            lo, hi = np.searchsorted(rows, [start, stop])
            parts.append(np.asarray(self.X[rows[lo:hi]], dtype=self.dtype))
            _release_pages(self.X, start, stop)
        X = np.ascontiguousarray(np.concatenate(parts))
        w = np.ones(n) if self.sample_weight is None else self.sample_weight[rows]
        return X, w


def _release_pages(X, start, stop):
    """Tell the OS that rows ``start:stop`` of a memory-mapped ``X`` are done with.

    Clean file-backed pages are dropped from this process (and read again
    from the page cache or disk when next needed), so streaming a file larger
    than memory does not grow the resident set. Anything else: no-op.
    """
    mm = getattr(X, "_mmap", None)
    if not isinstance(mm, mmap.mmap) or not hasattr(mm, "madvise") or stop <= start:
        return
    base = np.frombuffer(mm, dtype=np.uint8).ctypes.data
    first = X[start:stop]
    lo = first.ctypes.data - base
    hi = min(lo + first.strides[0] * (stop - start), len(mm))
    lo -= lo % mmap.PAGESIZE
    if 0 <= lo < hi:
        mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
