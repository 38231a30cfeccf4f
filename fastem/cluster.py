"""KMeans: a drop-in for :class:`sklearn.cluster.KMeans` on compiled kernels.

Data sources (see :mod:`fastem._data` and :mod:`fastem.distributed`): an
in-memory array runs the bounds-accelerated Lloyd pass; a memory-mapped (or
``chunk_size``-chunked) array and a Dask array run the dense Lloyd pass per
chunk or block and add the per-cluster sums, weights and inertia. A
``scipy.sparse`` matrix runs the CSR Lloyd pass of
:mod:`fastem.kernels.kmeans_sparse`, in memory. ``k_means`` and
``kmeans_plusplus`` are scikit-learn's functional API.
"""
import contextlib
import numbers
import warnings

import numpy as np
from sklearn.base import (BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin,
                          TransformerMixin)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.extmath import row_norms
from sklearn.utils.sparsefuncs import mean_variance_axis
from sklearn.utils.validation import check_is_fitted

from ._base import _is_dask_array
from ._data import ArrayData, default_chunk_rows
from ._threads import one_blas_thread, parallel_region, resolve_n_jobs
from ._validation import (check_data, check_feature_names, check_float, check_int,
                          check_n_features, check_option, check_random_state,
                          check_sample_weight)
from ._validation import as_numeric_array, check_sparse_data, is_sparse
from .kernels import kmeans as _k
from .kernels import kmeans_sparse as _ks

#: Rows per block of a k-means pass. Blocks fix the summation order (results
#: do not depend on the thread count); 1024-2048 keeps a block's (K, B)
#: score matrix in L2 and amortizes the per-block BLAS call.
BLOCK_ROWS = 2048


def _score_roundoff(dtype, n_features):
    """Safety factor 4 times the worst-case relative round-off of a score
    ``||c||^2 - 2 x.c`` (a length-D dot product plus two operations): the
    bound test keeps a row only when its label cannot differ from the one
    scikit-learn's argmin of those scores gives."""
    return 4.0 * (n_features + 2) * float(np.finfo(dtype).eps) / 2.0


#: Blocks that score every row refresh their bounds (and may return to bound
#: tests) on every this many-th iteration only: tracking the second-best
#: score costs ~15% where bounds do not prune anyway (overlapping clusters).
_PROBE_EVERY = 3

_INIT_METHODS = ("k-means++", "random")
_ALGORITHMS = ("lloyd", "elkan")


class KMeans(ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin,
             BaseEstimator):
    """K-Means clustering (Lloyd's algorithm) on compiled, parallel kernels.

    Same parameters, attributes and results as :class:`sklearn.cluster.KMeans`:
    given the same initial centers, ``labels_`` are identical and
    ``cluster_centers_``/``inertia_`` agree to round-off.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters.
    init : {'k-means++', 'random'}, callable or array-like of shape \
(n_clusters, n_features), default='k-means++'
        Initialization, as in scikit-learn (k-means++ and 'random' draw the
        same centers as scikit-learn for the same ``random_state``).
    n_init : 'auto' or int, default='auto'
        Number of runs; 'auto' is 1 for 'k-means++' or an array, 10 otherwise.
    max_iter : int, default=300
        Maximum number of Lloyd iterations per run.
    tol : float, default=1e-4
        Convergence when the squared center shift (Frobenius) is at most
        ``tol`` times the mean feature variance; strict convergence when no
        label changes.
    verbose : int, default=0
        Print progress.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialization.
    copy_x : bool, default=True
        Accepted for compatibility. X is never modified: it is centered
        block by block inside the kernels.
    algorithm : {'lloyd', 'elkan'}, default='lloyd'
        Both run the same exact Lloyd iteration (Elkan gives the same
        clustering as Lloyd).
    n_jobs : int or None, default=None
        Threads for the kernels (None: all cores; negative: all + 1 + n_jobs).
    chunk_size : int or None, default=None
        Rows per chunk when X is streamed. A ``np.memmap`` is always streamed
        (by default in chunks of about 64 MB); any other array is streamed
        when ``chunk_size`` is set. A streamed fit reads each chunk once per
        Lloyd iteration with the dense pass (no per-row bounds: they would
        cost 8 bytes per row), adds the per-cluster sums, and initializes
        from a random sample of at most 100,000 rows. Results equal the
        in-memory fit to round-off (labels identical) for the same init.

    Scaling out
    -----------
    ``fit``, ``predict``, ``transform`` and ``score`` also accept a
    ``dask.array.Array``: each row block runs the serial Lloyd pass, the
    per-cluster sums are tree-reduced, one ``compute`` per iteration, the
    update runs on the client; ``labels_``, ``predict`` and ``transform``
    are lazy Dask arrays. Initialization runs on a random sample of rows.
    An empty cluster takes the farthest row from its center, found by a
    per-block top-k reduction (an extra pass, only in that iteration).
    ``partial_fit`` gives scikit-learn ``MiniBatchKMeans`` online updates.

    Sparse input
    ------------
    ``fit``, ``predict``, ``transform``, ``score``, ``fit_predict`` and
    ``fit_transform`` accept ``scipy.sparse`` matrices and arrays: CSR, other
    formats converted to CSR once (as scikit-learn does), float32 kept,
    sample weights supported. Sparse rows are held in memory (no memmap,
    chunked or Dask sparse source; ``chunk_size`` does not apply) and are not
    centered, as in scikit-learn; given the same initial centers, labels are
    scikit-learn's and centers/inertia agree to ~1e-12 in float64. A fit keeps
    a CSC copy of X for the per-cluster sums (see
    :mod:`fastem.kernels.kmeans_sparse`). ``partial_fit`` takes dense rows.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        In the dtype of X (float32 in, float32 out).
    labels_ : ndarray of shape (n_samples,), int32
    inertia_ : float
        Weighted sum of squared distances to the closest center.
    n_iter_ : int
    inertias_ : ndarray of shape (n_iter_,)
        Inertia of each iteration's assignment against the centers it was
        made with (non-increasing up to round-off), for the best run.
    n_features_in_ : int
    n_steps_ : int
        Number of ``partial_fit`` calls since the last initialization.
    """

    #: skip the rows whose label provably cannot change (per-row bounds); the
    #: labels are the same either way (see ``kernels.kmeans``)
    _prune = True

    def __init__(self, n_clusters=8, *, init="k-means++", n_init="auto",
                 max_iter=300, tol=1e-4, verbose=0, random_state=None,
                 copy_x=True, algorithm="lloyd", n_jobs=None, chunk_size=None):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.copy_x = copy_x
        self.algorithm = algorithm
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # scipy.sparse rows (see "Sparse input")
        return tags

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        check_int(self.n_clusters, "n_clusters", low=1, owner=self)
        check_int(self.max_iter, "max_iter", low=1, owner=self)
        check_float(self.tol, "tol", low=0.0, owner=self)
        if isinstance(self.n_init, str):
            if self.n_init != "auto":
                raise ValueError(f"n_init must be 'auto' or an integer >= 1, "
                                 f"got {self.n_init!r}.")
        else:
            check_int(self.n_init, "n_init", low=1, owner=self)
        if isinstance(self.init, str):
            if self.init not in _INIT_METHODS:
                raise ValueError(f"init must be one of {list(_INIT_METHODS)}, a "
                                 f"callable or an array of shape (n_clusters, "
                                 f"n_features), got {self.init!r}.")
        elif not callable(self.init) and not hasattr(self.init, "__len__"):
            raise TypeError(f"init must be 'k-means++', 'random', a callable or "
                            f"an array of shape (n_clusters, n_features), got "
                            f"{self.init!r}.")
        check_option(self.algorithm, "algorithm", _ALGORITHMS, owner=self)
        if not isinstance(self.verbose, (numbers.Integral, np.bool_)):
            raise TypeError(f"verbose must be an integer or bool, got "
                            f"{self.verbose!r}.")
        if not isinstance(self.copy_x, (bool, np.bool_)):
            raise TypeError(f"copy_x must be a bool, got {self.copy_x!r}.")
        resolve_n_jobs(self.n_jobs)
        check_int(self.chunk_size, "chunk_size", low=1, allow_none=True, owner=self)

    def _n_init_runs(self):
        init_is_array = not isinstance(self.init, str) and not callable(self.init)
        if isinstance(self.n_init, str):  # 'auto'
            return 10 if (callable(self.init) or (isinstance(self.init, str)
                                                  and self.init == "random")) else 1
        if init_is_array and self.n_init != 1:
            warnings.warn(
                "Explicit initial center position passed: performing only one "
                f"init in KMeans instead of n_init={self.n_init}.",
                RuntimeWarning, stacklevel=3)
            return 1
        return self.n_init

    def _check_centers(self, centers, X, what):
        centers = np.asarray(centers)
        if centers.dtype.kind not in "biuf":
            raise TypeError(f"{what} must hold real numbers, got dtype "
                            f"{centers.dtype}.")
        if centers.ndim != 2 or centers.shape[0] != self.n_clusters:
            raise ValueError(f"{what} must have shape ({self.n_clusters}, "
                             f"{X.shape[1]}) = (n_clusters, n_features), got "
                             f"{centers.shape}.")
        if centers.shape[1] != X.shape[1]:
            raise ValueError(f"{what} has {centers.shape[1]} features but X has "
                             f"{X.shape[1]}; it must have shape "
                             f"({self.n_clusters}, {X.shape[1]}).")
        centers = np.array(centers, dtype=X.dtype, order="C")
        if not np.isfinite(centers).all():
            raise ValueError(f"{what} contains NaN or infinity.")
        return centers

    # -------------------------------------------------------------- kernels
    def _kernels(self, n_threads):
        if n_threads == 1:
            return _k.lloyd_pass_serial, _k.inertia_pass_serial
        return _k.lloyd_pass, _k.inertia_pass

    def _bounded_kernel(self, n_threads):
        if n_threads == 1:
            return _k.bounded_lloyd_pass_serial
        return _k.bounded_lloyd_pass

    def _init_centroids(self, Xc, sample_weight, init, random_state):
        """Initial centers in centered coordinates, drawn as scikit-learn does."""
        n_samples = Xc.shape[0]
        if isinstance(init, str) and init == "k-means++":
            from sklearn.cluster import kmeans_plusplus
            centers, _ = kmeans_plusplus(Xc, self.n_clusters,
                                         sample_weight=sample_weight.astype(Xc.dtype),
                                         random_state=random_state)
            return np.ascontiguousarray(centers, dtype=Xc.dtype)
        if isinstance(init, str) and init == "random":
            seeds = random_state.choice(n_samples, size=self.n_clusters,
                                        replace=False,
                                        p=sample_weight / sample_weight.sum())
            return Xc[seeds]
        if callable(init):
            centers = init(Xc, self.n_clusters, random_state=random_state)
            return self._check_centers(centers, Xc, "the centers returned by init")
        return init.copy()

    def _run_lloyd(self, X, sample_weight, shift, centers, tol, n_threads):
        """One Lloyd run from ``centers`` (centered coordinates)."""
        lloyd, inertia_pass = self._kernels(n_threads)
        bounded = self._bounded_kernel(n_threads)
        n_clusters = centers.shape[0]
        labels = np.full(X.shape[0], -1, dtype=np.int32)
        lower = np.zeros(X.shape[0])
        block_dense = np.zeros(-(-X.shape[0] // BLOCK_ROWS), dtype=np.int8)
        drift = np.zeros(n_clusters)
        eta = _score_roundoff(X.dtype, X.shape[1])
        inertias = []
        n_scored = []
        strict = False
        with parallel_region(n_threads):
            for i in range(self.max_iter):
                centers_sq = row_norms(centers, squared=True)
                if self._prune:
                    sums, weights, inertia, n_changed, scored = bounded(
                        X, sample_weight, shift, centers, centers_sq, labels, lower,
                        block_dense, drift, eta, i % _PROBE_EVERY == 0, BLOCK_ROWS)
                else:
                    sums, weights, inertia, n_changed = lloyd(
                        X, sample_weight, shift, centers, centers_sq, labels,
                        BLOCK_ROWS, True)
                    scored = X.shape[0]
                inertias.append(inertia)
                n_scored.append(scored)
                if self.verbose:
                    print(f"Iteration {i}, inertia {inertia}.")
                if (weights == 0).any():
                    _relocate_empty_clusters(X, sample_weight, shift, centers,
                                             sums, weights, labels)
                new_centers = _average_centers(sums, weights, X.dtype)
                drift = np.sqrt(((new_centers.astype(np.float64) - centers) ** 2)
                                .sum(axis=1))
                shift_tot = float((drift ** 2).sum())
                centers = new_centers
                if n_changed == 0:
                    if self.verbose:
                        print(f"Converged at iteration {i}: strict convergence.")
                    strict = True
                    break
                if shift_tot <= tol:
                    if self.verbose:
                        print(f"Converged at iteration {i}: center shift "
                              f"{shift_tot} within tolerance {tol}.")
                    break
            if not strict:
                # a final E-step so that labels_ match cluster_centers_
                centers_sq = row_norms(centers, squared=True)
                lloyd(X, sample_weight, shift, centers, centers_sq, labels,
                      BLOCK_ROWS, False)
            inertia = inertia_pass(X, sample_weight, shift, centers, labels,
                                   BLOCK_ROWS)
        self._n_scored = n_scored  # rows rescored per iteration (diagnostics)
        return labels, inertia, centers, i + 1, np.asarray(inertias)

    # ------------------------------------------------------------ sources
    def _source(self, X, sample_weight=None, reset=False, promote=False):
        """The rows of ``X``: a Dask source, a streamed (chunked) source or in memory.

        A ``dask.array.Array`` gives a distributed source; a ``np.memmap`` (or
        any array when ``chunk_size`` is set) is streamed in row chunks;
        anything else is validated and held whole. Rows keep their float
        dtype when ``reset``, take the centers' dtype otherwise, or with
        ``promote`` the common dtype of both (as scikit-learn's ``transform``:
        float64 rows are not rounded to float32 centers, nor the reverse).
        """
        dtype = None if reset else self.cluster_centers_.dtype

        def check(chunk):
            if not promote:
                return check_data(chunk, "X", dtype=dtype, owner=self)
            chunk = check_data(chunk, "X", owner=self)
            if chunk.dtype != dtype:  # one of the two is float64
                chunk = chunk.astype(np.float64)
            return chunk

        check_feature_names(self, X, reset=reset)  # DataFrame column names
        if _is_dask_array(X):
            from .distributed import DaskData
            source = DaskData(X, check)
        else:
            chunk_rows = None
            if isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[0] > 0:
                chunk_rows = self.chunk_size
                if chunk_rows is None and isinstance(X, np.memmap):
                    chunk_rows = default_chunk_rows(X.shape[1], X.dtype.itemsize)
            source = ArrayData(X, check, chunk_rows)
        if not reset:
            check_n_features(source, self.n_features_in_, estimator="KMeans")
        source.set_weights(sample_weight)
        return source

    @staticmethod
    def _in_memory(source):
        return isinstance(source, ArrayData) and source.chunk_rows is None

    def _source_region(self, source):
        """``(serial, context)``: Dask tasks run serial kernels and need no
        thread region (the client runs no kernel); array sources run the
        parallel kernels inside one region, serial for ``n_jobs=1`` or a few
        blocks (which do not repay waking the thread pool; same result)."""
        if not isinstance(source, ArrayData):
            return True, contextlib.nullcontext()
        n_threads = resolve_n_jobs(self.n_jobs)
        serial = n_threads == 1 or source.n_samples <= 2 * BLOCK_ROWS
        return serial, parallel_region(n_threads)

    # ------------------------------------------------------------------ API
    def fit(self, X, y=None, sample_weight=None):
        """Compute k-means clustering.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 stays float32. Never modified. A
            ``np.memmap`` is streamed in chunks (bounded memory); a
            ``dask.array.Array`` is fitted on the Dask cluster; a
            ``scipy.sparse`` matrix is fitted in memory (see "Sparse input").
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights (not used by an array or callable init).

        Returns
        -------
        self : KMeans
        """
        self._check_params()
        if is_sparse(X):  # in memory only: no streamed or Dask sparse source
            weights = _fit_sparse(self, X, sample_weight)
        else:
            source = self._source(X, sample_weight, reset=True)
            if source.n_samples < self.n_clusters:
                raise ValueError(f"n_samples={source.n_samples} should be >= "
                                 f"n_clusters={self.n_clusters}.")
            if self._in_memory(source):
                weights = self._fit_in_memory(source.X, sample_weight)
            else:
                weights = self._fit_scaled(source)
        distinct = int((weights > 0).sum())
        if distinct < self.n_clusters:
            warnings.warn(f"Number of distinct clusters ({distinct}) found smaller "
                          f"than n_clusters ({self.n_clusters}). Possibly due to "
                          f"duplicate points in X.", ConvergenceWarning,
                          stacklevel=2)
        # partial_fit continues from here, as MiniBatchKMeans after fit
        self._counts = weights
        self.n_steps_ = 0
        return self

    def _fit_in_memory(self, X, sample_weight):
        n_samples = X.shape[0]
        sample_weight = check_sample_weight(sample_weight, n_samples)
        n_runs = self._n_init_runs()
        random_state = check_random_state(self.random_state, owner=self)
        # a few blocks do not repay waking the thread pool (same result either way)
        n_threads = 1 if n_samples <= 2 * BLOCK_ROWS else resolve_n_jobs(self.n_jobs)
        tol = _tolerance(X, self.tol)

        init = self.init
        if not isinstance(init, str) and not callable(init):
            init = self._check_centers(init, X, "init")
        shift = X.mean(axis=0)
        if not isinstance(init, str) and not callable(init):
            init -= shift

        Xc = None  # a centered copy, only for the initializers that need one
        best = None
        for _ in range(n_runs):
            if isinstance(init, str) or callable(init):
                if Xc is None:
                    Xc = X - shift
                centers0 = self._init_centroids(Xc, sample_weight, init, random_state)
            else:
                centers0 = init.copy()
            if self.verbose:
                print("Initialization complete")
            run = self._run_lloyd(X, sample_weight, shift, centers0, tol, n_threads)
            labels, inertia = run[0], run[1]
            if best is None or (inertia < best[1] and not _is_same_clustering(
                    labels, best[0], self.n_clusters)):
                best = run
        del Xc
        labels, inertia, centers, n_iter, inertias = best
        centers = centers + shift
        self._set_fitted(centers, labels, inertia, n_iter, inertias, X.shape[1])
        return np.bincount(labels, weights=sample_weight, minlength=self.n_clusters)

    def _set_fitted(self, centers, labels, inertia, n_iter, inertias, n_features):
        self.cluster_centers_ = centers
        self.labels_ = labels
        self.inertia_ = float(inertia)
        self.n_iter_ = n_iter
        self.inertias_ = inertias
        self.n_features_in_ = n_features

    def _fit_scaled(self, source):
        """Fit on a streamed or Dask source; returns the per-cluster weights."""
        n_runs = self._n_init_runs()
        random_state = check_random_state(self.random_state, owner=self)
        serial, region = self._source_region(source)
        init = self.init
        if not isinstance(init, str) and not callable(init):
            init = self._check_centers(init, source, "init")
        with region:
            # column means (the centering shift) and variances (for tol), one pass
            n, mean, m2 = source.map_reduce(_moments_part, _combine_moments)
            shift = mean.astype(source.dtype)
            tol = float(np.mean(m2 / n)) * self.tol if self.tol else 0.0
            if not isinstance(init, str) and not callable(init):
                init -= shift
            sample = None
            best = None
            for _ in range(n_runs):
                if isinstance(init, str) or callable(init):
                    if sample is None:
                        rows, w = source.init_sample(random_state)
                        sample = rows - shift, w
                    centers0 = self._init_centroids(sample[0], sample[1], init,
                                                    random_state)
                else:
                    centers0 = init.copy()
                if self.verbose:
                    print("Initialization complete")
                run = self._run_scaled(source, shift, centers0, tol, serial)
                if n_runs > 1:
                    inertia = source.map_reduce(
                        _final_part, _add_parts, shift, run[0],
                        row_norms(run[0], squared=True), None, serial)[1]
                    if best is None or inertia < best[0]:
                        best = inertia, run
                else:
                    best = None, run
            centers, n_iter, inertias = best[1]
            centers_sq = row_norms(centers, squared=True)
            if serial and not isinstance(source, ArrayData):  # Dask: lazy labels
                weights, inertia = source.map_reduce(
                    _final_part, _add_parts, shift, centers, centers_sq, None, True)
                labels = source.X.map_blocks(_labels_block, shift, centers, centers_sq,
                                             drop_axis=1, dtype=np.int32)
            else:
                labels = np.empty(source.n_samples, dtype=np.int32)
                weights, inertia = source.map_reduce(
                    _final_part, _add_parts, shift, centers, centers_sq, labels, serial)
        self._set_fitted(centers + shift, labels, inertia, n_iter, inertias,
                         source.n_features)
        return weights

    def _run_scaled(self, source, shift, centers, tol, serial):
        """One Lloyd run over the chunks/blocks of ``source`` (centered coordinates).

        No per-row state is kept, so label changes are not counted: a run
        stops strictly when the update leaves the centers bit for bit
        unchanged, which happens in the same pass as the in-memory criterion
        (no label changed): the same labels give the same sums, added in the
        same order.
        """
        inertias = []
        for i in range(self.max_iter):
            centers_sq = row_norms(centers, squared=True)
            sums, weights, inertia = source.map_reduce(
                _lloyd_part, _add_parts, shift, centers, centers_sq, serial)
            inertias.append(inertia)
            if self.verbose:
                print(f"Iteration {i}, inertia {inertia}.")
            if (weights == 0).any():
                empty = np.flatnonzero(weights == 0)
                far = source.map_reduce(_farthest_part, _merge_farthest, shift,
                                        centers, centers_sq, empty.size, serial)
                _relocate_to_candidates(far, empty, sums, weights)
            new_centers = _average_centers(sums, weights, source.dtype)
            shift_tot = float(((new_centers.astype(np.float64) - centers) ** 2).sum())
            unchanged = np.array_equal(new_centers, centers)
            centers = new_centers
            if unchanged:
                if self.verbose:
                    print(f"Converged at iteration {i}: strict convergence.")
                break
            if shift_tot <= tol:
                if self.verbose:
                    print(f"Converged at iteration {i}: center shift "
                          f"{shift_tot} within tolerance {tol}.")
                break
        return centers, i + 1, np.asarray(inertias)

    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the centers with one mini-batch (scikit-learn ``MiniBatchKMeans``).

        The first call (on an unfitted estimator) initializes the centers from
        its batch with ``init``; after ``fit``, updates start from the fitted
        centers with the fitted cluster weights as counts. Each call assigns
        the batch's rows to the current centers and moves each center to the
        weighted running mean of every row ever assigned to it:
        ``c_k <- (n_k c_k + sum_i w_i x_i) / (n_k + sum_i w_i)``. scikit-learn's
        random reassignment of low-count centers is not done (as
        ``MiniBatchKMeans(reassignment_ratio=0)``). ``labels_`` and
        ``inertia_`` describe the batch against the updated centers.

        Parameters
        ----------
        X : array-like of shape (n_batch, n_features)
            A batch (a memmap or Dask array works too).
        y : Ignored
        sample_weight : array-like of shape (n_batch,), default=None

        Returns
        -------
        self : KMeans
        """
        self._check_params()
        first = not hasattr(self, "cluster_centers_")
        source = self._source(X, sample_weight, reset=first)
        serial, region = self._source_region(source)
        with region:
            if first:
                if source.n_samples < self.n_clusters:
                    raise ValueError(f"The first batch has {source.n_samples} samples, "
                                     f"but n_clusters={self.n_clusters} needs at least "
                                     f"{self.n_clusters} to initialize.")
                self._random_state = check_random_state(self.random_state, owner=self)
                rows, w = source.init_sample(self._random_state)
                init = self.init
                if not isinstance(init, str) and not callable(init):
                    centers = self._check_centers(init, source, "init")
                else:
                    shift = rows.mean(axis=0)
                    centers = self._init_centroids(rows - shift, w, init,
                                                   self._random_state) + shift
                self._counts = np.zeros(self.n_clusters)
                self.n_steps_ = 0
                self.n_features_in_ = source.n_features
            else:
                centers = self.cluster_centers_
            zero = np.zeros(source.n_features, dtype=centers.dtype)
            sums, weights, _ = source.map_reduce(
                _lloyd_part, _add_parts, zero, centers,
                row_norms(centers, squared=True), serial)
            hit = weights > 0
            counts = self._counts + weights
            new = centers.astype(np.float64)
            new[hit] = ((new[hit] * self._counts[hit, None] + sums[hit])
                        / counts[hit, None])
            self.cluster_centers_ = np.ascontiguousarray(new, dtype=centers.dtype)
            self._counts = counts
            self.n_steps_ += 1
            self.labels_, self.inertia_ = self._labels_inertia(source, serial)
        return self

    def _centered_centers(self, dtype):
        """``(shift, centers - shift)`` in ``dtype``, shift the centers' mean.

        Rows are scored around a point among them, as in the fit: the
        expansion ``||x||^2 - 2 x.c + ||c||^2`` on raw float32 rows far from
        the origin loses every digit of the distances. The subtractions are
        exact when rows and centers lie close to the shift relative to their
        distance from the origin.
        """
        centers = self.cluster_centers_.astype(dtype)  # exact when upcasting
        shift = centers.mean(axis=0, dtype=np.float64).astype(dtype)
        return shift, centers - shift

    def _labels_inertia(self, source, serial=None, want_inertia=True):
        """Labels (lazy for Dask) and inertia (None unless ``want_inertia``)
        of ``source`` against the centers, in ``source``'s dtype."""
        if serial is None:
            serial, region = self._source_region(source)
        else:
            region = contextlib.nullcontext()
        shift, centers = self._centered_centers(source.dtype)
        centers_sq = row_norms(centers, squared=True)
        inertia = None
        with region:
            if isinstance(source, ArrayData):
                labels = np.empty(source.n_samples, dtype=np.int32)
                if want_inertia:
                    inertia = source.map_reduce(_final_part, _add_parts, shift,
                                                centers, centers_sq, labels, serial)[1]
                else:
                    for start, Xc, _ in source.chunks():
                        _assign(Xc, shift, centers, centers_sq,
                                labels[start:start + Xc.shape[0]], serial)
            else:
                labels = source.X.map_blocks(_labels_block, shift, centers, centers_sq,
                                             drop_axis=1, dtype=np.int32)
                if want_inertia:
                    inertia = source.map_reduce(_final_part, _add_parts, shift,
                                                centers, centers_sq, None, True)[1]
        return labels, None if inertia is None else float(inertia)

    @property
    def _n_features_out(self):
        """Output width of ``transform`` (scikit-learn's feature-names machinery
        reads it, as for its KMeans)."""
        return self.cluster_centers_.shape[0]

    def _check_test_data(self, X, sample_weight=None):
        check_is_fitted(self)
        return self._source(X, sample_weight, promote=True)

    def predict(self, X):
        """Index of the closest center for each row.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A memmap is streamed; a Dask array gives a lazy Dask array.

        Returns
        -------
        labels : ndarray of shape (n_samples,), int32
        """
        if is_sparse(X):
            return _labels_inertia_sparse(self, X, want_inertia=False)[0]
        return self._labels_inertia(self._check_test_data(X), want_inertia=False)[0]

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit and return ``labels_`` (same as ``fit(X).predict(X)``).

        Returns
        -------
        labels : ndarray of shape (n_samples,), int32 (lazy for a Dask array)
        """
        return self.fit(X, sample_weight=sample_weight).labels_

    def transform(self, X):
        """Euclidean distance of each row to each center.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A memmap is streamed; a Dask array gives a lazy Dask array.

        Returns
        -------
        distances : ndarray of shape (n_samples, n_clusters)
        """
        if is_sparse(X):
            return _transform_sparse(self, X)
        return self._transform(self._check_test_data(X))

    def _transform(self, source):
        # in float64 (as scikit-learn does for float32), around the centers'
        # mean: float32 distances accurate to their last bit
        shift, centers = self._centered_centers(source.dtype)
        shift = shift.astype(np.float64)
        centers = centers.astype(np.float64)
        centers_sq = row_norms(centers, squared=True)
        if not isinstance(source, ArrayData):
            X = source.X
            return X.map_blocks(_distances_block, shift, centers, centers_sq,
                                chunks=(X.chunks[0], (centers.shape[0],)),
                                dtype=source.dtype)
        serial, region = self._source_region(source)
        with region:
            if self._in_memory(source):
                return _distances(source.X, shift, centers, centers_sq, serial)
            out = np.empty((source.n_samples, centers.shape[0]), dtype=source.dtype)
            for start, Xc, _ in source.chunks():
                out[start:start + Xc.shape[0]] = _distances(Xc, shift, centers,
                                                            centers_sq, serial)
        return out

    def fit_transform(self, X, y=None, sample_weight=None):
        """Fit, then return the distances of X to the centers.

        Returns
        -------
        distances : ndarray of shape (n_samples, n_clusters)
        """
        self.fit(X, sample_weight=sample_weight)
        return self.transform(X)

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the (weighted) inertia of X against the fitted centers.

        Returns
        -------
        score : float
        """
        if is_sparse(X):
            return -_labels_inertia_sparse(self, X, sample_weight)[1]
        source = self._check_test_data(X, sample_weight)
        return -self._labels_inertia(source)[1]


# --------------------------------------------------- per-chunk / per-block work
# Called by ``ArrayData.map_reduce`` (parallel kernels, in a thread region) or
# ``DaskData.map_reduce`` (one task per block, serial kernels). Each returns
# small partial results; ``_add_parts`` sums them.

def _assign(X, shift, centers, centers_sq, labels, serial):
    """Write the closest center of each row of ``X - shift`` into ``labels``."""
    kernel = _k.lloyd_pass_serial if serial else _k.lloyd_pass
    with one_blas_thread():  # kernels call BLAS on small blocks
        # (the weights only enter the pass's inertia, unused here)
        kernel(X, np.ones(X.shape[0]), shift, centers, centers_sq, labels,
               BLOCK_ROWS, False)


def _distances(X, shift, centers, centers_sq, serial):
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


def _lloyd_part(X, w, start, shift, centers, centers_sq, serial):
    """Dense Lloyd pass on one chunk: (sums, weights, inertia) per cluster."""
    labels = np.full(X.shape[0], -1, dtype=np.int32)
    kernel = _k.lloyd_pass_serial if serial else _k.lloyd_pass
    with one_blas_thread():  # kernels call BLAS on small blocks
        sums, weights, inertia, _ = kernel(X, w, shift, centers, centers_sq, labels,
                                           BLOCK_ROWS, True)
    return sums, weights, inertia


def _add_parts(*parts):
    """Elementwise sum of tuples of arrays/floats (a new tuple; inputs untouched)."""
    total = list(parts[0])
    for part in parts[1:]:
        for j, v in enumerate(part):
            total[j] = total[j] + v
    return tuple(total)


def _final_part(X, w, start, shift, centers, centers_sq, labels_out, serial):
    """Labels (into ``labels_out[start:]`` when given) and exact inertia of a chunk.

    Returns (weight per cluster, inertia).
    """
    m = X.shape[0]
    labels = (np.empty(m, dtype=np.int32) if labels_out is None
              else labels_out[start:start + m])
    _assign(X, shift, centers, centers_sq, labels, serial)
    kernel = _k.inertia_pass_serial if serial else _k.inertia_pass
    inertia = kernel(X, w, shift, centers, labels, BLOCK_ROWS)
    return np.bincount(labels, weights=w, minlength=centers.shape[0]), inertia


def _labels_block(X, shift, centers, centers_sq):
    """Labels of one Dask block (serial kernel)."""
    labels = np.empty(X.shape[0], dtype=np.int32)
    _assign(X, shift, centers, centers_sq, labels, True)
    return labels


def _distances_block(X, shift, centers, centers_sq):
    """Distances of one Dask block to the centers (serial kernel)."""
    return _distances(X, shift, centers, centers_sq, True)


def _farthest_part(X, w, start, shift, centers, centers_sq, n, serial):
    """:func:`_farthest_rows` of one chunk or block, labelled here."""
    labels = np.empty(X.shape[0], dtype=np.int32)
    _assign(X, shift, centers, centers_sq, labels, serial)
    return _farthest_rows(X, w, start, shift, centers, labels, n)


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
    ``_SCREEN_RTOL`` of scikit-learn's); only the rows that can be among the
    ``n`` farthest get scikit-learn's distance.

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
    else:
        kth = np.partition(dist, m - n)[m - n]
        candidates = np.flatnonzero(dist >= kth)  # every row tied with the n-th
    return candidates[np.lexsort((candidates, -dist[candidates]))[:n]]


def _merge_farthest(*parts):
    """Keep the ``n`` farthest rows of several parts (same order as _top_rows)."""
    n = parts[0][0]
    cat = [np.concatenate([p[j] for p in parts]) for j in range(1, 6)]
    order = np.lexsort((cat[1], -cat[0]))[:n]  # by distance, then row index
    return (n, *(c[order] for c in cat))


def _relocate_to_candidates(far, empty, sums, weights):
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


def _tolerance(X, tol):
    """scikit-learn's tolerance: ``tol`` times the mean feature variance."""
    if tol == 0:
        return 0.0
    return float(np.mean(np.var(X, axis=0)) * tol)


def _average_centers(sums, weights, dtype):
    """New centers = weighted sums / weights; an empty cluster (only possible
    when every row sits on its center) copies the heaviest cluster's center,
    as scikit-learn does."""
    centers = np.empty_like(sums)
    full = weights > 0
    # multiply by the reciprocal, as scikit-learn does, for the same bits
    centers[full] = sums[full] * (1.0 / weights[full])[:, None]
    if not full.all():
        centers[~full] = centers[np.argmax(weights)]
    return np.ascontiguousarray(centers, dtype=dtype)


def _relocate_empty_clusters(X, sample_weight, shift, centers, sums, weights, labels):
    """Move each empty cluster onto one of the rows farthest from their center
    (in memory; the same rule as the streamed and Dask fits)."""
    empty = np.flatnonzero(weights == 0)
    far = _farthest_rows(X, sample_weight, 0, shift, centers, labels, empty.size)
    _relocate_to_candidates(far, empty, sums, weights)


def _is_same_clustering(labels1, labels2, n_clusters):
    """True if the two labelings are equal up to a relabeling of labels1."""
    pairs = np.unique(labels1.astype(np.int64) * n_clusters + labels2)
    return pairs.size == np.unique(labels1).size


def kmeans_labels(X, sample_weight, n_clusters, random_state, n_jobs):
    """Labels of one k-means run from a k-means++ start, as scikit-learn's
    mixtures initialize. Dense Lloyd passes only: a mixture's first fit
    then compiles one k-means kernel fewer (the bounded pass, ~5 s)."""
    km = KMeans(n_clusters=n_clusters, n_init=1, random_state=random_state, n_jobs=n_jobs)
    km._prune = False
    return km.fit(X, sample_weight=sample_weight).labels_


# ------------------------------------------------------------------ sparse input
# scipy.sparse rows (CSR; other formats converted once) are fitted in memory by
# the CSR Lloyd pass of ``kernels.kmeans_sparse``. They are not centered
# (centering would make them dense), as scikit-learn does not center them.

class _SparseRows:
    """A validated CSR matrix (see ``check_sparse_data``) and, for a fit, its
    CSC twin (:meth:`columns`)."""

    def __init__(self, X):
        self.matrix = X
        self.csr = (X.data, X.indices, X.indptr)

    def columns(self, sample_weight):
        """``(row indices, indptr, weighted values, lane_features)`` of the CSC
        twin, the arguments of ``kernels.kmeans_sparse.column_sums``: the
        weights are the same in every iteration, so each stored value is
        multiplied by its row's weight once (``float64(x) * w``, the product
        the row-wise sum would take)."""
        csc = self.matrix.tocsc()  # rows come out sorted within each column
        rows = csc.indices.astype(np.int32, copy=False)
        indptr = csc.indptr.astype(np.int32, copy=False)
        weighted = csc.data.astype(np.float64)
        weighted *= sample_weight[rows]
        return rows, indptr, weighted, _ks.feature_lanes(indptr)


def _sparse_threads(n_jobs, n_samples):
    """Threads of a sparse pass: one for a few blocks (same result either way)."""
    return 1 if n_samples <= 2 * BLOCK_ROWS else resolve_n_jobs(n_jobs)


def _sparse_assign(rows, sample_weight, centers, labels):
    """One CSR E-step against ``centers`` (K, D): ``(inertia, n_changed, centers_sq)``;
    ``labels`` updated in place."""
    centers_sq = row_norms(centers, squared=True)
    inertia, n_changed = _ks.lloyd_pass(*rows.csr, sample_weight,
                                        np.ascontiguousarray(centers.T), centers_sq,
                                        labels, BLOCK_ROWS)
    return inertia, n_changed, centers_sq


def _sparse_inertia(rows, sample_weight, centers, labels):
    """scikit-learn's sparse inertia: weighted squared distances of the rows to
    their centers (each as its ``_euclidean_sparse_dense``), added in float64."""
    dist = _ks.assigned_sq_distances(*rows.csr, centers, row_norms(centers, squared=True),
                                     labels)
    return float((dist * sample_weight).sum())


def _relocate_empty_sparse(rows, sample_weight, centers, centers_sq, sums, weights,
                           labels):
    """Move each empty cluster onto one of the rows farthest from their center:
    scikit-learn's sparse distances, the dense fit's order (farthest first,
    ties by row index, zero-weight rows excluded). ``sums`` (K, D) and
    ``weights`` (K,) are updated in place."""
    empty = np.flatnonzero(weights == 0)
    dist = _ks.assigned_sq_distances(*rows.csr, centers, centers_sq, labels)
    dist[sample_weight <= 0] = -1.0
    top = _top_rows(dist, empty.size)
    far = (empty.size, dist[top], top, rows.matrix[top].toarray().astype(np.float64),
           sample_weight[top], labels[top])
    _relocate_to_candidates(far, empty, sums, weights)


def _run_lloyd_sparse(rows, columns, sample_weight, centers, max_iter, tol, n_threads,
                      verbose):
    """One Lloyd run on CSR rows from ``centers`` (K, D), as scikit-learn's
    ``_kmeans_single_lloyd`` on sparse input; ``columns`` is
    ``rows.columns(sample_weight)``.

    Returns
    -------
    labels, inertia, centers, n_iter, inertias : as ``KMeans._run_lloyd``
    """
    n_clusters = centers.shape[0]
    labels = np.full(rows.matrix.shape[0], -1, dtype=np.int32)
    inertias = []
    strict = False
    with parallel_region(n_threads):
        for i in range(max_iter):
            inertia, n_changed, centers_sq = _sparse_assign(rows, sample_weight, centers,
                                                           labels)
            inertias.append(inertia)
            if verbose:
                print(f"Iteration {i}, inertia {inertia}.")
            sums = _ks.column_sums(*columns[:3], labels, columns[3], n_clusters)
            weights = np.bincount(labels, weights=sample_weight, minlength=n_clusters)
            if (weights == 0).any():
                _relocate_empty_sparse(rows, sample_weight, centers, centers_sq, sums,
                                       weights, labels)
            new_centers = _average_centers(sums, weights, centers.dtype)
            shift_tot = float(((new_centers.astype(np.float64) - centers) ** 2).sum())
            centers = new_centers
            if n_changed == 0:
                if verbose:
                    print(f"Converged at iteration {i}: strict convergence.")
                strict = True
                break
            if shift_tot <= tol:
                if verbose:
                    print(f"Converged at iteration {i}: center shift {shift_tot} "
                          f"within tolerance {tol}.")
                break
        if not strict:  # a final E-step so that labels_ match cluster_centers_
            _sparse_assign(rows, sample_weight, centers, labels)
        inertia = _sparse_inertia(rows, sample_weight, centers, labels)
    return labels, inertia, centers, i + 1, np.asarray(inertias)


def _sparse_init_centers(est, X, sample_weight, init, random_state):
    """Initial centers (K, D) in X's dtype, drawn on the sparse rows as
    scikit-learn draws them."""
    if isinstance(init, str) and init == "k-means++":
        centers, _ = kmeans_plusplus(X, est.n_clusters, sample_weight=sample_weight,
                                     random_state=random_state)
    elif isinstance(init, str):  # 'random'
        # the probabilities in X's dtype, as scikit-learn computes them
        weight = sample_weight.astype(X.dtype)
        seeds = random_state.choice(X.shape[0], size=est.n_clusters, replace=False,
                                    p=weight / weight.sum())
        centers = X[seeds].toarray()
    elif callable(init):
        centers = est._check_centers(init(X, est.n_clusters, random_state=random_state),
                                     X, "the centers returned by init")
    else:
        centers = init
    return np.array(centers, dtype=X.dtype, order="C")


def _fit_sparse(est, X, sample_weight):
    """``est.fit`` on ``scipy.sparse`` X; returns the weight per cluster."""
    X = check_sparse_data(X, "X", owner=est)
    check_feature_names(est, X, reset=True)
    n_samples = X.shape[0]
    if n_samples < est.n_clusters:
        raise ValueError(f"n_samples={n_samples} should be >= "
                         f"n_clusters={est.n_clusters}.")
    sample_weight = check_sample_weight(sample_weight, n_samples)
    n_runs = est._n_init_runs()
    random_state = check_random_state(est.random_state, owner=est)
    init = est.init
    if not isinstance(init, str) and not callable(init):
        init = est._check_centers(init, X, "init")
    # scikit-learn's tolerance: tol times the mean (unweighted) feature variance
    tol = float(np.mean(mean_variance_axis(X, axis=0)[1]) * est.tol) if est.tol else 0.0
    rows = _SparseRows(X)
    columns = rows.columns(sample_weight)
    n_threads = _sparse_threads(est.n_jobs, n_samples)
    best = None
    for _ in range(n_runs):
        centers0 = _sparse_init_centers(est, X, sample_weight, init, random_state)
        if est.verbose:
            print("Initialization complete")
        run = _run_lloyd_sparse(rows, columns, sample_weight, centers0, est.max_iter, tol,
                                n_threads, est.verbose)
        if best is None or (run[1] < best[1] and not _is_same_clustering(
                run[0], best[0], est.n_clusters)):
            best = run
    labels, inertia, centers, n_iter, inertias = best
    est._set_fitted(centers, labels, inertia, n_iter, inertias, X.shape[1])
    return np.bincount(labels, weights=sample_weight, minlength=est.n_clusters)


def _sparse_test_rows(est, X):
    """Validated CSR rows for ``predict``/``transform``/``score`` and the
    centers, both float64 when their dtypes differ (no rounding either way)."""
    check_is_fitted(est)
    X = check_sparse_data(X, "X", owner=est)
    check_feature_names(est, X, reset=False)
    check_n_features(X, est.n_features_in_, estimator="KMeans")
    centers = est.cluster_centers_
    if X.dtype != centers.dtype:
        X = check_sparse_data(X, "X", dtype=np.float64)
        centers = centers.astype(np.float64)
    return _SparseRows(X), centers


def _labels_inertia_sparse(est, X, sample_weight=None, want_inertia=True):
    """Labels (int32) and inertia (None unless ``want_inertia``) of sparse X
    against the fitted centers."""
    rows, centers = _sparse_test_rows(est, X)
    n_samples = rows.matrix.shape[0]
    sample_weight = check_sample_weight(sample_weight, n_samples)
    labels = np.full(n_samples, -1, dtype=np.int32)
    with parallel_region(_sparse_threads(est.n_jobs, n_samples)):
        _sparse_assign(rows, sample_weight, centers, labels)
        inertia = _sparse_inertia(rows, sample_weight, centers, labels) \
            if want_inertia else None
    return labels, inertia


def _transform_sparse(est, X):
    """Euclidean distances of sparse X to the centers, as scikit-learn's
    ``euclidean_distances`` computes them (float64, then X's dtype)."""
    rows, centers = _sparse_test_rows(est, X)
    centers = centers.astype(np.float64)
    with parallel_region(_sparse_threads(est.n_jobs, rows.matrix.shape[0])):
        sq = _ks.expanded_sq_distances(*rows.csr, np.ascontiguousarray(centers.T),
                                       row_norms(centers, squared=True))
    out = sq.astype(rows.matrix.dtype, copy=False)
    np.maximum(out, 0, out=out)
    return np.sqrt(out, out=out)


# ------------------------------------------------------------ functional API
def kmeans_plusplus(X, n_clusters, *, sample_weight=None, x_squared_norms=None,
                    random_state=None, n_local_trials=None):
    """Initial centers by k-means++, as :func:`sklearn.cluster.kmeans_plusplus`.

    The same draws as scikit-learn's for the same ``random_state`` (the
    seeding is scikit-learn's own, on rows validated by fastem).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Rows to pick the centers from (sparse: converted to CSR once).
    n_clusters : int
    sample_weight : array-like of shape (n_samples,), default=None
    x_squared_norms : array-like of shape (n_samples,), default=None
        Squared Euclidean norms of the rows (computed when None).
    random_state : int, RandomState instance or None, default=None
    n_local_trials : int, default=None
        Candidates per center (None: ``2 + int(log(n_clusters))``).

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), X's dtype
    indices : ndarray of shape (n_clusters,), the row index of each center
    """
    from sklearn.cluster import kmeans_plusplus as _sklearn_kmeans_plusplus
    check_int(n_clusters, "n_clusters", low=1)
    check_int(n_local_trials, "n_local_trials", low=1, allow_none=True)
    X = check_sparse_data(X, "X") if is_sparse(X) else check_data(X, "X")
    sample_weight = check_sample_weight(sample_weight, X.shape[0])
    if X.shape[0] < n_clusters:
        raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={n_clusters}.")
    if x_squared_norms is not None:
        x_squared_norms = np.asarray(as_numeric_array(x_squared_norms, "x_squared_norms"),
                                     dtype=X.dtype)
        if x_squared_norms.shape != (X.shape[0],):
            raise ValueError(f"The length of x_squared_norms {len(x_squared_norms)} "
                             f"should be equal to the length of n_samples "
                             f"{X.shape[0]}: x_squared_norms must have shape "
                             f"({X.shape[0]},).")
    return _sklearn_kmeans_plusplus(
        X, n_clusters, sample_weight=sample_weight.astype(X.dtype),
        x_squared_norms=x_squared_norms, random_state=check_random_state(random_state),
        n_local_trials=n_local_trials)


def k_means(X, n_clusters, *, sample_weight=None, init="k-means++", n_init="auto",
            max_iter=300, verbose=False, tol=1e-4, random_state=None, copy_x=True,
            algorithm="lloyd", return_n_iter=False):
    """K-means clustering, as :func:`sklearn.cluster.k_means` (fits a :class:`KMeans`).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    n_clusters : int
    sample_weight, init, n_init, max_iter, verbose, tol, random_state, copy_x, \
algorithm :
        As :class:`KMeans` (and scikit-learn's ``k_means``).
    return_n_iter : bool, default=False
        Also return the number of iterations of the best run.

    Returns
    -------
    centroid : ndarray of shape (n_clusters, n_features)
    label : ndarray of shape (n_samples,), int32
    inertia : float
    best_n_iter : int
        Only when ``return_n_iter``.
    """
    est = KMeans(n_clusters=n_clusters, init=init, n_init=n_init, max_iter=max_iter,
                 verbose=verbose, tol=tol, random_state=random_state, copy_x=copy_x,
                 algorithm=algorithm).fit(X, sample_weight=sample_weight)
    if return_n_iter:
        return est.cluster_centers_, est.labels_, est.inertia_, est.n_iter_
    return est.cluster_centers_, est.labels_, est.inertia_
