"""Scans of the input (Numba): one read of X, no N x D temporaries."""
import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def finite_lanes(X, finite, lane_lo, lane_hi):
    """``finite[lane]`` = every value of the lane's rows of ``X`` is finite.

    Lane ``j`` of ``n = finite.shape[0]`` holds rows ``j N / n`` to
    ``(j + 1) N / n``. ``x * 0`` is 0 for a finite ``x`` and NaN for NaN or
    infinity, so one running sum per column answers without a branch per
    value (the columns' sums are independent: the adds vectorize).

    Parameters
    ----------
    X : (N, D) float32/float64 IN
    finite : (n_lanes,) bool OUT
    lane_lo, lane_hi : int — the lanes this call scans
    """
    N, D = X.shape
    n_lanes = finite.shape[0]
    acc = np.zeros(D, dtype=X.dtype)
    for lane in range(lane_lo, lane_hi):
        acc[:] = 0.0
        for i in range(lane * N // n_lanes, (lane + 1) * N // n_lanes):
            for d in range(D):
                acc[d] += X[i, d] * 0.0
        finite[lane] = acc.sum() == 0.0
