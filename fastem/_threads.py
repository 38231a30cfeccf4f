"""Thread control around compiled parallel kernels."""
import contextlib
import os
import threading

import numba
from threadpoolctl import threadpool_limits

# Numba's default threading layer aborts the process when two Python threads
# enter parallel kernels at once, so parallel regions are entered one at a time.
_PARALLEL_LOCK = threading.RLock()


def resolve_n_jobs(n_jobs):
    """Number of threads for ``n_jobs`` (None -> all, negative -> all + 1 + n_jobs)."""
    n_cpu = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None:
        return n_cpu
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero integer or None, got {n_jobs!r}.")
    if n_jobs < 0:
        return max(1, n_cpu + 1 + n_jobs)
    return min(n_jobs, n_cpu)


@contextlib.contextmanager
def parallel_region(n_jobs):
    """Run compiled parallel kernels with ``n_jobs`` threads and BLAS on one.

    The Numba thread count is thread-local, so it is set and restored here,
    around each kernel call; BLAS is held to one thread so that BLAS calls
    made inside ``prange`` blocks do not multiply the thread count.
    """
    n = resolve_n_jobs(n_jobs)
    with _PARALLEL_LOCK, threadpool_limits(limits=1, user_api="blas"):
        previous = numba.get_num_threads()
        numba.set_num_threads(n)
        try:
            yield n
        finally:
            numba.set_num_threads(previous)
