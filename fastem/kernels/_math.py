"""Scalar math helpers for the kernels, written so loops over them vectorize.

This Numba build has no SVML, so ``np.exp`` or ``np.log`` in a loop is a
scalar libm call. :func:`exp_nonpositive` is a branch-free exp for the
arguments a log-sum-exp produces (``x <= 0`` after subtracting the row
maximum) and :func:`log_positive` a branch-free log (of the sum of exps); LLVM
vectorizes a loop over either (a loop dividing must be compiled with
``error_model="numpy"``: Python's zero-division check stops it).
"""
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic


@intrinsic
def _float_bits(typingctx, x):
    """Reinterpret the bits of a float64 as an int64 (no conversion)."""
    if not isinstance(x, types.Float) or x.bitwidth != 64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_float(typingctx, x):
    """Reinterpret the bits of an int64 as a float64 (no conversion)."""
    if not isinstance(x, types.Integer) or x.bitwidth != 64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # ln 2 split so n * _LN2_HI is exact
_LN2_LO = 1.9082149292705877e-10
_ROUND = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer

#: below this, exp underflows into subnormals, which are slow and carry no
#: information at double precision; the result is flushed to 0
EXP_FLOOR = -700.0


@njit(cache=True, nogil=True, inline="always")
def exp_nonpositive(x):
    """``exp(x)`` for ``x <= 0``; relative error below 1e-15, 0 below ``EXP_FLOOR``.

    Range reduction ``x = n ln2 + r`` with ``|r| <= ln2 / 2``, a degree-12
    Taylor polynomial for ``exp(r)`` and ``2**n`` assembled in the exponent
    bits. ``-inf`` gives 0; the caller guarantees ``x`` is not NaN.
    """
    z = max(x, EXP_FLOOR)
    y = z * _LOG2E + _ROUND
    n = y - _ROUND
    r = (z - n * _LN2_HI) - n * _LN2_LO
    p = 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    scale = _bits_float((_float_bits(y) + 1023) << 52)
    return p * scale if x >= EXP_FLOOR else 0.0


_LG1 = 6.666666666666735130e-01  # fdlibm's minimax coefficients for
_LG2 = 3.999999999940941908e-01  # log(1 + f) = f - f^2 / 2 + s (f^2 / 2 + R(s^2)),
_LG3 = 2.857142874366239149e-01  # s = f / (2 + f): error below 2**-58.45
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_LOW_32 = 0xFFFFFFFF


@njit(cache=True, nogil=True, inline="always")
def log_positive(x):
    """``log(x)`` for positive, normal, finite ``x``; error below one ulp.

    fdlibm's ``__ieee754_log`` without its branches (the two final forms are
    both computed and one selected), so that LLVM vectorizes a loop over it:
    ``x = 2**k (1 + f)`` with ``sqrt(2) / 2 <= 1 + f < sqrt(2)``. libm's
    ``log`` is a scalar call, one per row of a pass. Zero, subnormal,
    negative, infinite or NaN ``x`` give meaningless results: callers exclude them.
    """
    bits = _float_bits(x)
    hx = bits >> 32
    k = (hx >> 20) - 1023
    hx &= 0x000FFFFF
    i = (hx + 0x95F64) & 0x100000  # 1 + f >= sqrt(2): halve it, k + 1
    k += i >> 20
    f = _bits_float(((hx | (i ^ 0x3FF00000)) << 32) | (bits & _LOW_32)) - 1.0
    s = f / (2.0 + f)
    dk = np.float64(k)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    r = t2 + t1
    hfsq = 0.5 * f * f
    near_one = ((hx - 0x6147A) | (0x6B851 - hx)) <= 0  # fdlibm's own split
    return (_LN2_HI * dk - ((s * (f - r) - dk * _LN2_LO) - f) if near_one
            else _LN2_HI * dk - ((hfsq - (s * (hfsq + r) + dk * _LN2_LO)) - f))
