"""Numba kernels for k-means on sparse CSR rows (Lloyd's algorithm, hard EM).

A CSR matrix is passed as its three arrays: ``data`` (nnz,) float32/float64,
``indices`` (nnz,) int32 column indices and ``indptr`` (n_samples + 1,)
int32. Sparse rows are not centered (as scikit-learn does not center them:
centering would make them dense).

Exactness against scikit-learn (``_k_means_lloyd.pyx``,
``_k_means_common.pyx``): a row's score for center ``j`` is
``||c_j||^2 - 2 x.c_j`` with the sparse dot product summed over the row's
stored entries in stored order, in the input dtype, with the strict ``<``
keeping the first minimum, exactly as scikit-learn's sparse Lloyd does; the
dot products for all centers run at once against the centers transposed to
(n_features, n_clusters), so each stored entry reads one contiguous row of
centers (the adds per center happen in the same order, so the bits are
the same). Distances for the inertia and for empty-cluster relocation use
scikit-learn's ``sum (x - c)^2 - c^2 + ||c||^2`` in the input dtype.

Determinism: the assignment pass runs over fixed row blocks grouped in
lanes (see :mod:`fastem.kernels._compile`), each block writing its own
inertia and change count. The per-cluster sums are not gathered per lane (a
(n_clusters, n_features) slot per lane would take 64 x K x D floats for
text-sized D): :func:`column_sums` sums each feature's column of a CSC copy
in row order, in float64. Every sum is then the plain row-order sum, so the
results are bit-identical for any thread count (and equal scikit-learn's
single-threaded float64 sums).

Arguments marked IN are read, OUT are written, INOUT both.
"""
import numpy as np
from numba import njit

from .._threads import region_threads, run_lanes
from ._compile import N_LANES

_JIT = dict(cache=True, nogil=True)


@njit(**_JIT)
def _lloyd_lanes(data, indices, indptr, sample_weight, centers_t, centers_sq, labels,
                 block_rows, block_inertia, block_changed, lane_lo, lane_hi):
    """Assign the rows of the blocks of lanes ``lane_lo:lane_hi``; see :func:`lloyd_pass`.

    ``block_inertia`` (n_blocks,) float64 and ``block_changed`` (n_blocks,)
    int64: OUT, each block's weighted squared distances (``||x||^2`` plus
    the best score, in float64) and count of rows whose label changed.
    """
    n_samples = indptr.shape[0] - 1
    n_clusters = centers_sq.shape[0]
    width = centers_t.shape[1]  # >= n_clusters: whole vectors (centers_columns)
    n_blocks = block_inertia.shape[0]
    n_lanes = min(n_blocks, N_LANES)
    acc = np.empty(width, dtype=centers_t.dtype)
    for lane in range(lane_lo, lane_hi):
        for b in range(lane * n_blocks // n_lanes, (lane + 1) * n_blocks // n_lanes):
            start = b * block_rows
            stop = min(start + block_rows, n_samples)
            inertia = 0.0
            changed = 0
            for r in range(start, stop):
                acc[:] = 0
                xx = 0.0
                for p in range(indptr[r], indptr[r + 1]):
                    v = data[p]
                    row = centers_t[indices[p]]
                    for j in range(width):
                        acc[j] += row[j] * v
                    xx += np.float64(v) * np.float64(v)
                # acc + acc is 2 acc exactly, in the input dtype
                best = centers_sq[0] - (acc[0] + acc[0])
                label = 0
                for j in range(1, n_clusters):
                    score = centers_sq[j] - (acc[j] + acc[j])
                    if score < best:
                        best = score
                        label = j
                if labels[r] != label:
                    changed += 1
                    labels[r] = label
                dist = xx + np.float64(best)
                if dist > 0.0:
                    inertia += sample_weight[r] * dist
            block_inertia[b] = inertia
            block_changed[b] = changed


def centers_columns(centers):
    """The centers transposed, ``(n_features, width)`` C-contiguous in
    their dtype, each row padded with zeros to whole 32-byte vectors: the
    per-entry loop over the centers then has no scalar remainder (K=20
    float32 centers: 2.5 vectors of 8; the float32 pass had taken as long
    as the float64 one)."""
    n_clusters, n_features = centers.shape
    lanes = 32 // centers.itemsize
    out = np.zeros((n_features, -(-n_clusters // lanes) * lanes), dtype=centers.dtype)
    out[:, :n_clusters] = centers.T
    return out


def lloyd_pass(data, indices, indptr, sample_weight, centers_t, centers_sq, labels,
               block_rows, n_threads=None):
    """Label every CSR row with its closest center (the E-step).

    Parameters
    ----------
    data, indices, indptr : the CSR arrays, ``data`` float32/float64      # IN
    sample_weight : ndarray (n_samples,), float64                         # IN
    centers_t : ndarray (n_features, width >= n_clusters), data's dtype,
        the centers transposed, C-contiguous (:func:`centers_columns`)    # IN
    centers_sq : ndarray (n_clusters,), data's dtype, squared center
        norms (scikit-learn's ``row_norms`` of the centers)               # IN
    labels : ndarray (n_samples,), int32, previous labels -> new labels   # INOUT
    block_rows : int, rows per block (fixes the inertia's summation order)
    n_threads : int or None, threads the lanes are dealt to (None: the
        current thread region's). The result does not depend on it.

    Returns
    -------
    inertia : float, weighted squared distances to the given centers,
        from the scores (cheap, for the history)
    n_changed : int, rows whose label changed
    """
    n_blocks = max(1, -(-(indptr.shape[0] - 1) // block_rows))
    block_inertia = np.zeros(n_blocks)
    block_changed = np.zeros(n_blocks, dtype=np.int64)
    run_lanes(_lloyd_lanes, (data, indices, indptr, sample_weight, centers_t, centers_sq,
                             labels, block_rows, block_inertia, block_changed),
              min(n_blocks, N_LANES), region_threads() if n_threads is None else n_threads)
    return block_inertia.sum(), int(block_changed.sum())


@njit(**_JIT)
def _column_sums_lanes(col_rows, col_indptr, col_weighted, labels, lane_features, sums,
                       lane_lo, lane_hi):
    """Per-cluster sums of the features of lanes ``lane_lo:lane_hi`` (lane
    ``l`` holds features ``lane_features[l]:lane_features[l + 1]``); see
    :func:`column_sums`."""
    n_clusters = sums.shape[0]
    for lane in range(lane_lo, lane_hi):
        for d in range(lane_features[lane], lane_features[lane + 1]):
            for k in range(n_clusters):
                sums[k, d] = 0.0
            for p in range(col_indptr[d], col_indptr[d + 1]):
                sums[labels[col_rows[p]], d] += col_weighted[p]


def feature_lanes(col_indptr):
    """Feature boundaries of ``N_LANES`` lanes holding about equal numbers of
    stored entries, shape (N_LANES + 1,), int64. Only the work balance
    depends on them: every sum is a whole column's, in row order."""
    nnz = int(col_indptr[-1])
    targets = (np.arange(N_LANES + 1) * nnz) // N_LANES
    bounds = np.searchsorted(col_indptr, targets, side="left").astype(np.int64)
    bounds[0] = 0
    bounds[-1] = col_indptr.shape[0] - 1
    return np.maximum.accumulate(bounds)


def column_sums(col_rows, col_indptr, col_weighted, labels, lane_features, n_clusters,
                n_threads=None):
    """Weighted sum of the rows of each cluster (the M-step's statistics).

    Parameters
    ----------
    col_rows, col_indptr : the matrix's CSC row indices and column
        pointers, rows sorted within each column                          # IN
    col_weighted : ndarray (nnz,), float64, each stored value times its
        row's weight (``float64(x) * w``), in CSC order                   # IN
    labels : ndarray (n_samples,), int32                                  # IN
    lane_features : ndarray (N_LANES + 1,), int64, from
        :func:`feature_lanes`                                             # IN
    n_clusters : int
    n_threads : int or None, as :func:`lloyd_pass`

    Returns
    -------
    sums : ndarray (n_clusters, n_features), float64: ``sums[k, d]`` is
        ``sum_{i: labels_i = k} w_i x_id``, added in row order
    """
    sums = np.empty((n_clusters, col_indptr.shape[0] - 1))
    run_lanes(_column_sums_lanes, (col_rows, col_indptr, col_weighted, labels,
                                   lane_features, sums),
              lane_features.shape[0] - 1,
              region_threads() if n_threads is None else n_threads)
    return sums


@njit(**_JIT)
def _assigned_sq_distances_lanes(data, indices, indptr, centers, centers_sq, labels,
                                 out, lane_lo, lane_hi):
    """``out[i]``: squared distance of row ``i`` to center ``labels[i]`` for
    the rows of lanes ``lane_lo:lane_hi`` (lane ``j`` holds rows
    ``j N / N_LANES`` to ``(j + 1) N / N_LANES``), computed as scikit-learn's
    ``_euclidean_sparse_dense``: ``sum (x - c)^2 - c^2`` over the stored
    entries, plus ``||c||^2``, in the input dtype, clipped at 0."""
    n_samples = indptr.shape[0] - 1
    for lane in range(lane_lo, lane_hi):
        for i in range(lane * n_samples // N_LANES, (lane + 1) * n_samples // N_LANES):
            center = centers[labels[i]]
            result = centers_sq[0] - centers_sq[0]  # a zero of the input dtype
            for p in range(indptr[i], indptr[i + 1]):
                bi = center[indices[p]]
                tmp = data[p] - bi
                result += tmp * tmp - bi * bi
            result += centers_sq[labels[i]]
            out[i] = result if result > 0 else 0.0


def assigned_sq_distances(data, indices, indptr, centers, centers_sq, labels,
                          n_threads=None):
    """Squared distance of each CSR row to its assigned center.

    Parameters
    ----------
    data, indices, indptr : the CSR arrays                                # IN
    centers : ndarray (n_clusters, n_features), data's dtype              # IN
    centers_sq : ndarray (n_clusters,), data's dtype                      # IN
    labels : ndarray (n_samples,), int32                                  # IN
    n_threads : int or None, as :func:`lloyd_pass`

    Returns
    -------
    sq_distances : ndarray (n_samples,), float64 (values exact in the
        input dtype: scikit-learn's inertia terms and relocation distances)
    """
    out = np.empty(indptr.shape[0] - 1)
    run_lanes(_assigned_sq_distances_lanes,
              (data, indices, indptr, centers, centers_sq, labels, out), N_LANES,
              region_threads() if n_threads is None else n_threads)
    return out


@njit(**_JIT)
def _expanded_sq_distances_lanes(data, indices, indptr, centers_t, centers_sq, out,
                                 lane_lo, lane_hi):
    """Rows of lanes ``lane_lo:lane_hi`` (as in
    :func:`_assigned_sq_distances_lanes`) of :func:`expanded_sq_distances`."""
    n_samples = indptr.shape[0] - 1
    n_clusters = centers_t.shape[1]
    acc = np.empty(n_clusters)
    for lane in range(lane_lo, lane_hi):
        for i in range(lane * n_samples // N_LANES, (lane + 1) * n_samples // N_LANES):
            acc[:] = 0.0
            xx = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                v = np.float64(data[p])
                row = centers_t[indices[p]]
                for j in range(n_clusters):
                    acc[j] += v * row[j]
                xx += v * v
            for j in range(n_clusters):
                out[i, j] = (-2.0 * acc[j] + xx) + centers_sq[j]


def expanded_sq_distances(data, indices, indptr, centers_t, centers_sq, n_threads=None):
    """``||x||^2 - 2 x.c + ||c||^2`` for every CSR row and center, in float64.

    The terms are added as scikit-learn's ``euclidean_distances`` adds them
    (``-2 x.c``, then ``||x||^2``, then ``||c||^2``; float32 rows upcast),
    unclipped.

    Parameters
    ----------
    data, indices, indptr : the CSR arrays                                # IN
    centers_t : ndarray (n_features, n_clusters), float64, C-contiguous   # IN
    centers_sq : ndarray (n_clusters,), float64                           # IN
    n_threads : int or None, as :func:`lloyd_pass`

    Returns
    -------
    sq_distances : ndarray (n_samples, n_clusters), float64
    """
    out = np.empty((indptr.shape[0] - 1, centers_t.shape[1]))
    run_lanes(_expanded_sq_distances_lanes,
              (data, indices, indptr, centers_t, centers_sq, out), N_LANES,
              region_threads() if n_threads is None else n_threads)
    return out
