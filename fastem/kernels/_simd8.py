"""Eight-wide vector step of the HMM recursions (a Numba intrinsic).

Numba compiles with LLVM's SLP vectorizer off, and its loop vectorizer
leaves a loop of 8 iterations scalar (a fixed trip count is unrolled
first; a run-time one gets a vector body wider than 8 and runs in the
scalar remainder). The recursions are a chain of small vector-matrix
products, one per row, so they ran as 64 scalar multiply-adds per row.
:func:`times_matrix8` writes that product directly as LLVM ``<8 x double>``
operations (two 4-wide instructions each on AVX2, one on AVX-512), for
models of at most :data:`WIDTH` states padded with zeros to 8.
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

#: the vector width of :func:`times_matrix8` (states are padded to it)
WIDTH = 8


def _is_c_float64(ty):
    return isinstance(ty, types.Array) and ty.dtype == types.float64 and ty.layout == "C"


@intrinsic
def times_matrix8(typingctx, x, M, f, out, out_f):
    """``out = x @ M`` and ``out_f = out * f`` on 8-vectors.

    ``x``, ``f``, ``out``, ``out_f`` : C-contiguous float64 arrays of at
    least 8 elements; ``M`` : C-contiguous float64, at least 64 elements
    read as an (8, 8) row-major matrix. The caller guarantees the sizes.
    Every operand is read before anything is written, so ``out_f`` may be
    ``x``. The product sums its 8 terms as
    ``((x0 M0 + x1 M1) + (x2 M2 + x3 M3)) + ((x4 M4 + x5 M5) + (x6 M6 + x7 M7))``
    (each pair one fused multiply-add where the CPU has FMA): a chain of 3
    dependent adds per row instead of 8.
    """
    if not all(_is_c_float64(a) for a in (x, M, f, out, out_f)):
        raise TypingError("times_matrix8 takes C-contiguous float64 arrays")
    sig = types.void(x, M, f, out, out_f)

    def codegen(context, builder, signature, args):
        x_, M_, f_, out_, outf_ = (context.make_array(ty)(context, builder, a).data
                                   for ty, a in zip(signature.args, args))
        vec = ir.VectorType(ir.DoubleType(), WIDTH)
        vec_ptr = vec.as_pointer()

        def load(ptr, offset=0):
            if offset:
                ptr = builder.gep(ptr, [ir.Constant(ir.IntType(64), offset)])
            return builder.load(builder.bitcast(ptr, vec_ptr), align=8)

        fmuladd = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vec, [vec, vec, vec]), "llvm.fmuladd.v8f64")
        xv = load(x_)
        fv = load(f_)
        undef = ir.Constant(vec, ir.Undefined)
        lane_mask = ir.VectorType(ir.IntType(32), WIDTH)

        def term(i):  # (x_i broadcast, row i of M)
            return (builder.shuffle_vector(xv, undef, ir.Constant(lane_mask, [i] * WIDTH)),
                    load(M_, WIDTH * i))

        pairs = []
        for i in range(0, WIDTH, 2):
            (b0, r0), (b1, r1) = term(i), term(i + 1)
            pairs.append(builder.call(fmuladd, [b1, r1, builder.fmul(b0, r0)]))
        product = builder.fadd(builder.fadd(pairs[0], pairs[1]),
                               builder.fadd(pairs[2], pairs[3]))
        builder.store(product, builder.bitcast(out_, vec_ptr), align=8)
        builder.store(builder.fmul(product, fv), builder.bitcast(outf_, vec_ptr), align=8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def add_outer8(typingctx, p, u, S):
    """``S[i, :] += p[i] * u`` for the rows ``i < 8`` of an (8, 8) row-major ``S``.

    ``p``, ``u`` : C-contiguous float64 arrays of at least 8 elements;
    ``S`` : C-contiguous float64, at least 64 elements. Each row is one
    fused multiply-add of 8-vectors (where the CPU has FMA).
    """
    if not all(_is_c_float64(a) for a in (p, u, S)):
        raise TypingError("add_outer8 takes C-contiguous float64 arrays")
    sig = types.void(p, u, S)

    def codegen(context, builder, signature, args):
        p_, u_, S_ = (context.make_array(ty)(context, builder, a).data
                      for ty, a in zip(signature.args, args))
        vec = ir.VectorType(ir.DoubleType(), WIDTH)
        vec_ptr = vec.as_pointer()
        fmuladd = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vec, [vec, vec, vec]), "llvm.fmuladd.v8f64")
        pv = builder.load(builder.bitcast(p_, vec_ptr), align=8)
        uv = builder.load(builder.bitcast(u_, vec_ptr), align=8)
        undef = ir.Constant(vec, ir.Undefined)
        lane_mask = ir.VectorType(ir.IntType(32), WIDTH)
        for i in range(WIDTH):
            row_ptr = builder.bitcast(
                builder.gep(S_, [ir.Constant(ir.IntType(64), WIDTH * i)]), vec_ptr)
            broadcast = builder.shuffle_vector(pv, undef, ir.Constant(lane_mask, [i] * WIDTH))
            row = builder.load(row_ptr, align=8)
            builder.store(builder.call(fmuladd, [broadcast, uv, row]), row_ptr, align=8)
        return context.get_dummy_value()

    return sig, codegen
