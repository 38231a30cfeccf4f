"""fastem speaks scikit-learn's language.

Where fastem refuses an input that scikit-learn also refuses, its message
starts with scikit-learn's own words (fastem may add what it knows after
them), so code and tests written against scikit-learn's messages keep
working; invalid constructor parameters raise scikit-learn's
``InvalidParameterError``. DataFrame column names are recorded and checked
as scikit-learn does, and ``KMeans.transform`` supports
``get_feature_names_out`` and ``set_output``.
"""
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import sklearn.cluster
import sklearn.mixture
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import _check_sample_weight

import fastem
from registry import NAMES, PREDICTORS, REGISTRY

X = np.random.default_rng(0).normal(size=(6, 3))


def _with(X, i, j, v):
    X = X.copy()
    X[i, j] = v
    return X


def _fit(**kw):
    return lambda est: est.fit(X, **kw)


def _fit_on(data, **kw):
    return lambda est: est.fit(data, **kw)


def _predict(data):
    return lambda est: est.fit(X).predict(data)


# (id, constructor kwargs, action(estimator), where sklearn's comparable words end)
# ``cut``: sklearn lists option sets in set order (random across runs), and
# its weights range message swaps min and max (sklearn's bug); the words up
# to ``cut`` must still be sklearn's, verbatim.
DATA_CASES = [
    ("nan", {}, _fit_on(_with(X, 1, 0, np.nan)), None),
    ("+inf", {}, _fit_on(_with(X, 2, 1, np.inf)), None),
    ("-inf", {}, _fit_on(_with(X, 0, 0, -np.inf)), None),
    ("float32_inf", {}, _fit_on(_with(X, 0, 0, np.inf).astype(np.float32)), None),
    ("1d", {}, _fit_on(X[:, 0]), None),
    ("scalar", {}, _fit_on(np.float64(1.0)), None),
    ("3d", {}, _fit_on(X[None]), None),
    ("zero_features", {}, _fit_on(X[:, :0]), None),
    ("complex", {}, _fit_on(X.astype(complex)), None),
    ("predict_features", {}, _predict(X[:, :1]), None),
    ("predict_nan", {}, _predict(_with(X, 3, 2, np.nan)), None),
    ("predict_1d", {}, _predict(X[0]), None),
]

GMM_CASES = DATA_CASES + [
    ("sparse", {}, _fit_on(scipy.sparse.csr_matrix(X)), None),
    ("n_components=0", dict(n_components=0), _fit(), None),
    ("n_components=1.5", dict(n_components=1.5), _fit(), None),
    ("tol=-1", dict(tol=-1.0), _fit(), None),
    ("tol=str", dict(tol="a"), _fit(), None),
    ("reg_covar<0", dict(reg_covar=-1e-3), _fit(), None),
    ("reg_covar=nan", dict(reg_covar=np.nan), _fit(), None),
    ("max_iter=-1", dict(max_iter=-1), _fit(), None),
    ("max_iter=2.5", dict(max_iter=2.5), _fit(), None),
    ("n_init=0", dict(n_init=0), _fit(), None),
    ("covariance_type", dict(covariance_type="banana"), _fit(), " among"),
    ("init_params", dict(init_params="nope"), _fit(), " among"),
    ("random_state=str", dict(random_state="abc"), _fit(), None),
    ("random_state=-1", dict(random_state=-1), _fit(), None),
    ("random_state=1.5", dict(random_state=1.5), _fit(), None),
    ("weights_init_len", dict(weights_init=np.full(3, 1 / 3)), _fit(), None),
    ("weights_init_2d", dict(weights_init=np.full((2, 1), 0.5)), _fit(), None),
    ("weights_init_sum", dict(weights_init=[0.9, 0.9]), _fit(), None),
    ("weights_init_range", dict(weights_init=[-0.5, 1.5]), _fit(), " but got"),
    ("weights_init_nan", dict(weights_init=[np.nan, 0.5]), _fit(), None),
    ("means_init_features", dict(means_init=np.zeros((2, 4))), _fit(), None),
    ("means_init_components", dict(means_init=np.zeros((3, 3))), _fit(), None),
    ("means_init_inf", dict(means_init=np.full((2, 3), np.inf)), _fit(), None),
    ("precisions_full_shape", dict(precisions_init=np.stack([np.eye(3)] * 3)), _fit(),
     None),
    ("precisions_spherical_shape", dict(covariance_type="spherical",
                                        precisions_init=np.ones(3)), _fit(), None),
    ("precisions_tied_shape", dict(covariance_type="tied",
                                   precisions_init=np.eye(2)), _fit(), None),
    ("precisions_full_negative", dict(precisions_init=-np.stack([np.eye(3)] * 2)),
     _fit(), None),
    ("precisions_full_asymmetric", dict(
        precisions_init=np.stack([np.triu(np.ones((3, 3)))] * 2)), _fit(), None),
    ("precisions_tied_zero", dict(covariance_type="tied",
                                  precisions_init=np.zeros((3, 3))), _fit(), None),
    ("precisions_diag_zero", dict(covariance_type="diag",
                                  precisions_init=np.zeros((2, 3))), _fit(), None),
    ("precisions_spherical_negative", dict(covariance_type="spherical",
                                           precisions_init=-np.ones(2)), _fit(), None),
]

KMEANS_CASES = DATA_CASES + [
    ("empty", {}, _fit_on(X[:0]), None),
    ("transform_features", {}, lambda est: est.fit(X).transform(X[:, :2]), None),
    ("n_clusters=0", dict(n_clusters=0), _fit(), None),
    ("n_clusters=2.0", dict(n_clusters=2.0), _fit(), None),
    ("tol=-1", dict(tol=-1.0), _fit(), None),
    ("max_iter=0", dict(max_iter=0), _fit(), None),
    ("algorithm", dict(algorithm="fast"), _fit(), " among"),
    ("random_state=str", dict(random_state="abc"), _fit(), None),
    ("w_short", {}, _fit(sample_weight=np.ones(5)), None),
    ("w_long", {}, _fit(sample_weight=np.ones(7)), None),
    ("w_2d", {}, _fit(sample_weight=np.ones((6, 1))), None),
    ("w_nan", {}, _fit(sample_weight=np.r_[1.0, np.nan, np.ones(4)]), None),
    ("w_inf", {}, _fit(sample_weight=np.full(6, np.inf)), None),
    ("w_zero", {}, _fit(sample_weight=np.zeros(6)), None),
    ("w_scalar_zero", {}, _fit(sample_weight=0.0), None),
]


def _message(make, action):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((ValueError, TypeError)) as info:
            action(make())
    return str(info.value)


def _sklearn_words(message, cut):
    """sklearn's message up to its first line break (after it sklearn prints
    the data itself), or up to ``cut``."""
    words = message.split("\n")[0]
    if cut is not None:
        words = words[:words.index(cut) + len(cut)]
    return words


def _assert_starts_with_sklearn(ours, theirs, cut):
    words = _sklearn_words(theirs, cut)
    assert len(words) > 10, theirs
    assert ours.startswith(words), f"\nsklearn: {theirs!r}\nfastem:  {ours!r}"


@pytest.mark.parametrize("case, kwargs, action, cut", GMM_CASES,
                         ids=[c[0] for c in GMM_CASES])
def test_gaussian_mixture_refusals_start_with_sklearns_words(case, kwargs, action, cut):
    kw = {"n_components": 2, "random_state": 0, **kwargs}
    theirs = _message(lambda: sklearn.mixture.GaussianMixture(**kw), action)
    ours = _message(lambda: fastem.GaussianMixture(**kw), action)
    _assert_starts_with_sklearn(ours, theirs, cut)


@pytest.mark.parametrize("case, kwargs, action, cut", KMEANS_CASES,
                         ids=[c[0] for c in KMEANS_CASES])
def test_kmeans_refusals_start_with_sklearns_words(case, kwargs, action, cut):
    kw = {"n_clusters": 2, "random_state": 0, "n_init": 1, **kwargs}
    theirs = _message(lambda: sklearn.cluster.KMeans(**kw), action)
    ours = _message(lambda: fastem.KMeans(**kw), action)
    _assert_starts_with_sklearn(ours, theirs, cut)


def test_negative_sample_weight_starts_with_sklearns_words():
    # sklearn's KMeans accepts negative weights; its weight check refuses them so
    w = np.r_[1.0, -1.0, np.ones(4)]
    with pytest.raises(ValueError) as theirs:
        _check_sample_weight(w, X, ensure_non_negative=True)
    ours = _message(lambda: fastem.KMeans(2), _fit(sample_weight=w))
    _assert_starts_with_sklearn(ours, str(theirs.value), None)
    assert "index 1" in ours  # and fastem says where


@pytest.mark.parametrize("est", [fastem.GaussianMixture(n_components=0),
                                 fastem.GaussianMixture(tol="a"),
                                 fastem.GaussianMixture(covariance_type="x"),
                                 fastem.GaussianMixture(random_state="x"),
                                 fastem.KMeans(n_clusters=1.5),
                                 fastem.KMeans(algorithm="x"),
                                 fastem.PoissonMixture(n_components=0),
                                 fastem.BernoulliMixture(init_params="x")],
                         ids=lambda e: str(e))
def test_invalid_parameters_raise_sklearns_invalid_parameter_error(est):
    with pytest.raises(InvalidParameterError,
                       match=rf"^The '\w+' parameter of {type(est).__name__} must be "):
        est.fit(np.abs(np.round(X)).clip(0, 1))  # valid data for every estimator


# ------------------------------------------------------------ feature names
def _frame(entry, **kw):
    X = entry.make_X(**kw)
    return pd.DataFrame(X, columns=[f"col{i}" for i in range(X.shape[1])])


def _sklearn_twin(name):
    return {"GaussianMixture": sklearn.mixture.GaussianMixture(3, random_state=0),
            "KMeans": sklearn.cluster.KMeans(3, random_state=0, n_init=1)}.get(name)


def _caught(call):
    """(warning messages, error message or None) of ``call()``."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            call()
            error = None
        except ValueError as exc:
            error = str(exc)
    return [str(w.message) for w in record if issubclass(w.category, UserWarning)], error


@pytest.mark.parametrize("name", PREDICTORS)
def test_feature_names_are_recorded_checked_and_reset_as_in_sklearn(name):
    entry = REGISTRY[name]
    df = _frame(entry)
    est = entry.make().fit(df)
    np.testing.assert_array_equal(est.feature_names_in_, df.columns.to_numpy(object))
    twin = _sklearn_twin(name)
    if twin is not None:
        twin.fit(df)
    renamed = df.rename(columns={"col0": "other"})
    swapped = df[df.columns[::-1]]
    plain = df.to_numpy()
    for data in (plain, renamed, swapped):  # a warning, then two errors
        ours = _caught(lambda: est.predict(data))
        expected_kinds = (data is plain, data is not plain)
        assert (bool(ours[0]), ours[1] is not None) == expected_kinds, ours
        if twin is not None:  # the same warning or error, word for word
            assert ours == _caught(lambda: twin.predict(data))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same names: no warning at all
        est.predict(df)
    est.fit(plain)  # fitted without names: the stale names go
    assert not hasattr(est, "feature_names_in_")
    ours = _caught(lambda: est.predict(df))
    assert ours[0] == [f"X has feature names, but {name} was fitted without feature names"]


def test_partial_fit_records_feature_names_on_the_first_batch():
    df = _frame(REGISTRY["GaussianMixture"])
    g = fastem.GaussianMixture(3, random_state=0).partial_fit(df[:45])
    g.partial_fit(df[45:])
    assert list(g.feature_names_in_) == list(df.columns)
    assert _caught(lambda: g.partial_fit(df[45:].to_numpy()))[0]


def test_kmeans_feature_names_out_and_pandas_output_as_in_sklearn():
    df = _frame(REGISTRY["KMeans"])
    ours = fastem.KMeans(3, random_state=0, n_init=1).fit(df)
    theirs = sklearn.cluster.KMeans(3, random_state=0, n_init=1).fit(df)
    np.testing.assert_array_equal(ours.get_feature_names_out(),
                                  theirs.get_feature_names_out())
    assert list(ours.get_feature_names_out()) == ["kmeans0", "kmeans1", "kmeans2"]
    out = ours.set_output(transform="pandas").transform(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["kmeans0", "kmeans1", "kmeans2"]
    assert out.index.equals(df.index)
    np.testing.assert_allclose(out.to_numpy(), ours.set_output(transform="default")
                               .transform(df))
    fitted = fastem.KMeans(3, random_state=0, n_init=1).set_output(transform="pandas")
    assert isinstance(fitted.fit_transform(df), pd.DataFrame)
    with pytest.raises(sklearn.exceptions.NotFittedError):
        fastem.KMeans(3).get_feature_names_out()
