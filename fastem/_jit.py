"""What a kernel's first call costs: one log line when it compiles.

Numba compiles a kernel for each new CPU and argument types, then keeps the
machine code in its on-disk cache. A first fit on a new machine therefore
waits for the compiler; :func:`ensure_compiled` tells the user so, once per
process, through the ``fastem`` logger (the ``fastem`` command shows it).
"""
import logging
import threading
import time

import numpy as np
from numba._dispatcher import compute_fingerprint

logger = logging.getLogger("fastem")

#: Cold compile seconds of one kernel on a 2-core x86_64 machine (measured
#: with an empty cache, see the README): the order of magnitude to announce.
TYPICAL_COMPILE_SECONDS = (2, 8)

_lock = threading.Lock()
_announced = False
#: (kernel, argument kinds) already checked in this process: Numba's own
#: typing of every argument costs ~50 us each, a millisecond per small pass
_checked = set()


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


def ensure_compiled(dispatcher, args):
    """Compile ``dispatcher`` for the types of ``args`` if Numba has no machine
    code for them, announcing it first (once per process)."""
    global _announced
    if not hasattr(dispatcher, "typeof_pyval"):
        return  # a plain Python function: nothing to compile
    key = (dispatcher, tuple(_kind(a) for a in args))
    if key in _checked:
        return
    _checked.add(key)
    sig = tuple(dispatcher.typeof_pyval(a) for a in args)
    if sig in dispatcher.overloads or not _compiles(dispatcher, sig):
        return  # compiled, or the call loads it from the disk cache
    with _lock:
        if not _announced:
            _announced = True
            low, high = TYPICAL_COMPILE_SECONDS
            logger.info(f"compiling kernels for this CPU, once (then cached on "
                        f"disk): about {low}-{high} s per kernel")
    start = time.perf_counter()
    dispatcher.compile(sig)
    logger.debug(f"compiled {dispatcher.__name__} in {time.perf_counter() - start:.1f} s")
