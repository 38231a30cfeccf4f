"""Register-blocked matrix products of a tile (Numba intrinsics).

The mixtures' passes multiply small matrices per tile of rows (a few
components or factors by a few dozen features, by 128 rows). OpenBLAS packs
both operands on every call and its AVX2 (Haswell) kernels run these shapes
at under half the machine's multiply-add rate; the packing alone was a third
of the BLAS time of a diagonal pass. These two products read their operands
in place and keep every partial sum in a register:

- :func:`broadcast_product` ``C = A @ B``: a few rows of ``A``, each value
  broadcast, against two vectors of a row of ``B`` (along the tile's rows);
  :func:`broadcast_columns` the same on a run of ``B``'s columns (the
  k-means screen's tiles of its float32 rows, read in place);
- :func:`row_dots` ``C = P @ Q^T``: a few rows of ``P`` against a few of
  ``Q``, vector accumulators along the tile's rows, their lanes summed at
  the end.

Every output is one fixed chain of fused multiply-adds (the lanes summed in
one fixed tree), whatever the thread or the kernel it is compiled into:
results are the same for any thread count, and with or without the far
components' path. Vectors are 4 doubles (8 floats) with AVX2 code, 8 doubles (16 floats)
with AVX-512 (:func:`._compile.avx512_code`).

Numba's cache keys a compiled kernel by its own source file only: after
editing this module, delete the cached kernels that call it (the
``__pycache__`` ``.nbi``/``.nbc`` files of :mod:`.gaussian`).
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

from ._compile import avx512_code, target_features

_I64 = ir.IntType(64)


def _blocking(product):
    """(rows of the left operand, vectors or rows of the right one) per
    block of ``product``: with AVX2, 8 accumulators and the 6 values they
    are fed from fit its 16 vector registers; AVX-512 has 32, for 16."""
    if not avx512_code():
        return 4, 2
    return (8, 2) if product == "broadcast" else (4, 4)


def _lanes(dtype):
    """The vector width for ``dtype``: a 256-bit register with AVX2 code,
    512-bit with AVX-512."""
    return (512 if avx512_code() else 256) // (32 if dtype == types.float32 else 64)


def _check(name, *arrays):
    dtypes = {a.dtype for a in arrays if isinstance(a, types.Array)}
    if (not all(isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C" for a in arrays)
            or len(dtypes) != 1 or dtypes.pop() not in (types.float32, types.float64)):
        raise TypingError(f"{name} takes C-contiguous 2-D arrays of one float dtype")


class _Emitter:
    """LLVM IR of one product: vector loads, splats, fused multiply-adds.

    ``signature`` is the intrinsic's, or the list of its array arguments'
    types when it has others (``args`` then those arrays' values).
    """

    def __init__(self, context, builder, signature, args):
        self.builder = builder
        array_types = getattr(signature, "args", signature)
        self.arrays = [context.make_array(ty)(context, builder, a)
                       for ty, a in zip(array_types, args)]
        dtype = array_types[0].dtype
        self.scalar = context.get_value_type(dtype)
        self.lanes = _lanes(dtype)
        self.vector = ir.VectorType(self.scalar, self.lanes)
        # llvm.fma where the CPU has it: llvm.fmuladd left some of them unfused
        # in one of a kernel's specializations and not in another
        kind = "fma" if "+fma" in target_features() else "fmuladd"
        name = f"llvm.{kind}.v{self.lanes}f{32 if dtype == types.float32 else 64}"
        self.fma_fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(self.vector, [self.vector] * 3), name)
        self.scalar_fma_fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(self.scalar, [self.scalar] * 3),
            name.replace(f"v{self.lanes}f", "f"))
        self.align = 4 if dtype == types.float32 else 8

    def shape(self, i):
        return cgutils.unpack_tuple(self.builder, self.arrays[i].shape, 2)

    def pointer(self, i, offset):
        return self.builder.gep(self.arrays[i].data, [offset])

    def load_vector(self, ptr):
        b = self.builder
        return b.load(b.bitcast(ptr, self.vector.as_pointer()), align=self.align)

    def store_vector(self, value, ptr):
        b = self.builder
        b.store(value, b.bitcast(ptr, self.vector.as_pointer()), align=self.align)

    def splat(self, scalar):
        b = self.builder
        one = b.insert_element(ir.Constant(self.vector, ir.Undefined), scalar,
                               ir.Constant(ir.IntType(32), 0))
        return b.shuffle_vector(one, ir.Constant(self.vector, ir.Undefined),
                                ir.Constant(ir.VectorType(ir.IntType(32), self.lanes),
                                            [0] * self.lanes))

    def accumulators(self, n):
        """``n`` stack slots set to zero (promoted to registers by LLVM)."""
        slots = [cgutils.alloca_once(self.builder, self.vector) for _ in range(n)]
        for s in slots:
            self.builder.store(ir.Constant(self.vector, None), s)
        return slots

    def add_product(self, slot, x, y):
        b = self.builder
        b.store(b.call(self.fma_fn, [x, y, b.load(slot)]), slot)

    def lane_sums(self, vecs):
        """A vector whose lane ``i`` is the sum of the lanes of ``vecs[i]``
        (at most one vector's width of them; missing ones count as zero).

        Pairs of vectors are folded into one, each lane adding two of its
        vector's lanes, until one vector is left: ``lanes - 1`` folds of two
        shuffles and an add, against twice that summing each vector on its
        own. Every sum runs in the same tree order.
        """
        b = self.builder
        n = self.lanes
        i32 = ir.IntType(32)
        vecs = list(vecs) + [ir.Constant(self.vector, None)] * (n - len(vecs))
        size = 1
        while len(vecs) > 1:
            # lane p of the fold of (a, c): from a if its block of `size`
            # lanes is even, else from c, adding lanes `size` apart
            low, high = [], []
            for p in range(n):
                block, offset = divmod(p, size)
                source = 0 if block % 2 == 0 else n
                start = (block - block % 2) * size + offset
                low.append(source + start)
                high.append(source + start + size)
            low, high = (ir.Constant(ir.VectorType(i32, n), idx) for idx in (low, high))
            vecs = [b.fadd(b.shuffle_vector(a, c, low), b.shuffle_vector(a, c, high))
                    for a, c in zip(vecs[::2], vecs[1::2])]
            size *= 2
        return vecs[0]

    def blocks(self, count, size, emit):
        """``emit(start, size)`` over whole blocks of ``size``, then
        ``emit(start, 1)`` over the rest, for ``range(count)``."""
        b = self.builder
        full = b.mul(b.sdiv(count, _I64(size)), _I64(size))
        with cgutils.for_range_slice(b, _I64(0), full, _I64(size)) as (start, _):
            emit(start, size)
        with cgutils.for_range_slice(b, full, count, _I64(1)) as (start, _):
            emit(start, 1)


def _broadcast_codegen(e, builder, col):
    """IR of ``C = AT^T @ B[:, col:col + T]`` (``T`` = C's columns): whole
    pairs of vectors, then the last columns one by one, every output one
    chain of multiply-adds over ``j`` in order, from zero."""
    J, M = e.shape(0)
    B_cols = e.shape(1)[1]
    T = e.shape(2)[1]
    n_block_rows, n_vectors = _blocking("broadcast")
    step = _I64(n_vectors * e.lanes)
    full = builder.mul(builder.sdiv(T, step), step)

    def b_pointer(j, t):
        return e.pointer(1, builder.add(builder.mul(j, B_cols), builder.add(col, t)))

    def rows(m0, n_rows):
        with cgutils.for_range_slice(builder, _I64(0), full, step) as (t0, _):
            acc = e.accumulators(n_rows * n_vectors)
            with cgutils.for_range(builder, J) as loop:
                j = loop.index
                b_row = b_pointer(j, t0)
                b_vecs = [e.load_vector(builder.gep(b_row, [_I64(c * e.lanes)]))
                          for c in range(n_vectors)]
                a_row = e.pointer(0, builder.add(builder.mul(j, M), m0))
                for r in range(n_rows):
                    a = e.splat(builder.load(builder.gep(a_row, [_I64(r)])))
                    for c in range(n_vectors):
                        e.add_product(acc[r * n_vectors + c], a, b_vecs[c])
            for r in range(n_rows):
                m = builder.add(m0, _I64(r))
                c_row = e.pointer(2, builder.add(builder.mul(m, T), t0))
                for c in range(n_vectors):
                    e.store_vector(builder.load(acc[r * n_vectors + c]),
                                   builder.gep(c_row, [_I64(c * e.lanes)]))
    e.blocks(M, n_block_rows, rows)

    # the last columns, one at a time: vectors run along A's rows instead
    # (the same chains: fma(B[j, t], A[m, j], acc) is fma(A[m, j], B[j, t], acc))
    i32 = ir.IntType(32)
    lanes = _I64(e.lanes)
    M_full = builder.mul(builder.sdiv(M, lanes), lanes)
    with cgutils.for_range_slice(builder, full, T, _I64(1)) as (t, _):
        with cgutils.for_range_slice(builder, _I64(0), M_full, lanes) as (m0, _):
            acc = e.accumulators(1)[0]
            with cgutils.for_range(builder, J) as loop:
                j = loop.index
                a = e.load_vector(e.pointer(0, builder.add(builder.mul(j, M), m0)))
                e.add_product(acc, a, e.splat(builder.load(b_pointer(j, t))))
            sums = builder.load(acc)
            for lane in range(e.lanes):
                m = builder.add(m0, _I64(lane))
                builder.store(builder.extract_element(sums, ir.Constant(i32, lane)),
                              e.pointer(2, builder.add(builder.mul(m, T), t)))
        with cgutils.for_range_slice(builder, M_full, M, _I64(1)) as (m, _):
            acc = cgutils.alloca_once_value(builder, ir.Constant(e.scalar, 0.0))
            with cgutils.for_range(builder, J) as loop:
                j = loop.index
                a = builder.load(e.pointer(0, builder.add(builder.mul(j, M), m)))
                b = builder.load(b_pointer(j, t))
                builder.store(builder.call(e.scalar_fma_fn, [a, b, builder.load(acc)]), acc)
            builder.store(builder.load(acc), e.pointer(2, builder.add(builder.mul(m, T), t)))


@intrinsic
def broadcast_product(typingctx, AT, B, C):
    """``C = AT^T @ B``: AT (J, M), B (J, T), C (M, T), C-contiguous, one
    float dtype. ``A`` comes transposed so that the values a step
    broadcasts are adjacent (one pointer: no register spills). Each output
    is the chain ``fma(A[m, J-1], B[J-1, t], ... fma(A[m, 0], B[0, t], 0))``;
    columns past the last whole pair of vectors (16 doubles covers both
    code paths) run one at a time, vectors along ``A``'s rows, the same
    chains."""
    _check("broadcast_product", AT, B, C)

    def codegen(context, builder, signature, args):
        _broadcast_codegen(_Emitter(context, builder, signature, args), builder, _I64(0))
        return context.get_dummy_value()

    return types.none(AT, B, C), codegen


@intrinsic
def broadcast_columns(typingctx, AT, B, col, C):
    """``C = AT^T @ B[:, col:col + T]``: :func:`broadcast_product` on a run
    of ``T`` columns (``C``'s) of a wider ``B`` (J, N), read in place; the
    caller keeps ``col + T <= N``."""
    _check("broadcast_columns", AT, B, C)
    if not isinstance(col, types.Integer):
        raise TypingError("broadcast_columns takes an integer column")

    def codegen(context, builder, signature, args):
        e = _Emitter(context, builder, [signature.args[0], signature.args[1],
                                        signature.args[3]], [args[0], args[1], args[3]])
        col = context.cast(builder, args[2], signature.args[2], types.int64)
        _broadcast_codegen(e, builder, col)
        return context.get_dummy_value()

    return types.none(AT, B, col, C), codegen


@intrinsic
def row_dots(typingctx, P, Q, C):
    """``C = P @ Q^T``: P (M, T), Q (N, T), C (M, N), C-contiguous, one float
    dtype; T a multiple of one vector (8 doubles covers both code paths).
    Each output is a vector of fused multiply-add chains along the rows,
    its lanes then summed (:meth:`_Emitter.lane_sums`)."""
    _check("row_dots", P, Q, C)

    def codegen(context, builder, signature, args):
        e = _Emitter(context, builder, signature, args)
        M, T = e.shape(0)
        N = e.shape(1)[0]
        step = _I64(e.lanes)
        n_block_rows, n_block_cols = _blocking("dots")

        def rows(m0, n_rows):
            def cols(n0, n_cols):
                acc = e.accumulators(n_rows * n_cols)
                with cgutils.for_range_slice(builder, _I64(0), T, step) as (t, _):
                    p = [e.load_vector(e.pointer(0, builder.add(
                        builder.mul(builder.add(m0, _I64(r)), T), t))) for r in range(n_rows)]
                    q = [e.load_vector(e.pointer(1, builder.add(
                        builder.mul(builder.add(n0, _I64(c)), T), t))) for c in range(n_cols)]
                    for r in range(n_rows):
                        for c in range(n_cols):
                            e.add_product(acc[r * n_cols + c], p[r], q[c])
                for first in range(0, len(acc), e.lanes):
                    group = acc[first:first + e.lanes]
                    sums = e.lane_sums([builder.load(a) for a in group])
                    for i in range(len(group)):
                        r, c = divmod(first + i, n_cols)
                        out = builder.add(builder.mul(builder.add(m0, _I64(r)), N),
                                          builder.add(n0, _I64(c)))
                        builder.store(builder.extract_element(sums, ir.Constant(
                            ir.IntType(32), i)), e.pointer(2, out))

            e.blocks(N, n_block_cols, cols)

        e.blocks(M, n_block_rows, rows)
        return context.get_dummy_value()

    return types.none(P, Q, C), codegen
