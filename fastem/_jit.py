"""What a kernel's first call costs: one log line when it compiles.

Numba compiles a kernel for each new CPU and argument types, then keeps the
machine code in its on-disk cache. A first fit on a new machine therefore
waits for the compiler; :func:`machine_code` tells the user so, once per
process, through the ``fastem`` logger (the ``fastem`` command shows it),
and compiles under a lock shared by every process using the same cache
(:func:`_compile_lock`).
"""
import contextlib
import logging
import os
import threading
import time

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

import numpy as np
from numba import types
from numba._dispatcher import compute_fingerprint

logger = logging.getLogger("fastem")

#: Cold compile seconds of one kernel on a 2-core x86_64 machine (measured
#: with an empty cache, see the README): the order of magnitude to announce.
TYPICAL_COMPILE_SECONDS = (2, 8)

_lock = threading.Lock()
_announced = False
#: (kernel, argument kinds) -> machine code, for this process: Numba's own
#: typing of every argument costs ~50 us each, a millisecond per small pass
_machine_code = {}


def _kind(arg):
    """What Numba's choice of machine code depends on, cheaply: its own
    fingerprint of the argument's type (~0.2 us; reading an array's dtype
    and flags in Python took 1 us), else the Python type."""
    try:
        return compute_fingerprint(arg)
    except (TypeError, ValueError, NotImplementedError):
        if isinstance(arg, np.ndarray):
            flags = arg.flags
            return (arg.dtype.str, arg.ndim, flags.c_contiguous, flags.f_contiguous,
                    flags.writeable)
        return type(arg)


def _writable(numba_type):
    """``numba_type`` with every array in it typed as writable."""
    if isinstance(numba_type, types.Array):
        return numba_type.copy(readonly=False)
    if isinstance(numba_type, types.BaseTuple):
        return types.Tuple([_writable(t) for t in numba_type.types])
    return numba_type


def _compiles(dispatcher, sig):
    """True when Numba has no machine code for ``sig``, in memory or in its
    on-disk cache (False when unsure: the worst is a missing log line)."""
    try:
        if sig in dispatcher.overloads:
            return False
        cache = dispatcher._cache
        key = cache._index_key(sig, dispatcher.targetctx.codegen())
        return key not in cache._cache_file._load_index()
    except Exception:  # Numba's internals moved: say nothing rather than fail
        return False


@contextlib.contextmanager
def _compile_lock(dispatcher):
    """Hold a lock on a file in the kernel's cache folder while compiling.

    Numba names a new overload's cache file from the index it has read, so
    two processes compiling overloads of kernels in one folder at once (test
    workers, Dask workers, a first fit in several processes) can give one
    file name to both: an index then points at the other process's machine
    code, and every later process fails with "can't unbox array" until the
    cache is cleared. Under the lock, a process waiting for a kernel another
    one is compiling loads it from the cache when its turn comes. Without
    ``fcntl`` (Windows) or a writable cache folder, no lock is held.
    """
    try:
        folder = dispatcher._cache._cache_path  # Numba's internals: best effort
        os.makedirs(folder, exist_ok=True)
        handle = open(os.path.join(folder, "fastem-compile.lock"), "a")
    except (AttributeError, OSError):
        handle = None
    if handle is None or fcntl is None:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def machine_code(dispatcher, args):
    """``dispatcher``'s compiled function for the types of ``args``, with every
    array typed as writable; compiled first if Numba has none, in memory or
    on disk (announced once per process).

    A kernel only writes arrays fastem allocated, never its inputs, so a
    read-only input (a memmap opened ``'r'``, an array its owner flagged
    read-only, a fitted model loaded by joblib) runs the machine code of a
    writable one: Numba would compile the kernel again, seconds each, for
    every argument that arrives read-only (the full Gaussian pass had 13
    specializations after one test run, 4 of them needed). The result is
    called as ``kernel(*args)``. A plain Python function is returned as it is.
    """
    global _announced
    if not hasattr(dispatcher, "typeof_pyval"):
        return dispatcher
    key = (dispatcher, tuple(_kind(a) for a in args))
    compiled = _machine_code.get(key)
    if compiled is not None:
        return compiled
    sig = tuple(_writable(dispatcher.typeof_pyval(a)) for a in args)
    compiling = sig not in dispatcher.overloads and _compiles(dispatcher, sig)
    if compiling:
        with _lock:
            if not _announced:
                _announced = True
                low, high = TYPICAL_COMPILE_SECONDS
                logger.info(f"compiling kernels for this CPU, once (then cached on "
                            f"disk): about {low}-{high} s per kernel")
    start = time.perf_counter()
    with _compile_lock(dispatcher) if compiling else contextlib.nullcontext():
        compiled = dispatcher.compile(sig)  # or its load from memory or the disk cache
    if compiling:
        logger.debug(f"compiled {dispatcher.__name__} in "
                     f"{time.perf_counter() - start:.1f} s")
    _machine_code[key] = compiled
    return compiled


def call(dispatcher, *args):
    """``dispatcher(*args)`` through :func:`machine_code`: read-only arrays
    run the writable arrays' machine code."""
    return machine_code(dispatcher, args)(*args)
