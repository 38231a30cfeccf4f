"""Numba kernels for k-means (Lloyd's algorithm, hard EM).

Every pass splits the rows into fixed-size blocks; each block's statistics
go to the slot of its lane (a fixed run of consecutive blocks) and the slots
are summed in order, so results are bit-identical for any thread count. Each
``*_lanes`` kernel processes a range of lanes serially and without the GIL;
the public ``*_pass`` functions are thin Python wrappers that allocate the
slots, run the kernel on ``n_threads`` Python threads
(:func:`fastem._threads.run_lanes`; 1 for the ``*_serial`` twins, which Dask
tasks call) and sum the slots. The in-memory fit's bounded passes run on a
team of threads that wait for the next pass in compiled code
(:class:`BoundedPasses`, :mod:`._team`): at 100,000 rows a pass takes
0.3 ms, and handing each pass to pool threads from Python cost a third as
much again. Each call allocates its scratch once, not per block:
allocating per block is slow where malloc returns memory to the system
eagerly (Dask workers run with ``MALLOC_TRIM_THRESHOLD_=65536``,
which turns every allocation above ~64 KB into an mmap with fresh page
faults).

Exactness against scikit-learn: a row's label is the first index of the
minimum of ``||c_j||^2 - 2 x.c_j`` computed in the input dtype with the dot
products from the same BLAS ``gemm`` scikit-learn uses, so labels agree bit
for bit, ties included. Rows are screened in float32 first (half the
work of float64 products; :func:`_screen_tile`): a row whose best float32
score beats its second by more than both scores' round-off has the label
any exact computation gives; the few others (near ties) are scored in the
input dtype as scikit-learn scores them. The data are centered on the fly (``x -
shift`` block by block, the same elementwise subtraction scikit-learn
applies to a full copy); the in-memory fit keeps them centered in float32
(:func:`_center_rows`), the streamed and Dask passes allocate nothing of
size N x D.

Arguments marked IN are read, OUT are written, INOUT both.
"""
import numpy as np
from numba import njit
from numba.extending import overload

from .. import _jit
from .._threads import LaneTeam, region_threads, run_lanes
from ._compile import INNER, N_LANES, add_into, full_width_avx512_code, move_into, prefetch
from ._products import broadcast_columns
from ._team import claim_lanes, lanes_done, next_pass, pass_done

_JIT = dict(cache=True, nogil=True)
# a block function is inlined into its one lane driver: compiled and optimized
# once, not once on its own and again inside the driver (halves cold compiles);
# so is a per-row helper: a call between compiled functions costs ~8 ns, as
# much as the helper's own work (LLVM does not inline across them)
_INLINE = dict(_JIT, inline="always")
#: A block whose bounds fail twice in a row tries them again after twice as
#: many passes, up to this many: a probe (the bounds refreshed from the
#: scores) costs ~15% of a dense pass where bounds never prune.
_MAX_PROBE_PERIOD = 16
#: A block uses its bounds while fewer than 1 / _BOUNDS_PAY of its rows
#: fail them: a failing row, scored alone, costs several times a row of
#: a dense block (break-even measured between a tenth and a fifth of the
#: rows; a quarter keeps separated data on bounds from the 5th pass)
_BOUNDS_PAY = 4
#: rows per float32 screening tile (see :func:`_screen_tile`), fewer
#: where a tile's rows would pass _SCREEN_TILE_FLOATS floats (32 KB), or
#: _DIRECT_TILE_FLOATS where the screen's own product scores them: its
#: products stream through L1 beside the rows (256 rows of 16 features:
#: dense passes 5-8% faster than 512 with AVX2 code, 1M x 16, K=64)
_SCREEN_TILE = 512
_SCREEN_TILE_FLOATS = 8192
_DIRECT_TILE_FLOATS = 4096
#: the largest n_clusters * n_features the screen scores with its own product
#: (``broadcast_columns``) rather than ``sgemm``, with full-width AVX-512
#: code (:func:`~._compile.full_width_avx512_code`; an Intel VM): own
#: product faster per row of a 512-row tile at K=8, D=8 (3 against 6 ns),
#: level at K=64, D=16 (36 against 33 ns); and whole fits of 1M x 16 rows,
#: K=64, ran slower with it (separated blobs 36 against 25 ms per iteration,
#: touching clusters 46 against 42)
_DIRECT_SCREEN_MAX = 128
#: ... and with AVX2 code, where the own product won at every size measured
#: (K=8, D=8: 5 against 17 ns; K=64, D=16: 58 against 99; K=128, D=16: 77
#: against 173; K=64, D=64: 249 against 340) and in whole fits, for at most
#: _DIRECT_SCREEN_FEATURES features: past a few hundred, BLAS splits a
#: product's sum, and float32 rows' scores would no longer be
#: scikit-learn's own to the bit
_DIRECT_SCREEN_MAX_AVX2 = 2048
_DIRECT_SCREEN_FEATURES = 64


#: a pass of fewer row x center x feature products than this runs in the
#: calling thread: waking a second thread costs 0.1-0.5 ms, more than such a
#: pass (10,000 x 2 rows, K=3: the whole fit ran 1.8x faster on one thread)
_MIN_THREADED_WORK = 1 << 21


def _pass_threads(n_threads, n_samples, n_work):
    """Threads for a pass over ``n_samples`` rows of ``n_work`` products
    each (``n_threads`` None: the current region's); the result is the same
    for any count."""
    n = region_threads() if n_threads is None else n_threads
    return 1 if n_samples * n_work < _MIN_THREADED_WORK else n


@njit(**_JIT)
def _n_blocks(n_samples, block_rows):
    return (n_samples + block_rows - 1) // block_rows


@njit(**_INLINE)
def _centered_row_sq_dist(X, r, shift, centers, k):
    """``||(X[r] - shift) - centers[k]||^2`` in float64 (the difference with
    ``shift`` in X's dtype, as scikit-learn centers; ``centers`` zero: the
    row's squared norm) with four partial sums: a single running sum is a
    chain of dependent adds that costs more than the row's share of the
    ``gemm``."""
    n_features = X.shape[1]
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    d = 0
    while d + 4 <= n_features:
        x0 = np.float64(X[r, d] - shift[d]) - np.float64(centers[k, d])
        x1 = np.float64(X[r, d + 1] - shift[d + 1]) - np.float64(centers[k, d + 1])
        x2 = np.float64(X[r, d + 2] - shift[d + 2]) - np.float64(centers[k, d + 2])
        x3 = np.float64(X[r, d + 3] - shift[d + 3]) - np.float64(centers[k, d + 3])
        s0 += x0 * x0
        s1 += x1 * x1
        s2 += x2 * x2
        s3 += x3 * x3
        d += 4
    while d < n_features:
        x0 = np.float64(X[r, d] - shift[d]) - np.float64(centers[k, d])
        s0 += x0 * x0
        d += 1
    return (s0 + s1) + (s2 + s3)


@njit(**_INLINE)
def _ranked(k, a, best, second, label):
    """A row's ``(best, second, label)`` after center ``k``'s score ``a``,
    the centers taken in order: the strict ``<`` keeps the first minimum,
    as ``argmin``. Branch-free selects, so loops over rows vectorize."""
    hi = a if a > best else best
    second = hi if hi < second else second
    label = k if a < best else label
    best = a if a < best else best
    return best, second, label


_FLOAT32_EPS = float(np.finfo(np.float32).eps)
_FLOAT64_EPS = float(np.finfo(np.float64).eps)
# a bound moved by a drift is rounded away from the distance it bounds
# (by these factors, after the add's own rounding): it stays a true bound
# however many passes move it
_BOUND_DOWN = 1.0 - 2.0 * _FLOAT64_EPS
_BOUND_UP = 1.0 + 2.0 * _FLOAT64_EPS


def direct_screen(n_clusters, n_features):
    """Whether :func:`_screen_tile` scores rows with its own product rather
    than ``sgemm`` (:data:`_DIRECT_SCREEN_MAX`, ``_DIRECT_SCREEN_MAX_AVX2``,
    ``_DIRECT_SCREEN_FEATURES``). AVX-512 code on Zen 4 takes AVX2's choice
    (1M x 16 rows, K=64: 12.4-12.9 against 14.0 ms per separated iteration,
    18.8-19.2 against 20.8-21.5 overlapping; K=128: 32.5 against 43.3
    touching; K=32, D=32: 24.1 against 23.1)."""
    if full_width_avx512_code() or n_features > _DIRECT_SCREEN_FEATURES:
        return n_clusters * n_features <= _DIRECT_SCREEN_MAX
    return n_clusters * n_features <= _DIRECT_SCREEN_MAX_AVX2


def bounds_pay(n_clusters, n_features):
    """Whether Hamerly's bounds can repay their bookkeeping: not where few
    centers of few features (``n_clusters * n_features <=
    _DIRECT_SCREEN_MAX``) make a dense row cost a few ns (100,000 x 8,
    K=8: passes over touching clusters took half the time without trying
    bounds; over blobs, the same on average over 10 passes)."""
    return n_clusters * n_features > _DIRECT_SCREEN_MAX


def float32_screen(X, centers, centers_sq, rows32, row_sq, screen=None):
    """What :func:`_assign_rows` needs to screen rows in float32: ``(-2
    centers32, its transpose, centers_sq32, rows32, row_sq, direct,
    margin)`` (``direct``: :func:`direct_screen`; ``margin``: a
    near tie's, below, (4,) float64); written into ``screen``, a screen
    of the same shapes, when given (and returned).
    float32 rows go through the same path, their float32 scores taken as
    scikit-learn's own, so their margin is 0 (only exact ties are scored
    again), and the kept rows and norms serve them alike. (Their products
    may add in another order than scikit-learn's BLAS calls: a tie within a
    few float32 ulps can go the other way; giving them a margin sends those
    rows to a ``np.dot`` of a few rows, which adds in yet another order.)

    ``rows32`` (n_features, n_samples) float32, the rows minus the shift,
    and ``row_sq`` (n_samples,) float64, their squared norms
    (:func:`_center_rows`), are kept between passes over the same
    in-memory rows; the first pass over a block fills its rows.
    """
    n_features = X.shape[1]
    c = np.asarray(centers, dtype=np.float64)
    m2 = (-2.0 * c).astype(np.float32)
    # A float32 score of a float64 row, ||c||^2 - 2 x.c from x, -2c and
    # ||c||^2 each rounded to float32 and D products added in any order, is
    # within 2u ||c||^2 + (2D + 8) u ||c|| ||x|| of the exact one (u = half
    # float32's epsilon; first order). Two scores, and twice that again for
    # the higher orders and for the float64 scores' own round-off: a gap
    # wider than 8u cmax^2 + (8D + 32) u cmax ||x|| orders the float64
    # scores as it orders these. The margin is (a, b, c, d): that bound is
    # c + d ||x||, and a + b ||x||^2 (>= it, as 2 cmax ||x|| <= cmax^2 +
    # ||x||^2) tests every row first without a square root, which costs as
    # much as the rest of the test with AVX2 code. float32 rows: zeros,
    # their float32 scores are scikit-learn's own (only exact ties are near).
    u = _FLOAT32_EPS / 2.0
    if X.dtype == np.float32:
        margin = (0.0, 0.0, 0.0, 0.0)
    else:
        slope = (8.0 * n_features + 32.0) * u
        cmax_sq = float(centers_sq.max())
        cmax = np.sqrt(cmax_sq)
        margin = (8.0 * u * cmax_sq + 0.5 * slope * cmax_sq, 0.5 * slope,
                  8.0 * u * cmax_sq, slope * cmax)
    if screen is None:
        return (m2, np.ascontiguousarray(m2.T), np.asarray(centers_sq, dtype=np.float32),
                rows32, row_sq, direct_screen(c.shape[0], n_features), np.array(margin))
    screen[0][:] = m2
    screen[1][:] = m2.T
    screen[2][:] = centers_sq
    screen[6][:] = margin
    return screen


@njit(**INNER)
def _center_rows(X, sample_weight, shift, rows32, row_sq, lo, hi):
    """Rows ``lo:hi`` of ``float32(X - shift)``, the difference in X's dtype
    as scikit-learn centers, transposed into ``rows32`` (n_features,
    n_samples), and their squared norms ``||x - shift||^2`` (float64, four
    partial sums as :func:`_centered_row_sq_dist`, the same bits) into
    ``row_sq`` (n_samples,): the rows the float32 screen scores, kept for
    an in-memory fit, laid out feature by feature (:func:`_screen_tile`
    reads a run of rows as it is). The first pass over a block fills them,
    while its rows are in cache for the block's statistics. Returns ``sum
    w ||x - shift||^2`` over the rows (the inertia's part no center
    changes).

    Row by row, each row read once, its features stored one by one: 2.5x
    faster than a feature at a time over a tile of rows, whose strided
    reads do not vectorize (1M x 16 float64 rows: 11 against 28 ms); the
    norms are summed in the same loop rather than by a call of
    :func:`_centered_row_sq_dist` per row, which read the row again (14.6
    ms)."""
    n_features = X.shape[1]
    for r in range(lo, hi):
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        d = 0
        while d + 4 <= n_features:
            v0 = X[r, d] - shift[d]
            v1 = X[r, d + 1] - shift[d + 1]
            v2 = X[r, d + 2] - shift[d + 2]
            v3 = X[r, d + 3] - shift[d + 3]
            rows32[d, r] = np.float32(v0)
            rows32[d + 1, r] = np.float32(v1)
            rows32[d + 2, r] = np.float32(v2)
            rows32[d + 3, r] = np.float32(v3)
            x0 = np.float64(v0)
            x1 = np.float64(v1)
            x2 = np.float64(v2)
            x3 = np.float64(v3)
            s0 += x0 * x0
            s1 += x1 * x1
            s2 += x2 * x2
            s3 += x3 * x3
            d += 4
        while d < n_features:
            v0 = X[r, d] - shift[d]
            rows32[d, r] = np.float32(v0)
            x0 = np.float64(v0)
            s0 += x0 * x0
            d += 1
        row_sq[r] = (s0 + s1) + (s2 + s3)
    sq_norms = 0.0
    for r in range(lo, hi):
        sq_norms += sample_weight[r] * row_sq[r]
    return sq_norms


@njit(**_JIT)
def _column_sums(X):
    """Per-feature sums of ``X`` in its dtype, row after row."""
    sums = np.zeros(X.shape[1], X.dtype)
    for i in range(X.shape[0]):
        for d in range(X.shape[1]):
            sums[d] += X[i, d]
    return sums


def column_means(X):
    """``X.mean(axis=0)``, bit for bit, in X's dtype: scikit-learn's
    centering point (the labels agree with its own bit for bit only from
    the same one). numpy adds the rows in order too, but through a call
    per row: 2.5x slower at 16 features. (It divides in float64 and rounds,
    float32 sums too.)"""
    sums = _jit.call(_column_sums, X)
    return (sums / np.float64(X.shape[0])).astype(X.dtype)


@njit(**_JIT)
def _scoring_scratch(X, screen, n_clusters, block_rows):
    """One thread's scratch for :func:`_assign_rows`: ``(gbuf, screen,
    xbuf, xx, screen_scratch)`` with ``gbuf`` (n_clusters *
    block_rows,) and ``xbuf`` (block_rows, n_features) in X's dtype, ``xx``
    (block_rows,) float64 and the screen's
    (:func:`_screen_tile`): a tile of rows (n_features * tile,) and scores
    (n_clusters * tile,) float32, best and second (2, block_rows) float32,
    the near ties' rows (block_rows,) int64, labels (block_rows,) int32 and
    best and second (2, block_rows) in X's dtype."""
    n_features = X.shape[1]
    n = block_rows
    tile = screen_tile_rows(n_features, screen[5])
    return (np.empty(n_clusters * n, X.dtype), screen, np.empty((n, n_features), X.dtype),
            np.empty(n),
            (np.empty(n_features * tile, np.float32), np.empty(n_clusters * tile, np.float32),
             np.empty((2, n), np.float32), np.empty(n, np.int64), np.empty(n, np.int32),
             np.empty((2, n), X.dtype)))


@njit(**INNER)
def screen_tile_rows(n_features, direct):
    """Rows per screening tile: a tile's rows stay in L1 while every center
    is scored against them (``direct``: :func:`direct_screen`)."""
    floats = _DIRECT_TILE_FLOATS if direct else _SCREEN_TILE_FLOATS
    return max(64, min(_SCREEN_TILE, floats // n_features))


def _center_products(centers_m2T, x, col, g):
    """``g = centers_m2T^T @ x[:, col:col + m]`` (``g`` (n_clusters, m)), each
    product one chain of multiply-adds in feature order: the register-blocked
    :func:`._products.broadcast_columns` on C-ordered rows, plain loops on
    strided ones (the tests' stand-ins for arrays past 2**31 rows)."""
    g[:] = centers_m2T.T @ x[:, col:col + g.shape[1]]


@overload(_center_products, jit_options={"cache": True, "nogil": True,
                                         "fastmath": {"contract"}})
def _center_products_impl(centers_m2T, x, col, g):
    if x.layout == "C":
        def blocked(centers_m2T, x, col, g):
            broadcast_columns(centers_m2T, x, col, g)
        return blocked

    def chains(centers_m2T, x, col, g):
        for k in range(g.shape[0]):
            for t in range(g.shape[1]):
                acc = g.dtype.type(0.0)
                for d in range(x.shape[0]):
                    acc += centers_m2T[d, k] * x[d, col + t]
                g[k, t] = acc
    return chains


@njit(**INNER, fastmath={"contract"})
def _screen_tile(X, shift, rows32, start, rows, centers_m2, centers_m2T, centers_sq32, direct,
                 labels_out, best, second, xbuf, gbuf):
    """float32 scores ``||c_j||^2 - 2 x.c_j`` of rows ``start + rows[t]``
    of ``X - shift``, kept in ``rows32`` (n_features, n_samples,
    :func:`_center_rows`), against every center: the first index of the
    minimum into ``labels_out``, the minimum and the second smallest into
    ``best`` and ``second`` (each (m,), m = len(rows) <= :func:`screen_tile_rows`).

    ``direct`` (:func:`direct_screen`): the products come from
    :func:`_center_products` against ``centers_m2T`` (n_features,
    n_clusters), each one chain of multiply-adds in feature order, as BLAS
    kernels accumulate (float32 rows' scores are then scikit-learn's own, see
    :func:`_assign_rows`); on consecutive rows it reads ``rows32`` as it is.
    Otherwise from ``sgemm``. Either reads the tile's rows gathered into
    ``xbuf`` (n_features * tile,) when they are not consecutive; ``gbuf``
    (n_clusters * tile,) holds the products. Scattered rows (those a block's bounds leave)
    are gathered from X, converted as :func:`_center_rows` converts them:
    a row's features lie together there, and the bound tests have just read
    most of them; in ``rows32`` each would cost a cache line per feature.
    Any summation order has the round-off that :func:`float32_screen`'s
    margin bounds, multiply-adds fused or not (hence ``contract``; a called kernel
    keeps its own fastmath flags, an inlined one would not).
    """
    m = rows.shape[0]
    n_clusters, n_features = centers_m2.shape
    consecutive = rows[m - 1] - rows[0] == m - 1
    if direct and consecutive:
        x, col = rows32, start + rows[0]
    else:
        x, col = xbuf[:n_features * m].reshape((n_features, m)), 0
        if consecutive:
            # a loop: an array assignment compiles its shape-mismatch error
            # path, seconds of a cold first fit; along slices, whose indices
            # from range() are known non-negative, the copy vectorizes
            r0 = start + rows[0]
            for d in range(n_features):
                src = rows32[d, r0:r0 + m]
                dst = x[d]
                for t in range(m):
                    dst[t] = src[t]
        else:
            for t in range(m):
                r = start + rows[t]
                for d in range(n_features):
                    x[d, t] = np.float32(X[r, d] - shift[d])
    g = gbuf[:n_clusters * m].reshape((n_clusters, m))
    if direct:
        _center_products(centers_m2T, x, col, g)
    else:
        np.dot(centers_m2, x, g)
    # two centers per sweep over the rows' best, second and label (see
    # _assign_exact); the first sweep takes one or two, so the rest pair up.
    # (A test inside a vectorized loop becomes masked loads or stores.)
    first = 2 - n_clusters % 2
    c0, c1 = centers_sq32[0], centers_sq32[first - 1]
    if first == 2:
        for i in range(m):  # (a NaN stays best: a near tie)
            best[i], second[i], labels_out[i] = _ranked(
                1, c1 + g[1, i], c0 + g[0, i], np.float32(np.inf), 0)
    else:
        for i in range(m):
            best[i], second[i], labels_out[i] = c0 + g[0, i], np.inf, 0
    for k in range(first, n_clusters, 2):
        ck, cl = centers_sq32[k], centers_sq32[k + 1]
        u, v = g[k], g[k + 1]
        for i in range(m):
            b, s, lab = _ranked(k, ck + u[i], best[i], second[i], labels_out[i])
            b, s, lab = _ranked(k + 1, cl + v[i], b, s, lab)
            best[i], second[i], labels_out[i] = b, s, lab


@njit(**INNER)
def _assign_rows(X, shift, start, rows, centers, centers_sq, labels_out, best_out,
                 second_out, scoring):
    """Label rows ``start + rows[t]`` of ``X - shift`` with their closest
    center, as scikit-learn does: the first minimum of ``||c_j||^2 - 2
    x.c_j`` (:func:`_assign_exact`).

    Rows are scored in float32 first (``scoring[1]``,
    :func:`float32_screen`, :func:`_screen_tile`) and only the near ties
    again in X's dtype (see the module docstring); ``best_out`` and
    ``second_out`` then hold scores within a float32 score's round-off of
    the exact ones (:func:`_pass_terms` widens the bounds by it).

    Parameters
    ----------
    rows : (n,) int64 IN — block rows, relative to ``start``
    labels_out : (n,) int32 OUT; best_out, second_out : (n,) X's dtype OUT
        (``second_out`` zero-length: not wanted, and ``best_out`` then holds
        only the near ties' scores)
    scoring : :func:`_scoring_scratch`; its ``xx[:n]`` receives
        ``||x - shift||^2`` of each row (float64) when ``second_out`` is
        wanted
    """
    gbuf, screen, xbuf, xx, scratch = scoring
    centers_m2, centers_m2T, centers_sq32, rows32, row_sq, direct, margin = screen
    loose_const, loose_slope, tight_const, tight_slope = margin
    n = rows.shape[0]
    xbuf32, gbuf32, s32, near, near_labels, near_scores = scratch
    n_features = X.shape[1]
    track = second_out.shape[0] > 0
    r0 = start + rows[0]
    if rows[n - 1] - rows[0] == n - 1:  # consecutive rows: their norms are read in place
        row_xx = row_sq[r0:r0 + n]
        if track:
            for t in range(n):
                xx[t] = row_xx[t]
    else:
        block_sq = row_sq[start:]
        for t in range(n):
            xx[t] = block_sq[rows[t]]
        row_xx = xx[:n]
    best = s32[0, :n]
    second = s32[1, :n]
    tile = screen_tile_rows(n_features, direct)
    for t0 in range(0, n, tile):
        t1 = min(t0 + tile, n)
        _screen_tile(X, shift, rows32, start, rows[t0:t1], centers_m2, centers_m2T,
                     centers_sq32, direct, labels_out[t0:t1], best[t0:t1], second[t0:t1],
                     xbuf32, gbuf32)
    # a near tie: the best score beats the second by at most both scores'
    # round-off (:func:`float32_screen`'s margin), first bounded without a
    # square root, a loop that vectorizes
    n_near = 0
    for t in range(n):
        # NaN (float32 overflow) fails the test too
        n_near += 0 if np.float64(second[t]) - np.float64(best[t]) > (
            loose_const + loose_slope * row_xx[t]) else 1
    if track:
        for t in range(n):
            best_out[t] = best[t]
            second_out[t] = second[t]
    if n_near == 0:
        return
    n_near = 0
    for t in range(n):
        gap = np.float64(second[t]) - np.float64(best[t])
        if not gap > loose_const + loose_slope * row_xx[t] and not gap > (
                tight_const + tight_slope * np.sqrt(row_xx[t])):
            near[n_near] = t
            n_near += 1
    if n_near == 0:
        return
    xn = xbuf[:n_near]
    for u in range(n_near):
        r = start + rows[near[u]]
        for d in range(n_features):
            xn[u, d] = X[r, d] - shift[d]
    lab = near_labels[:n_near]
    if track:
        _assign_exact(xn, centers, centers_sq, lab, near_scores[0, :n_near],
                      near_scores[1, :n_near], gbuf)
    else:
        _assign_exact(xn, centers, centers_sq, lab, near_scores[0, :n_near], None, gbuf)
    for u in range(n_near):
        t = near[u]
        labels_out[t] = lab[u]
        best_out[t] = near_scores[0, u]
        if track:
            second_out[t] = near_scores[1, u]


@njit(**INNER)
def _assign_exact(xb, centers, centers_sq, labels_out, best_out, second_out, gbuf):
    """Label each row of a block with its closest center.

    The scores ``||c_j||^2 - 2 x.c_j`` are laid out (n_clusters, m) so the
    running minimum runs along contiguous rows and vectorizes (branch-free
    selects); the strict ``<`` keeps the first minimum, as ``argmin`` does.
    The second-best score goes to ``second_out``; None when not wanted (the
    dense pass): that loop is then not compiled (a second of a cold first
    fit). ``gbuf`` (n_clusters * block_rows,) in xb's dtype is scratch for
    the scores.
    """
    m = xb.shape[0]
    n_clusters = centers.shape[0]
    gram = gbuf[:n_clusters * m].reshape((n_clusters, m))
    np.dot(centers, xb.T, gram)
    # g + g is 2 g exactly, in the input dtype, like BLAS alpha=-2. Two
    # centers per sweep: a row's running minimum is read and written once
    # per pair, and a value stored where it was read through a single select
    # becomes a masked store on AVX2 (slow; on AMD, very)
    inf = np.inf
    first = 2 - n_clusters % 2
    c0, c1 = centers_sq[0], centers_sq[first - 1]
    if first == 2:
        for i in range(m):
            b, s, lab = _ranked(1, c1 - (gram[1, i] + gram[1, i]),
                                c0 - (gram[0, i] + gram[0, i]), inf, 0)
            if second_out is not None:
                second_out[i] = s
            best_out[i], labels_out[i] = b, lab
    else:
        for i in range(m):
            if second_out is not None:
                second_out[i] = inf
            best_out[i], labels_out[i] = c0 - (gram[0, i] + gram[0, i]), 0
    for j in range(first, n_clusters, 2):
        cj, ck = centers_sq[j], centers_sq[j + 1]
        if second_out is None:  # (the unused second is dropped by the compiler)
            for i in range(m):
                b, s, lab = _ranked(j, cj - (gram[j, i] + gram[j, i]), best_out[i], inf,
                                    labels_out[i])
                b, s, lab = _ranked(j + 1, ck - (gram[j + 1, i] + gram[j + 1, i]), b, s, lab)
                best_out[i], labels_out[i] = b, lab
        else:
            for i in range(m):
                b, s, lab = _ranked(j, cj - (gram[j, i] + gram[j, i]), best_out[i],
                                    second_out[i], labels_out[i])
                b, s, lab = _ranked(j + 1, ck - (gram[j + 1, i] + gram[j + 1, i]), b, s, lab)
                best_out[i], second_out[i], labels_out[i] = b, s, lab


@njit(**_INLINE)
def _lloyd_block(xb, sample_weight, centers, centers_sq, labels, start, update_centers,
                 sums, weights, gbuf, lab, best):
    """One block of a Lloyd pass; returns (inertia, n_changed).

    ``xb`` (m, n_features) holds the block's rows minus the shift (IN,
    :func:`_centered_block`), rows ``start:start + m`` of the pass.
    ``sums`` (n_clusters, n_features) and ``weights`` (n_clusters,) are this
    block's float64 sums (OUT, overwritten when ``update_centers``).
    The inertia is against the centers given (for the history; the final
    inertia is recomputed exactly), from the block's statistics: ``sum w
    ||x||^2 - sum_k (2 c_k.sums_k - weights_k ||c_k||^2)`` (as the bounded
    pass's); 0 without ``update_centers`` (labels only). ``gbuf``
    (n_clusters * block_rows,), ``best`` (block_rows,) in X's dtype and
    ``lab`` (block_rows,) int32 are the calling thread's scratch.

    The rows are scored as scikit-learn scores them, without the float32
    screen of the in-memory fit (:func:`_assign_rows`): this pass serves
    the streamed and Dask fits, prediction and the mixtures' k-means
    start, whose first call would compile the screen too (2.6 s more).
    """
    m, n_features = xb.shape
    lab = lab[:m]
    best = best[:m]
    _assign_exact(xb, centers, centers_sq, lab, best, None, gbuf)
    if update_centers:
        sums[:, :] = 0.0
        weights[:] = 0.0
    inertia = 0.0
    sq_norms = 0.0
    n_changed = 0
    for i in range(m):
        k = lab[i]
        if labels[start + i] != k:
            n_changed += 1
            labels[start + i] = k
        w = sample_weight[start + i]
        if update_centers:
            weights[k] += w
            row_sq = 0.0
            for d in range(n_features):
                x = np.float64(xb[i, d])
                sums[k, d] += x * w
                row_sq += x * x
            sq_norms += w * row_sq
    if update_centers:
        # no second distance per row: it took 40% of the pass at 2 features
        inertia = _inertia_from_sums(sq_norms, centers, sums, weights)
    return inertia, n_changed


@njit(**_INLINE)
def _inertia_from_sums(sq_norms, centers, sums, weights):
    """``sum w ||x - c||^2`` over rows whose ``sum w ||x||^2`` is
    ``sq_norms``, from their clusters' ``sums`` and ``weights``: ``sq_norms
    - sum_k (2 c_k.sums_k - weights_k ||c_k||^2)``, at least 0."""
    inertia = sq_norms
    for k in range(centers.shape[0]):
        cs = 0.0
        cc = 0.0
        for d in range(centers.shape[1]):
            c = np.float64(centers[k, d])
            cs += c * sums[k, d]
            cc += c * c
        inertia += weights[k] * cc - 2.0 * cs
    return max(inertia, 0.0)


@njit(**_INLINE)
def _centered_block(X, start, stop, shift_tiled, xbuf):
    """``X[start:stop] - shift`` into ``xbuf[:stop - start]``, which it returns.

    Along the flat run of the block's values (X C-contiguous; ``shift_tiled``
    (block_rows * n_features,) is ``shift`` repeated): a loop over each
    row's few features stays scalar, and the dense pass took 1.15x as long.
    """
    x_flat = X[start:stop].reshape(-1)
    xb_flat = xbuf.reshape(-1)
    for j in range(x_flat.shape[0]):
        xb_flat[j] = x_flat[j] - shift_tiled[j]
    return xbuf[:stop - start]


@njit(**_JIT)
def _lloyd_lanes(X, sample_weight, shift, centers, centers_sq, labels, block_rows,
                 update_centers, lane_sums, lane_weights, block_inertia, block_changed,
                 lane_lo, lane_hi):
    """Lloyd pass over the blocks of lanes ``lane_lo:lane_hi``; see :func:`lloyd_pass`.

    ``lane_sums`` (n_lanes, n_clusters, n_features), ``lane_weights``
    (n_lanes, n_clusters): OUT, each lane's sums (when ``update_centers``);
    ``block_inertia`` (n_blocks,) float64, ``block_changed`` (n_blocks,)
    int64: OUT, each block's.
    """
    n_samples = X.shape[0]
    n_clusters, n_features = centers.shape
    n_blocks, n_lanes = block_inertia.shape[0], lane_weights.shape[0]
    xbuf = np.empty((block_rows, n_features), dtype=X.dtype)
    shift_tiled = np.empty(block_rows * n_features, dtype=X.dtype)
    for j in range(block_rows):
        for d in range(n_features):
            shift_tiled[j * n_features + d] = shift[d]
    gbuf = np.empty(n_clusters * block_rows, dtype=X.dtype)
    lab = np.empty(block_rows, dtype=np.int32)
    best = np.empty(block_rows, dtype=X.dtype)
    sums = np.empty((n_clusters, n_features))
    weights = np.empty(n_clusters)
    for lane in range(lane_lo, lane_hi):
        for b in range(lane * n_blocks // n_lanes, (lane + 1) * n_blocks // n_lanes):
            start = b * block_rows
            stop = min(start + block_rows, n_samples)
            xb = _centered_block(X, start, stop, shift_tiled, xbuf)
            block_inertia[b], block_changed[b] = _lloyd_block(
                xb, sample_weight, centers, centers_sq, labels, start, update_centers,
                sums, weights, gbuf, lab, best)
            if update_centers:  # predict writes no sums
                move_into(lane_sums[lane], sums)
                move_into(lane_weights[lane], weights)


def lloyd_pass(X, sample_weight, shift, centers, centers_sq, labels, block_rows,
               update_centers, n_threads=None):
    """One Lloyd iteration: assign every row, sum the rows per cluster.

    Parameters
    ----------
    X : ndarray (n_samples, n_features), float32/float64, C-contiguous   # IN
    sample_weight : ndarray (n_samples,), float64                         # IN
    shift : ndarray (n_features,), X's dtype, subtracted from each row    # IN
    centers : ndarray (n_clusters, n_features), X's dtype, C-contiguous   # IN
    centers_sq : ndarray (n_clusters,), X's dtype, squared center norms   # IN
    labels : ndarray (n_samples,), int32, previous labels -> new labels   # INOUT
    block_rows : int, rows per block (fixes the summation order)
    update_centers : bool, False to only assign (predict)
    n_threads : int or None, threads the lanes are dealt to (None: the
        current thread region's). The result does not depend on it.

    Returns
    -------
    sums : ndarray (n_clusters, n_features), float64, weighted row sums
    weights : ndarray (n_clusters,), float64, weight per cluster
    inertia : float, weighted squared distances to the given centers (0
        without ``update_centers``)
    n_changed : int, rows whose label changed
    """
    n_blocks = -(-X.shape[0] // block_rows)
    n_lanes = min(n_blocks, N_LANES)
    n_clusters, n_features = centers.shape
    lane_sums = np.zeros((n_lanes, n_clusters, n_features))
    lane_weights = np.zeros((n_lanes, n_clusters))
    block_inertia = np.empty(n_blocks)
    block_changed = np.empty(n_blocks, dtype=np.int64)
    X = np.ascontiguousarray(X)  # (a no-op for the callers' rows)
    run_lanes(_lloyd_lanes, (X, sample_weight, shift, centers, centers_sq, labels,
                             block_rows, update_centers, lane_sums, lane_weights,
                             block_inertia, block_changed),
              n_lanes, _pass_threads(n_threads, X.shape[0], n_clusters * n_features))
    return (lane_sums.sum(axis=0), lane_weights.sum(axis=0), block_inertia.sum(),
            int(block_changed.sum()))


def lloyd_pass_serial(X, sample_weight, shift, centers, centers_sq, labels,
                      block_rows, update_centers):
    """:func:`lloyd_pass` in the calling thread (same blocks, same bits)."""
    return lloyd_pass(X, sample_weight, shift, centers, centers_sq, labels,
                      block_rows, update_centers, 1)


@njit(**_INLINE)
def _settled(low, up, center_norm, settle):
    """Hamerly's test, safe against the scores' round-off: with every other
    center farther than ``low`` and the own center nearer than ``up``, the
    label is the one scikit-learn's argmin of ``||c||^2 - 2 x.c`` gives
    when ``low^2 - up^2`` exceeds both scores' round-off, ``a + (b + c R)
    R`` (``settle = (a, b, c)``, :func:`_settle_margin`; ``R = up +
    ||c_a|| >= ||x||``). ``low`` and ``up`` must be true bounds: taken
    from float32 scores, they are widened by those scores' round-off when
    they are written."""
    a, b, c = settle
    reach = up + center_norm
    # & rather than and: no branch, so loops over rows vectorize
    return (low > 0.0) & (low * low - up * up > a + (b + c * reach) * reach)


@njit(**_INLINE)
def _settle_margin(itemsize, n_features, cmax):
    """``(a, b, c)`` of :func:`_settled`: twice the first-order round-off of
    two scores computed in X's dtype (unit round-off ``u``; ``itemsize``
    4 or 8) as scikit-learn computes them, each within ``(D + 1) u
    ||c||^2 + (2D + 2) u ||c|| ||x||`` of the exact one (``||c||^2`` a sum
    of D squares, a length-D product, one subtraction), plus ``c R^2``
    for the float64 round-off of the bounds themselves."""
    u = _FLOAT32_EPS / 2.0 if itemsize == 4 else _FLOAT64_EPS / 2.0
    return ((4.0 * n_features + 8.0) * u * cmax * cmax, (8.0 * n_features + 32.0) * u * cmax,
            8.0 * (n_features + 4) * _FLOAT64_EPS / 2.0)


@njit(**_INLINE)
def _block_sums(X, sample_weight, shift, labels, start, stop, sums, weights, counts):
    """The block's statistics in row order: per cluster the weight, the
    weighted sum of the rows minus ``shift`` and the number of rows of
    positive weight (``sums``, ``weights``, ``counts`` OUT, overwritten)."""
    n_features = X.shape[1]
    sums[:, :] = 0.0
    weights[:] = 0.0
    counts[:] = 0
    for r in range(start, stop):
        k = labels[r]
        w = sample_weight[r]
        for d in range(n_features):
            sums[k, d] += np.float64(X[r, d] - shift[d]) * w
        weights[k] += w
        if w > 0.0:
            counts[k] += 1


@njit(**INNER)
def _move_rows(X, shift, todo, lab, start, sample_weight, labels, sums, weights, counts):
    """Move rows ``start + todo[t]``, whose label changed to ``lab[t]``,
    between their clusters' statistics (``sums``, ``weights``, ``counts`` as
    :func:`_block_sums`, INOUT), and relabel them. A cluster left with no
    row of positive weight gets exact zeros (its true statistics), so an
    empty cluster is seen as empty (weight 0) whatever the round-off of the
    moves."""
    n_features = X.shape[1]
    for t in range(lab.shape[0]):
        r = start + todo[t]
        a = labels[r]
        k = lab[t]
        labels[r] = k
        w = sample_weight[r]
        if not w > 0.0:  # a zero-weight row adds nothing
            continue
        for d in range(n_features):
            x = np.float64(X[r, d] - shift[d]) * w
            sums[a, d] -= x
            sums[k, d] += x
        weights[a] -= w
        weights[k] += w
        counts[a] -= 1
        counts[k] += 1
    for k in range(counts.shape[0]):
        if counts[k] == 0:
            sums[k, :] = 0.0
            weights[k] = 0.0


@njit(**_INLINE)
def _gather_changed(block_labels, lab, todo, m, few):
    """The rows ``t < m`` of a block whose new label ``lab[t]`` differs from
    ``block_labels[t]``, gathered to the front of ``todo`` (their indices)
    and ``lab`` (their labels); ``few``: they are at most an eighth."""
    n = 0
    if few:  # a branch rarely taken costs less than a store per row
        for t in range(m):
            if block_labels[t] != lab[t]:
                todo[n] = t
                lab[n] = lab[t]
                n += 1
    else:  # a changed label is a coin flip for the predictor: no branch
        for t in range(m):
            k = lab[t]
            todo[n] = t  # (n <= t: nothing still to read is overwritten)
            lab[n] = k
            n += block_labels[t] != k


@njit(**_INLINE)
def _bounded_block(X, sample_weight, shift, centers, centers_sq, center_norms, labels,
                   lower, upper, drift, drift_top, slack_const, slack_slope, settle,
                   start, stop, dense, probe, cached, sums, weights, counts, scoring, todo,
                   lab, scores):
    """One block of a bounded Lloyd pass; returns (n_changed, n_scored,
    failed); ``failed``: the block tried its bounds and too many rows failed
    them.

    Hamerly's bounds: ``upper`` (a bound on the distance of each row to its
    center) grows by its center's drift, ``lower`` (on the distance to every
    other center) shrinks by the largest drift of the others. A row keeps
    its label when :func:`_settled`, else its exact distance to its center
    tightens ``upper`` and the test runs again; the rows that still fail
    are gathered and scored exactly as the dense pass scores them. Bounds
    are taken from the best and second-best scores, inflated and deflated
    by the scores' round-off (``slack_const + slack_slope ||x||``, see
    :func:`_pass_terms`), and rounded outward when a drift moves them,
    so they are true bounds; ``settle``: :func:`_settle_margin`.

    The block's statistics (``sums``, ``weights``, ``counts``, as
    :func:`_block_sums`) are kept from the previous pass when ``cached``: a
    block whose labels did not change reads none of its rows; a block
    moves its relabelled rows between clusters (:func:`_move_rows`; equal
    to recomputing up to round-off) when they are at most half its rows,
    and recomputes them otherwise. ``drift_top``: :func:`_top2` of
    ``drift``.

    (Yinyang's group bounds, Ding et al. 2015, were measured here too: the
    bound tests pass for more rows where clusters touch, but reading one
    bound per group of centers off the scores costs more than it saves, on
    separated, overlapping and touching data alike; so does scoring a row
    only against the groups its bounds leave, one small float32 product
    per group: on the overlapping benchmark set, with a tenth of the
    scoring left, such a pass took 90 ms per million rows against 55 ms
    for a dense one, in bounds, gathers and small products.)

    Per-block switch: when ``dense`` the bound tests are skipped and every
    row is scored; bounds are refreshed only when ``probe`` (the second-best
    score costs ~15%); a dense block's bounds are stale until its next
    probe, which rewrites all of them. A block that tries its bounds (not
    ``dense``) scores every row instead, and refreshes its bounds when
    ``probe``, if more than 1 / _BOUNDS_PAY of its rows fail the test,
    their upper bounds tightened, or twice that share before (``failed``):
    the centers' own drift decides, not a guess of it.

    ``scoring`` (:func:`_scoring_scratch`), ``scores`` (2, block_rows) in X's dtype,
    ``todo`` (block_rows,) int64 and ``lab`` (block_rows,) int32 are the
    calling thread's scratch.
    """
    m = stop - start
    drift_arg1, drift_max1, drift_max2 = drift_top
    xx = scoring[3]
    n_features = X.shape[1]
    failed = False
    n_todo = 0
    if not dense:
        # two loops: the bound tests, without a branch, gather the rows that
        # fail them; then their upper bounds are tightened, the rows read
        # one after another (their cache misses overlap) and tested again
        block_lower = lower[start:stop]
        block_upper = upper[start:stop]
        block_labels = labels[start:stop]
        n_failed = 0
        for i in range(m):
            a = block_labels[i]
            k = max(a, 0)  # -1: not labelled yet, so it fails (garbage bounds)
            others = drift_max2 if k == drift_arg1 else drift_max1
            low = (block_lower[i] - others) * _BOUND_DOWN
            up = (block_upper[i] + drift[k]) * _BOUND_UP
            block_lower[i] = low
            block_upper[i] = up
            todo[n_failed] = i
            settled = _settled(low, up, center_norms[k], settle) & (a >= 0)
            n_failed += 0 if settled else 1
        # twice the share that pays failing: tightening their upper bounds
        # (a read of X each) will not save the block
        failed = _BOUNDS_PAY * n_failed > 2 * m
        if not failed:
            # the failing rows are scattered through X: fetch them all at
            # once (on separated blobs the loop below otherwise waits on
            # memory for a fifth of the pass)
            line = 64 // X.itemsize
            for j in range(n_failed):
                r = start + todo[j]
                for d in range(0, n_features, line):
                    prefetch(X, r, d)
                prefetch(X, r, n_features - 1)
            for j in range(n_failed):
                i = todo[j]
                a = block_labels[i]
                if a >= 0:
                    up = np.sqrt(_centered_row_sq_dist(X, start + i, shift, centers, a))
                    block_upper[i] = up
                    if _settled(block_lower[i], up, center_norms[a], settle):
                        continue
                todo[n_todo] = i  # (n_todo <= j: none still to tighten is overwritten)
                n_todo += 1
            failed = _BOUNDS_PAY * n_todo > m
        dense = failed
    if dense:
        for i in range(m):
            todo[i] = i
        n_todo = m
    n_changed = 0
    moved = False
    if n_todo > 0:
        lab = lab[:n_todo]
        best = scores[0, :n_todo]
        second = scores[1, :n_todo]
        track = probe or not dense
        _assign_rows(X, shift, start, todo[:n_todo], centers, centers_sq, lab, best,
                     second if track else second[:0], scoring)
        # the bounds from the scores, inflated (deflated) by their round-off:
        # true upper (lower) bounds; a dense block's wait for its probe
        if track and dense:  # every row in order: contiguous, so it vectorizes
            block_upper = upper[start:stop]
            block_lower = lower[start:stop]
            for t in range(m):
                slack = slack_const + slack_slope * np.sqrt(xx[t])
                up = xx[t] + best[t] + slack
                up = np.sqrt(up) if up > 0.0 else 0.0
                low = xx[t] + second[t] - slack
                low = np.sqrt(low) if low > 0.0 else 0.0
                block_upper[t] = up
                block_lower[t] = low
        elif track:
            for t in range(n_todo):
                r = start + todo[t]
                slack = slack_const + slack_slope * np.sqrt(xx[t])
                up = xx[t] + best[t] + slack
                upper[r] = np.sqrt(up) if up > 0.0 else 0.0
                low = xx[t] + second[t] - slack
                lower[r] = np.sqrt(low) if low > 0.0 else 0.0
        block_labels = labels[start:stop]
        if dense:
            # counted first, in a loop that vectorizes: a late pass changes
            # few labels, and gathering them all costs a store per row
            for t in range(m):
                n_changed += block_labels[t] != lab[t]
            moved = n_changed > 0 and cached and 2 * n_changed <= m
            if moved:
                _gather_changed(block_labels, lab, todo, m, 8 * n_changed <= m)
            elif n_changed > 0:
                for t in range(m):
                    block_labels[t] = lab[t]
        else:
            # the rows whose label changed, gathered to the front of todo
            # and lab without a branch
            for t in range(n_todo):
                i = todo[t]
                k = lab[t]
                todo[n_changed] = i  # (n_changed <= t: nothing still to read is overwritten)
                lab[n_changed] = k
                n_changed += block_labels[i] != k
            moved = n_changed > 0 and cached and 2 * n_changed <= m
            if not moved:
                for t in range(n_changed):
                    block_labels[todo[t]] = lab[t]
        if moved:
            _move_rows(X, shift, todo[:n_changed], lab[:n_changed], start, sample_weight,
                       labels, sums, weights, counts)
    if (n_changed > 0 and not moved) or not cached:
        _block_sums(X, sample_weight, shift, labels, start, stop, sums, weights, counts)
    return n_changed, n_todo, failed


@njit(**INNER)
def _pass_terms(X, centers_sq, drift, center_norms, widened):
    """What a bounded pass derives from its centers' squared norms and
    drifts: ``center_norms`` and the drifts ``widened`` (OUT, (n_clusters,)
    float64), and ``(drift_top, slack_const, slack_slope, settle)``, see
    :func:`_bounded_block`."""
    n_features = X.shape[1]
    # the drifts carry their own round-off (D squares added, a square
    # root): widened, they still bound how far the centers moved
    for k in range(drift.shape[0]):
        widened[k] = drift[k] * (1.0 + (n_features + 4) * _FLOAT64_EPS)
    cmax = 0.0
    for k in range(centers_sq.shape[0]):  # (a loop: .max() compiles for most of a second)
        center_norms[k] = np.sqrt(np.float64(centers_sq[k]))
        cmax = max(cmax, center_norms[k])
    # the bounds come from float32 scores, each within 2u ||c||^2 + (2D +
    # 8) u ||c|| ||x|| of the exact one (:func:`float32_screen`), plus D
    # u_X ||c||^2 where ||c||^2 was summed in X's dtype (unit round-off
    # u_X): widened by twice that, slack_const + slack_slope ||x||, they
    # are true bounds
    u = _FLOAT32_EPS / 2.0
    u_x = u if X.itemsize == 4 else _FLOAT64_EPS / 2.0
    slack_const = (4.0 * u + 2.0 * n_features * u_x) * cmax * cmax
    slack_slope = (4.0 * n_features + 16.0) * u * cmax
    # the labels the bounds settle are the argmin of scores in X's dtype
    # (scikit-learn's), whose round-off the bound test allows
    return (_top2(widened), slack_const, slack_slope,
            _settle_margin(X.itemsize, n_features, cmax))


@njit(**_JIT)
def _bounded_lanes(X, sample_weight, shift, centers, centers_sq, labels, lower, upper,
                   block_mode, block_period, drift, screen, block_rows, block_sums,
                   block_weights, block_counts, block_cached, block_sq_norms, lane_sums,
                   lane_weights, block_changed, block_scored, team, serving):
    """Bounded Lloyd passes over the blocks of the lanes this thread claims
    from ``team``, a team's state (:mod:`._team`; ``serving``: a team
    thread, which then waits for the next pass, else the caller, which
    waits for this one; returns as a team loop does); see
    :func:`bounded_lloyd_pass` (``block_scored``: OUT, each block's rows
    that were scored; ``screen``: :func:`float32_screen`). The scratch
    is allocated once, for every pass a team thread serves."""
    n_samples = X.shape[0]
    n_clusters, n_features = centers.shape
    n_blocks, n_lanes = block_changed.shape[0], lane_weights.shape[0]
    keep = block_sums.shape[0] > 0  # else no block's statistics are kept
    scoring = _scoring_scratch(X, screen, n_clusters, block_rows)
    todo = np.empty(block_rows, dtype=np.int64)
    lab = np.empty(block_rows, dtype=np.int32)
    scores = np.empty((2, block_rows), dtype=X.dtype)
    sums = np.empty((n_clusters, n_features))
    weights = np.empty(n_clusters)
    counts = np.empty(n_clusters, dtype=np.int64)
    center_norms = np.empty(n_clusters)
    widened = np.empty(n_clusters)
    while True:
        lo, hi = claim_lanes(team)
        if lo >= hi:
            if not serving:
                return pass_done(team)
            if not next_pass(team):
                return 0
            continue
        # after the claim: the inputs of the pass these lanes belong to
        drift_top, slack_const, slack_slope, settle = _pass_terms(
            X, centers_sq, drift, center_norms, widened)
        for lane in range(lo, hi):
            lane_sums[lane].fill(0.0)
            lane_weights[lane].fill(0.0)
            for b in range(lane * n_blocks // n_lanes, (lane + 1) * n_blocks // n_lanes):
                start = b * block_rows
                mode = block_mode[b]
                if keep:
                    sums, weights, counts = block_sums[b], block_weights[b], block_counts[b]
                stop = min(start + block_rows, n_samples)
                dense = mode != 0
                period = block_period[b]
                # a block trying its bounds probes if they fail, unless it has
                # failed just before (then it backs off)
                probe = mode == 1 or (mode == 0 and period == 1)
                cached = keep and block_cached[b]
                if not block_sq_norms[b] >= 0.0:  # NaN: the block's first pass
                    block_sq_norms[b] = _center_rows(X, sample_weight, shift, screen[3],
                                                     screen[4], start, stop)
                changed, scored, failed = _bounded_block(
                    X, sample_weight, shift, centers, centers_sq, center_norms, labels,
                    lower, upper, widened, drift_top, slack_const, slack_slope, settle,
                    start, stop, dense, probe, cached, sums, weights, counts, scoring, todo,
                    lab, scores)
                if keep:
                    block_cached[b] = True
                if mode > 0:  # dense until the probe, then the bounds are tried
                    block_mode[b] = mode - 1
                elif not failed:
                    block_period[b] = 1
                elif period == 1:  # it probed: the bounds are tried again next pass
                    block_period[b] = 2
                else:  # try less often while the bounds fail
                    period = min(2 * period, _MAX_PROBE_PERIOD)
                    block_period[b] = period
                    block_mode[b] = period - 1
                block_changed[b] = changed
                block_scored[b] = scored
                add_into(lane_sums[lane], sums)
                add_into(lane_weights[lane], weights)
        lanes_done(team, hi - lo)


def bounded_lloyd_pass(X, sample_weight, shift, centers, centers_sq, labels, lower, upper,
                       block_mode, block_period, drift, block_rows, block_sums,
                       block_weights, block_counts, block_cached, block_sq_norms, rows32,
                       row_sq, n_threads=None):
    """One Lloyd iteration that rescores only the rows whose label may change.

    Same labels as :func:`lloyd_pass` with ``update_centers=True`` (bit for
    bit), sums to round-off; rows whose label the bounds settle are not
    scored, and a block of bounds reads only the rows it scores (see
    :func:`_bounded_block`).

    Parameters
    ----------
    X, sample_weight, shift, centers, centers_sq : as :func:`lloyd_pass`   # IN
    labels : ndarray (n_samples,), int32; -1 forces scoring the row        # INOUT
    lower, upper : ndarray (n_samples,), float64, Hamerly's bounds on the
        distance of each row to every center but its own and to its own
        (for the centers of the previous pass; garbage where labels is -1
        or the block is dense; may be empty when every ``block_mode`` is
        -1: never read nor written then)                                   # INOUT
    block_mode : ndarray (n_blocks,), int8: 0, the block tries its bounds;
        ``m > 0``, it scores every row without bound tests and refreshes
        its bounds (a probe) in ``m`` passes, then tries them; -1, it
        scores every row and never refreshes them; updated for the next
        pass (start with ones: probe at once; or -1 unless
        :func:`bounds_pay`)                                                # INOUT
    block_period : ndarray (n_blocks,), int8, passes between the tries of
        a block whose bounds fail (doubles after each failure but the
        first, up to 16; start with ones)                                  # INOUT
    drift : ndarray (n_clusters,), float64, how far each center moved
        since the previous pass (zeros on the first)                       # IN
    block_rows : int
    block_sums, block_weights, block_counts : ndarray (n_blocks,
        n_clusters, n_features), (n_blocks, n_clusters) float64 and int64,
        each block's statistics (:func:`_block_sums`) of the previous pass,
        or zero-length: none kept, every block is read                    # INOUT
    block_cached : ndarray (n_blocks or 0,), bool, whether they are set  # INOUT
    block_sq_norms : ndarray (n_blocks,), float64, each block's
        ``sum_i w_i ||x_i - shift||^2``; NaN where not yet taken (start
        with NaN: the first pass takes them)                               # INOUT
    rows32, row_sq : the screen's rows and their squared norms
        (:func:`float32_screen`), filled by each block's first pass        # INOUT
    n_threads : int or None, as :func:`lloyd_pass`

    Returns
    -------
    sums, weights, inertia, n_changed : as :func:`lloyd_pass`; the inertia
        comes from the statistics, ``sum(block_sq_norms) - sum_k (2 c_k.sums_k -
        weights_k ||c_k||^2)``: pruned rows are not read
    n_scored : int, rows that were scored
    """
    passes = BoundedPasses(X, sample_weight, shift, labels, lower, upper, block_mode,
                           block_period, block_rows, block_sums, block_weights,
                           block_counts, block_cached, block_sq_norms, rows32, row_sq,
                           centers.shape[0], n_threads)
    try:
        return passes.run(centers, centers_sq, drift)
    finally:
        passes.close()


class BoundedPasses:
    """:func:`bounded_lloyd_pass` after pass over the same rows and bounds,
    each pass's inputs and outputs in fixed arrays, on a
    :class:`~fastem._threads.LaneTeam` whose threads wait for the next pass
    in compiled code (a pass of 100,000 x 8 rows, K=8, takes 0.3 ms on two
    threads; handing each to a pool thread from Python cost 20-40 µs more,
    see :mod:`._team`). Call :meth:`close` after the last pass.

    Parameters
    ----------
    X, sample_weight, shift, labels, ..., row_sq : as :func:`bounded_lloyd_pass`
    n_clusters : int
    n_threads : int or None, as :func:`lloyd_pass`
    """

    def __init__(self, X, sample_weight, shift, labels, lower, upper, block_mode,
                 block_period, block_rows, block_sums, block_weights, block_counts,
                 block_cached, block_sq_norms, rows32, row_sq, n_clusters, n_threads):
        n_samples, n_features = X.shape
        n_blocks = -(-n_samples // block_rows)
        self.n_lanes = min(n_blocks, N_LANES)
        self.n_threads = _pass_threads(n_threads, n_samples, n_clusters * n_features)
        self.centers = np.empty((n_clusters, n_features), dtype=X.dtype)
        self.centers_sq = np.empty(n_clusters, dtype=X.dtype)
        self.drift = np.empty(n_clusters)
        self.screen = (np.empty((n_clusters, n_features), dtype=np.float32),
                       np.empty((n_features, n_clusters), dtype=np.float32),
                       np.empty(n_clusters, dtype=np.float32), rows32, row_sq,
                       direct_screen(n_clusters, n_features), np.empty(4))
        self.lane_sums = np.empty((self.n_lanes, n_clusters, n_features))
        self.lane_weights = np.empty((self.n_lanes, n_clusters))
        self.block_changed = np.empty(n_blocks, dtype=np.int64)
        self.block_scored = np.empty(n_blocks, dtype=np.int64)
        self.block_sq_norms = block_sq_norms
        self.args = (X, sample_weight, shift, self.centers, self.centers_sq, labels, lower,
                     upper, block_mode, block_period, self.drift, self.screen, block_rows,
                     block_sums, block_weights, block_counts, block_cached, block_sq_norms,
                     self.lane_sums, self.lane_weights, self.block_changed,
                     self.block_scored)
        self.team = LaneTeam(_bounded_lanes, self.args, self.n_lanes, self.n_threads)
        self._totals = _jit.machine_code(_pass_totals, (
            self.lane_sums, self.lane_weights, block_sq_norms, self.block_changed,
            self.block_scored, self.centers))

    def run(self, centers, centers_sq, drift):
        """One pass: :func:`bounded_lloyd_pass`'s results for these centers,
        their squared norms and ``drift``."""
        self.centers[:] = centers
        self.centers_sq[:] = centers_sq
        self.drift[:] = drift
        X, rows32, row_sq = self.args[0], self.screen[3], self.screen[4]
        float32_screen(X, self.centers, self.centers_sq, rows32, row_sq, self.screen)
        self.team.run()
        return self._totals(self.lane_sums, self.lane_weights, self.block_sq_norms,
                            self.block_changed, self.block_scored, self.centers)

    def close(self):
        """End the team's threads (no pass runs after this)."""
        self.team.close()


@njit(**_JIT)
def _pass_totals(lane_sums, lane_weights, block_sq_norms, block_changed, block_scored,
                 centers):
    """What :func:`bounded_lloyd_pass` returns, from its lanes and blocks:
    the lanes' statistics added in lane order, the inertia from them and the
    blocks' counts (one call: a dozen small NumPy operations took about 12
    us, 3% of a 100,000 x 8 pass on two threads)."""
    n_lanes, n_clusters, n_features = lane_sums.shape
    sums = np.zeros((n_clusters, n_features))
    weights = np.zeros(n_clusters)
    for lane in range(n_lanes):
        add_into(sums, lane_sums[lane])
        add_into(weights, lane_weights[lane])
    sq_norms = 0.0
    for b in range(block_sq_norms.shape[0]):
        sq_norms += block_sq_norms[b]
    n_changed = 0
    n_scored = 0
    for b in range(block_changed.shape[0]):
        n_changed += block_changed[b]
        n_scored += block_scored[b]
    return (sums, weights, _inertia_from_sums(sq_norms, centers, sums, weights), n_changed,
            n_scored)


def bounded_lloyd_pass_serial(*args):
    """:func:`bounded_lloyd_pass` in the calling thread (same blocks, same bits)."""
    return bounded_lloyd_pass(*args, n_threads=1)


@njit(**INNER)
def _top2(drift):
    """(argmax, max, second max) of the center drifts."""
    arg1 = 0
    max1 = -np.inf
    max2 = -np.inf
    for k in range(drift.shape[0]):
        v = drift[k]
        if v > max1:
            max2 = max1
            max1 = v
            arg1 = k
        elif v > max2:
            max2 = v
    if max2 == -np.inf:  # a single center: no other center to approach
        max2 = 0.0
    return arg1, max1, max2


@njit(**_INLINE)
def _inertia_block(X, sample_weight, shift, centers, labels, start, stop):
    n_features = X.shape[1]
    total = 0.0
    for i in range(start, stop):
        k = labels[i]
        sq = 0.0
        for d in range(n_features):
            # difference in the input dtype first, like scikit-learn
            diff = np.float64((X[i, d] - shift[d]) - centers[k, d])
            sq += diff * diff
        total += sq * sample_weight[i]
    return total


@njit(**_JIT)
def _inertia_lanes(X, sample_weight, shift, centers, labels, block_rows, block_inertia,
                   lane_lo, lane_hi):
    """Each block's exact inertia, for the blocks of lanes ``lane_lo:lane_hi``."""
    n_samples = X.shape[0]
    n_blocks = block_inertia.shape[0]
    n_lanes = min(n_blocks, N_LANES)
    for lane in range(lane_lo, lane_hi):
        for b in range(lane * n_blocks // n_lanes, (lane + 1) * n_blocks // n_lanes):
            start = b * block_rows
            block_inertia[b] = _inertia_block(X, sample_weight, shift, centers, labels,
                                              start, min(start + block_rows, n_samples))


def inertia_pass(X, sample_weight, shift, centers, labels, block_rows, n_threads=None):
    """Exact inertia ``sum_i w_i ||x_i - shift - c_{labels_i}||^2`` (float64).

    Parameters
    ----------
    X : ndarray (n_samples, n_features)                  # IN
    sample_weight : ndarray (n_samples,), float64        # IN
    shift : ndarray (n_features,), X's dtype             # IN
    centers : ndarray (n_clusters, n_features), X dtype  # IN
    labels : ndarray (n_samples,), int32                 # IN
    block_rows : int
    n_threads : int or None, as :func:`lloyd_pass`
    """
    n_blocks = -(-X.shape[0] // block_rows)
    block_inertia = np.empty(n_blocks)
    run_lanes(_inertia_lanes, (X, sample_weight, shift, centers, labels, block_rows,
                               block_inertia),
              min(n_blocks, N_LANES), _pass_threads(n_threads, X.shape[0], X.shape[1]))
    return block_inertia.sum()


def inertia_pass_serial(X, sample_weight, shift, centers, labels, block_rows):
    """:func:`inertia_pass` in the calling thread (same blocks, same bits)."""
    return inertia_pass(X, sample_weight, shift, centers, labels, block_rows, 1)


@njit(**_INLINE)
def _distances_block(X, shift, centers, centers_sq, start, stop, out, xbuf, gbuf, zero):
    """Distances of rows ``start:stop`` into ``out``, computed in float64 on
    the rows minus ``shift``; ``xbuf`` (block_rows, n_features), ``gbuf``
    (block_rows * n_clusters,) and ``zero`` (1, n_features) float64 are the
    calling thread's scratch (``zero``: zeros)."""
    m = stop - start
    n_clusters = centers.shape[0]
    n_features = X.shape[1]
    xb = xbuf[:m]
    for i in range(m):
        for d in range(n_features):
            xb[i, d] = np.float64(X[start + i, d]) - shift[d]
    gram = gbuf[:m * n_clusters].reshape((m, n_clusters))
    np.dot(xb, centers.T, gram)
    for i in range(m):
        xx = _centered_row_sq_dist(xb, i, zero[0], zero, 0)
        for j in range(n_clusters):
            sq = xx + centers_sq[j] - 2.0 * gram[i, j]
            out[start + i, j] = np.sqrt(sq) if sq > 0.0 else 0.0


@njit(**_JIT)
def _distances_lanes(X, shift, centers, centers_sq, block_rows, out, lane_lo, lane_hi):
    """Distances of the rows of the blocks of lanes ``lane_lo:lane_hi`` into ``out``."""
    n_samples, n_features = X.shape
    n_clusters = centers.shape[0]
    n_blocks = _n_blocks(n_samples, block_rows)
    n_lanes = min(n_blocks, N_LANES)
    xbuf = np.empty((block_rows, n_features))
    gbuf = np.empty(block_rows * n_clusters)
    zero = np.zeros((1, n_features))
    for lane in range(lane_lo, lane_hi):
        for b in range(lane * n_blocks // n_lanes, (lane + 1) * n_blocks // n_lanes):
            start = b * block_rows
            _distances_block(X, shift, centers, centers_sq, start,
                             min(start + block_rows, n_samples), out, xbuf, gbuf, zero)


def distances_pass(X, shift, centers, centers_sq, block_rows, n_threads=None):
    """Euclidean distances of every row to every center, in float64.

    Rows and centers are taken relative to ``shift`` (a point near them)
    and the expansion ``||x||^2 - 2 x.c + ||c||^2`` runs in float64, so
    float32 distances are exact to their rounding, far from the origin too.

    Parameters
    ----------
    X : ndarray (n_samples, n_features), float32/float64      # IN
    shift : ndarray (n_features,), float64                    # IN
    centers : ndarray (n_clusters, n_features), float64,
        minus ``shift``, C-contiguous                         # IN
    centers_sq : ndarray (n_clusters,), float64               # IN
    block_rows : int
    n_threads : int or None, as :func:`lloyd_pass`

    Returns
    -------
    distances : ndarray (n_samples, n_clusters), X's dtype
    """
    n_blocks = -(-X.shape[0] // block_rows)
    out = np.empty((X.shape[0], centers.shape[0]), dtype=X.dtype)
    run_lanes(_distances_lanes, (X, shift, centers, centers_sq, block_rows, out),
              min(n_blocks, N_LANES), _pass_threads(n_threads, X.shape[0], centers.size))
    return out


def distances_pass_serial(X, shift, centers, centers_sq, block_rows):
    """:func:`distances_pass` in the calling thread (Dask tasks)."""
    return distances_pass(X, shift, centers, centers_sq, block_rows, 1)


@njit(**_JIT)
def _assigned_sq_distances_lanes(X, shift, centers, labels, out, lane_lo, lane_hi):
    """``out[i] = ||x_i - shift - c_{labels_i}||^2`` for the rows of lanes
    ``lane_lo:lane_hi`` (lane ``j`` holds rows ``j N / N_LANES`` to
    ``(j + 1) N / N_LANES``): the difference in X's dtype, as scikit-learn
    takes it, squared and summed in float64 in feature order."""
    n_samples, n_features = X.shape
    for lane in range(lane_lo, lane_hi):
        for i in range(lane * n_samples // N_LANES, (lane + 1) * n_samples // N_LANES):
            k = labels[i]
            sq = 0.0
            for d in range(n_features):
                diff = np.float64((X[i, d] - shift[d]) - centers[k, d])
                sq += diff * diff
            out[i] = sq


def assigned_sq_distances(X, shift, centers, labels, n_threads=None):
    """Squared distance of each row of ``X - shift`` to its assigned center,
    shape (n_samples,), float64 (for relocating empty clusters: rare, so an
    O(N) result is fine)."""
    out = np.empty(X.shape[0])
    run_lanes(_assigned_sq_distances_lanes, (X, shift, centers, labels, out), N_LANES,
              _pass_threads(n_threads, X.shape[0], X.shape[1]))
    return out
