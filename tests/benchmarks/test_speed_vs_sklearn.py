"""pytest-benchmark: fastem and scikit-learn side by side, one group per model.

Run for real with
``python -m pytest tests/benchmarks -n 0 --benchmark-enable --benchmark-only``
(200,000 rows; ``FASTEM_PYTEST_BENCH_SAMPLES`` changes that). The normal test
run (``--benchmark-disable``, set in pyproject.toml) executes each case once on
2,000 rows and checks that the two libraries agree, so the comparisons stay
correct. This folder has no ``__init__.py`` and lies outside ``benchmarks/``,
so asv never imports it.
"""
import os

import numpy as np
import pytest

from fastem._compare import MODELS, fit_timed, max_relative_difference

N_FEATURES, N_COMPONENTS, N_ITER = 8, 8, 10
PAIRED = [name for name, m in MODELS.items() if m.sklearn is not None]


def _problem(model, benchmark):
    n = 2_000 if benchmark.disabled else int(
        os.environ.get("FASTEM_PYTEST_BENCH_SAMPLES", 200_000))
    X = model.make_data(n, N_FEATURES, N_COMPONENTS, "float64", 0)
    return X, model.make_init(X, N_COMPONENTS, 0)


@pytest.mark.parametrize("lib", ["fastem", "sklearn"])
@pytest.mark.parametrize("name", PAIRED)
def test_fit(benchmark, name, lib):
    model = MODELS[name]
    X, init = _problem(model, benchmark)
    fit_timed(model, "fastem", X, init, N_ITER, None, N_COMPONENTS)  # compile / load
    benchmark.group = f"fit {model.label}, {N_ITER} iterations"
    benchmark.extra_info.update(n_samples=len(X), library=lib)
    est = benchmark.pedantic(
        lambda: fit_timed(model, lib, X, init, N_ITER, None, N_COMPONENTS)[0],
        rounds=1 if benchmark.disabled else 3, iterations=1)
    other = fit_timed(model, "sklearn" if lib == "fastem" else "fastem", X, init,
                      N_ITER, None, N_COMPONENTS)[0]
    assert est.n_iter_ == other.n_iter_
    assert max_relative_difference(est, other, model.params) < 1e-6


@pytest.mark.parametrize("name", [n for n, m in MODELS.items() if m.sklearn is None])
def test_fit_fastem_only(benchmark, name):
    """Models scikit-learn lacks: fastem alone, so their speed is tracked too."""
    model = MODELS[name]
    X, init = _problem(model, benchmark)
    fit_timed(model, "fastem", X, init, N_ITER, None, N_COMPONENTS)
    benchmark.group = f"fit {model.label}, {N_ITER} iterations"
    est = benchmark.pedantic(
        lambda: fit_timed(model, "fastem", X, init, N_ITER, None, N_COMPONENTS)[0],
        rounds=1 if benchmark.disabled else 3, iterations=1)
    assert np.all(np.diff(est.lower_bounds_) >= -1e-9)
