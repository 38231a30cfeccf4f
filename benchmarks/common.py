"""Shared pieces of the asv suite: models, data, initial parameters, sizes.

The models, their data and their identical initial parameters are those of
``fastem compare`` (``fastem/_compare.py``). asv installs older commits of
fastem but runs the benchmarks of this checkout, so that module is loaded
here from this source tree by path: every commit is measured with the same
definitions, through fastem's public API only. A model that a commit does not
have yet is skipped (asv shows n/a).

``FASTEM_BENCH_SIZES`` (comma-separated sample counts) overrides the sizes,
e.g. ``FASTEM_BENCH_SIZES=2000,5000`` for the quick CI run.
"""
import importlib
import importlib.util
import os
import sys

# Imported here so that asv's forkserver loads them once, not in every benchmark.
import fastem  # noqa: F401
import sklearn.cluster  # noqa: F401
import sklearn.mixture  # noqa: F401

_TREE_COMPARE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "fastem", "_compare.py")


def _load_compare():
    name = "_fastem_compare_from_tree"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _TREE_COMPARE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


compare = _load_compare()
MODELS = compare.MODELS

#: Features and components of every benchmark dataset.
N_FEATURES = 8
N_COMPONENTS = 8
#: EM iterations of every timed fit (tol=0).
N_ITER = 10
DTYPES = ["float64", "float32"]


def sizes(default):
    """Sample counts: ``default``, or ``FASTEM_BENCH_SIZES`` when set."""
    env = os.environ.get("FASTEM_BENCH_SIZES", "").strip()
    return [int(v) for v in env.split(",") if v.strip()] if env else list(default)


_DATA = {}


def dataset(model_name, dtype, n_samples):
    """Data and initial parameters of a model (cached per process)."""
    model = MODELS[model_name]
    key = (model.make_data, dtype, n_samples)
    if key not in _DATA:
        _DATA.clear()
        _DATA[key] = model.make_data(n_samples, N_FEATURES, N_COMPONENTS, dtype, 0)
    X = _DATA[key]
    return X, model.make_init(X, N_COMPONENTS, 0)


def fit(model_name, lib, X, init, max_iter=N_ITER):
    """Fit ``lib`` ('fastem' or 'sklearn') from ``init``; returns (estimator, seconds).

    Raises NotImplementedError (asv: skip) when this fastem has no such
    model or scikit-learn has no baseline for it.
    """
    model = MODELS[model_name]
    if not _has(model.estimator):
        raise NotImplementedError(f"this fastem has no {model.estimator}")
    if lib == "sklearn" and model.sklearn is None:
        raise NotImplementedError(f"scikit-learn has no {model.label}")
    return compare.fit_timed(model, lib, X, init, max_iter, None, N_COMPONENTS)


def _has(dotted):
    """Whether this fastem defines ``fastem.<dotted>`` (``hmm.GaussianHMM``
    lives in a submodule that ``import fastem`` does not load)."""
    module_name, _, name = f"fastem.{dotted}".rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return False
    return hasattr(module, name)
