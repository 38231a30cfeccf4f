"""Thread control around compiled parallel kernels."""
import contextlib
import threading

import numba
from threadpoolctl import ThreadpoolController

# Numba's default threading layer aborts the process when two Python threads
# enter parallel kernels at once, so parallel regions are entered one at a time.
_PARALLEL_LOCK = threading.RLock()
_local = threading.local()
_controller = None


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


def _blas_controller():
    global _controller
    if _controller is None:  # scanning the loaded libraries costs ~1 ms: once
        _controller = ThreadpoolController()
    return _controller


@contextlib.contextmanager
def parallel_region(n_jobs):
    """Run compiled parallel kernels with ``n_jobs`` threads and BLAS on one.

    The Numba thread count is thread-local, so it is set and restored here.
    BLAS is held to one thread so that BLAS calls made inside ``prange``
    blocks (and the tiny M-step solves between passes) do not multiply or
    spin threads. Nested regions (a whole fit, then each pass) only change the
    Numba thread count.
    """
    n = resolve_n_jobs(n_jobs)
    with _PARALLEL_LOCK:
        previous = numba.get_num_threads()
        numba.set_num_threads(n)
        depth = getattr(_local, "depth", 0)
        _local.depth = depth + 1
        try:
            if depth:
                yield n
            else:
                with _blas_controller().limit(limits=1, user_api="blas"):
                    yield n
        finally:
            _local.depth = depth
            numba.set_num_threads(previous)
