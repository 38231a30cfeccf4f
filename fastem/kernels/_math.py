"""Scalar math helpers for the kernels, written so loops over them vectorize.

This Numba build has no SVML, so ``np.exp`` in a loop is a scalar libm call.
:func:`exp_nonpositive` is a branch-free exp for the arguments a log-sum-exp
produces (``x <= 0`` after subtracting the row maximum), and
:func:`log_at_least_one` a branch-free log of the sums it then takes (``>= 1``:
the maximum's own term is 1); LLVM vectorizes loops over them.
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


_SQRT2 = 1.4142135623730951
_MANTISSA = (1 << 52) - 1
_EXPONENT_ONE = 1023 << 52


@njit(cache=True, nogil=True, inline="always")
def log_at_least_one(x):
    """``log(x)`` for finite ``x >= 1``; within 2 ulps of ``np.log`` (tested).

    ``x = 2**e m`` with ``m`` in ``[sqrt(1/2), sqrt(2))``; ``log m = 2
    atanh(s)``, ``s = (m - 1) / (m + 1)``, ``|s| <= 0.172``: the odd series
    to ``s**21`` (its next term is below 1e-17 of the sum), ``e ln 2`` added
    in two parts. Arguments below 1 (0, subnormals) give a finite wrong
    value; callers discard it.
    """
    bits = _float_bits(x)
    e = (bits >> 52) - 1023
    m = _bits_float((bits & _MANTISSA) | _EXPONENT_ONE)  # in [1, 2)
    big = m > _SQRT2
    m = 0.5 * m if big else m
    e = e + 1 if big else e
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    p = 1.0 / 21.0
    p = p * z + 1.0 / 19.0
    p = p * z + 1.0 / 17.0
    p = p * z + 1.0 / 15.0
    p = p * z + 1.0 / 13.0
    p = p * z + 1.0 / 11.0
    p = p * z + 1.0 / 9.0
    p = p * z + 1.0 / 7.0
    p = p * z + 1.0 / 5.0
    p = p * z + 1.0 / 3.0
    n = np.float64(e)
    return n * _LN2_HI + ((2.0 * s + (2.0 * s) * (z * p)) + n * _LN2_LO)


@njit(cache=True, inline="always")
def running_max(k, v, top, best):
    """A row's ``(top, best)`` after component ``k``'s value ``v``, the
    components taken in order: the strict ``>`` keeps the first maximum,
    as ``argmax``. Kernels apply it to two components per sweep over a
    tile's rows: a value stored where it was just read through one select
    becomes a masked store on AVX2, slow there (on AMD, very)."""
    greater = v > top
    return (v if greater else top), (k if greater else best)
