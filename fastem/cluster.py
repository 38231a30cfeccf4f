"""KMeans: a drop-in for :class:`sklearn.cluster.KMeans` on compiled kernels."""
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.extmath import row_norms
from sklearn.utils.validation import check_is_fitted

from ._threads import parallel_region, resolve_n_jobs
from ._validation import (check_data, check_float, check_int, check_n_features,
                          check_random_state, check_sample_weight)
from .kernels import kmeans as _k

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


class KMeans(ClusterMixin, TransformerMixin, BaseEstimator):
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
    """

    def __init__(self, n_clusters=8, *, init="k-means++", n_init="auto",
                 max_iter=300, tol=1e-4, verbose=0, random_state=None,
                 copy_x=True, algorithm="lloyd", n_jobs=None):
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

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        check_int(self.n_clusters, "n_clusters", low=1)
        check_int(self.max_iter, "max_iter", low=1)
        check_float(self.tol, "tol", low=0.0)
        if isinstance(self.n_init, str):
            if self.n_init != "auto":
                raise ValueError(f"n_init must be 'auto' or an integer >= 1, "
                                 f"got {self.n_init!r}.")
        else:
            check_int(self.n_init, "n_init", low=1)
        if isinstance(self.init, str):
            if self.init not in _INIT_METHODS:
                raise ValueError(f"init must be one of {list(_INIT_METHODS)}, a "
                                 f"callable or an array of shape (n_clusters, "
                                 f"n_features), got {self.init!r}.")
        elif not callable(self.init) and not hasattr(self.init, "__len__"):
            raise TypeError(f"init must be 'k-means++', 'random', a callable or "
                            f"an array of shape (n_clusters, n_features), got "
                            f"{self.init!r}.")
        if not isinstance(self.algorithm, str) or self.algorithm not in _ALGORITHMS:
            raise ValueError(f"algorithm must be one of {list(_ALGORITHMS)}, got "
                             f"{self.algorithm!r}.")
        if not isinstance(self.verbose, (numbers.Integral, np.bool_)):
            raise TypeError(f"verbose must be an integer or bool, got "
                            f"{self.verbose!r}.")
        if not isinstance(self.copy_x, (bool, np.bool_)):
            raise TypeError(f"copy_x must be a bool, got {self.copy_x!r}.")
        resolve_n_jobs(self.n_jobs)

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
                sums, weights, inertia, n_changed, scored = bounded(
                    X, sample_weight, shift, centers, centers_sq, labels, lower,
                    block_dense, drift, eta, i % _PROBE_EVERY == 0, BLOCK_ROWS)
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

    # ------------------------------------------------------------------ API
    def fit(self, X, y=None, sample_weight=None):
        """Compute k-means clustering.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; float32 stays float32. Never modified.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights (not used by an array or callable init).

        Returns
        -------
        self : KMeans
        """
        self._check_params()
        X = check_data(X, "X")
        n_samples = X.shape[0]
        if n_samples < self.n_clusters:
            raise ValueError(f"n_samples={n_samples} should be >= "
                             f"n_clusters={self.n_clusters}.")
        sample_weight = check_sample_weight(sample_weight, n_samples)
        n_runs = self._n_init_runs()
        random_state = check_random_state(self.random_state)
        n_threads = resolve_n_jobs(self.n_jobs)
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

        distinct = np.unique(labels).size
        if distinct < self.n_clusters:
            warnings.warn(f"Number of distinct clusters ({distinct}) found smaller "
                          f"than n_clusters ({self.n_clusters}). Possibly due to "
                          f"duplicate points in X.", ConvergenceWarning,
                          stacklevel=2)

        self.cluster_centers_ = centers
        self._n_features_out = centers.shape[0]
        self.labels_ = labels
        self.inertia_ = float(inertia)
        self.n_iter_ = n_iter
        self.inertias_ = inertias
        self.n_features_in_ = X.shape[1]
        return self

    def _check_test_data(self, X):
        check_is_fitted(self)
        X = check_data(X, "X", dtype=self.cluster_centers_.dtype)
        check_n_features(X, self.n_features_in_)
        return X

    def _labels_inertia(self, X, sample_weight):
        n_threads = resolve_n_jobs(self.n_jobs)
        lloyd, inertia_pass = self._kernels(n_threads)
        centers = self.cluster_centers_
        shift = np.zeros(X.shape[1], dtype=X.dtype)
        labels = np.full(X.shape[0], -1, dtype=np.int32)
        with parallel_region(n_threads):
            lloyd(X, sample_weight, shift, centers, row_norms(centers, squared=True),
                  labels, BLOCK_ROWS, False)
            inertia = inertia_pass(X, sample_weight, shift, centers, labels,
                                   BLOCK_ROWS)
        return labels, inertia

    def predict(self, X):
        """Index of the closest center for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,), int32
        """
        X = self._check_test_data(X)
        return self._labels_inertia(X, np.ones(X.shape[0]))[0]

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit and return ``labels_`` (same as ``fit(X).predict(X)``).

        Returns
        -------
        labels : ndarray of shape (n_samples,), int32
        """
        return self.fit(X, sample_weight=sample_weight).labels_

    def transform(self, X):
        """Euclidean distance of each row to each center.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        distances : ndarray of shape (n_samples, n_clusters)
        """
        X = self._check_test_data(X)
        return self._transform(X)

    def _transform(self, X):
        centers = self.cluster_centers_
        n_threads = resolve_n_jobs(self.n_jobs)
        with parallel_region(n_threads):
            return _k.distances_pass(X, centers,
                                     row_norms(centers.astype(np.float64), squared=True),
                                     BLOCK_ROWS)

    def fit_transform(self, X, y=None, sample_weight=None):
        """Fit, then return the distances of X to the centers.

        Returns
        -------
        distances : ndarray of shape (n_samples, n_clusters)
        """
        self.fit(X, sample_weight=sample_weight)
        return self._transform(check_data(X, "X", dtype=self.cluster_centers_.dtype))

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the (weighted) inertia of X against the fitted centers.

        Returns
        -------
        score : float
        """
        X = self._check_test_data(X)
        sample_weight = check_sample_weight(sample_weight, X.shape[0])
        return -float(self._labels_inertia(X, sample_weight)[1])


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
    """Move each empty cluster onto one of the rows farthest from their center.

    scikit-learn's rule: the i-th empty cluster takes the i-th farthest row,
    which leaves its old cluster. Updates ``sums`` and ``weights`` in place.
    """
    empty = np.flatnonzero(weights == 0)
    n_empty = empty.size
    distances = _k.assigned_sq_distances(X, shift, centers, labels)
    if distances.max() == 0:
        return
    far = np.argpartition(distances, -n_empty)[:-n_empty - 1:-1]
    for new_id, idx in zip(empty, far):
        w = sample_weight[idx]
        x = (X[idx] - shift).astype(np.float64)
        old_id = labels[idx]
        sums[old_id] -= x * w
        sums[new_id] = x * w
        weights[new_id] = w
        weights[old_id] -= w


def _is_same_clustering(labels1, labels2, n_clusters):
    """True if the two labelings are equal up to a relabeling of labels1."""
    pairs = np.unique(labels1.astype(np.int64) * n_clusters + labels2)
    return pairs.size == np.unique(labels1).size
