"""Lanes: how the row blocks of a pass are grouped and summed.

Every pass kernel processes a range of lanes, each a fixed run of
consecutive row blocks, serially and without the GIL;
:mod:`fastem._threads` runs it on a few Python threads and sums the lanes
in order. Lanes, not threads, partition the work, so results are
bit-identical for any thread count, and partial statistics take O(lanes)
memory rather than O(blocks).
"""
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
