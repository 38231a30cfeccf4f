"""Eight-wide vector steps of the HMM recursions (Numba intrinsics).

Numba compiles with LLVM's SLP vectorizer off, and its loop vectorizer
leaves a loop of 8 iterations scalar (a fixed trip count is unrolled
first; a run-time one gets a vector body wider than 8 and runs in the
scalar remainder). The recursions are a chain of small vector-matrix
products, one per row, so they ran as 64 scalar multiply-adds per row.
These intrinsics write each row's work directly as LLVM vector operations
on 8 lanes (two 4-wide instructions each: AVX2 and AVX-512 alike), for
models of at most :data:`WIDTH` states: vectors are zero-padded to 8,
matrices are (8, 8) row-major and zero-padded.

A row of a lattice or frame (K <= 8 columns) is read and written in place:
whole vectors when K = 8, element by element below (zeros past K), never
past the row.

Sums over the 8 lanes always run in the same tree order,
``((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7))``, and the products by
a matrix as ``((x0 M0 + x1 M1) + (x2 M2 + x3 M3)) + ((x4 M4 + x5 M5) +
(x6 M6 + x7 M7))`` (each pair one fused multiply-add where the CPU has
FMA): a chain of 3 dependent adds instead of 8. Arguments: ``vec`` are
C-contiguous float64 arrays of at least 8 elements (scratch), ``matrix``
C-contiguous float64 of at least 64, ``lattice`` a C-contiguous (N, K)
float64 array with K <= 8 and ``row`` an index in range: the callers
guarantee these; only the types are checked.

Numba's cache keys a compiled kernel by its own source file only: after
editing this module, delete the cached kernels of :mod:`.hmm` (its
``__pycache__/hmm.*.nbi``/``.nbc`` files) or they keep the old steps.
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

#: the vector width (states are padded to it)
WIDTH = 8

_I64 = ir.IntType(64)
_I32 = ir.IntType(32)
_DOUBLE = ir.DoubleType()
#: an 8-vector is held as two 4-wide halves: on AVX-512 a whole 8-wide
#: (64-byte) store splits across cache lines in unaligned scratch and is not
#: forwarded to the next row's loads, and the backward step ran 1.9x slower
_HALF = 4
_QUAD = ir.VectorType(_DOUBLE, _HALF)


def _check(name, *arrays):
    for a in arrays:
        if not (isinstance(a, types.Array) and a.dtype == types.float64 and a.layout == "C"):
            raise TypingError(f"{name} takes C-contiguous float64 arrays")


class _Emitter:
    """LLVM IR of one intrinsic call; an 8-vector is a pair of 4-vectors."""

    def __init__(self, context, builder, signature, args):
        self.builder = builder
        self.arrays = [context.make_array(ty)(context, builder, a)
                       if isinstance(ty, types.Array) else None
                       for ty, a in zip(signature.args, args)]
        self.fmuladd_fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_QUAD, [_QUAD, _QUAD, _QUAD]), "llvm.fmuladd.v4f64")

    def data(self, i):
        return self.arrays[i].data

    # --------------------------------------------------- lane-wise arithmetic
    def mul(self, x, y):
        return tuple(self.builder.fmul(a, b) for a, b in zip(x, y))

    def add(self, x, y):
        return tuple(self.builder.fadd(a, b) for a, b in zip(x, y))

    def fmuladd(self, x, y, z):
        """``x * y + z`` (one rounding where the CPU has FMA)."""
        return tuple(self.builder.call(self.fmuladd_fn, [a, b, c]) for a, b, c in zip(x, y, z))

    # ----------------------------------------------------------- memory
    def _gep(self, ptr, offset):
        return self.builder.gep(ptr, [ir.Constant(_I64, offset)]) if offset else ptr

    def load(self, ptr, offset=0):
        """The 8-vector at ``ptr + offset`` (elements)."""
        b = self.builder
        return tuple(b.load(b.bitcast(self._gep(ptr, offset + h), _QUAD.as_pointer()), align=8)
                     for h in (0, _HALF))

    def store(self, value, ptr):
        b = self.builder
        for h, half in zip((0, _HALF), value):
            b.store(half, b.bitcast(self._gep(ptr, h), _QUAD.as_pointer()), align=8)

    def row(self, i, row):
        """``(pointer to row ``row`` of lattice argument ``i``, its length K)``."""
        b = self.builder
        a = self.arrays[i]
        n_cols = b.extract_value(a.shape, 1)
        return b.gep(a.data, [b.mul(row, n_cols)]), n_cols

    def load_row(self, ptr, n):
        """``ptr[0:n]`` as an 8-vector, zeros past ``n`` (1 <= n <= 8); reads
        only ``ptr[0:n]``: whole-vector loads when ``n == 8``, else a loop
        (small IR: compile time)."""
        b = self.builder
        full = b.icmp_signed("==", n, ir.Constant(_I64, WIDTH))
        wide = ir.VectorType(_DOUBLE, WIDTH)
        with b.if_else(full, likely=True) as (then, otherwise):
            with then:
                whole = self.load(ptr)
                whole_block = b.block
            with otherwise:
                slot = cgutils.alloca_once_value(b, ir.Constant(wide, [0.0] * WIDTH))
                with cgutils.for_range(b, n) as loop:
                    i = loop.index
                    b.store(b.insert_element(b.load(slot), b.load(b.gep(ptr, [i])),
                                             b.trunc(i, _I32)), slot)
                vec = b.load(slot)
                part = tuple(b.shuffle_vector(vec, ir.Constant(wide, ir.Undefined), ir.Constant(
                    ir.VectorType(_I32, _HALF), list(range(h, h + _HALF)))) for h in (0, _HALF))
                part_block = b.block
        out = []
        for w, p in zip(whole, part):
            phi = b.phi(_QUAD)
            phi.add_incoming(w, whole_block)
            phi.add_incoming(p, part_block)
            out.append(phi)
        return tuple(out)

    def store_row(self, value, ptr, n):
        """``ptr[0:n] = value[0:n]``: whole-vector stores when ``n == 8``, else a loop."""
        b = self.builder
        full = b.icmp_signed("==", n, ir.Constant(_I64, WIDTH))
        with b.if_else(full, likely=True) as (then, otherwise):
            with then:
                self.store(value, ptr)
            with otherwise:
                wide = b.shuffle_vector(value[0], value[1],
                                        ir.Constant(ir.VectorType(_I32, WIDTH), list(range(WIDTH))))
                with cgutils.for_range(b, n) as loop:
                    i = loop.index
                    b.store(b.extract_element(wide, b.trunc(i, _I32)), b.gep(ptr, [i]))

    # ----------------------------------------------------------- lanes
    def broadcast(self, vec, i):
        """Lane ``i`` of ``vec`` in every lane."""
        mask = ir.Constant(ir.VectorType(_I32, _HALF), [i % _HALF] * _HALF)
        half = self.builder.shuffle_vector(vec[i // _HALF], ir.Constant(_QUAD, ir.Undefined),
                                           mask)
        return (half, half)

    def splat(self, scalar):
        b = self.builder
        one = b.insert_element(ir.Constant(_QUAD, ir.Undefined), scalar, ir.Constant(_I32, 0))
        half = b.shuffle_vector(one, ir.Constant(_QUAD, ir.Undefined),
                                ir.Constant(ir.VectorType(_I32, _HALF), [0] * _HALF))
        return (half, half)

    def times_matrix(self, x, matrix_ptr):
        """``x @ M`` (M (8, 8) row-major at ``matrix_ptr``) in the tree order."""
        pairs = []
        for i in range(0, WIDTH, 2):
            first = self.mul(self.broadcast(x, i), self.load(matrix_ptr, WIDTH * i))
            pairs.append(self.fmuladd(self.broadcast(x, i + 1),
                                      self.load(matrix_ptr, WIDTH * (i + 1)), first))
        return self.add(self.add(pairs[0], pairs[1]), self.add(pairs[2], pairs[3]))

    def total(self, vec):
        """The sum of the 8 lanes, in the tree order
        ``((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7))`` (halves added)."""
        b = self.builder
        quad = b.fadd(vec[0], vec[1])
        undef = ir.Constant(_QUAD, ir.Undefined)
        pair = b.fadd(b.shuffle_vector(quad, undef, ir.Constant(ir.VectorType(_I32, 2), [0, 1])),
                      b.shuffle_vector(quad, undef, ir.Constant(ir.VectorType(_I32, 2), [2, 3])))
        return b.fadd(b.extract_element(pair, ir.Constant(_I32, 0)),
                      b.extract_element(pair, ir.Constant(_I32, 1)))


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
        out = e.mul(e.times_matrix(e.load(e.data(0)), e.data(1)), e.load_row(f_ptr, n))
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
        e.store(e.mul(product, e.load_row(f_ptr, n)), e.data(0))
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
        joint = e.mul(e.load_row(a_ptr, n), e.load(e.data(2)))
        inv = builder.fdiv(ir.Constant(_DOUBLE, 1.0), e.total(joint))
        g_ptr, _ = e.row(4, args[1])
        e.store_row(e.mul(joint, e.splat(builder.fmul(args[3], inv))), g_ptr, n)
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
        p = e.mul(e.load_row(a_ptr, n), e.splat(args[2]))
        u_vec = e.load(e.data(3))
        for i in range(WIDTH):
            row_ptr = builder.gep(e.data(4), [ir.Constant(_I64, WIDTH * i)])
            e.store(e.fmuladd(e.broadcast(p, i), u_vec, e.load(row_ptr)), row_ptr)
        return context.get_dummy_value()

    return sig, codegen
