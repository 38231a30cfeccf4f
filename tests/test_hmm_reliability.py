"""Reliability battery of the hidden Markov models (``tests/registry.py``'s HMM_REGISTRY).

scikit-learn's fitting checks call ``fit(X, y)``, and an HMM's second
argument is ``lengths`` (as in hmmlearn), so the checks that apply are those
of the estimator API (construction, parameters, cloning, repr); the fitting
properties follow, for every class and variant.
"""
import pickle
import threading

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils import estimator_checks

import fastem.hmm
from registry import HMM_NAMES, HMM_REGISTRY, hmm_sequences

CASES = [(name, variant) for name in HMM_NAMES for variant in HMM_REGISTRY[name].variants]
IDS = [name + "".join(f"-{v}" for v in variant.values()) for name, variant in CASES]


def _fit(name, variant, n_seq=4, length=30, seed=0, **kw):
    entry = HMM_REGISTRY[name]
    X, lengths = hmm_sequences(n_seq, length, seed, entry.kind)
    return entry.make(**variant, **kw).fit(X, lengths), X, lengths


def _started(name, variant, X, lengths, **kw):
    """Unfitted models (one per ``kw`` dict) starting from the same parameters:
    the initialization (k-means for the Gaussians) runs once."""
    entry = HMM_REGISTRY[name]
    start = entry.make(**variant, n_iter=0).fit(X, lengths)
    fitted = [a for a in vars(start) if a.endswith("_") and not a.startswith("__")
              and a not in ("n_features_in_", "monitor_", "lower_bounds_", "n_trials_")]
    models = []
    for extra in kw.get("each", [{}]):
        model = entry.make(**variant, init_params="", **extra)
        for attr in fitted:
            setattr(model, attr, np.array(getattr(start, attr), copy=True))
        models.append(model)
    return models


def _params(name, model):
    return {p: np.asarray(getattr(model, p), np.float64) for p in HMM_REGISTRY[name].params}


def test_every_hmm_is_registered():
    assert set(fastem.hmm.__all__) == set(HMM_REGISTRY)
    for name, entry in HMM_REGISTRY.items():
        assert getattr(fastem.hmm, name) is entry.cls


@pytest.mark.parametrize("check", ["check_no_attributes_set_in_init",
                                   "check_parameters_default_constructible",
                                   "check_get_params_invariance", "check_set_params",
                                   "check_estimator_cloneable", "check_estimator_repr",
                                   "check_do_not_raise_errors_in_init_or_set_params"])
@pytest.mark.parametrize("name", HMM_NAMES)
def test_sklearn_api_checks(name, check):
    estimator = HMM_REGISTRY[name].make()
    getattr(estimator_checks, check)(name, estimator)


@pytest.mark.parametrize("name", HMM_NAMES)
def test_invalid_constructor_parameters_are_refused_at_fit(name):
    entry = HMM_REGISTRY[name]
    X, lengths = hmm_sequences(2, 20, 0, entry.kind)
    for kwargs, match in entry.bad_params:
        with pytest.raises((ValueError, TypeError), match=match):
            entry.make(**kwargs).fit(X, lengths)


@pytest.mark.parametrize("name", HMM_NAMES)
def test_bad_X_is_refused_naming_X(name):
    entry = HMM_REGISTRY[name]
    X, lengths = hmm_sequences(2, 20, 0, entry.kind)
    nan = X.astype(np.float64)
    nan[3, 0] = np.nan
    for bad, match in [(nan, "NaN"), (X[:, 0], "2-D|2D"), (X[None], "2-D|dim 3"),
                       (X[:0], "0 sample"), (np.array([["a"] * X.shape[1]] * 4), "X")]:
        with pytest.raises((ValueError, TypeError), match=match):
            entry.make().fit(bad)


@pytest.mark.parametrize("name, variant", CASES, ids=IDS)
def test_fit_is_finite_monotone_and_leaves_inputs_alone(name, variant):
    entry = HMM_REGISTRY[name]
    X, lengths = hmm_sequences(4, 30, 1, entry.kind)
    X_copy, lengths_copy = X.copy(), list(lengths)
    model = entry.make(**variant, n_iter=12, tol=0).fit(X, lengths)
    np.testing.assert_array_equal(X, X_copy)
    assert lengths == lengths_copy
    for value in _params(name, model).values():
        assert np.isfinite(value).all()
    lb = np.array(model.lower_bounds_)
    assert len(lb) == 12 and model.monitor_.iter == 12
    assert (np.diff(lb) >= -1e-9 * np.abs(lb[1:])).all(), np.diff(lb).min()
    # read-only, non-contiguous input: the same fit
    wide = np.repeat(X, 2, axis=1)[:, ::2]
    wide.setflags(write=False)
    again = entry.make(**variant, n_iter=12, tol=0).fit(wide, lengths)
    for p, value in _params(name, again).items():
        np.testing.assert_array_equal(value, _params(name, model)[p], err_msg=p)


@pytest.mark.parametrize("name", HMM_NAMES)
def test_one_thread_equals_two_threads_bit_for_bit(name):
    entry = HMM_REGISTRY[name]
    X, lengths = hmm_sequences(30, 15, 0, entry.kind)
    fits = [model.fit(X, lengths) for model in
            _started(name, entry.variants[-1], X, lengths, each=[{"n_jobs": 1},
                                                                 {"n_jobs": 2}])]
    for p, value in _params(name, fits[0]).items():
        np.testing.assert_array_equal(value, _params(name, fits[1])[p], err_msg=p)
    assert fits[0].lower_bounds_ == fits[1].lower_bounds_


@pytest.mark.parametrize("name", HMM_NAMES)
def test_pickle_and_clone(name):
    model, X, lengths = _fit(name, {})
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X, lengths), model.predict(X, lengths))
    assert restored.score(X, lengths) == model.score(X, lengths)
    fresh = clone(model)
    assert not hasattr(fresh, "startprob_")
    assert fresh.get_params() == model.get_params()


@pytest.mark.parametrize("name", HMM_NAMES)
def test_four_python_threads_fit_at_once_like_sequential(name):
    entry = HMM_REGISTRY[name]
    data = [hmm_sequences(4, 20, seed, entry.kind) for seed in range(4)]
    starts = [_started(name, {}, X, lengths, each=[{}, {}]) for X, lengths in data]
    sequential = [models[0].fit(X, lengths) for models, (X, lengths) in zip(starts, data)]
    results = [None] * 4

    def work(i):
        results[i] = starts[i][1].fit(*data[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seq, par in zip(sequential, results):
        for p, value in _params(name, seq).items():
            np.testing.assert_array_equal(_params(name, par)[p], value, err_msg=p)


@pytest.mark.parametrize("name", HMM_NAMES)
def test_not_fitted_and_feature_mismatch(name):
    from sklearn.exceptions import NotFittedError
    entry = HMM_REGISTRY[name]
    X, lengths = hmm_sequences(2, 20, 0, entry.kind)
    with pytest.raises(NotFittedError):
        entry.make().predict(X)
    model = entry.make().fit(X, lengths)
    if entry.kind != "categorical":
        with pytest.raises(ValueError, match="features"):
            model.predict(np.hstack([X, X]))
