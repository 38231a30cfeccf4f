"""Lanes: how the row blocks of a pass are grouped and summed.

Every pass kernel processes a range of lanes, each a fixed run of
consecutive row blocks, serially and without the GIL;
:mod:`fastem._threads` runs it on a few Python threads and sums the lanes
in order. Lanes, not threads, partition the work, so results are
bit-identical for any thread count, and partial statistics take O(lanes)
memory rather than O(blocks).
"""
import functools

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: Blocks are summed in this many lanes, fixed whatever the thread count: a
#: lane adds its run of consecutive blocks in order, then the lanes are added
#: in order. Results are bit-identical for any thread count, and partial
#: statistics take O(lanes) memory rather than O(blocks). Threads get whole
#: lanes, so up to this many threads are kept busy.
N_LANES = 64


#: Numba options of a kernel that only other kernels call: it gets no Python
#: or C entry point (compiling those took 13% of a cold full Gaussian pass)
INNER = dict(cache=True, nogil=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)


@functools.cache
def target_features():
    """The features Numba compiles for (``+avx2,-avx512f,...``): the host's,
    or ``NUMBA_CPU_FEATURES`` (``NUMBA_CPU_NAME`` alone keeps the host's)."""
    import llvmlite.binding as llvm
    from numba import config
    return config.CPU_FEATURES or llvm.get_host_cpu_features().flatten()


def avx512_code():
    """Whether Numba compiles for AVX-512."""
    return "+avx512f" in target_features()


@functools.cache
def full_width_avx512_code():
    """Whether Numba compiles for AVX-512 on a CPU that runs 512-bit vectors
    at full width: not on AMD Zen 4 (LLVM's ``znver4``), which runs each
    512-bit instruction as two 256-bit halves, so choices made for AVX2
    code win there too (:func:`fastem.kernels.kmeans.direct_screen`)."""
    import llvmlite.binding as llvm
    from numba import config
    return avx512_code() and (config.CPU_NAME or llvm.get_host_cpu_name()) != "znver4"


@njit(**INNER)
def add_into(dst, src):
    """``dst += src`` for C-contiguous arrays of one size, as a plain loop
    (Numba compiles in-place array expressions several times slower)."""
    d = dst.reshape(-1)
    s = src.reshape(-1)
    for i in range(d.shape[0]):
        d[i] += s[i]


@njit(**INNER)
def move_into(dst, src):
    """``dst += src``, then ``src = 0``: a block's statistics into its lane,
    the block's buffer cleared for the next block."""
    d = dst.reshape(-1)
    s = src.reshape(-1)
    for i in range(d.shape[0]):
        d[i] += s[i]
        s[i] = 0.0


@intrinsic
def prefetch(typingctx, X, r, d):
    """Ask the CPU to bring the cache line of ``X[r, d]`` (C-ordered, 2-D)
    in, without waiting for it: rows read one by one in a scattered order
    then arrive together, their memory latencies overlapped."""
    def codegen(context, builder, sig, args):
        array_type = sig.args[0]
        array = context.make_array(array_type)(context, builder, args[0])
        item = cgutils.get_item_pointer(context, builder, array_type, array, args[1:])
        byte = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte, i32, i32, i32]),
            "llvm.prefetch.p0")
        # read, keep in every cache level, data
        builder.call(fn, [builder.bitcast(item, byte), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()
    return types.none(X, r, d), codegen
