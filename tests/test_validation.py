"""Input checks on arrays large enough for the compiled scan."""
import numpy as np
import pytest

from fastem._validation import _SCAN_MIN_VALUES, check_data


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_found_anywhere_in_a_large_array(dtype, bad):
    n, d = 150_001, 7  # 1,050,007 values: the scan, with a tail of 7 past rows of 16
    assert n * d >= _SCAN_MIN_VALUES and (n * d) % 16
    X = np.random.default_rng(0).standard_normal((n, d)).astype(dtype)
    assert check_data(X) is X  # clean: accepted as is, no copy
    for row, col in [(0, 0), (n // 2, 3), (n - 1, d - 1), (n - 2, 0)]:
        Y = X.copy()
        Y[row, col] = bad
        with pytest.raises(ValueError, match=f"row {row}, column {col}"):
            check_data(Y)
