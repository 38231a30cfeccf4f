"""The register-blocked tile products against numpy, on every block remainder."""
import numpy as np
import pytest
from numba import njit

from fastem.kernels._products import broadcast_columns, broadcast_product, row_dots


@njit
def _broadcast(AT, B, C):
    broadcast_product(AT, B, C)


@njit
def _columns(AT, B, col, C):
    broadcast_columns(AT, B, col, C)


@njit
def _dots(P, Q, C):
    row_dots(P, Q, C)


# rows: below, at and between the block sizes (4 with AVX2, 8 with AVX-512)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("M,J", [(1, 1), (3, 4), (4, 32), (5, 7), (9, 16), (17, 33)])
def test_broadcast_product_equals_numpy(M, J, dtype):
    rng = np.random.default_rng(M * 100 + J)
    A = rng.standard_normal((M, J)).astype(dtype)
    B = rng.standard_normal((J, 128)).astype(dtype)
    C = np.full((M, 128), np.nan, dtype)
    _broadcast(np.ascontiguousarray(A.T), B, C)
    exact = A.astype(np.float64) @ B.astype(np.float64)
    scale = np.abs(A).astype(np.float64) @ np.abs(B).astype(np.float64)
    # a chain of J roundings, each within half an ulp of its partial sum
    assert np.all(np.abs(C - exact) <= J * np.finfo(dtype).eps * scale)


# columns: whole pairs of vectors (16 doubles/32 floats cover both code
# paths), some left over, fewer than one pair; at an offset into wider rows
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("M,J,T,col", [(5, 16, 64, 0), (9, 7, 37, 3), (4, 3, 5, 11),
                                       (17, 16, 512, 100)])
def test_broadcast_columns_equal_numpy_and_one_chain_per_output(M, J, T, col, dtype):
    rng = np.random.default_rng(M * 1000 + T)
    A = rng.standard_normal((M, J)).astype(dtype)
    B = rng.standard_normal((J, col + T + 9)).astype(dtype)
    C = np.full((M, T), np.nan, dtype)
    _columns(np.ascontiguousarray(A.T), B, col, C)
    window = B[:, col:col + T]
    exact = A.astype(np.float64) @ window.astype(np.float64)
    scale = np.abs(A).astype(np.float64) @ np.abs(window).astype(np.float64)
    assert np.all(np.abs(C - exact) <= J * np.finfo(dtype).eps * scale)
    # the vector columns and the one-by-one ones are the same chain: the
    # product of a window starting one column later shifts bit for bit
    if T > 1:
        C1 = np.full((M, T - 1), np.nan, dtype)
        _columns(np.ascontiguousarray(A.T), B, col + 1, C1)
        np.testing.assert_array_equal(C1, C[:, 1:])


@pytest.mark.parametrize("M,N", [(1, 1), (3, 2), (4, 4), (5, 3), (17, 16), (33, 7)])
def test_row_dots_equal_numpy(M, N):
    rng = np.random.default_rng(M * 100 + N)
    P = rng.standard_normal((M, 128))
    Q = rng.standard_normal((N, 128))
    C = np.full((M, N), np.nan)
    _dots(P, Q, C)
    scale = np.abs(P) @ np.abs(Q).T
    assert np.all(np.abs(C - P @ Q.T) <= 128 * np.finfo(float).eps * scale)


def test_products_stay_inside_their_operands():
    # each operand is a view followed in memory by NaN: a read past its end
    # would show in the results, a write past C's end in the NaN after it
    rng = np.random.default_rng(0)

    def view(rows, cols, values=True):
        buffer = np.full((rows + 1) * cols, np.nan)
        out = buffer[:rows * cols].reshape(rows, cols)
        if values:
            out[:] = rng.standard_normal((rows, cols))
        return buffer, out

    _, P = view(5, 128)
    _, Q = view(3, 128)
    c_buffer, C = view(5, 3, values=False)
    _dots(P, Q, C)
    assert np.all(np.isfinite(C)) and np.all(np.isnan(c_buffer[C.size:]))
    _, AT = view(6, 5)
    c_buffer, C = view(5, 128, values=False)
    _, B = view(6, 128)
    _broadcast(AT, B, C)
    assert np.all(np.isfinite(C)) and np.all(np.isnan(c_buffer[C.size:]))


def test_products_reject_wrong_layouts():
    with pytest.raises(Exception, match="C-contiguous"):
        _dots(np.ones((4, 128)), np.ones((128, 4)).T, np.empty((4, 4)))
    with pytest.raises(Exception, match="one float dtype"):
        _broadcast(np.ones((2, 2)), np.ones((2, 128), np.float32), np.empty((2, 128)))
