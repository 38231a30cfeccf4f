"""Eight-wide vector steps of the HMM recursions (Numba intrinsics).

Numba compiles with LLVM's SLP vectorizer off, and its loop vectorizer
leaves a loop of 8 iterations scalar (a fixed trip count is unrolled
first; a run-time one gets a vector body wider than 8 and runs in the
scalar remainder). The recursions are a chain of small vector-matrix
products, one per row, so they ran as 64 scalar multiply-adds per row.
These intrinsics write each row's work directly as LLVM ``<8 x double>``
operations (two 4-wide instructions each on AVX2, one on AVX-512), for
models of at most :data:`WIDTH` states: vectors are zero-padded to 8,
matrices are (8, 8) row-major and zero-padded.

A row of a lattice or frame (K <= 8 columns) is read element by element
into a vector (zeros past K) and written back element by element, never
as a whole 8-vector: no read or write past the row, and no vector load of
values just written by scalar stores (the processor cannot forward those
and stalls).

Sums over the 8 lanes always run in the same tree order,
``((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7))``, and the products by
a matrix as ``((x0 M0 + x1 M1) + (x2 M2 + x3 M3)) + ((x4 M4 + x5 M5) +
(x6 M6 + x7 M7))`` (each pair one fused multiply-add where the CPU has
FMA): a chain of 3 dependent adds instead of 8. Arguments: ``vec`` are
C-contiguous float64 arrays of at least 8 elements (scratch), ``matrix``
C-contiguous float64 of at least 64, ``lattice`` a C-contiguous (N, K)
float64 array with K <= 8 and ``row`` an index in range: the callers
guarantee these; only the types are checked.
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

#: the vector width (states are padded to it)
WIDTH = 8

_I64 = ir.IntType(64)
_VEC = ir.VectorType(ir.DoubleType(), WIDTH)


def _check(name, *arrays):
    for a in arrays:
        if not (isinstance(a, types.Array) and a.dtype == types.float64 and a.layout == "C"):
            raise TypingError(f"{name} takes C-contiguous float64 arrays")


class _Emitter:
    """LLVM IR helpers of one intrinsic call."""

    def __init__(self, context, builder, signature, args):
        self.builder = builder
        self.arrays = [context.make_array(ty)(context, builder, a)
                       if isinstance(ty, types.Array) else None
                       for ty, a in zip(signature.args, args)]
        self.args = args
        self.fmuladd = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_VEC, [_VEC, _VEC, _VEC]), "llvm.fmuladd.v8f64")

    def data(self, i):
        return self.arrays[i].data

    def load(self, ptr, offset=0):
        """The 8-vector at ``ptr + offset`` (elements)."""
        b = self.builder
        if offset:
            ptr = b.gep(ptr, [ir.Constant(_I64, offset)])
        return b.load(b.bitcast(ptr, _VEC.as_pointer()), align=8)

    def store(self, value, ptr):
        b = self.builder
        b.store(value, b.bitcast(ptr, _VEC.as_pointer()), align=8)

    def row(self, i, row):
        """``(pointer to row ``row`` of lattice argument ``i``, its length K)``."""
        b = self.builder
        a = self.arrays[i]
        n_cols = b.extract_value(a.shape, 1)
        return b.gep(a.data, [b.mul(row, n_cols)]), n_cols

    def load_row(self, ptr, n):
        """``ptr[0:n]`` as an 8-vector, zeros past ``n`` (1 <= n <= 8); reads
        only ``ptr[0:n]`` (one vector load when ``n == 8``)."""
        b = self.builder
        full = b.icmp_signed("==", n, ir.Constant(_I64, WIDTH))
        with b.if_else(full, likely=True) as (then, otherwise):
            with then:
                whole = self.load(ptr)
                whole_block = b.block
            with otherwise:
                part = ir.Constant(_VEC, [0.0] * WIDTH)
                for i in range(WIDTH):
                    inside = b.icmp_signed("<", ir.Constant(_I64, i), n)
                    index = b.select(inside, ir.Constant(_I64, i), ir.Constant(_I64, 0))
                    value = b.select(inside, b.load(b.gep(ptr, [index])),
                                     ir.Constant(ir.DoubleType(), 0.0))
                    part = b.insert_element(part, value, ir.Constant(ir.IntType(32), i))
                part_block = b.block
        out = b.phi(_VEC)
        out.add_incoming(whole, whole_block)
        out.add_incoming(part, part_block)
        return out

    def store_row(self, value, ptr, n):
        """``ptr[0:n] = value[0:n]`` (one vector store when ``n == 8``)."""
        b = self.builder
        full = b.icmp_signed("==", n, ir.Constant(_I64, WIDTH))
        with b.if_else(full, likely=True) as (then, otherwise):
            with then:
                self.store(value, ptr)
            with otherwise:
                for i in range(WIDTH):
                    inside = b.icmp_signed("<", ir.Constant(_I64, i), n)
                    with b.if_then(inside):
                        b.store(b.extract_element(value, ir.Constant(ir.IntType(32), i)),
                                b.gep(ptr, [ir.Constant(_I64, i)]))

    def broadcast(self, vec, i):
        mask = ir.Constant(ir.VectorType(ir.IntType(32), WIDTH), [i] * WIDTH)
        return self.builder.shuffle_vector(vec, ir.Constant(_VEC, ir.Undefined), mask)

    def splat(self, scalar):
        b = self.builder
        one = b.insert_element(ir.Constant(_VEC, ir.Undefined), scalar,
                               ir.Constant(ir.IntType(32), 0))
        return self.broadcast(one, 0)

    def times_matrix(self, x, matrix_ptr):
        """``x @ M`` (M (8, 8) row-major at ``matrix_ptr``) in the tree order."""
        b = self.builder
        pairs = []
        for i in range(0, WIDTH, 2):
            first = b.fmul(self.broadcast(x, i), self.load(matrix_ptr, WIDTH * i))
            pairs.append(b.call(self.fmuladd, [self.broadcast(x, i + 1),
                                               self.load(matrix_ptr, WIDTH * (i + 1)), first]))
        return b.fadd(b.fadd(pairs[0], pairs[1]), b.fadd(pairs[2], pairs[3]))

    def total(self, vec):
        """The sum of the 8 lanes, in the tree order
        ``((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7))`` (halves added)."""
        b = self.builder
        for width in (4, 2, 1):
            mask = ir.Constant(ir.VectorType(ir.IntType(32), width), list(range(width)))
            high = ir.Constant(ir.VectorType(ir.IntType(32), width),
                               list(range(width, 2 * width)))
            undef = ir.Constant(vec.type, ir.Undefined)
            vec = b.fadd(b.shuffle_vector(vec, undef, mask), b.shuffle_vector(vec, undef, high))
        return b.extract_element(vec, ir.Constant(ir.IntType(32), 0))


@intrinsic
def forward_step8(typingctx, v, matrix, frame, frame_row, alpha, row):
    """Forward row: ``v = (v @ M) * frame[frame_row]``, ``alpha[row] = v[:K]``.

    Returns the row's sum.
    """
    _check("forward_step8", v, matrix, frame, alpha)
    sig = types.float64(v, matrix, frame, types.int64, alpha, types.int64)

    def codegen(context, builder, signature, args):
        e = _Emitter(context, builder, signature, args)
        f_ptr, n = e.row(2, args[3])
        out = builder.fmul(e.times_matrix(e.load(e.data(0)), e.data(1)), e.load_row(f_ptr, n))
        e.store(out, e.data(0))
        a_ptr, _ = e.row(4, args[5])
        e.store_row(out, a_ptr, n)
        return e.total(out)

    return sig, codegen


@intrinsic
def backward_step8(typingctx, v, matrix, frame, frame_row, beta):
    """Backward row: ``beta = v @ M``, ``v = beta * frame[frame_row]``.

    Returns the sum of ``beta``.
    """
    _check("backward_step8", v, matrix, frame, beta)
    sig = types.float64(v, matrix, frame, types.int64, beta)

    def codegen(context, builder, signature, args):
        e = _Emitter(context, builder, signature, args)
        f_ptr, n = e.row(2, args[3])
        product = e.times_matrix(e.load(e.data(0)), e.data(1))
        e.store(product, e.data(4))
        e.store(builder.fmul(product, e.load_row(f_ptr, n)), e.data(0))
        return e.total(product)

    return sig, codegen


@intrinsic
def posterior_row8(typingctx, alpha, row, beta, weight, gamma):
    """``gamma[row] = alpha[row] * beta * (weight / n)``, ``n = alpha[row] . beta``.

    Returns ``1 / n``.
    """
    _check("posterior_row8", alpha, beta, gamma)
    sig = types.float64(alpha, types.int64, beta, types.float64, gamma)

    def codegen(context, builder, signature, args):
        e = _Emitter(context, builder, signature, args)
        a_ptr, n = e.row(0, args[1])
        joint = builder.fmul(e.load_row(a_ptr, n), e.load(e.data(2)))
        inv = builder.fdiv(ir.Constant(ir.DoubleType(), 1.0), e.total(joint))
        g_ptr, _ = e.row(4, args[1])
        e.store_row(builder.fmul(joint, e.splat(builder.fmul(args[3], inv))), g_ptr, n)
        return inv

    return sig, codegen


@intrinsic
def add_outer8(typingctx, alpha, row, r, u, S):
    """``S[i, :] += (alpha[row, i] * r) * u`` for the 8 rows of ``S`` (8, 8)."""
    _check("add_outer8", alpha, u, S)
    sig = types.void(alpha, types.int64, types.float64, u, S)

    def codegen(context, builder, signature, args):
        e = _Emitter(context, builder, signature, args)
        a_ptr, n = e.row(0, args[1])
        p = builder.fmul(e.load_row(a_ptr, n), e.splat(args[2]))
        u_vec = e.load(e.data(3))
        for i in range(WIDTH):
            row_ptr = builder.gep(e.data(4), [ir.Constant(_I64, WIDTH * i)])
            e.store(builder.call(e.fmuladd, [e.broadcast(p, i), u_vec, e.load(row_ptr)]),
                    row_ptr)
        return context.get_dummy_value()

    return sig, codegen
