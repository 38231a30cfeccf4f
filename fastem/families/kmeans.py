"""The Lloyd engine: k-means as hard EM on the shared EM driver.

k-means is EM with one-hot responsibilities: the statistics pass assigns each
row to its closest center and adds it to that cluster's sums (the E-step);
the M-step averages them, after moving each empty cluster onto a row far
from its center (the repair). :func:`fit_lloyd` runs that loop through
:func:`fastem._driver.run_em` for every data source, with k-means' own
convergence test (scikit-learn's: no label changed, or the squared center
shift within ``tol``).

A pass object hides where the rows are:

- :class:`InMemoryPass` (one array) keeps state between passes (the labels
  and bounds of each row, the sums of each block of rows, see
  :func:`fastem.kernels.kmeans.bounded_lloyd_pass`), so rows whose label
  cannot change are neither scored nor read, and runs its passes on a team
  of threads (:class:`fastem.kernels.kmeans.BoundedPasses`);
- :class:`SourcePass` (memmap chunks, Dask blocks) runs the dense pass per
  chunk or block and adds the sums (per-row bounds would be held for every
  streamed row);
- :class:`BlasPass` (one small array, the mixtures' k-means start) runs
  dense passes in NumPy, which compile nothing;
- :class:`SparsePass` (a ``scipy.sparse`` matrix, in memory) runs the CSR
  pass of :mod:`fastem.kernels.kmeans_sparse`; rows are not centered
  (centering would make them dense), as scikit-learn does not center them.

Everything here is a function of arrays and a data source; the estimator
(:class:`fastem.KMeans`) validates and sets attributes, and the mixtures'
``init_params='kmeans'`` call :func:`kmeans_labels`.
"""
from dataclasses import dataclass

import numpy as np
from scipy.linalg import get_blas_funcs
from sklearn.utils.extmath import row_norms
from sklearn.utils.sparsefuncs import mean_variance_axis

try:  # what scikit-learn's own fit calls: its public wrapper validates the
    # (already valid) rows again, 2 ms of a 5 ms fit of 10,000 x 2 rows
    from sklearn.cluster._kmeans import _kmeans_plusplus
except ImportError:  # pragma: no cover - a scikit-learn that moved it
    from sklearn.cluster import kmeans_plusplus

    def _kmeans_plusplus(X, n_clusters, x_squared_norms, sample_weight, random_state):
        return kmeans_plusplus(X, n_clusters, x_squared_norms=x_squared_norms,
                               sample_weight=sample_weight, random_state=random_state)

from .._data import ArrayData
from .._driver import run_em
from .._threads import (one_blas_thread, parallel_region, region_threads,
                        resolve_n_jobs, run_split)
from ..kernels import kmeans as _k
from ..kernels import kmeans_sparse as _ks

#: Rows per block of a k-means pass. Blocks fix the summation order (results
#: do not depend on the thread count); 1024-2048 keeps a block's (K, B)
#: score matrix in L2 and amortizes the per-block BLAS call.
BLOCK_ROWS = 2048

#: In-memory fits of fewer rows run dense passes: there the bounds save about
#: as much as their bookkeeping costs (20,000 x 8, K=8: 21 ms a fit either
#: way), while the bounded pass is the slowest kernel to compile (a first
#: fit of 20,000 rows took 21 s cold with it, 8 s without it).
MIN_BOUNDED_ROWS = 32_768


#: Rows per block of :class:`BlasPass` (any size gives the same labels)
_BLAS_BLOCK_ROWS = 8192
#: The mixtures' k-means start runs :class:`BlasPass` (NumPy, nothing to
#: compile) up to this many row x center x feature products per pass: at
#: most about 0.15 s of NumPy passes, where compiling the Lloyd kernel takes
#: 2 s (20,000 x 8, K=4: 0.04-0.05 s, against 0.013 s compiled)
MAX_BLAS_START_WORK = 1 << 21


# ------------------------------------------------------------ initialization
#: Values of X centered at a time by :func:`kmeans_plusplus` (a chunk of rows
#: whose copy stays in cache; X is never copied whole)
SEED_CHUNK_SIZE = 65_536


def _chunk_rows(n_features):
    """Rows per centered chunk: about :data:`SEED_CHUNK_SIZE` values."""
    return max(1, SEED_CHUNK_SIZE // n_features)


def init_centroids(X, shift, sample_weight, n_clusters, init, random_state):
    """Initial centers drawn from the rows ``X - shift`` as scikit-learn draws them.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_samples, n_features)
        Rows in the data's coordinates.
    shift : ndarray of shape (n_features,), X's dtype, or None
        The centering point (scikit-learn draws on centered dense data);
        None for sparse rows, which are not centered.
    sample_weight : ndarray of shape (n_samples,), float64
    n_clusters : int
    init : {'k-means++', 'random'} or callable(X, n_clusters, random_state)
    random_state : np.random.RandomState

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), X's dtype, centered
        (a callable's output is returned as given, for the caller to check)
    """
    if isinstance(init, str) and init == "k-means++":
        if shift is None:
            centers, _ = _kmeans_plusplus(X, n_clusters, row_norms(X, squared=True),
                                          sample_weight.astype(X.dtype), random_state)
            return np.ascontiguousarray(centers, dtype=X.dtype)
        return kmeans_plusplus(X, shift, sample_weight, n_clusters, random_state)
    if isinstance(init, str) and init == "random":
        # the probabilities in X's dtype, as scikit-learn computes them
        weight = sample_weight.astype(X.dtype)
        seeds = random_state.choice(X.shape[0], size=n_clusters, replace=False,
                                    p=weight / weight.sum())
        return X[seeds].toarray() if shift is None else X[seeds] - shift
    return init(X if shift is None else X - shift, n_clusters, random_state=random_state)


def kmeans_plusplus(X, shift, sample_weight, n_clusters, random_state):
    """scikit-learn's greedy k-means++ seeds of ``X - shift``, without that copy.

    The draws from ``random_state`` and the arithmetic are those of
    ``sklearn.cluster._kmeans._kmeans_plusplus`` on the centered rows (squared
    distances ``-2 c.y + |c|^2 + |y|^2``; for float32 rows in float64, then
    rounded to float32, as its upcast path), so the seeds are scikit-learn's.
    Rows are centered a chunk at a time (:func:`_chunk_rows`), on the threads of
    the current :func:`fastem._threads.parallel_region` (each chunk's
    results do not depend on which thread computes it).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32/float64, C-ordered
    shift : ndarray of shape (n_features,), X's dtype
    sample_weight : ndarray of shape (n_samples,), float64
    n_clusters : int
    random_state : np.random.RandomState

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), X's dtype, centered
    """
    n_samples = X.shape[0]
    w = sample_weight.astype(X.dtype)
    n_trials = 2 + int(np.log(n_clusters))
    rows = _CenteredChunks(X, shift)
    first = random_state.choice(n_samples, p=w / w.sum())
    indices = [first]
    closest = rows.sq_distances_to(np.array([first]))
    potential = closest @ w
    for _ in range(1, n_clusters):
        draws = random_state.uniform(size=n_trials) * potential
        candidates = np.searchsorted(np.cumsum(w * closest), draws)
        np.clip(candidates, None, n_samples - 1, out=candidates)
        dist = rows.sq_distances_to(candidates)
        np.minimum(closest, dist, out=dist)
        potentials = dist @ w.reshape(-1, 1)
        best = np.argmin(potentials)
        potential = potentials[best]
        closest = dist[best].copy()  # not a view: one (n_trials, N) buffer at a time
        del dist
        indices.append(candidates[best])
    return X[indices] - shift


class _CenteredChunks:
    """Squared distances between rows of ``X - shift``, a chunk of centered
    rows at a time; float32 rows in float64 (scikit-learn's distances of
    float32 rows are taken in float64)."""

    def __init__(self, X, shift):
        self.X, self.shift = X, shift
        self.chunk = _chunk_rows(X.shape[1])
        self.n_chunks = -(-X.shape[0] // self.chunk)
        self.n_threads = region_threads()
        # ``shift`` repeated along a chunk, flat: one subtraction along a flat
        # run is 5x faster than broadcasting ``shift`` along short rows
        self.tiled = np.tile(shift, self.chunk)
        self.row_sq = np.empty(X.shape[0])  # each centered row's |y|^2, float64
        self._over_chunks(self._norms)

    def _over_chunks(self, func, *args):
        """``func(rows, start, *args)`` on every chunk, on the region's threads."""
        def run(lo, hi):
            buffer = np.empty(self.tiled.size, dtype=self.X.dtype)
            for chunk in range(lo, hi):
                start = chunk * self.chunk
                rows = self.X[start:start + self.chunk]
                size = rows.size
                rows = np.subtract(rows.reshape(-1), self.tiled[:size],
                                   out=buffer[:size]).reshape(rows.shape)
                func(rows.astype(np.float64, copy=False), start, *args)
        run_split(run, self.n_chunks, self.n_threads)

    def _norms(self, rows, start):
        self.row_sq[start:start + rows.shape[0]] = row_norms(rows, squared=True)

    def sq_distances_to(self, indices):
        """(len(indices), n_samples) squared distances, X's dtype, between the
        rows ``indices`` and every row, as scikit-learn's
        ``_euclidean_distances(..., squared=True)``."""
        seeds = (self.X[indices] - self.shift).astype(np.float64, copy=False)
        dist = np.empty((len(indices), self.X.shape[0]), dtype=self.X.dtype)
        self._over_chunks(self._distances, seeds, self.row_sq[indices][:, None], dist)
        return dist

    def _distances(self, rows, start, seeds, seed_sq, dist):
        d = -2 * (seeds @ rows.T)
        d += seed_sq
        d += self.row_sq[start:start + rows.shape[0]]
        dist[:, start:start + rows.shape[0]] = np.maximum(d, 0, out=d)


def _mean_column_variance(X, mean):
    """``np.mean(np.var(X, axis=0))`` (``mean``: X's column means), without
    its N x D temporary: a chunk of rows at a time."""
    total = np.zeros(X.shape[1], dtype=X.dtype)
    step = _chunk_rows(X.shape[1])
    for start in range(0, X.shape[0], step):
        d = X[start:start + step] - mean
        total += (d * d).sum(axis=0)
    return float(np.mean(total / X.shape[0]))


def tolerance(mean_variance, tol):
    """scikit-learn's tolerance: ``tol`` times the mean feature variance."""
    return float(mean_variance * tol) if tol else 0.0


# ------------------------------------------------------------------ passes
def _bounded_state(X, n_clusters, block_rows):
    """What :func:`fastem.kernels.kmeans.bounded_lloyd_pass` keeps between
    passes over ``X``: per-row bounds and each block's ``sum w ||x -
    shift||^2`` (written by the first pass, a probe of every block; where
    bounds do not pay, :func:`~fastem.kernels.kmeans.bounds_pay`, every
    pass is dense and no bound is kept), and
    each block's statistics, kept only while they take at most half of the
    block's own size (about ``n_clusters <= 900`` at 16 float64 features;
    beyond, every block is read on every pass). The rows minus the shift
    are also kept in float32, with their squared norms (the float32
    screen's; half of X's size for float64 rows, plus one number per row:
    taken by the first pass over each block)."""
    n_samples, n_features = X.shape
    n_blocks = -(-n_samples // block_rows)
    kept_bytes = 8 * n_clusters * (n_features + 2)
    kept = n_blocks if 2 * kept_bytes <= block_rows * n_features * X.itemsize else 0
    rows32 = np.empty(X.shape[::-1], dtype=np.float32)
    row_sq = np.empty(n_samples)
    pay = _k.bounds_pay(n_clusters, n_features)
    n_bounds = n_samples if pay else 0
    return {"lower": np.empty(n_bounds), "upper": np.empty(n_bounds),
            "block_mode": np.full(n_blocks, 1 if pay else -1, dtype=np.int8),
            "block_period": np.ones(n_blocks, dtype=np.int8),
            "block_sums": np.empty((kept, n_clusters, n_features)),
            "block_weights": np.empty((kept, n_clusters)),
            "block_counts": np.empty((kept, n_clusters), dtype=np.int64),
            "block_cached": np.zeros(kept, dtype=np.bool_),
            "block_sq_norms": np.full(n_blocks, np.nan),
            "rows32": rows32, "row_sq": row_sq}


class InMemoryPass:
    """Lloyd passes over one in-memory array, with per-row labels and bounds.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), C-ordered float32/float64
    sample_weight : ndarray of shape (n_samples,), float64
    shift : ndarray of shape (n_features,), X's dtype, the centering point
    n_threads : int
        1 runs the serial kernels (same results).
    prune : bool
        Use the bounds when ``X`` has at least :data:`MIN_BOUNDED_ROWS` rows
        (False: dense passes only).
    """

    def __init__(self, X, sample_weight, shift, n_threads, prune=True):
        self.X, self.w, self.shift = X, sample_weight, shift
        self.n_threads = n_threads
        self.prune = prune and X.shape[0] >= MIN_BOUNDED_ROWS
        n = X.shape[0]
        self.labels = np.full(n, -1, dtype=np.int32)
        self.previous = None
        self.n_scored = []  # rows scored, per pass (diagnostics)
        self._bounds = None  # allocated by the first bounded pass
        self._passes = None  # the passes over them (kernels.kmeans.BoundedPasses)

    def step(self, centers):
        """Assign every row, sum per cluster: ``(sums, weights, inertia, n_changed)``."""
        X, w, shift, serial = self.X, self.w, self.shift, self.n_threads == 1
        centers_sq = row_norms(centers, squared=True)
        if not self.prune:
            kernel = _k.lloyd_pass_serial if serial else _k.lloyd_pass
            sums, weights, inertia, n_changed = kernel(
                X, w, shift, centers, centers_sq, self.labels, BLOCK_ROWS, True)
            self.n_scored.append(X.shape[0])
            return sums, weights, inertia, n_changed
        c = centers.astype(np.float64)
        drift = (np.zeros(c.shape[0]) if self.previous is None
                 else np.sqrt(((c - self.previous) ** 2).sum(axis=1)))
        self.previous = c
        if self._passes is None:
            b = self._bounds = _bounded_state(X, centers.shape[0], BLOCK_ROWS)
            self._passes = _k.BoundedPasses(
                X, w, shift, self.labels, b["lower"], b["upper"], b["block_mode"],
                b["block_period"], BLOCK_ROWS, b["block_sums"], b["block_weights"],
                b["block_counts"], b["block_cached"], b["block_sq_norms"], b["rows32"],
                b["row_sq"], centers.shape[0], self.n_threads)
        sums, weights, inertia, n_changed, n_scored = self._passes.run(centers, centers_sq,
                                                                       drift)
        if len(self.n_scored) == 0:
            # the first M-step moves the centers most: every block that keeps
            # bounds scores its rows and probes again rather than try them (a
            # try that fails twice backs off for passes)
            mode = self._bounds["block_mode"]
            mode[mode >= 0] = 1
        self.n_scored.append(n_scored)
        return sums, weights, inertia, n_changed

    def farthest(self, centers, n):
        """The ``n`` rows farthest from the center they were last assigned to."""
        return _farthest_rows(self.X, self.w, 0, self.shift, centers, self.labels, n)

    def finish(self, centers, labels_current, want_inertia=True):
        """``(labels, weight per cluster, exact inertia)`` against ``centers``;
        the labels are reassigned unless ``labels_current``; the inertia is
        NaN unless ``want_inertia``."""
        serial = self.n_threads == 1
        if not labels_current and self._bounds is not None:
            # one more bounded pass: the rows the bounds settle are not scored
            self.step(centers)
            self.n_scored.pop()  # not an iteration
        elif not labels_current:
            assign(self.X, self.shift, centers, row_norms(centers, squared=True),
                   self.labels, serial)
        if self._passes is not None:
            self._passes.close()  # its threads go back to the pool
        inertia = np.nan
        if want_inertia:
            kernel = _k.inertia_pass_serial if serial else _k.inertia_pass
            inertia = kernel(self.X, self.w, self.shift, centers, self.labels, BLOCK_ROWS)
        weights = np.bincount(self.labels, weights=self.w, minlength=centers.shape[0])
        return self.labels, weights, inertia


class BlasPass:
    """Dense Lloyd passes in NumPy over one small in-memory array.

    The mixtures' k-means start on small data: there the whole start takes
    milliseconds in NumPy, less than compiling the Lloyd kernel (about 2 s,
    once per machine, a fifth of a first fit). Rows are scored as
    scikit-learn scores them, in the same BLAS ``gemm`` call (scipy's
    library, ``||c||^2 - 2 c.x`` in X's dtype, first minimum), so the labels
    are the kernels' and scikit-learn's. Rows are centered a block at a time:
    nothing of X's size is allocated.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), C-ordered float32/float64
    sample_weight : ndarray of shape (n_samples,), float64
    shift : ndarray of shape (n_features,), X's dtype, the centering point
    """

    def __init__(self, X, sample_weight, shift):
        self.X, self.w, self.shift = X, sample_weight, shift
        self.labels = np.full(X.shape[0], -1, dtype=np.int32)
        self.n_scored = []
        self._gemm = get_blas_funcs("gemm", dtype=X.dtype)
        self._sq_norms = None  # sum w ||x - shift||^2, for the inertia

    def _blocks(self):
        """``(start, stop, X[start:stop] - shift)`` for each block of rows."""
        for start in range(0, self.X.shape[0], _BLAS_BLOCK_ROWS):
            stop = min(start + _BLAS_BLOCK_ROWS, self.X.shape[0])
            yield start, stop, self.X[start:stop] - self.shift

    def _closest(self, xb, centers, centers_sq):
        """Each row's closest center: scikit-learn's call, ``||c||^2 - 2 c.x``
        in one ``gemm('T', 'N')`` of the column-major ``centers^T`` and
        ``xb^T`` (both views) onto ``||c||^2``."""
        scores = np.empty((centers.shape[0], xb.shape[0]), dtype=xb.dtype, order="F")
        scores[:] = centers_sq[:, None]
        self._gemm(-2.0, centers.T, xb.T, beta=1.0, c=scores, trans_a=True,
                   overwrite_c=True)
        return np.argmin(scores, axis=0).astype(np.int32)

    def step(self, centers):
        """Assign every row, sum per cluster: ``(sums, weights, inertia, n_changed)``;
        the inertia (against ``centers``) from the sums, as the kernels'."""
        n_clusters, n_features = centers.shape
        centers_sq = row_norms(centers, squared=True)
        sums = np.zeros((n_clusters, n_features))
        weights = np.zeros(n_clusters)
        n_changed = 0
        sq_norms = 0.0
        for start, stop, xb in self._blocks():
            labels = self._closest(xb, centers, centers_sq)
            n_changed += int(np.count_nonzero(labels != self.labels[start:stop]))
            self.labels[start:stop] = labels
            w = self.w[start:stop]
            one_hot = np.zeros((n_clusters, stop - start))
            one_hot[labels, np.arange(stop - start)] = w
            xb = xb.astype(np.float64, copy=False)
            sums += one_hot @ xb
            weights += one_hot.sum(axis=1)
            if self._sq_norms is None:
                sq_norms += w @ np.einsum("ij,ij->i", xb, xb)
        if self._sq_norms is None:
            self._sq_norms = sq_norms
        self.n_scored.append(self.X.shape[0])
        c = centers.astype(np.float64)
        inertia = self._sq_norms + weights @ (c * c).sum(axis=1) - 2.0 * np.sum(c * sums)
        return sums, weights, max(inertia, 0.0), n_changed

    @staticmethod
    def _sq_distances(xb, centers, labels):
        """scikit-learn's ``((x - c)**2).sum()`` of each row to its center."""
        return ((xb - centers[labels]) ** 2).sum(axis=1)

    def farthest(self, centers, n):
        """The ``n`` rows farthest from the center they were last assigned to
        (as :func:`_farthest_rows`)."""
        dist = np.concatenate([self._sq_distances(xb, centers, self.labels[start:stop])
                               for start, stop, xb in self._blocks()])
        dist[self.w <= 0] = -1.0
        top = _top_rows(dist, n)
        return (n, dist[top], top, (self.X[top] - self.shift).astype(np.float64),
                self.w[top], self.labels[top])

    def finish(self, centers, labels_current, want_inertia=True):
        """``(labels, weight per cluster, exact inertia)`` against ``centers``,
        as :meth:`InMemoryPass.finish`."""
        centers_sq = row_norms(centers, squared=True)
        inertia = 0.0
        for start, stop, xb in self._blocks():
            if not labels_current:
                self.labels[start:stop] = self._closest(xb, centers, centers_sq)
            if want_inertia:  # as :func:`fastem.kernels.kmeans.inertia_pass`
                diff = (xb - centers[self.labels[start:stop]]).astype(np.float64)
                inertia += self.w[start:stop] @ np.einsum("ij,ij->i", diff, diff)
        weights = np.bincount(self.labels, weights=self.w, minlength=centers.shape[0])
        return self.labels, weights, inertia if want_inertia else np.nan


class SourcePass:
    """Dense Lloyd passes over the chunks of a streamed source or the blocks
    of a Dask source; the per-cluster results are added.

    Parameters
    ----------
    source : ArrayData (chunked) or DaskData
    shift : ndarray of shape (n_features,), the source's dtype
    serial : bool
        Serial kernels (Dask tasks; ``n_jobs=1``).

    Without per-row state, label changes are not counted (``n_changed`` is
    None): a run stops strictly when the update leaves the centers bit for
    bit unchanged, which happens in the same pass as the in-memory criterion
    (no label changed): the same labels give the same sums, added in the same
    order.
    """

    def __init__(self, source, shift, serial):
        self.source, self.shift, self.serial = source, shift, serial
        self.n_scored = []

    def step(self, centers):
        sums, weights, inertia = self.source.map_reduce(
            lloyd_part, add_parts, self.shift, centers,
            row_norms(centers, squared=True), self.serial)
        self.n_scored.append(self.source.n_samples)
        return sums, weights, inertia, None

    def farthest(self, centers, n):
        return self.source.map_reduce(_farthest_part, _merge_farthest, self.shift,
                                      centers, row_norms(centers, squared=True), n,
                                      self.serial)

    def finish(self, centers, labels_current=False, want_labels=True):
        """``(labels or None, weight per cluster, exact inertia)``: labels are
        an array for a streamed source, lazy for Dask (one more pass either way)."""
        source, shift = self.source, self.shift
        centers_sq = row_norms(centers, squared=True)
        if not want_labels:
            labels = None
        elif isinstance(source, ArrayData):
            labels = np.empty(source.n_samples, dtype=np.int32)
        else:  # Dask: lazy labels
            labels = source.X.map_blocks(labels_block, shift, centers, centers_sq,
                                         drop_axis=1, dtype=np.int32)
        out = labels if isinstance(labels, np.ndarray) else None
        weights, inertia = source.map_reduce(final_part, add_parts, shift, centers,
                                             centers_sq, out, self.serial)
        return labels, weights, inertia


class SparseRows:
    """A validated CSR matrix and its sample weights: the source of a sparse fit.

    Parameters
    ----------
    X : scipy.sparse CSR matrix of shape (n_samples, n_features)
        float32/float64 values, int32 indices (see
        :func:`fastem._validation.check_sparse_data`).
    sample_weight : ndarray of shape (n_samples,), float64
    """

    def __init__(self, X, sample_weight):
        self.X, self.sample_weight = X, sample_weight
        self.csr = (X.data, X.indices, X.indptr)
        self.shape = self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype
        self._columns = None

    def columns(self):
        """``(row indices, indptr, weighted values, lane features)`` of the
        CSC twin (built once), the arguments of
        :func:`fastem.kernels.kmeans_sparse.column_sums`."""
        if self._columns is None:
            csc = self.X.tocsc()  # rows come out sorted within each column
            col_rows = csc.indices.astype(np.int32, copy=False)
            col_indptr = csc.indptr.astype(np.int32, copy=False)
            # the weights are the same in every pass: each stored value is
            # multiplied by its row's weight once (the product a row-wise sum takes)
            weighted = csc.data.astype(np.float64)
            weighted *= self.sample_weight[col_rows]
            self._columns = (col_rows, col_indptr, weighted,
                             _ks.feature_lanes(col_indptr))
        return self._columns


class SparsePass:
    """Lloyd passes over CSR rows (:mod:`fastem.kernels.kmeans_sparse`).

    A row is scored as scikit-learn scores it, ``||c||^2 - 2 x.c`` over its
    stored entries; the per-cluster sums are taken feature by feature over a
    CSC copy of the rows (a K x D slot per lane would dwarf the data), so a
    fit holds the rows' indices and values a second time.

    Parameters
    ----------
    rows : SparseRows
    """

    def __init__(self, rows):
        self.rows = rows
        self.labels = np.full(rows.n_samples, -1, dtype=np.int32)
        self.n_scored = []

    def step(self, centers):
        rows, w = self.rows, self.rows.sample_weight
        centers_sq = row_norms(centers, squared=True)
        inertia, n_changed = _ks.lloyd_pass(*rows.csr, w, _ks.centers_columns(centers),
                                            centers_sq, self.labels, BLOCK_ROWS)
        col_rows, col_indptr, weighted, lanes = rows.columns()
        sums = _ks.column_sums(col_rows, col_indptr, weighted, self.labels, lanes,
                               centers.shape[0])
        weights = np.bincount(self.labels, weights=w, minlength=centers.shape[0])
        self.n_scored.append(rows.n_samples)
        return sums, weights, inertia, n_changed

    def farthest(self, centers, n):
        """The dense rule (:func:`_farthest_rows`) on scikit-learn's sparse distances."""
        rows, w = self.rows, self.rows.sample_weight
        dist = _ks.assigned_sq_distances(*rows.csr, centers,
                                         row_norms(centers, squared=True), self.labels)
        dist[w <= 0] = -1.0
        top = _top_rows(dist, n)
        return (n, dist[top], top, rows.X[top].toarray().astype(np.float64), w[top],
                self.labels[top])

    def finish(self, centers, labels_current, want_inertia=True):
        labels, inertia = sparse_labels_inertia(
            self.rows, centers, labels=self.labels if labels_current else None,
            want_inertia=want_inertia)
        self.labels = labels
        inertia = np.nan if inertia is None else inertia
        weights = np.bincount(labels, weights=self.rows.sample_weight,
                              minlength=centers.shape[0])
        return labels, weights, inertia


def sparse_labels_inertia(rows, centers, labels=None, want_inertia=True):
    """Labels (int32) and scikit-learn's sparse inertia of CSR ``rows``
    against ``centers`` (K, D) of the rows' dtype; ``labels`` given are
    taken as current (no E-step)."""
    w = rows.sample_weight
    if labels is None:
        labels = np.full(rows.n_samples, -1, dtype=np.int32)
        _ks.lloyd_pass(*rows.csr, w, _ks.centers_columns(centers),
                       row_norms(centers, squared=True), labels, BLOCK_ROWS)
    if not want_inertia:
        return labels, None
    dist = _ks.assigned_sq_distances(*rows.csr, centers, row_norms(centers, squared=True),
                                     labels)
    return labels, float((dist * w).sum())


def sparse_distances(rows, centers):
    """Euclidean distances of CSR ``rows`` to ``centers``, as scikit-learn's
    ``euclidean_distances`` computes them (float64, then the rows' dtype)."""
    centers = centers.astype(np.float64)
    sq = _ks.expanded_sq_distances(*rows.csr, np.ascontiguousarray(centers.T),
                                   row_norms(centers, squared=True))
    out = sq.astype(rows.dtype, copy=False)
    np.maximum(out, 0, out=out)
    return np.sqrt(out, out=out)


# ------------------------------------------------------------------ the run
@dataclass
class LloydRun:
    """Outcome of one Lloyd run: centers (centered coordinates), iterations,
    per-iteration inertias, and whether the labels stopped changing."""

    centers: np.ndarray
    n_iter: int
    inertias: np.ndarray
    strict: bool


def run_lloyd(lloyd, centers, *, tol, max_iter, verbose=0):
    """Lloyd iterations from ``centers`` on the shared EM driver.

    Parameters
    ----------
    lloyd : InMemoryPass or SourcePass
    centers : ndarray of shape (n_clusters, n_features), centered coordinates
    tol : float
        Absolute tolerance on the squared center shift (:func:`tolerance`).
    max_iter : int
    verbose : int
        Print scikit-learn's per-iteration messages.

    Returns
    -------
    LloydRun
    """
    dtype = centers.dtype
    strict = []

    def statistics_pass(params):
        sums, weights, inertia, n_changed = lloyd.step(params)
        if verbose:
            print(f"Iteration {len(lloyd.n_scored) - 1}, inertia {inertia}.")
        return (sums, weights, n_changed), -inertia

    def maximize(stats, params):
        sums, weights, _ = stats
        if (weights == 0).any():
            empty = np.flatnonzero(weights == 0)
            relocate_to_candidates(lloyd.farthest(params, empty.size), empty, sums,
                                   weights)
        return average_centers(sums, weights, dtype)

    def converged(stats, old, new):
        n_changed = stats[2]
        if n_changed == 0 if n_changed is not None else np.array_equal(new, old):
            strict.append(True)
            if verbose:
                print(f"Converged at iteration {len(lloyd.n_scored) - 1}: strict "
                      "convergence.")
            return True
        shift = float(((new.astype(np.float64) - old) ** 2).sum())
        if shift <= tol:
            if verbose:
                print(f"Converged at iteration {len(lloyd.n_scored) - 1}: center "
                      f"shift {shift} within tolerance {tol}.")
            return True
        return False

    run = run_em(statistics_pass, maximize, centers, total_weight=1.0, tol=tol,
                 max_iter=max_iter, converged=converged)
    return LloydRun(run.params, run.n_iter, -np.asarray(run.lower_bounds),
                    bool(strict))


@dataclass
class LloydFit:
    """The best of ``n_init`` runs, with its final assignment.

    ``centers`` are in the data's coordinates; ``labels`` is None when not
    asked for (several runs on a streamed source), lazy for Dask.
    """

    centers: np.ndarray
    labels: object
    inertia: float
    weights: np.ndarray
    n_iter: int
    inertias: np.ndarray
    n_scored: list


def fit_lloyd(source, n_clusters, *, init, n_init, max_iter, tol, random_state,
              n_threads, serial, prune=True, compiled=True, verbose=0,
              check_centers=None, want_inertia=True):
    """k-means on ``source``: ``n_init`` Lloyd runs, the lowest inertia kept.

    Parameters
    ----------
    source : ArrayData, DaskData or SparseRows
        Validated rows and weights; an unchunked ArrayData runs the bounded
        in-memory passes, SparseRows :class:`SparsePass`, anything else
        :class:`SourcePass`.
    n_clusters : int
    init : {'k-means++', 'random'}, callable or ndarray (n_clusters, n_features)
        An array is used as given (already checked, the source's dtype).
    n_init, max_iter : int
    tol : float
        scikit-learn's relative tolerance (times the mean feature variance).
    random_state : np.random.RandomState
    n_threads : int
        Threads of the in-memory passes.
    serial : bool
        Serial kernels for :class:`SourcePass`.
    prune : bool
        In memory: bounded passes (False: dense only).
    compiled : bool
        In memory: the compiled passes (False: :class:`BlasPass`, nothing
        to compile; dense only).
    verbose : int
    check_centers : callable(centers, what) -> ndarray
        Validates a callable init's output.
    want_inertia : bool
        False: an in-memory fit with ``n_init=1`` skips the exact final
        inertia (NaN; the mixtures' start compiles one kernel fewer).

    Returns
    -------
    LloydFit
    """
    in_memory = isinstance(source, ArrayData) and source.chunk_rows is None
    sparse = isinstance(source, SparseRows)
    if sparse:
        # not centered; scikit-learn's tolerance: unweighted column variances
        shift = np.zeros(source.n_features, dtype=source.dtype)
        mean_variance = np.mean(mean_variance_axis(source.X, axis=0)[1]) if tol else 0.0
        lloyd_rows = lambda: (source.X, None, source.sample_weight)  # noqa: E731
    elif in_memory:
        _, X, w = next(source.chunks())
        # scikit-learn's centering and tolerance: unweighted column moments;
        # the compiled mean (same bits) where the bounded passes compile anyway
        # (0.7 s more of a first fit, 25 ms less per fit of 1M x 16 rows)
        large = prune and X.shape[0] >= MIN_BOUNDED_ROWS
        shift = _k.column_means(X) if large else X.mean(axis=0)
        mean_variance = _mean_column_variance(X, shift) if tol else 0.0
        lloyd_rows = lambda: (X, shift, w)  # noqa: E731
    else:
        with one_blas_thread():
            n, mean, m2 = source.map_reduce(_moments_part, _combine_moments)
        shift = mean.astype(source.dtype)
        mean_variance = float(np.mean(m2 / n))

        def lloyd_rows():
            rows, w = source.init_sample(random_state)
            return rows, shift, w
    tol = tolerance(mean_variance, tol)
    drawn = isinstance(init, str) or callable(init)
    rows = None  # (rows, shift, weights) to draw from, only when init draws
    best = None
    for _ in range(n_init):
        if drawn:
            if rows is None:
                rows = lloyd_rows()
            centers = init_centroids(*rows, n_clusters, init, random_state)
            if callable(init):
                centers = check_centers(centers, "the centers returned by init")
        else:
            centers = init - shift
        if verbose:
            print("Initialization complete")
        if sparse:
            lloyd = SparsePass(source)
        elif in_memory and not compiled:
            lloyd = BlasPass(X, w, shift)
        elif in_memory:
            lloyd = InMemoryPass(X, w, shift, n_threads, prune)
        else:
            lloyd = SourcePass(source, shift, serial)
        run = run_lloyd(lloyd, centers, tol=tol, max_iter=max_iter, verbose=verbose)
        if in_memory or sparse:
            labels, weights, inertia = lloyd.finish(run.centers, run.strict,
                                                    want_inertia or n_init > 1)
            better = best is None or (inertia < best[1].inertia and not
                                      is_same_clustering(labels, best[1].labels,
                                                         n_clusters))
            labels = labels.copy() if n_init > 1 else labels
        else:
            # the last run's assignment is kept only if it is the fit's
            last = n_init == 1
            labels, weights, inertia = lloyd.finish(run.centers, want_labels=last)
            better = best is None or inertia < best[1].inertia
        if better:
            best = (lloyd, LloydFit(run.centers + shift, labels, float(inertia),
                                    weights, run.n_iter, run.inertias, lloyd.n_scored))
    lloyd, fit = best
    if fit.labels is None:  # several streamed runs: label with the winner
        fit.labels, fit.weights, inertia = lloyd.finish(fit.centers - shift)
    return fit


def kmeans_labels(X, sample_weight, n_clusters, random_state, n_jobs):
    """Labels of one k-means run from a k-means++ start, as scikit-learn's
    mixtures initialize (``KMeans(n_clusters, n_init=1, random_state)``).

    Dense Lloyd passes only: a mixture's first fit then compiles one k-means
    kernel fewer (the bounded pass, ~5 s); on small data NumPy's
    (:class:`BlasPass`, :data:`MAX_BLAS_START_WORK`), which compile nothing.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), validated, C-ordered
    sample_weight : ndarray of shape (n_samples,), float64
    n_clusters : int
    random_state : np.random.RandomState
    n_jobs : int or None
        Threads (as the estimators' ``n_jobs``).

    Returns
    -------
    labels : ndarray of shape (n_samples,), int32
    """
    source = ArrayData(X, lambda a: a)
    source.set_weights(sample_weight)
    n_threads = 1 if X.shape[0] <= 2 * BLOCK_ROWS else resolve_n_jobs(n_jobs)
    compiled = X.shape[0] * n_clusters * X.shape[1] > MAX_BLAS_START_WORK
    with parallel_region(n_threads):
        return fit_lloyd(source, n_clusters, init="k-means++", n_init=1, max_iter=300,
                         tol=1e-4, random_state=random_state, n_threads=n_threads,
                         serial=n_threads == 1, prune=False, compiled=compiled,
                         want_inertia=False).labels


# --------------------------------------------------- per-chunk / per-block work
# Called by ``ArrayData.map_reduce`` (parallel kernels, in a thread region) or
# ``DaskData.map_reduce`` (one task per block, serial kernels). Each returns
# small partial results; ``add_parts`` sums them.

def assign(X, shift, centers, centers_sq, labels, serial):
    """Write the closest center of each row of ``X - shift`` into ``labels``."""
    kernel = _k.lloyd_pass_serial if serial else _k.lloyd_pass
    with one_blas_thread():  # kernels call BLAS on small blocks
        # (the weights only enter the pass's inertia, unused here)
        kernel(X, np.ones(X.shape[0]), shift, centers, centers_sq, labels,
               BLOCK_ROWS, False)


def distances(X, shift, centers, centers_sq, serial):
    """Distances of the rows of ``X`` to ``centers + shift`` (both float64)."""
    kernel = _k.distances_pass_serial if serial else _k.distances_pass
    with one_blas_thread():  # kernels call BLAS on small blocks
        return kernel(X, shift, centers, centers_sq, BLOCK_ROWS)


def _moments_part(X, w, start):
    """Row count, column means and centered sums of squares (float64)."""
    mean = X.mean(axis=0, dtype=np.float64)
    return X.shape[0], mean, ((X - mean) ** 2).sum(axis=0)


def _combine_moments(*parts):
    """Chan et al.'s pairwise update of (count, mean, centered sum of squares)."""
    n, mean, m2 = parts[0]
    for nb, mb, m2b in parts[1:]:
        total = n + nb
        delta = mb - mean
        mean = mean + delta * (nb / total)
        m2 = m2 + m2b + delta ** 2 * (n * nb / total)
        n = total
    return n, mean, m2


def lloyd_part(X, w, start, shift, centers, centers_sq, serial):
    """Dense Lloyd pass on one chunk: (sums, weights, inertia) per cluster."""
    labels = np.full(X.shape[0], -1, dtype=np.int32)
    kernel = _k.lloyd_pass_serial if serial else _k.lloyd_pass
    with one_blas_thread():  # kernels call BLAS on small blocks
        sums, weights, inertia, _ = kernel(X, w, shift, centers, centers_sq, labels,
                                           BLOCK_ROWS, True)
    return sums, weights, inertia


def add_parts(*parts):
    """Elementwise sum of tuples of arrays/floats (a new tuple; inputs untouched)."""
    total = list(parts[0])
    for part in parts[1:]:
        for j, v in enumerate(part):
            total[j] = total[j] + v
    return tuple(total)


def final_part(X, w, start, shift, centers, centers_sq, labels_out, serial):
    """Labels (into ``labels_out[start:]`` when given) and exact inertia of a chunk.

    Returns (weight per cluster, inertia).
    """
    m = X.shape[0]
    labels = (np.empty(m, dtype=np.int32) if labels_out is None
              else labels_out[start:start + m])
    assign(X, shift, centers, centers_sq, labels, serial)
    kernel = _k.inertia_pass_serial if serial else _k.inertia_pass
    inertia = kernel(X, w, shift, centers, labels, BLOCK_ROWS)
    return np.bincount(labels, weights=w, minlength=centers.shape[0]), inertia


def labels_block(X, shift, centers, centers_sq):
    """Labels of one Dask block (serial kernel)."""
    labels = np.empty(X.shape[0], dtype=np.int32)
    assign(X, shift, centers, centers_sq, labels, True)
    return labels


def distances_block(X, shift, centers, centers_sq):
    """Distances of one Dask block to the centers (serial kernel)."""
    return distances(X, shift, centers, centers_sq, True)


def _farthest_part(X, w, start, shift, centers, centers_sq, n, serial):
    """:func:`_farthest_rows` of one chunk or block, labelled here."""
    labels = np.empty(X.shape[0], dtype=np.int32)
    assign(X, shift, centers, centers_sq, labels, serial)
    return _farthest_rows(X, w, start, shift, centers, labels, n)


# ------------------------------------------------------------------ repair
def _farthest_rows(X, w, start, shift, centers, labels, n):
    """The ``n`` rows of ``X - shift`` farthest from their assigned center.

    The distances are scikit-learn's (``((x - c)**2).sum()`` in X's dtype;
    NumPy sums each row the same way whatever the slice), zero-weight rows
    excluded (they would leave a cluster empty). The order is one total
    order for every data source: farthest first, ties by row index
    (scikit-learn's ``argpartition`` gives the farthest first too, its ties
    in no specified order), so the ``n`` farthest of the whole data are the
    ``n`` farthest of the per-chunk winners (:func:`_merge_farthest`).

    A compiled pass screens the rows first (float64 sums, within a relative
    :func:`_screen_rtol` of scikit-learn's); only the rows that can be among
    the ``n`` farthest get scikit-learn's distance.

    Returns
    -------
    (n, squared distances, global row indices (``start`` + local),
    centered rows as float64, weights, labels), farthest first.
    """
    approx = _k.assigned_sq_distances(X, shift, centers, labels)
    approx[w <= 0] = -1.0
    rows = _top_rows(approx, n)
    if rows.size:  # every row that can beat the n-th when measured exactly
        cut = approx[rows[-1]]
        rows = np.flatnonzero(approx >= (cut * (1 - _screen_rtol(X)) if cut > 0 else cut))
    diff = (X[rows] - shift) - centers[labels[rows]]
    dist = (diff ** 2).sum(axis=1)
    dist[w[rows] <= 0] = -1.0
    top = rows[_top_rows(dist, n)]
    dist = dist[np.searchsorted(rows, top)]
    return (n, dist, start + top, (X[top] - shift).astype(np.float64), w[top], labels[top])


def _screen_rtol(X):
    """Bound on the relative gap between a float64 sum of squares and
    scikit-learn's, in X's dtype, of the same ``D`` differences (both exact
    to ``D`` roundings, with a margin of 4)."""
    return 8.0 * (X.shape[1] + 2) * float(np.finfo(X.dtype).eps)


def _top_rows(dist, n):
    """Indices of the ``n`` largest ``dist``, largest first, ties by index."""
    m = dist.shape[0]
    if n >= m:
        candidates = np.arange(m)
    else:  # every row tied with the n-th
        candidates = np.flatnonzero(dist >= _nth_largest(dist, n))
    return candidates[np.lexsort((candidates, -dist[candidates]))[:n]]


def _nth_largest(dist, n):
    """The ``n``-th largest value of ``dist`` (``n < len(dist)``), ties
    counted, as ``np.partition`` gives it. A few empty clusters (the usual
    case) take ``n`` maxima, ``dist`` changed meanwhile and restored: 1M
    rows, n=2, in about 1 ms against a partition's 10."""
    if n > 8:
        return np.partition(dist, dist.shape[0] - n)[dist.shape[0] - n]
    taken = []
    try:
        for _ in range(n - 1):
            i = int(np.argmax(dist))
            taken.append((i, dist[i]))
            dist[i] = -np.inf
        return dist.max()
    finally:
        for i, value in reversed(taken):
            dist[i] = value


def _merge_farthest(*parts):
    """Keep the ``n`` farthest rows of several parts (same order as _top_rows)."""
    n = parts[0][0]
    cat = [np.concatenate([p[j] for p in parts]) for j in range(1, 6)]
    order = np.lexsort((cat[1], -cat[0]))[:n]  # by distance, then row index
    return (n, *(c[order] for c in cat))


def relocate_to_candidates(far, empty, sums, weights):
    """scikit-learn's relocation from the farthest rows (:func:`_farthest_rows`):
    the i-th empty cluster takes the i-th farthest row, which leaves its old
    cluster. Updates ``sums`` and ``weights`` in place."""
    _, dist, _, rows, w, labels = far
    if dist.size == 0 or dist.max() <= 0:
        return
    for new_id, d, x, wi, old_id in zip(empty, dist, rows, w, labels):
        if d <= 0:  # on its center, or of zero weight
            break
        sums[old_id] -= x * wi
        sums[new_id] = x * wi
        weights[new_id] = wi
        weights[old_id] -= wi


def average_centers(sums, weights, dtype):
    """New centers = weighted sums / weights; an empty cluster (only possible
    when every row sits on its center) copies the heaviest cluster's center,
    as scikit-learn does."""
    # multiply by the reciprocal, as scikit-learn does, for the same bits
    if weights.min() > 0:  # (the usual case, without masks: a few us a pass)
        return (sums * (1.0 / weights)[:, None]).astype(dtype)
    centers = np.empty_like(sums)
    full = weights > 0
    centers[full] = sums[full] * (1.0 / weights[full])[:, None]
    centers[~full] = centers[np.argmax(weights)]
    return np.ascontiguousarray(centers, dtype=dtype)


def is_same_clustering(labels1, labels2, n_clusters):
    """True if the two labelings are equal up to a relabeling of labels1."""
    pairs = np.unique(labels1.astype(np.int64) * n_clusters + labels2)
    return pairs.size == np.unique(labels1).size
