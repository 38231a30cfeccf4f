"""The kernels' vectorizable scalar math (fastem.kernels._math) against libm."""
import numpy as np
import pytest
from numba import njit

from fastem.kernels._math import log_positive


def _log_loop(x, out):
    for i in range(x.shape[0]):
        out[i] = log_positive(x[i])


@pytest.mark.parametrize("flags", [{}, {"fastmath": {"contract"}, "error_model": "numpy"}],
                         ids=["plain", "as-in-the-pass"])
def test_log_positive_is_within_one_ulp_of_libm(flags):
    # the whole positive normal range, the pass's range (a sum of K exps, the
    # largest 1), and the edges of fdlibm's reduction (1 + f near sqrt(2))
    rng = np.random.default_rng(0)
    tiny, huge = np.finfo(np.float64).tiny, np.finfo(np.float64).max
    x = np.concatenate([
        np.logspace(-307, 308, 20001), rng.uniform(1.0, 64.0, 20000),
        rng.uniform(0.5, 2.0, 20000), np.sqrt(2) * (1 + np.linspace(-1e-12, 1e-12, 101)),
        [1.0, np.nextafter(1.0, 2.0), np.nextafter(1.0, 0.0), 2.0, 0.5, tiny, huge]])
    out = np.empty_like(x)
    njit(**flags)(_log_loop)(x, out)
    want = np.log(x)
    ulps = np.abs(out - want) / np.spacing(np.abs(want))
    assert np.max(ulps[want != 0]) <= 1.0
    assert out[np.flatnonzero(x == 1.0)[0]] == 0.0
