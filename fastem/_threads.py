"""Thread control around compiled kernels.

A statistics pass is a serial, GIL-free Numba kernel over a range of lanes
(fixed runs of row blocks, see :mod:`fastem.kernels._compile`);
:func:`lane_pass` runs it on a few Python threads, which claim runs of
lanes until none is left, and sums the lanes in order, so the result does
not depend on the number of threads. BLAS is held to one thread meanwhile,
so that the small products inside the kernels do not multiply threads.
"""
import concurrent.futures
import contextlib
import os
import threading
import time

import numba
import numpy as np
from threadpoolctl import ThreadpoolController

from . import _jit
from .kernels import _team
from .kernels._compile import N_LANES

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


_blas_lock = threading.Lock()
_blas_users = 0
_blas_limiter = None


@contextlib.contextmanager
def one_blas_thread():
    """Hold BLAS to one thread while any caller, in any Python thread, is inside.

    BLAS thread limits are process-wide, so they are reference-counted: the
    first caller sets the limit, the last one restores the original.
    """
    global _blas_users, _blas_limiter
    with _blas_lock:
        if _blas_users == 0:
            _blas_limiter = _blas_controller().limit(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None


_pool = None
_pool_lock = threading.Lock()


def _executor():
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=numba.config.NUMBA_NUM_THREADS, thread_name_prefix="fastem")
    return _pool


def run_lanes(kernel, args, n_lanes, n_threads):
    """Call ``kernel(*args, lane_lo, lane_hi)`` on contiguous runs of lanes.

    ``n_threads`` threads make the calls (see :func:`run_split`); ``kernel``
    must release the GIL (``nogil``). Every lane is processed by exactly one
    call, and a kernel writes each lane's results apart, so what the calls
    write depends neither on ``n_threads`` nor on which lanes a call takes.
    """
    compiled = _jit.machine_code(kernel, (*args, 0, n_lanes))  # before the threads
    run_split(lambda lo, hi: compiled(*args, lo, hi), n_lanes, n_threads)


def run_split(func, n_items, n_threads):
    """Call ``func(lo, hi)`` on contiguous runs of ``range(n_items)`` from
    ``n_threads`` threads at once; every item is in exactly one run.

    Each thread claims the next run when it has finished its last (guided
    scheduling: the items left over twice the thread count, at least an
    eighth of them at two threads), so a thread that starts late or runs
    slow (a shared machine) takes fewer: at 1M rows, handing each thread
    half the lanes left one of two threads idle for a fifth of a k-means
    pass. The first thread is the calling one, the others come from a
    shared pool; all have returned when this does. ``func`` should release
    the GIL for most of its work (a compiled kernel, large NumPy
    operations).
    """
    n_threads = max(1, min(n_threads, n_items))
    if n_threads == 1:
        func(0, n_items)
        return
    lock = threading.Lock()
    claimed = [0]
    smallest = max(1, n_items // (4 * n_threads))  # (each call costs ~10 us)

    def work():
        while True:
            with lock:
                lo = claimed[0]
                hi = min(n_items, lo + max(smallest, (n_items - lo) // (2 * n_threads)))
                claimed[0] = hi
            if lo >= n_items:
                return
            func(lo, hi)

    futures = [_executor().submit(work) for _ in range(n_threads - 1)]
    wait_all(futures, work)


def wait_all(futures, own_share):
    """Run ``own_share()`` in this thread, then wait for every one of
    ``futures`` (the other threads' shares), whatever happens: they write
    into shared arrays, so none may still run once this returns. Raises this
    thread's error, else the first future's."""
    try:
        own_share()
    finally:
        errors = [future.exception() for future in futures]  # (waits; raises none)
    for error in errors:
        if error is not None:
            raise error


#: Give this thread's core to another thread a moment (``time.sleep(0)``
#: only releases the GIL).
_yield_core = getattr(os, "sched_yield", lambda: time.sleep(0))


class LaneTeam:
    """``n_threads`` threads, the caller's and pool threads, that run a lane
    kernel on the same arrays pass after pass, the pool threads waiting for
    the next pass in compiled code (see :mod:`fastem.kernels._team`).

    Parameters
    ----------
    kernel : Numba dispatcher
        ``kernel(*args, state, serving)``: claims lanes from the team's
        ``state`` and runs them until none is left, then, ``serving`` (a
        pool thread), waits for the next pass, else (the caller) for this
        one; returns as :mod:`fastem.kernels._team`'s loop does.
    args : tuple
        The kernel's arguments, fixed for the team's life: a pass's inputs
        are written into them before :meth:`run`.
    n_lanes, n_threads : int

    A pool thread serves until no pass comes for a while (about 0.6 ms),
    then returns to the pool; :meth:`run` sends new ones as needed, and
    :meth:`close` ends them.
    """

    def __init__(self, kernel, args, n_lanes, n_threads):
        self.args = args
        self.n_threads = n_threads
        self.state = _team.new_state(n_lanes, n_threads)
        self._kernel = _jit.machine_code(kernel, (*args, self.state, False))
        self._errors = []
        self._closed = False

    def run(self):
        """One pass over every lane; the results are written when it returns."""
        if self._closed:
            raise RuntimeError("this team is closed (a thread failed, or close() was called)")
        missing = self.n_threads - 1 - _team.publish(self.state)
        if missing > 0:
            _team.join(self.state, missing)
            for _ in range(missing):
                _executor().submit(self._serving)
        try:
            done = self._kernel(*self.args, self.state, False)
            while done == 0:
                _yield_core()
                done = _team.pass_done(self.state)
        except BaseException:
            self._abandon()
            raise
        if done < 0:
            self._abandon()
            raise self._errors[0]

    def _serving(self):
        try:
            self._kernel(*self.args, self.state, True)
        except BaseException as error:
            self._errors.append(error)
            _team.leave(self.state)
            _team.stop(self.state, True)
            raise

    def close(self):
        """Stop the team after its last pass: a pool thread serving it leaves
        at once (a queued one on starting)."""
        self._closed = True
        _team.stop(self.state, False)

    def _abandon(self):
        """Stop the team after a failure and wait until no pool thread serves
        it: one may still be running lanes, which write into shared arrays."""
        self.close()
        _team.wait_left(self.state)


def lane_pass(kernel, inputs, outputs, lane_shapes, n_rows, block, n_jobs,
              serial=False):
    """One statistics pass of a lane kernel over ``n_rows`` rows in blocks of ``block``.

    Parameters
    ----------
    kernel : Numba dispatcher
        Called as ``kernel(*inputs, block, *outputs, *lanes, block_sums, bad,
        lane_lo, lane_hi)``; see e.g. :func:`fastem.kernels.gaussian.diag_lanes`.
    inputs, outputs : tuple
        The kernel's arguments before and after ``block``; ``outputs[0]`` is
        ``want_stats``.
    lane_shapes : tuple of tuple
        Shape of each statistic; one float64 slot per lane is allocated for
        each (empty when ``want_stats`` is False).
    n_rows, block : int
    n_jobs : int or None
        Threads (None: all cores); ``serial=True`` runs in the calling thread.

    Returns
    -------
    stats : tuple of ndarray
        Each statistic summed over lanes, in lane order.
    block_sums : ndarray of shape (2,)
        The blocks' per-block sums (log-likelihood, row constant), added.
    n_bad : int
    """
    n_blocks = -(-n_rows // block)
    n_lanes = min(n_blocks, N_LANES)
    want_stats = outputs[0]
    lanes = tuple(np.zeros((n_lanes, *(shape if want_stats else (0,) * len(shape))))
                  for shape in lane_shapes)
    block_sums = np.zeros((n_blocks, 2))
    bad = np.zeros(n_blocks, dtype=np.int64)
    args = (*inputs, block, *outputs, *lanes, block_sums, bad)
    # a few blocks do not repay waking threads (same result either way)
    n_threads = 1 if serial or n_blocks <= 2 else resolve_n_jobs(n_jobs)
    with one_blas_thread():
        run_lanes(kernel, args, n_lanes, n_threads)
    stats = tuple(lane.sum(axis=0) for lane in lanes)
    return stats, block_sums.sum(axis=0), int(bad.sum())


@contextlib.contextmanager
def parallel_region(n_jobs):
    """Run kernels on ``n_jobs`` threads (see :func:`region_threads`), BLAS on one.

    Holds no lock: other Python threads run their own kernels meanwhile
    (every kernel is serial and ``nogil``; threads come from a shared pool).
    """
    n = resolve_n_jobs(n_jobs)
    previous = region_threads()
    _local.n_threads = n
    try:
        with one_blas_thread():
            yield n
    finally:
        _local.n_threads = previous


def region_threads():
    """Threads of the innermost :func:`parallel_region` of this Python thread (1 outside)."""
    return getattr(_local, "n_threads", 1)
