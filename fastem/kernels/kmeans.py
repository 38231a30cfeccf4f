"""Numba kernels for k-means (Lloyd's algorithm, hard EM).

Every pass splits the rows into fixed-size blocks; each block writes its own
slot of partial statistics and the slots are summed in block order after the
parallel loop, so results are bit-identical for any thread count. Each kernel
exists twice, compiled once at module level: a parallel one (``prange`` over
blocks) and a serial one (plain ``range``) for callers that already run in
parallel (Dask tasks, ``n_jobs=1``). Both call the same per-block helpers, so
they return the same bits.

Exactness against scikit-learn: a row's label is the first index of the
minimum of ``||c_j||^2 - 2 x.c_j`` computed in the input dtype with the dot
products from the same BLAS ``gemm`` scikit-learn uses, so labels agree bit
for bit, ties included. The data are centered on the fly (``x - shift``
block by block, the same elementwise subtraction scikit-learn applies to a
full copy), which saves an N x D copy per fit.

Arguments marked IN are read, OUT are written, INOUT both.
"""
import numpy as np
from numba import njit, prange

_JIT = dict(cache=True, nogil=True)


@njit(**_JIT)
def _n_blocks(n_samples, block_rows):
    return (n_samples + block_rows - 1) // block_rows


@njit(**_JIT)
def _centered_block(X, shift, start, stop):
    """Copy rows ``start:stop`` of X minus ``shift`` (a cache-sized block)."""
    m = stop - start
    n_features = X.shape[1]
    xb = np.empty((m, n_features), dtype=X.dtype)
    for i in range(m):
        for d in range(n_features):
            xb[i, d] = X[start + i, d] - shift[d]
    return xb


@njit(**_JIT)
def _assign_block(xb, centers, centers_sq, labels_out, best_out):
    """Label each row of a block with its closest center.

    The scores ``||c_j||^2 - 2 x.c_j`` are laid out (n_clusters, m) so the
    running minimum runs along contiguous rows and vectorizes; the strict
    ``<`` keeps the first minimum, as ``argmin`` does.
    """
    m = xb.shape[0]
    n_clusters = centers.shape[0]
    gram = np.empty((n_clusters, m), dtype=xb.dtype)
    np.dot(centers, xb.T, gram)
    c0 = centers_sq[0]
    for i in range(m):
        # g + g is 2 g exactly, in the input dtype, like BLAS alpha=-2
        best_out[i] = c0 - (gram[0, i] + gram[0, i])
        labels_out[i] = 0
    for j in range(1, n_clusters):
        cj = centers_sq[j]
        for i in range(m):
            v = cj - (gram[j, i] + gram[j, i])
            if v < best_out[i]:
                best_out[i] = v
                labels_out[i] = j


@njit(**_JIT)
def _lloyd_block(X, sample_weight, shift, centers, centers_sq, labels,
                 start, stop, update_centers, sums, weights):
    """One block of a Lloyd pass; returns (inertia, n_changed).

    ``sums`` (n_clusters, n_features) and ``weights`` (n_clusters,) are this
    block's own float64 slot (OUT, overwritten when ``update_centers``).
    The inertia is ``sum w (||x||^2 + best score)``, against the centers
    given (cheap, for the history; the final inertia is recomputed exactly).
    """
    xb = _centered_block(X, shift, start, stop)
    m = stop - start
    n_features = X.shape[1]
    lab = np.empty(m, dtype=np.int32)
    best = np.empty(m, dtype=X.dtype)
    _assign_block(xb, centers, centers_sq, lab, best)
    if update_centers:
        sums[:, :] = 0.0
        weights[:] = 0.0
    inertia = 0.0
    n_changed = 0
    for i in range(m):
        k = lab[i]
        if labels[start + i] != k:
            n_changed += 1
            labels[start + i] = k
        w = sample_weight[start + i]
        sq = 0.0
        if update_centers:
            weights[k] += w
            for d in range(n_features):
                x = np.float64(xb[i, d])
                sq += x * x
                sums[k, d] += x * w
        else:
            for d in range(n_features):
                x = np.float64(xb[i, d])
                sq += x * x
        dist = sq + best[i]
        if dist > 0.0:
            inertia += w * dist
    return inertia, n_changed


@njit(**_JIT)
def _sum_slots(block_sums, block_weights, block_inertia, block_changed):
    n_clusters = block_sums.shape[1]
    n_features = block_sums.shape[2]
    sums = np.zeros((n_clusters, n_features))
    weights = np.zeros(n_clusters)
    inertia = 0.0
    n_changed = 0
    for b in range(block_sums.shape[0]):
        for k in range(n_clusters):
            weights[k] += block_weights[b, k]
            for d in range(n_features):
                sums[k, d] += block_sums[b, k, d]
        inertia += block_inertia[b]
        n_changed += block_changed[b]
    return sums, weights, inertia, n_changed


@njit(parallel=True, **_JIT)
def lloyd_pass(X, sample_weight, shift, centers, centers_sq, labels,
               block_rows, update_centers):
    """One Lloyd iteration: assign every row, sum the rows per cluster.

    Parameters
    ----------
    X : ndarray (n_samples, n_features), float32/float64, C-contiguous   # IN
    sample_weight : ndarray (n_samples,), float64                         # IN
    shift : ndarray (n_features,), X's dtype, subtracted from each row    # IN
    centers : ndarray (n_clusters, n_features), X's dtype, C-contiguous   # IN
    centers_sq : ndarray (n_clusters,), X's dtype, squared center norms   # IN
    labels : ndarray (n_samples,), int32, previous labels -> new labels   # INOUT
    block_rows : int, rows per block (fixes the summation order)
    update_centers : bool, False to only assign (predict)

    Returns
    -------
    sums : ndarray (n_clusters, n_features), float64, weighted row sums
    weights : ndarray (n_clusters,), float64, weight per cluster
    inertia : float, weighted squared distances to the given centers
    n_changed : int, rows whose label changed
    """
    n_samples = X.shape[0]
    n_blocks = _n_blocks(n_samples, block_rows)
    n_clusters, n_features = centers.shape
    # predict writes no sums: every block shares one untouched slot
    slots = n_blocks if update_centers else 1
    stride = 1 if update_centers else 0
    block_sums = np.empty((slots, n_clusters, n_features))
    block_weights = np.empty((slots, n_clusters))
    block_inertia = np.empty(n_blocks)
    block_changed = np.empty(n_blocks, dtype=np.int64)
    for b in prange(n_blocks):
        start = b * block_rows
        stop = min(start + block_rows, n_samples)
        slot = b * stride
        inertia, changed = _lloyd_block(
            X, sample_weight, shift, centers, centers_sq, labels, start, stop,
            update_centers, block_sums[slot], block_weights[slot])
        block_inertia[b] = inertia
        block_changed[b] = changed
    if not update_centers:
        block_sums[:] = 0.0
        block_weights[:] = 0.0
    return _sum_slots(block_sums, block_weights, block_inertia, block_changed)


@njit(**_JIT)
def lloyd_pass_serial(X, sample_weight, shift, centers, centers_sq, labels,
                      block_rows, update_centers):
    """Serial twin of :func:`lloyd_pass` (same blocks, same bits)."""
    n_samples = X.shape[0]
    n_blocks = _n_blocks(n_samples, block_rows)
    n_clusters, n_features = centers.shape
    # predict writes no sums: every block shares one untouched slot
    slots = n_blocks if update_centers else 1
    stride = 1 if update_centers else 0
    block_sums = np.empty((slots, n_clusters, n_features))
    block_weights = np.empty((slots, n_clusters))
    block_inertia = np.empty(n_blocks)
    block_changed = np.empty(n_blocks, dtype=np.int64)
    for b in range(n_blocks):
        start = b * block_rows
        stop = min(start + block_rows, n_samples)
        slot = b * stride
        inertia, changed = _lloyd_block(
            X, sample_weight, shift, centers, centers_sq, labels, start, stop,
            update_centers, block_sums[slot], block_weights[slot])
        block_inertia[b] = inertia
        block_changed[b] = changed
    if not update_centers:
        block_sums[:] = 0.0
        block_weights[:] = 0.0
    return _sum_slots(block_sums, block_weights, block_inertia, block_changed)


@njit(**_JIT)
def _inertia_block(X, sample_weight, shift, centers, labels, start, stop):
    n_features = X.shape[1]
    total = 0.0
    for i in range(start, stop):
        k = labels[i]
        sq = 0.0
        for d in range(n_features):
            # difference in the input dtype first, like scikit-learn
            diff = np.float64((X[i, d] - shift[d]) - centers[k, d])
            sq += diff * diff
        total += sq * sample_weight[i]
    return total


@njit(parallel=True, **_JIT)
def inertia_pass(X, sample_weight, shift, centers, labels, block_rows):
    """Exact inertia ``sum_i w_i ||x_i - shift - c_{labels_i}||^2`` (float64).

    Parameters
    ----------
    X : ndarray (n_samples, n_features)                  # IN
    sample_weight : ndarray (n_samples,), float64        # IN
    shift : ndarray (n_features,), X's dtype             # IN
    centers : ndarray (n_clusters, n_features), X dtype  # IN
    labels : ndarray (n_samples,), int32                 # IN
    block_rows : int
    """
    n_samples = X.shape[0]
    n_blocks = _n_blocks(n_samples, block_rows)
    parts = np.empty(n_blocks)
    for b in prange(n_blocks):
        start = b * block_rows
        stop = min(start + block_rows, n_samples)
        parts[b] = _inertia_block(X, sample_weight, shift, centers, labels,
                                  start, stop)
    total = 0.0
    for b in range(n_blocks):
        total += parts[b]
    return total


@njit(**_JIT)
def inertia_pass_serial(X, sample_weight, shift, centers, labels, block_rows):
    """Serial twin of :func:`inertia_pass`."""
    n_samples = X.shape[0]
    n_blocks = _n_blocks(n_samples, block_rows)
    total = 0.0
    for b in range(n_blocks):
        start = b * block_rows
        stop = min(start + block_rows, n_samples)
        total += _inertia_block(X, sample_weight, shift, centers, labels,
                                start, stop)
    return total


@njit(parallel=True, **_JIT)
def assigned_sq_distances(X, shift, centers, labels):
    """Squared distance of each row to its assigned center, shape (n_samples,).

    Used only to relocate empty clusters (rare), so an O(N) result is fine.
    """
    n_samples, n_features = X.shape
    out = np.empty(n_samples)
    for i in prange(n_samples):
        k = labels[i]
        sq = 0.0
        for d in range(n_features):
            diff = np.float64((X[i, d] - shift[d]) - centers[k, d])
            sq += diff * diff
        out[i] = sq
    return out


@njit(**_JIT)
def _distances_block(X, centers, centers_sq, start, stop, out):
    m = stop - start
    n_clusters = centers.shape[0]
    xb = X[start:stop]
    gram = np.empty((m, n_clusters), dtype=X.dtype)
    np.dot(xb, centers.T, gram)
    for i in range(m):
        xx = 0.0
        for d in range(X.shape[1]):
            x = np.float64(xb[i, d])
            xx += x * x
        for j in range(n_clusters):
            sq = xx + centers_sq[j] - 2.0 * gram[i, j]
            out[start + i, j] = np.sqrt(sq) if sq > 0.0 else 0.0


@njit(parallel=True, **_JIT)
def distances_pass(X, centers, centers_sq, block_rows):
    """Euclidean distances of every row to every center.

    Parameters
    ----------
    X : ndarray (n_samples, n_features)                      # IN
    centers : ndarray (n_clusters, n_features), X's dtype    # IN
    centers_sq : ndarray (n_clusters,), float64              # IN
    block_rows : int

    Returns
    -------
    distances : ndarray (n_samples, n_clusters), X's dtype
    """
    n_samples = X.shape[0]
    out = np.empty((n_samples, centers.shape[0]), dtype=X.dtype)
    for b in prange(_n_blocks(n_samples, block_rows)):
        start = b * block_rows
        stop = min(start + block_rows, n_samples)
        _distances_block(X, centers, centers_sq, start, stop, out)
    return out
