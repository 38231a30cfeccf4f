"""Block-loop kernels: their parallel and serial twins, and their lanes.

A kernel driver loops over row blocks with ``prange``. Compiled with
``parallel=True`` the blocks run on Numba's thread pool; compiled without it
``prange`` is a plain ``range``. The serial twin is what callers that are
already parallel use (Dask tasks, small inputs): it never touches the thread
pool, so it is safe from any number of Python threads at once.
"""
import types

from numba import njit

#: Blocks are summed in this many lanes, fixed whatever the thread count: a
#: lane adds its run of consecutive blocks in order, then the lanes are added
#: in order. Results are bit-identical for any thread count, and partial
#: statistics take O(lanes) memory rather than O(blocks). Threads get whole
#: lanes, so up to this many threads are kept busy.
N_LANES = 64


@njit(cache=True, nogil=True)
def add_into(dst, src):
    """``dst += src`` for C-contiguous arrays of one size, as a plain loop
    (Numba compiles in-place array expressions several times slower)."""
    d = dst.reshape(-1)
    s = src.reshape(-1)
    for i in range(d.shape[0]):
        d[i] += s[i]


@njit(cache=True, nogil=True)
def move_into(dst, src):
    """``dst += src``, then ``src = 0``: a block's statistics into its lane,
    the block's buffer cleared for the next block."""
    d = dst.reshape(-1)
    s = src.reshape(-1)
    for i in range(d.shape[0]):
        d[i] += s[i]
        s[i] = 0.0


def parallel_and_serial(func):
    """Return ``(parallel, serial)`` dispatchers of ``func``, both cached on disk.

    The serial twin is a renamed copy of ``func`` so that the two compiled
    versions get distinct entries in Numba's on-disk cache.
    """
    twin = types.FunctionType(func.__code__, func.__globals__, func.__name__ + "_serial",
                              func.__defaults__, func.__closure__)
    twin.__qualname__ = func.__qualname__ + "_serial"
    twin.__doc__ = f"Serial twin of ``{func.__name__}``: same blocks, same result."
    return (njit(parallel=True, cache=True, nogil=True)(func),
            njit(cache=True, nogil=True)(twin))
