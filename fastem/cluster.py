"""KMeans: a drop-in for :class:`sklearn.cluster.KMeans` on compiled kernels.

The face only: parameters, validation, data sources and the scikit-learn
API, including scikit-learn's functional ``k_means`` and ``kmeans_plusplus``.
The algorithm (initialization, Lloyd passes on the EM driver, empty cluster
relocation; dense, streamed, Dask and sparse rows) is the Lloyd engine,
:mod:`fastem.families.kmeans`.
"""
import contextlib
import numbers
import warnings

import numpy as np
from sklearn.base import (BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin,
                          TransformerMixin)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.extmath import row_norms
from sklearn.utils.validation import check_is_fitted

from ._base import _is_dask_array, store_params
from ._data import ArrayData, default_chunk_rows
from ._threads import parallel_region, resolve_n_jobs
from ._validation import (as_numeric_array, check_data, check_feature_names,
                          check_float, check_int, check_n_features, check_option,
                          check_random_state, check_sample_weight, check_sparse_data,
                          is_sparse)
from .families import kmeans as lloyd

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
        Both run the same exact, bound-accelerated Lloyd iteration. In
        memory, from 32,768 rows (below, every pass scores every row: the
        bounds would save no time there), each row keeps Hamerly's bounds
        on its distance to its own
        center and to the other centers; rows whose label the bounds settle
        are neither rescored nor read (each block of rows keeps its
        per-cluster sums and moves the few rows that change cluster between
        them); while the centers still move far, every row is scored, as in
        a dense pass. Rows are scored in float32 first, from a float32 copy
        of the centered rows kept for the fit, and the few whose two best
        scores lie within round-off of each other again as scikit-learn
        scores them, so the labels are its own. (Elkan's one bound per
        center, and Yinyang's per group of centers, prune more rows but cost
        more than they save here.) Elkan gives the same clustering as
        Lloyd; so does this.
    n_jobs : int or None, default=None
        Threads for the kernels (None: all cores; negative: all + 1 + n_jobs).
    chunk_size : int or None, default=None
        Rows per chunk when X is streamed. A ``np.memmap`` is always streamed
        (by default in chunks of about 64 MB); any other array is streamed
        when ``chunk_size`` is set. A streamed fit reads each chunk once per
        Lloyd iteration with the dense pass and adds the per-cluster sums; it
        keeps no per-row state (labels, bounds, norm and the row in float32,
        28 bytes plus 4 per feature, would be held for every streamed row),
        so it runs the dense pass throughout. It initializes from a random
        sample of at most 100,000 rows. Results equal the
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
        store_params(self, locals())

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
        if not isinstance(source, (ArrayData, lloyd.SparseRows)):
            return True, contextlib.nullcontext()
        n_threads = resolve_n_jobs(self.n_jobs)
        serial = n_threads == 1 or source.n_samples <= 2 * lloyd.BLOCK_ROWS
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
            X = check_sparse_data(X, "X", owner=self)
            check_feature_names(self, X, reset=True)
            source = lloyd.SparseRows(X, check_sample_weight(sample_weight, X.shape[0]))
        else:
            source = self._source(X, sample_weight, reset=True)
        if source.n_samples < self.n_clusters:
            raise ValueError(f"n_samples={source.n_samples} should be >= "
                             f"n_clusters={self.n_clusters}.")
        init = self.init
        if not isinstance(init, str) and not callable(init):
            init = self._check_centers(init, source, "init")
        n_init = self._n_init_runs()
        random_state = check_random_state(self.random_state, owner=self)
        serial, region = self._source_region(source)
        with region as n_threads:
            fit = lloyd.fit_lloyd(
                source, self.n_clusters, init=init, n_init=n_init,
                max_iter=self.max_iter, tol=self.tol, random_state=random_state,
                n_threads=1 if serial else n_threads, serial=serial, prune=self._prune,
                verbose=self.verbose,
                check_centers=lambda c, what: self._check_centers(c, source, what))
        self.cluster_centers_ = fit.centers
        self.labels_ = fit.labels
        self.inertia_ = fit.inertia
        self.n_iter_ = fit.n_iter
        self.inertias_ = fit.inertias
        self.n_features_in_ = source.n_features
        self._n_scored = fit.n_scored  # rows scored per iteration (diagnostics)
        distinct = int((fit.weights > 0).sum())
        if distinct < self.n_clusters:
            warnings.warn(f"Number of distinct clusters ({distinct}) found smaller "
                          f"than n_clusters ({self.n_clusters}). Possibly due to "
                          f"duplicate points in X.", ConvergenceWarning,
                          stacklevel=2)
        # partial_fit continues from here, as MiniBatchKMeans after fit
        self._counts = fit.weights
        self.n_steps_ = 0
        return self

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
                    centers = lloyd.init_centroids(rows, shift, w, self.n_clusters, init,
                                                   self._random_state)
                    if callable(init):
                        centers = self._check_centers(centers, source,
                                                      "the centers returned by init")
                    centers = centers + shift
                self._counts = np.zeros(self.n_clusters)
                self.n_steps_ = 0
                self.n_features_in_ = source.n_features
            else:
                centers = self.cluster_centers_
            zero = np.zeros(source.n_features, dtype=centers.dtype)
            sums, weights, _ = source.map_reduce(
                lloyd.lloyd_part, lloyd.add_parts, zero, centers,
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
                    inertia = source.map_reduce(lloyd.final_part, lloyd.add_parts, shift,
                                                centers, centers_sq, labels, serial)[1]
                else:
                    for start, Xc, _ in source.chunks():
                        lloyd.assign(Xc, shift, centers, centers_sq,
                                labels[start:start + Xc.shape[0]], serial)
            else:
                labels = source.X.map_blocks(lloyd.labels_block, shift, centers, centers_sq,
                                             drop_axis=1, dtype=np.int32)
                if want_inertia:
                    inertia = source.map_reduce(lloyd.final_part, lloyd.add_parts, shift,
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

    def _sparse_test_rows(self, X, sample_weight=None):
        """Validated CSR rows for ``predict``/``transform``/``score`` and the
        centers, both float64 when their dtypes differ (no rounding either way)."""
        check_is_fitted(self)
        X = check_sparse_data(X, "X", owner=self)
        check_feature_names(self, X, reset=False)
        check_n_features(X, self.n_features_in_, estimator="KMeans")
        centers = self.cluster_centers_
        if X.dtype != centers.dtype:
            X = check_sparse_data(X, "X", dtype=np.float64)
            centers = centers.astype(np.float64)
        weights = check_sample_weight(sample_weight, X.shape[0])
        return lloyd.SparseRows(X, weights), centers

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
            rows, centers = self._sparse_test_rows(X)
            with self._source_region(rows)[1]:
                return lloyd.sparse_labels_inertia(rows, centers, want_inertia=False)[0]
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
            rows, centers = self._sparse_test_rows(X)
            with self._source_region(rows)[1]:
                return lloyd.sparse_distances(rows, centers)
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
            return X.map_blocks(lloyd.distances_block, shift, centers, centers_sq,
                                chunks=(X.chunks[0], (centers.shape[0],)),
                                dtype=source.dtype)
        serial, region = self._source_region(source)
        with region:
            if self._in_memory(source):
                return lloyd.distances(source.X, shift, centers, centers_sq, serial)
            out = np.empty((source.n_samples, centers.shape[0]), dtype=source.dtype)
            for start, Xc, _ in source.chunks():
                out[start:start + Xc.shape[0]] = lloyd.distances(Xc, shift, centers,
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
            rows, centers = self._sparse_test_rows(X, sample_weight)
            with self._source_region(rows)[1]:
                return -lloyd.sparse_labels_inertia(rows, centers)[1]
        source = self._check_test_data(X, sample_weight)
        return -self._labels_inertia(source)[1]


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
