"""Reliability battery: every public estimator (see ``tests/registry.py``) against
scikit-learn's estimator checks, bad input, degenerate data, concurrency,
property tests and 64-bit index arithmetic.

Counts reported in the README come from ``BAD_INPUT_CASES`` (built below) and
``HYPOTHESIS_EXAMPLES``.
"""
import pickle
import threading
import warnings

import numpy as np
import pytest
from numba import njit
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastem
from fastem._threads import region_threads
from registry import NAMES, PREDICTORS, REGISTRY, gaussian_blobs, ignore_component_labels

COV_TYPES = ["full", "tied", "diag", "spherical"]
HYPOTHESIS_EXAMPLES = 30  # per property and estimator
THREAD_EXAMPLES = 15  # the 1-vs-2-thread property fits 4200 rows twice
PROPERTY = settings(max_examples=HYPOTHESIS_EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def quiet_fit(est, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, **kw)


def finite_params(entry, est):
    return all(np.isfinite(v).all() for v in entry.params_of(est).values())


# ===================================================================
# The registry covers the public API
# ===================================================================
def test_every_public_estimator_is_registered():
    public = {n for n in fastem.__all__ if isinstance(getattr(fastem, n), type)}
    assert public == set(REGISTRY), (
        f"register these estimators in tests/registry.py: {public - set(REGISTRY)}; "
        f"stale entries: {set(REGISTRY) - public}")
    for name, entry in REGISTRY.items():
        assert getattr(fastem, name) is entry.cls


# ===================================================================
# scikit-learn's estimator checks
# ===================================================================
def _expected_failed(est):
    return REGISTRY[type(est).__name__].expected_failed_checks


@parametrize_with_checks([REGISTRY[n].make_for_checks() for n in NAMES],
                         expected_failed_checks=_expected_failed)
def test_sklearn_estimator_checks(estimator, check, monkeypatch):
    ignore_component_labels(monkeypatch, type(estimator))
    check(estimator)


# ===================================================================
# Bad input: a clear ValueError/TypeError naming the argument; arrays unchanged
# ===================================================================
def _x_cases(X, accepts_sparse=False):
    """(id, bad X, exception types, regex the message must match)."""
    nan = X.copy()
    nan[1, 0] = np.nan
    pinf = X.copy()
    pinf[2, 1] = np.inf
    ninf = X.copy()
    ninf[0, 0] = -np.inf
    strs = np.array([["a"] * X.shape[1]] * 4)
    obj = X.astype(object)
    obj[0, 0] = "x"
    obj_dict = X.astype(object)
    obj_dict[0, 0] = {"a": 1}
    VE, TE = (ValueError,), (TypeError,)
    return [
        ("nan", nan, VE, r"Input X contains NaN.*at row 1, column 0"),
        ("+inf", pinf, VE, r"Input X contains infinity.*NaN or infinity in X is at row 2"),
        ("-inf", ninf, VE, r"Input X contains infinity.*NaN or infinity in X is at row 0"),
        ("empty", X[:0], VE, r"Found array with 0 sample.*X has 0 sample"),
        ("one_row", X[:1], VE, r"X has 1 sample|needs at least|n_samples=1"),
        ("zero_features", X[:, :0], VE, r"Found array with 0 feature.*X has 0 feature"),
        ("1d", X[:, 0].copy(), VE, r"(?s)Expected 2D array.*X must be 2-D.*Reshape"),
        ("3d", X[None], VE, r"Found array with dim 3.*X must be 2-D"),
        ("scalar", np.float64(1.0), VE, r"Expected 2D array.*X must be 2-D"),
        ("str_dtype", strs, TE, r"X must hold real numbers"),
        ("object_str", obj, TE, r"X must hold real numbers"),
        ("object_dict", obj_dict, TE, r"X must hold real numbers"),
        ("complex", X.astype(complex), VE, r"Complex data not supported: X holds complex"),
        ("ragged_list", [[1.0, 2.0], [1.0]], VE + TE, r"X "),
        ("sparse", __import__("scipy.sparse").sparse.csr_matrix(X), TE,
         r"Sparse data was passed for X.*X is a sparse") if not accepts_sparse else
        ("sparse", __import__("scipy.sparse").sparse.csr_matrix(nan), VE,
         r"Input X contains NaN.*at row 1, column 0"),
    ]


def _weight_cases(n):
    w_nan = np.ones(n)
    w_nan[3] = np.nan
    w_neg = np.ones(n)
    w_neg[2] = -1.0
    return [
        ("w_short", np.ones(n - 1), r"sample_weight.shape == .*sample_weight must have shape"),
        ("w_long", np.ones(n + 1), r"sample_weight.shape == .*sample_weight must have shape"),
        ("w_2d", np.ones((n, 1)), r"must be 1D array or scalar.*sample_weight must have shape"),
        ("w_negative", w_neg, r"Negative values in data passed to `sample_weight`.*must be non-negative"),
        ("w_nan", w_nan, r"Input sample_weight contains NaN.*at index 3"),
        ("w_inf", np.full(n, np.inf), r"Input sample_weight contains infinity"),
        ("w_all_zero", np.zeros(n), r"at least one non-zero.*zero for every sample"),
        ("w_scalar_zero", 0.0, r"at least one non-zero.*zero for every sample"),
        ("w_str", np.array(["a"] * n), r"sample_weight must hold real numbers"),
    ]


BAD_INPUT_CASES = []  # (estimator name, case id) — filled below, counted in README
for _name in NAMES:
    _e = REGISTRY[_name]
    _X = _e.make_X()
    BAD_INPUT_CASES += [(_name, "X:" + c[0]) for c in _x_cases(_X, _e.accepts_sparse)]
    BAD_INPUT_CASES += [(_name, "fit:" + c[0]) for c in _weight_cases(len(_X))]
    BAD_INPUT_CASES += [(_name, f"param:{i}") for i in range(len(_e.bad_params))]
    BAD_INPUT_CASES += [(_name, f"init:{i}") for i in range(len(_e.bad_inits))]
    BAD_INPUT_CASES += [(_name, c) for c in (
        "fewer_rows_than_components", "predict_feature_mismatch",
        "predict_before_fit", "predict_nan")]


def _snapshot(obj):
    if isinstance(obj, np.ndarray):
        return obj.copy()
    return obj


def _unchanged(before, after):
    if isinstance(before, np.ndarray):
        if before.dtype.kind not in "biufc":
            return all(a is b or a == b for a, b in zip(before.ravel(), after.ravel()))
        return np.array_equal(before, after, equal_nan=True)
    return True


@pytest.mark.parametrize("name", PREDICTORS)
def test_bad_X_is_refused_cleanly(name):
    entry = REGISTRY[name]
    X = entry.make_X()
    for case, bad, exc, match in _x_cases(X, entry.accepts_sparse):
        before = _snapshot(bad)
        with pytest.raises(exc, match=match):
            entry.make().fit(bad)
        assert _unchanged(before, bad), case
        # the same checks at predict time, on a fitted estimator
        fitted = quiet_fit(entry.make(), X)
        if case in ("one_row",):
            continue
        with pytest.raises(exc, match=match):
            fitted.predict(bad)


@pytest.mark.parametrize("name", NAMES)
def test_bad_sample_weight_is_refused_cleanly(name):
    entry = REGISTRY[name]
    X = entry.make_X()
    X0 = X.copy()
    for case, w, match in _weight_cases(len(X)):
        w0 = _snapshot(w)
        with pytest.raises((ValueError, TypeError), match=match):
            entry.make().fit(X, sample_weight=w)
        assert _unchanged(w0, w), case
        assert np.array_equal(X, X0)


@pytest.mark.parametrize("name", NAMES)
def test_invalid_constructor_parameters_are_refused_at_fit(name):
    entry = REGISTRY[name]
    X = entry.make_X()
    for kwargs, match in entry.bad_params:
        est = entry.make(**kwargs)  # constructing never validates (as scikit-learn)
        with pytest.raises((ValueError, TypeError), match=match):
            est.fit(X)


@pytest.mark.parametrize("name", NAMES)
def test_invalid_initial_parameters_are_refused(name):
    entry = REGISTRY[name]
    X = entry.make_X()
    k = entry.kwargs[entry.k_param]
    for make_kwargs, match in entry.bad_inits:
        kwargs = make_kwargs(X, k)
        before = {key: _snapshot(v) for key, v in kwargs.items()}
        with pytest.raises((ValueError, TypeError), match=match):
            entry.make(**kwargs).fit(X)
        for key, v in kwargs.items():
            assert _unchanged(before[key], v), key


@pytest.mark.parametrize("name", PREDICTORS)
def test_shape_errors_and_not_fitted(name):
    entry = REGISTRY[name]
    X = entry.make_X()
    k = entry.kwargs[entry.k_param]
    with pytest.raises(ValueError, match=rf"{k}|n_samples|needs at least"):
        entry.make().fit(X[: k - 1])
    methods = ["predict", "score"] + (["predict_proba", "score_samples"]
                                      if entry.is_mixture else ["transform"])
    for m in methods:
        with pytest.raises(NotFittedError):
            getattr(entry.make(), m)(X)
    if entry.is_mixture:  # a warm start on data of another width
        warm = quiet_fit(entry.make(warm_start=True), X)
        with pytest.raises(ValueError, match=rf"X has {X.shape[1] - 1} features, but "
                                             rf"{name} is expecting {X.shape[1]}"):
            warm.fit(X[:, :-1])
    fitted = quiet_fit(entry.make(), X)
    extra = np.hstack([X, X[:, :1]])
    for m in methods:
        with pytest.raises(ValueError,
                           match=rf"X has {X.shape[1] + 1} features, but {name} is "
                                 rf"expecting {X.shape[1]} features"):
            getattr(fitted, m)(extra)
        bad = X.copy()
        bad[0, 0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            getattr(fitted, m)(bad)


def _machine_code_count():
    """Specializations compiled or loaded in this process, every kernel."""
    import importlib
    import pkgutil
    import fastem.kernels
    count = 0
    for info in pkgutil.iter_modules(fastem.kernels.__path__):
        module = importlib.import_module(f"fastem.kernels.{info.name}")
        count += sum(len(getattr(v, "overloads", ())) for v in vars(module).values()
                     if hasattr(v, "typeof_pyval"))
    return count


@pytest.mark.parametrize("name", PREDICTORS)
def test_non_contiguous_and_read_only_inputs_work(name):
    entry = REGISTRY[name]
    X = entry.make_X()
    ref = quiet_fit(entry.make(), X)
    ref_labels = ref.predict(X)
    compiled = _machine_code_count()
    wide = np.zeros((X.shape[0] * 2, X.shape[1] * 2), dtype=X.dtype)
    wide[::2, ::2] = X
    fortran = np.asfortranarray(X)
    ro = X.copy()
    ro.setflags(write=False)
    w_ro = np.ones(X.shape[0])
    w_ro.setflags(write=False)
    for variant in (wide[::2, ::2], fortran, ro, X.tolist()):
        fit = quiet_fit(entry.make(), variant, sample_weight=w_ro)
        np.testing.assert_array_equal(fit.predict(variant), ref_labels)
        for key, v in entry.params_of(fit).items():
            np.testing.assert_allclose(v, entry.params_of(ref)[key], rtol=1e-12,
                                       atol=1e-12, err_msg=key)
    # a fitted model whose arrays are read-only (as joblib loads them) predicts
    for value in vars(ref).values():
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    np.testing.assert_array_equal(ref.predict(ro), ref_labels)
    # read-only arrays run the machine code of writable ones: nothing compiled
    assert _machine_code_count() == compiled


# ===================================================================
# Degenerate data
# ===================================================================
def _constant_feature(X):
    X = X.copy()
    X[:, 1] = X[0, 1] + (2.5 if np.abs(X).max() > 0 and (X != np.round(X)).any() else 0)
    return X


def _identical_rows(X):
    return np.repeat(X[:1], len(X), axis=0)


def _few_distinct(X):  # 2 distinct points for 3 components
    return np.repeat(X[:2], len(X) // 2, axis=0)


DEGENERATE = {"constant_feature": _constant_feature, "identical_rows": _identical_rows,
              "fewer_distinct_than_components": _few_distinct}


@pytest.mark.parametrize("how", sorted(DEGENERATE))
@pytest.mark.parametrize("name", PREDICTORS)
def test_degenerate_data_fits_finite_with_defaults(name, how):
    """With default parameters every estimator fits degenerate data with
    finite parameters (GaussianMixture thanks to ``reg_covar=1e-6``)."""
    entry = REGISTRY[name]
    X = DEGENERATE[how](entry.make_X())
    est = quiet_fit(entry.make(), X)
    assert finite_params(entry, est)
    labels = est.predict(X)
    assert labels.min() >= 0 and labels.max() < entry.kwargs[entry.k_param]
    if entry.is_mixture:
        assert np.isfinite(est.lower_bounds_).all()
        assert np.isfinite(est.predict_proba(X)).all()
        assert np.isfinite(est.score_samples(X)).all()


@pytest.mark.parametrize("how", sorted(DEGENERATE))
def test_gaussian_collapse_is_the_same_clear_error_for_every_covariance_type(how):
    X = DEGENERATE[how](gaussian_blobs())
    messages = {}
    for ct in _singular_types(how):
        with pytest.raises(ValueError) as info:
            quiet_fit(fastem.GaussianMixture(3, covariance_type=ct, reg_covar=0,
                                             random_state=0), X)
        msg = str(info.value)
        where = r"the shared \(tied\) covariance" if ct == "tied" else r"component \d"
        assert __import__("re").search(rf"{where} collapsed", msg), msg
        assert "reg_covar" in msg and "fewer components" in msg, msg
        if how == "constant_feature":
            assert "feature 1 is constant in X" in msg, msg
        else:
            assert "on_collapse='reseed'" in msg or "constant" in msg, msg
        messages[ct] = _collapse_content(info.value)
    # the same content whatever the covariance type: exception type, feature,
    # diagnosis and remedies; the same component for the per-component types
    for part in ("type", "diagnosis", "remedy"):
        assert len({m[part] for m in messages.values()}) == 1, (part, messages)
    if how != "constant_feature":
        return  # every feature or component is degenerate: round-off picks which is named
    # a spherical variance is the mean over the features: it names none
    assert len({m["feature"] for m in messages.values() if m["feature"]}) == 1, messages
    assert len({m["who"] for ct, m in messages.items() if ct != "tied"}) == 1, messages


def _singular_types(how):
    """Covariance types whose covariance the degenerate data ``how`` makes
    singular at ``reg_covar=0``: a constant feature does not make a spherical
    covariance (the mean of the variances) singular, as in scikit-learn."""
    return [ct for ct in COV_TYPES if how != "constant_feature" or ct != "spherical"]


def test_spherical_fits_a_constant_feature_from_every_data_source():
    da = pytest.importorskip("dask.array")
    X = _constant_feature(gaussian_blobs(n=300))

    def gmm(**kw):
        return fastem.GaussianMixture(3, covariance_type="spherical", reg_covar=0,
                                      random_state=0, **kw)
    for g in (quiet_fit(gmm(), X), quiet_fit(gmm(chunk_size=100), X),
              quiet_fit(gmm(), da.from_array(X, chunks=100)),
              gmm().partial_fit(X[:150]).partial_fit(X[150:])):
        assert finite_params(REGISTRY["GaussianMixture"], g)
        assert np.isfinite(g.score_samples(X)).all()


def _collapse_content(exc):
    """The parts of a collapse message that must not depend on the covariance
    type (the threshold and the variance found are left out)."""
    import re
    msg = str(exc)
    parts = dict(type=type(exc),
                 who=re.search(r"(component \d+|the shared \(tied\) covariance) collapsed",
                               msg),
                 feature=re.search(r"along feature (\d+)", msg),
                 # the kind of diagnosis (the feature is compared separately)
                 diagnosis=re.search(r"is constant in X|it sits on too few distinct "
                                     r"points[^.;]*", msg),
                 remedy=re.search(r"Increase reg_covar.*$", msg))
    for key, found in parts.items():
        # a spherical variance is a mean over the features: no feature to name
        if not (key == "feature" and "(spherical covariance)" in msg):
            assert found is not None, (key, msg)
    return {key: v if key == "type" or v is None else v.group(0)
            for key, v in parts.items()}


def test_collapse_threshold_is_relative_to_each_feature_scale():
    """A component of variance 1e-10 on a feature of scale 1e-8 is healthy;
    a feature spread at 1e8 does not hide a collapsed component of another."""
    rng = np.random.default_rng(3)
    X = gaussian_blobs(n=120, seed=3) * np.array([1e-8, 1.0, 1e8])
    for ct in COV_TYPES:
        g = quiet_fit(fastem.GaussianMixture(3, covariance_type=ct, reg_covar=0,
                                             random_state=0), X)
        assert finite_params(REGISTRY["GaussianMixture"], g)
    X2 = np.vstack([rng.standard_normal((60, 2)) * [1e8, 1.0],
                    np.tile([[3e8, 5.0]], (30, 1))])  # 30 copies of one point
    for ct in ("full", "diag", "spherical"):
        with pytest.raises(ValueError, match="collapsed"):
            quiet_fit(fastem.GaussianMixture(
                2, covariance_type=ct, reg_covar=0, random_state=0,
                means_init=[[0, 0], [3e8, 5]], weights_init=[0.5, 0.5]), X2)


@pytest.mark.parametrize("ct", COV_TYPES)
def test_component_losing_all_mass_mid_fit(ct):
    X = gaussian_blobs(n=90, d=2, k=2, seed=4)
    far = X.mean(0) + 1e4  # a third component nobody belongs to
    init = dict(means_init=np.vstack([X[:2], far]), weights_init=[0.4, 0.4, 0.2])
    g = quiet_fit(fastem.GaussianMixture(3, covariance_type=ct, max_iter=20, **init), X)
    assert finite_params(REGISTRY["GaussianMixture"], g)
    assert g.weights_[2] < 1e-10
    if ct != "tied":  # a tied covariance is shared: the empty component keeps it
        with pytest.raises(ValueError, match=r"component 2 collapsed.*on_collapse"):
            quiet_fit(fastem.GaussianMixture(3, covariance_type=ct, reg_covar=0,
                                             max_iter=20, **init), X)
    g = quiet_fit(fastem.GaussianMixture(3, covariance_type=ct, reg_covar=0,
                                         max_iter=20, on_collapse="reseed", **init), X)
    assert finite_params(REGISTRY["GaussianMixture"], g)
    if ct == "tied":  # nothing collapsed: the shared covariance stays well defined
        assert g.n_reseeds_ == 0
    else:
        assert g.n_reseeds_ >= 1
        assert np.all(g.weights_ > 1e-3), g.weights_  # re-seeded into the data


@pytest.mark.parametrize("ct", COV_TYPES)
def test_reseed_on_duplicated_points(ct):
    rng = np.random.default_rng(5)
    X = np.vstack([np.repeat(rng.normal(size=(1, 2)) * 5, 20, axis=0),
                   rng.standard_normal((80, 2)) * [1.0, 2.0] + 10])
    g = quiet_fit(fastem.GaussianMixture(3, covariance_type=ct, reg_covar=0,
                                         on_collapse="reseed", random_state=0,
                                         max_iter=15), X)
    assert finite_params(REGISTRY["GaussianMixture"], g)
    assert np.isfinite(g.score_samples(X)).all()


@pytest.mark.parametrize("ct", COV_TYPES)
def test_collapse_is_the_same_for_every_data_source(ct):
    da = pytest.importorskip("dask.array")
    X = _constant_feature(gaussian_blobs(n=300))

    def gmm(**kw):
        return fastem.GaussianMixture(3, covariance_type=ct, reg_covar=0,
                                      random_state=0, **kw)
    fits = {"memory": lambda: gmm().fit(X), "chunks": lambda: gmm(chunk_size=100).fit(X),
            "dask": lambda: gmm().fit(da.from_array(X, chunks=100)),
            "partial_fit": lambda: gmm().partial_fit(X[:150]).partial_fit(X[150:])}
    for source, fit in fits.items():
        if ct not in _singular_types("constant_feature"):
            continue  # spherical fits it (see the test above)
        with pytest.raises(ValueError, match=r"collapsed.*feature 1 is constant in X.*"
                                             r"reg_covar"):
            fit()
    # a batch that makes the third component collapse (nobody belongs to it):
    # with 'raise' it is refused, with 'reseed' partial_fit re-seeds it
    X2 = gaussian_blobs(n=300, d=2, k=2, seed=4)
    init = dict(means_init=np.vstack([X2[:2], X2.mean(0) + 1e4]),
                weights_init=[0.4, 0.4, 0.2])
    if ct != "tied":  # a shared covariance stays well defined: nothing collapses
        with pytest.raises(ValueError, match=r"component 2 collapsed"):
            gmm(**init).partial_fit(X2[:50])
    g = gmm(on_collapse="reseed", **init)
    for i in range(6):
        g.partial_fit(X2[i * 50:(i + 1) * 50])
    assert finite_params(REGISTRY["GaussianMixture"], g)
    if ct == "tied":
        assert g.n_reseeds_ == 0
    else:
        assert g.n_reseeds_ >= 1
        assert np.all(g.weights_ > 1e-3), g.weights_  # re-seeded into the data


@pytest.mark.parametrize("ct", _singular_types("constant_feature"))
def test_reseed_cannot_cure_a_constant_feature(ct):
    X = _constant_feature(gaussian_blobs())
    with pytest.raises(ValueError, match="feature 1 is constant in X"):
        quiet_fit(fastem.GaussianMixture(3, covariance_type=ct, reg_covar=0,
                                         on_collapse="reseed", random_state=0), X)


@pytest.mark.parametrize("exponent", [498, -498])  # 2**±498 ~ 1e±150, exact scaling
@pytest.mark.parametrize("name", [n for n in PREDICTORS if REGISTRY[n].continuous])
def test_huge_and_tiny_scales(name, exponent):
    entry = REGISTRY[name]
    X = entry.make_X()
    gaussian = name in ("GaussianMixture", "BayesianGaussianMixture")
    kw = dict(reg_covar=0) if "reg_covar" in entry.make().get_params() else {}
    cts = COV_TYPES if gaussian else [None]
    for ct in cts:
        extra = dict(kw, covariance_type=ct) if ct else kw
        ref = quiet_fit(entry.make(**extra), X)
        scaled = quiet_fit(entry.make(**extra), X * 2.0 ** exponent)
        assert finite_params(entry, scaled)
        np.testing.assert_array_equal(scaled.predict(X * 2.0 ** exponent), ref.predict(X))
        if hasattr(ref, "means_"):
            np.testing.assert_allclose(scaled.means_ * 2.0 ** -exponent, ref.means_,
                                       rtol=1e-9, atol=1e-12)
        else:
            np.testing.assert_allclose(scaled.cluster_centers_ * 2.0 ** -exponent,
                                       ref.cluster_centers_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("ct", COV_TYPES)
def test_float32_gaussian_out_of_float32_range_is_refused_not_inf(ct):
    X = gaussian_blobs()
    for exponent in (27, -27):  # ~1e±8: fine in float32
        g = quiet_fit(fastem.GaussianMixture(3, covariance_type=ct, reg_covar=0,
                                             random_state=0),
                      (X * 2.0 ** exponent).astype(np.float32))
        assert finite_params(REGISTRY["GaussianMixture"], g)
        assert g.means_.dtype == np.float32
    for scale in (1e20, 1e-20, 1e-25):  # squares or precisions overflow float32
        with pytest.raises(ValueError, match=r"float32.*feature 0.*X.astype\(np.float64\)"):
            fastem.GaussianMixture(3, covariance_type=ct, reg_covar=0,
                                   random_state=0).fit((X * scale).astype(np.float32))
        g = quiet_fit(fastem.GaussianMixture(3, covariance_type=ct, reg_covar=0,
                                             random_state=0), X * scale)
        assert finite_params(REGISTRY["GaussianMixture"], g)  # float64 copes


@pytest.mark.parametrize("ct", COV_TYPES)
def test_float64_gaussian_out_of_float64_range_is_refused_not_inf(ct):
    X = gaussian_blobs()
    for scale in (1e200, 1e300, 1e-200, 1e-310):  # squares overflow / underflow
        for reg in (0.0, 1e-6):
            with pytest.raises(ValueError, match=r"float64.*feature 0.*Rescale X"):
                fastem.GaussianMixture(3, covariance_type=ct, reg_covar=reg,
                                       random_state=0).fit(X * scale)


def test_kmeans_empty_cluster_gets_a_point_and_labels_are_fresh():
    X = gaussian_blobs(n=90, d=2, k=3, seed=6)
    init = np.vstack([X[:2], X.mean(0) + 1e6])  # the third center starts empty
    km = quiet_fit(fastem.KMeans(3, init=init, n_init=1, n_jobs=1), X)
    assert np.isfinite(km.cluster_centers_).all()
    assert set(np.unique(km.labels_)) == {0, 1, 2}
    np.testing.assert_array_equal(km.labels_, km.predict(X))
    d = ((X[:, None, :] - km.cluster_centers_[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(km.labels_, d.argmin(1))


@pytest.mark.parametrize("chunk_size", [None, 7])
def test_kmeans_zero_weight_rows_never_fill_an_empty_cluster(chunk_size):
    """Found by the integer-weights property: an empty cluster took the
    farthest row even when its weight was 0, so it stayed empty with a stale
    duplicate center (scikit-learn does the same). Zero weight == dropped row."""
    X = REGISTRY["KMeans"].make_X(n=30, d=1, k=3, seed=267)
    reps = np.random.default_rng(267).integers(0, 4, 30)
    reps[:3] = np.maximum(reps[:3], 1)
    init = X[[0, 14, 29]]  # row 29 has weight 0: its cluster starts empty
    assert reps[29] == 0
    kw = dict(init=init, n_init=1, tol=0, max_iter=8, n_jobs=1, chunk_size=chunk_size)
    a = fastem.KMeans(3, **kw).fit(X, sample_weight=reps)
    b = fastem.KMeans(3, **kw).fit(np.repeat(X, reps, axis=0))
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-12)
    assert len(np.unique(a.cluster_centers_)) == 3
    assert set(np.unique(a.labels_[reps > 0])) == {0, 1, 2}


# ===================================================================
# Concurrency: 4 Python threads, Dask's threaded scheduler
# ===================================================================
def _big(entry, seed=0):
    return entry.make_X(n=4200, seed=seed)  # > 2 blocks: the parallel kernels run


@pytest.mark.parametrize("name", NAMES)
def test_four_python_threads_fit_at_once_like_sequential(name):
    entry = REGISTRY[name]
    data = [_big(entry, seed) for seed in range(4)]
    seq = [entry.params_of(quiet_fit(entry.make(n_jobs=2, max_iter=10), X))
           for X in data]
    out, errors = [None] * 4, []

    def work(i):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                out[i] = entry.params_of(entry.make(n_jobs=2, max_iter=10).fit(data[i]))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for a, b in zip(seq, out):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


_MIXED_THREADS_SCRIPT = r"""
import sys, threading, warnings
import numpy as np
sys.path.insert(0, {tests!r})
from registry import PREDICTORS as NAMES, REGISTRY
warnings.simplefilter("ignore")

def work(name, seed):
    e = REGISTRY[name]
    X = e.make_X(n=4200, seed=seed)
    m = e.make(n_jobs=2, max_iter=8).fit(X)
    out = [m.predict(X), np.atleast_1d(m.score(X))]
    out.append(m.predict_proba(X) if e.is_mixture else m.transform(X))
    return [v for v in e.params_of(m).values()] + out

jobs = [(n, s) for s in range(2) for n in NAMES]
seq = [work(*j) for j in jobs]
par = [None] * len(jobs)
def run(i):
    par[i] = work(*jobs[i])
for _ in range(2):
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b, j in zip(seq, par, jobs):
        for x, y in zip(a, b):
            assert np.array_equal(x, y), j
from numba.np.ufunc import parallel
print("ok", len(jobs), "numba-pool-started" if parallel._is_initialized else "no-numba-pool")
"""


def test_mixed_estimators_in_many_threads_give_sequential_results():
    """Every estimator fits, predicts and scores from 12 threads at once, in a
    child process (a crash would kill it), and the results equal the
    sequential ones bit for bit. The kernels run on fastem's own Python
    threads: Numba's thread pool (whose workqueue layer aborts the process
    when two threads enter parallel kernels at once) is never started."""
    import os
    import subprocess
    import sys
    tests = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.run([sys.executable, "-c",
                           _MIXED_THREADS_SCRIPT.format(tests=tests)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["ok", str(2 * len(PREDICTORS)), "no-numba-pool"], proc.stdout


@pytest.mark.parametrize("name", NAMES)
def test_fits_inside_dask_threaded_scheduler_like_sequential(name):
    dask = pytest.importorskip("dask")
    entry = REGISTRY[name]
    data = [_big(entry, seed) for seed in range(4)]

    def fit(X):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return entry.params_of(entry.make(n_jobs=2, max_iter=10).fit(X))

    seq = [fit(X) for X in data]
    par = dask.compute(*[dask.delayed(fit)(X) for X in data], scheduler="threads",
                       num_workers=4)
    for a, b in zip(seq, par):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# ===================================================================
# Properties (hypothesis)
# ===================================================================
def _problem(entry, seed, n, d, k, dtype=np.float64, data=(False, 0.0)):
    unequal, overlap = data
    return entry.make_X(n=n, d=d, k=k, seed=seed, dtype=dtype, unequal=unequal,
                        overlap=overlap)


# Sizes: mostly small, but also across the edges of a 128-row tile and a
# 1024-row block (one or two blocks still run the serial kernels).
SIZES = st.one_of(st.integers(30, 200), st.sampled_from([127, 128, 129, 1023, 1024, 1025,
                                                         1153, 2047, 2048]))
#: more than 2 blocks (1024 rows for mixtures, 2048 for KMeans): the parallel
#: kernels run (with n_jobs=2); drawn only by
#: the properties where it proves something (monotone history; 1 vs 2 threads)
PARALLEL_SIZES = st.sampled_from([2049, 4097, 4300])  # KMeans: > 4096
#: equal or halving cluster sizes; well separated, overlapping or heavily so
DATA = st.tuples(st.booleans(), st.sampled_from([0.0, 0.5, 0.9]))
shapes = dict(seed=st.integers(0, 10_000), n=SIZES, d=st.integers(1, 5),
              k=st.integers(1, 4), v=st.integers(0, 3), data=DATA)
dtypes = st.sampled_from([np.float64, np.float32])

#: most examples the monotone-history property may skip (a fit refused as a
#: genuine collapse, with reg_covar=0): more, and it tests little
MAX_SKIP_FRACTION = 0.25


def _variant(entry, v):
    return entry.variants[v % len(entry.variants)]


def _est(entry, k, v=0, **kw):
    return entry.make(**{entry.k_param: k, **_variant(entry, v), **kw})


@pytest.mark.parametrize("name", PREDICTORS)
def test_property_history_is_monotone(name):
    entry = REGISTRY[name]
    kw = dict(reg_covar=0) if name == "GaussianMixture" else {}
    counts = {"ran": 0, "skipped": 0}

    @PROPERTY
    @given(weighted=st.booleans(), dtype=dtypes, big=st.integers(0, 9),
           big_n=PARALLEL_SIZES, **shapes)
    def history_is_monotone(seed, n, d, k, v, data, weighted, dtype, big, big_n):
        if big == 0:  # one example in ten: parallel kernels on > 2 blocks
            n = big_n
        X = _problem(entry, seed, n, d, k, dtype, data)
        w = np.random.default_rng(seed).uniform(0.2, 3.0, n) if weighted else None
        counts["ran"] += 1
        try:
            est = quiet_fit(_est(entry, k, v, random_state=seed, tol=0, max_iter=25,
                                 n_jobs=2, **kw), X, sample_weight=w)
        except ValueError as exc:  # reg_covar=0: a genuine collapse must say so
            assert "collapsed" in str(exc) and "reg_covar" in str(exc)
            counts["skipped"] += 1
            return
        hist = np.asarray(est.lower_bounds_ if entry.is_mixture else -est.inertias_)
        scale = np.abs(hist[1:]).clip(1)
        # float32 X: log-densities are evaluated in float32 (statistics in float64)
        rtol = 1e-9 if dtype == np.float64 else 1e-5
        assert np.all(np.diff(hist) >= -rtol * scale), hist

    history_is_monotone()
    assert counts["skipped"] <= MAX_SKIP_FRACTION * counts["ran"], counts


@pytest.mark.parametrize("name", PREDICTORS)
@PROPERTY
@given(dtype=dtypes, **shapes)
def test_property_fit_predict_equals_fit_then_predict(name, seed, n, d, k, v, data, dtype):
    entry = REGISTRY[name]
    X = _problem(entry, seed, n, d, k, dtype, data)
    a = _est(entry, k, v, random_state=seed, max_iter=5).fit_predict(X)
    b = _est(entry, k, v, random_state=seed, max_iter=5).fit(X).predict(X)
    np.testing.assert_array_equal(a, b)


def _fixed(entry, X, k, v, **kw):
    return _est(entry, k, v, **entry.init_kwargs(X, k, **_variant(entry, v)), tol=0,
                **{"max_iter": 8, **kw})


@pytest.mark.parametrize("name", PREDICTORS)
@PROPERTY
@given(**shapes)
def test_property_integer_weights_equal_repeated_rows(name, seed, n, d, k, v, data):
    entry = REGISTRY[name]
    X = _problem(entry, seed, n, d, k, data=data)
    reps = np.random.default_rng(seed).integers(0, 4, n)
    reps[:k] = np.maximum(reps[:k], 1)  # keep the rows a fixed start refers to
    a = quiet_fit(_fixed(entry, X, k, v), X, sample_weight=reps)
    b = quiet_fit(_fixed(entry, X, k, v), np.repeat(X, reps, axis=0))
    for key, v in entry.params_of(a).items():
        np.testing.assert_allclose(v, entry.params_of(b)[key], rtol=1e-7, atol=1e-9,
                                   err_msg=key)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def _permuted_init(entry, X, k, v, perm):
    variant = _variant(entry, v)
    kw = entry.init_kwargs(X, k, **variant)
    shared = variant.get("covariance_type") == "tied"  # one precision for all
    out = {}
    for key, val in kw.items():
        if key == "probs_init" and isinstance(val, list):
            out[key] = [np.asarray(p)[perm] for p in val]
        elif key in ("weights_init", "means_init", "rates_init", "init", "probs_init",
                     "loadings_init", "noise_variance_init") \
                or (key == "precisions_init" and not shared):
            out[key] = np.asarray(val)[perm]
        else:
            out[key] = val
    return out


@pytest.mark.parametrize("name", PREDICTORS)
@PROPERTY
@given(perm_seed=st.integers(0, 100), **shapes)
def test_property_component_permutation_invariance(name, seed, n, d, k, v, data,
                                                   perm_seed):
    entry = REGISTRY[name]
    X = _problem(entry, seed, n, d, k, data=data)
    perm = np.random.default_rng(perm_seed).permutation(k)
    a = quiet_fit(_fixed(entry, X, k, v), X)
    b = quiet_fit(_est(entry, k, v, **_permuted_init(entry, X, k, v, perm), tol=0,
                       max_iter=8), X)
    la, lb = a.predict(X), b.predict(X)
    np.testing.assert_array_equal(perm[lb], la)
    shared = _variant(entry, v).get("covariance_type") == "tied"
    for key, val in entry.params_of(a).items():
        other = entry.params_of(b)[key]
        if not (shared and key == "covariances_"):
            other = other[np.argsort(perm)]
        np.testing.assert_allclose(other, val, rtol=1e-7, atol=1e-9, err_msg=key)


@pytest.mark.parametrize("name", PREDICTORS)
@settings(max_examples=THREAD_EXAMPLES, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(1, 3), k=st.integers(1, 4),
       v=st.integers(0, 3), weighted=st.booleans(), n=PARALLEL_SIZES, data=DATA)
def test_property_one_thread_equals_two_threads_bit_for_bit(name, seed, d, k, v, weighted,
                                                            n, data):
    entry = REGISTRY[name]
    X = _problem(entry, seed, n, d, k, data=data)  # > 2 blocks: parallel kernels
    w = np.random.default_rng(seed).uniform(0.2, 3.0, len(X)) if weighted else None
    a = quiet_fit(_est(entry, k, v, random_state=seed, max_iter=6, n_jobs=1), X,
                  sample_weight=w)
    b = quiet_fit(_est(entry, k, v, random_state=seed, max_iter=6, n_jobs=2), X,
                  sample_weight=w)
    for key, v in entry.params_of(a).items():
        np.testing.assert_array_equal(v, entry.params_of(b)[key], err_msg=key)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert region_threads() == 1  # the fit's thread count does not leak


@pytest.mark.parametrize("name", PREDICTORS)
@PROPERTY
@given(dtype=dtypes, **shapes)
def test_property_pickle_round_trip_predicts_identically(name, seed, n, d, k, v, data,
                                                        dtype):
    entry = REGISTRY[name]
    X = _problem(entry, seed, n, d, k, dtype, data)
    est = quiet_fit(_est(entry, k, v, random_state=seed, max_iter=5), X)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    if entry.is_mixture:
        np.testing.assert_array_equal(back.score_samples(X), est.score_samples(X))
        np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    else:
        np.testing.assert_array_equal(back.transform(X), est.transform(X))


def _start_sensitivity(entry, X, k, v, fitted, seed):
    """How far (max abs over the parameters, each over its scale as below)
    the float64 fit moves when its initial means move by one float32 epsilon
    (relative, signs drawn from ``seed``): the conditioning of the fit."""
    init = entry.init_kwargs(X, k, **_variant(entry, v))
    key = "init" if "init" in init else "means_init"
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], np.shape(init[key]))
    init[key] = init[key] * (1.0 + float(np.finfo(np.float32).eps) * signs)
    moved = quiet_fit(_est(entry, k, v, **init, tol=0, max_iter=5), X)
    return max(float(np.max(np.abs(entry.params_of(moved)[key_] - val))) / _scale(key_, X)
               for key_, val in entry.params_of(fitted).items())


def _scale(key, X):
    """A parameter's scale: spread**2 for covariances, 1 for weights, else spread."""
    spread = float(np.abs(X).max()) + 1.0
    return {"covariances_": spread ** 2, "weights_": 1.0}.get(key, spread)


@pytest.mark.parametrize("name", PREDICTORS)
@PROPERTY
@given(**shapes)
def test_property_float32_fit_close_to_float64_fit(name, seed, n, d, k, v, data):
    entry = REGISTRY[name]
    X64 = _problem(entry, seed, n, d, k, data=data)
    X32 = X64.astype(np.float32)
    a = quiet_fit(_fixed(entry, X64, k, v, max_iter=5), X64)
    b = quiet_fit(_fixed(entry, X64, k, v, max_iter=5), X32)
    bound = 64 * float(np.finfo(np.float32).eps)
    if entry.continuous:
        # Near a split of two components EM amplifies any change of its state
        # fivefold an iteration or more: from one float32 epsilon of the
        # initial means, the float64 fit itself moved 52-110 eps32 in 5
        # iterations (BayesianGaussianMixture, seed=151, n=143, d=3, k=3,
        # v=3, unequal blobs). No float32 computation can promise 64 eps32
        # there, so such fits are not examples of the property.
        assume(_start_sensitivity(entry, X64, k, v, a, seed) <= bound / 4)
    for key, val in entry.params_of(a).items():
        got = entry.params_of(b)[key]
        if not entry.continuous:
            # counts and codes are exact in float32, and discrete parameters
            # and statistics are float64 whatever the dtype of X: same fit
            np.testing.assert_array_equal(got, val, err_msg=key)
            continue
        # The design: float32 log-densities, float64 statistics, parameters
        # returned in float32. X32 differs from X64 by half an ulp, each
        # log-density by a few float32 ulps of its largest term, so the
        # responsibilities by a few eps32 and, after 5 iterations from the same
        # start, each parameter by a small multiple of eps32 times its scale
        # (spread for means and centers, spread**2 for covariances, 1 for
        # weights). Measured over 360 fits: at most 8.3 eps32 (GaussianMixture),
        # 0.3 eps32 (KMeans); the bound is 64 eps32 (about 7.6e-6).
        assert np.max(np.abs(got - val)) <= bound * _scale(key, X64), (
            key, np.max(np.abs(got - val)), bound * _scale(key, X64))
    assert b.predict(X32).dtype.kind in "iu"


@pytest.mark.parametrize("name", [n for n in NAMES if REGISTRY[n].is_mixture])
def test_fitted_mixture_holds_no_data(name):
    """A fitted mixture pickles to the same size whatever the number of rows."""
    entry = REGISTRY[name]
    sizes = [len(pickle.dumps(quiet_fit(entry.make(), entry.make_X(n=n))))
             for n in (300, 30_000)]
    assert sizes[1] < 1.2 * sizes[0] + 1000, sizes


# ===================================================================
# 64-bit index arithmetic (N > 2**31 rows, on a view that allocates nothing)
# ===================================================================
BIG_N = 2 ** 31 + 3 * 1024


def _broadcast_rows(row, n):
    """An (n, D) read-only view repeating ``row``: no memory for n rows."""
    return np.lib.stride_tricks.as_strided(row, shape=(n, row.shape[0]),
                                           strides=(0, row.strides[0]), writeable=False)


@pytest.mark.parametrize("ct", COV_TYPES)
def test_gaussian_block_index_arithmetic_past_2_31_rows(ct):
    from fastem.families.gaussian import GaussianFamily
    from fastem.kernels import gaussian as kern

    rng = np.random.default_rng(7)
    D, K, B = 3, 2, 1024
    small = np.ascontiguousarray(rng.standard_normal((B, D)))
    row = np.ascontiguousarray(small[5])
    Xbig = _broadcast_rows(row, BIG_N)
    wbig = _broadcast_rows(np.ones(1), BIG_N)[:, 0]
    fam = GaussianFamily(K, ct, init_params="random")
    params = fam.initialize(small, np.ones(B), np.random.RandomState(0))
    start = BIG_N - B  # a block whose row indices exceed 2**31
    assert start > 2 ** 31
    args = fam._kernel_args(params, np.float64)
    Xsmall = _broadcast_rows(row, B)
    # the scratch functions have no Python entry point: called from a kernel
    if ct in ("diag", "spherical"):
        scratch = njit(lambda X, K, D: kern._diag_scratch(X, K, D))(small, K, D)
        block, stats_shape = kern._diag_block, (K, D)
    else:
        Kc = args[5].shape[0]
        scratch = njit(lambda X, K, D, Kc: kern._full_scratch(X, K, D, Kc))(small, K, D, Kc)
        block, stats_shape = kern._full_block, (Kc, D, D)

    def run(X, w, s, e):
        nk, sx, sxx = np.zeros(K), np.zeros((K, D)), np.zeros(stats_shape)
        ll, bad = block(X, w, *args, s, e, True, nk, sx, sxx, np.empty(0),
                        np.empty(0, np.int64), np.empty((0, K)), scratch)
        return ll, bad, nk, sx, sxx
    far = run(Xbig, wbig, start, BIG_N)
    near = run(np.ascontiguousarray(Xsmall), np.ones(B), 0, B)
    assert far[1] == 0
    for a, b in zip(far, near):
        np.testing.assert_array_equal(a, b)


def test_block_counts_are_64_bit():
    from fastem.kernels import kmeans as kk
    assert kk._n_blocks(2 ** 40 + 1, 2048) == 2 ** 29 + 1
    # the k-means Lloyd and bounded blocks and the categorical block past
    # 2**31 rows: tests/test_indices.py


def test_kmeans_inertia_block_index_arithmetic_past_2_31_rows():
    from fastem.kernels import kmeans as kk
    rng = np.random.default_rng(8)
    D, K, B = 2, 3, 2048
    row = np.ascontiguousarray(rng.standard_normal(D))
    centers = np.ascontiguousarray(rng.standard_normal((K, D)))
    labels_big = _broadcast_rows(np.array([1], np.int32), BIG_N)[:, 0]
    Xbig = _broadcast_rows(row, BIG_N)
    wbig = _broadcast_rows(np.ones(1), BIG_N)[:, 0]
    shift = np.zeros(D)
    far = kk._inertia_block(Xbig, wbig, shift, centers, labels_big, BIG_N - B, BIG_N)
    near = kk._inertia_block(np.ascontiguousarray(_broadcast_rows(row, B)), np.ones(B),
                             shift, centers, np.ones(B, np.int32), 0, B)
    assert far == near


def test_discrete_block_index_arithmetic_past_2_31_rows():
    from fastem.kernels import discrete as kd
    B, K, D = 1024, 2, 3
    row = np.array([1.0, 0.0, 2.0])
    Xbig = _broadcast_rows(row, BIG_N)
    wbig = _broadcast_rows(np.ones(1), BIG_N)[:, 0]
    AT = np.random.default_rng(9).normal(size=(K, D))

    def run(X, w, s, e):
        nk, sx = np.zeros(K), np.zeros((K, D))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NumbaPerformanceWarning: strided view
            out = kd._linear_block(X, w, AT, np.zeros(K), np.zeros(1), s, e, True, False,
                                   nk, sx, np.empty(0), np.empty(0, np.int64),
                                   np.empty((0, K)))
        return out, nk, sx
    far = run(Xbig, wbig, BIG_N - B, BIG_N)
    near = run(np.ascontiguousarray(Xbig[:B]), np.ones(B), 0, B)
    assert far[0] == near[0]
    for a, b in zip(far[1:], near[1:]):
        np.testing.assert_array_equal(a, b)


def test_vectorized_exp_is_accurate_with_and_without_fused_multiply_add():
    # the responsibilities' log-sum-exp is compiled with fastmath={"contract"}
    from numba import njit
    from fastem.kernels._math import EXP_FLOOR, exp_nonpositive

    def loop(x, out):
        for i in range(x.shape[0]):
            out[i] = exp_nonpositive(x[i])

    x = np.concatenate([-np.logspace(-12, np.log10(-EXP_FLOOR), 20000),
                        -np.random.default_rng(0).uniform(0, -EXP_FLOOR, 20000), [0.0]])
    x = np.maximum(x, EXP_FLOOR)  # logspace's end rounds past the floor
    edge = np.array([-np.inf, EXP_FLOOR - 0.5, -1e300])
    for kernel in (njit(loop), njit(fastmath={"contract"})(loop)):
        out = np.empty_like(x)
        kernel(x, out)
        assert np.max(np.abs(out / np.exp(x) - 1)) < 5e-16
        out = np.empty_like(edge)
        kernel(edge, out)
        np.testing.assert_array_equal(out, 0.0)


def test_vectorized_log_is_accurate_with_and_without_fused_multiply_add():
    # the log of each row's sum of exps (>= 1) in the responsibilities
    from numba import njit
    from fastem.kernels._math import log_at_least_one

    def loop(x, out):
        for i in range(x.shape[0]):
            out[i] = log_at_least_one(x[i])

    rng = np.random.default_rng(0)
    x = np.concatenate([1.0 + np.logspace(-16, 3, 20000), rng.uniform(1.0, 64.0, 20000),
                        2.0 ** np.arange(0, 60), np.sqrt(2.0) * 2.0 ** np.arange(0, 60),
                        np.nextafter(np.sqrt(2.0) * 2.0 ** np.arange(0, 60), 0), [1e300]])
    x = np.concatenate([[1.0], x])
    for kernel in (njit(loop), njit(fastmath={"contract"})(loop)):
        out = np.empty_like(x)
        kernel(x, out)
        assert out[0] == 0.0
        assert np.max(np.abs(out[1:] - np.log(x[1:])) / np.spacing(np.log(x[1:]))) <= 2
