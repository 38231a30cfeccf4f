"""Discrete mixtures (Bernoulli, Binomial, Categorical, Poisson) against naive
NumPy EM, the published two-coin example, properties and input errors."""
import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from fastem import BernoulliMixture, BinomialMixture, CategoricalMixture, PoissonMixture

import naive_discrete as naive

K = 3
N_TRIALS = 7
CATS = [2, 3, 5, 4]


def _data(family, n=600, seed=0):
    """Data from a well-separated 3-component mixture of the family."""
    rng = np.random.default_rng(seed)
    z = rng.integers(0, K, n)
    if family == "bernoulli":
        p = rng.uniform(0.05, 0.95, (K, 5))
        return (rng.random((n, 5)) < p[z]).astype(np.float64)
    if family == "binomial":
        p = rng.uniform(0.05, 0.95, (K, 4))
        return rng.binomial(N_TRIALS, p[z]).astype(np.float64)
    if family == "poisson":
        lam = rng.uniform(0.5, 12.0, (K, 4))
        return rng.poisson(lam[z]).astype(np.float64)
    X = np.empty((n, len(CATS)), dtype=np.int64)
    for d, c in enumerate(CATS):
        p = rng.dirichlet(np.ones(c), size=K)
        X[:, d] = [rng.choice(c, p=p[k]) for k in z]
    return X


def _init(family, X, seed=1):
    """Initial parameters (weights, family parameter) for the naive EM."""
    return naive.random_start(family, X.shape[1], K, CATS, seed)


def _make(family, **kw):
    if family == "bernoulli":
        return BernoulliMixture(K, **kw)
    if family == "binomial":
        return BinomialMixture(K, n_trials=N_TRIALS, **kw)
    if family == "poisson":
        return PoissonMixture(K, **kw)
    return CategoricalMixture(K, **kw)


def _param(model):
    return model.rates_ if isinstance(model, PoissonMixture) else model.probs_


def _init_kw(family, init):
    weights, param = init
    name = "rates_init" if family == "poisson" else "probs_init"
    return {"weights_init": weights, name: param}


def _naive_em(family, X, w, init, n_iter, learn_weights=True):
    weights, param = init
    if family == "bernoulli":
        return naive.em_binomial(X, w, weights, param, 1, n_iter, learn_weights=learn_weights)
    if family == "binomial":
        return naive.em_binomial(X, w, weights, param, N_TRIALS, n_iter,
                                 learn_weights=learn_weights)
    if family == "poisson":
        return naive.em_poisson(X, w, weights, param, n_iter, learn_weights=learn_weights)
    return naive.em_categorical(X, w, weights, param, n_iter, learn_weights=learn_weights)


def _naive_log_joint(family, X, model):
    if family == "bernoulli":
        return naive.log_joint_binomial(X, model.weights_, model.probs_, 1)
    if family == "binomial":
        return naive.log_joint_binomial(X, model.weights_, model.probs_, N_TRIALS)
    if family == "poisson":
        return naive.log_joint_poisson(X, model.weights_, model.rates_)
    return naive.log_joint_categorical(X, model.weights_, model.probs_)


def _assert_param_close(a, b, rtol):
    if isinstance(a, list):
        for x, y in zip(a, b):
            assert_allclose(x, y, rtol=rtol)
    else:
        assert_allclose(a, b, rtol=rtol)


def _assert_param_equal(a, b):
    if isinstance(a, list):
        for x, y in zip(a, b):
            assert_array_equal(x, y)
    else:
        assert_array_equal(a, b)


def _fit(model, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, **kw)


FAMILIES = ["bernoulli", "binomial", "poisson", "categorical"]


# ------------------------------------------------------------- two coins
def test_two_coin_example_do_batzoglou():
    """Do & Batzoglou (2008), Fig. 1b: theta_A, theta_B after 1 and 10 iterations."""
    heads = np.array([[5], [9], [8], [4], [7]])
    kw = dict(n_trials=10, probs_init=[[0.6], [0.5]], learn_weights=False, tol=0)
    one = _fit(BinomialMixture(2, max_iter=1, **kw), heads)
    assert_allclose(one.probs_.ravel(), [0.71, 0.58], atol=0.005)
    assert_array_equal(one.weights_, [0.5, 0.5])
    ten = _fit(BinomialMixture(2, max_iter=10, **kw), heads)
    assert_allclose(ten.probs_.ravel(), [0.80, 0.52], atol=0.005)
    assert_array_equal(ten.weights_, [0.5, 0.5])
    # the true marginal log-likelihood, binomial coefficients included
    ll0 = np.mean(logsumexp(np.log(0.5) + naive.binom.logpmf(
        heads, 10, np.array([[0.6, 0.5]])), axis=1))
    assert_allclose(one.lower_bound_, ll0, rtol=1e-12)
    assert np.all(np.diff(ten.lower_bounds_) >= 0)


def test_two_coin_docstring_example():
    import doctest
    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(BinomialMixture):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            runner.run(test)
    assert runner.summarize().attempted >= 4 and runner.summarize().failed == 0


# ----------------------------------------------- against the naive EM
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("learn_weights", [True, False])
def test_matches_naive_em(family, weighted, learn_weights):
    X = _data(family)
    w = (np.random.default_rng(3).uniform(0.1, 3.0, len(X)) if weighted
         else np.ones(len(X)))
    init = _init(family, X)
    n_iter = 6
    model = _fit(_make(family, max_iter=n_iter, tol=0, learn_weights=learn_weights,
                       **_init_kw(family, init)), X,
                 sample_weight=w if weighted else None)
    weights, param, lls = _naive_em(family, X, w, init, n_iter, learn_weights)
    assert model.n_iter_ == n_iter
    assert_allclose(model.weights_, weights, rtol=1e-9)
    _assert_param_close(_param(model), param, rtol=1e-9)
    assert_allclose(model.lower_bounds_, np.array(lls) / w.sum(), rtol=1e-9)


@pytest.mark.parametrize("family", FAMILIES)
def test_predictions_match_naive(family):
    X = _data(family)
    model = _fit(_make(family, max_iter=5, random_state=0), X)
    lj = _naive_log_joint(family, X, model)
    _, _, row_ll, resp = naive.e_step(lj, np.ones(len(X)))
    assert_allclose(model.score_samples(X), row_ll, rtol=1e-10)
    assert_allclose(model.predict_proba(X), resp, rtol=1e-9, atol=1e-12)
    assert_array_equal(model.predict(X), lj.argmax(axis=1))
    assert_allclose(model.score(X), row_ll.mean(), rtol=1e-10)
    n = len(X)
    n_params = model._n_parameters()
    assert_allclose(model.bic(X), -2 * row_ll.sum() + n_params * np.log(n))
    assert_allclose(model.aic(X), -2 * row_ll.sum() + 2 * n_params)


def test_n_parameters():
    X = _data("categorical")
    assert _fit(CategoricalMixture(K, max_iter=2), X)._n_parameters() == \
        K * sum(c - 1 for c in CATS) + K - 1
    X = _data("binomial")
    m = _fit(BinomialMixture(K, n_trials=N_TRIALS, max_iter=2), X)
    assert m._n_parameters() == K * X.shape[1] + K - 1
    m = _fit(BinomialMixture(K, n_trials=N_TRIALS, max_iter=2, learn_weights=False), X)
    assert m._n_parameters() == K * X.shape[1]


# ---------------------------------------------------------- properties
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("init_params", ["random", "random_from_data"])
def test_lower_bounds_monotone(family, init_params):
    for seed in range(3):
        X = _data(family, seed=seed)
        model = _fit(_make(family, max_iter=60, tol=0, init_params=init_params,
                           random_state=seed), X)
        lb = np.array(model.lower_bounds_)
        assert np.all(np.diff(lb) >= -1e-12 * np.abs(lb[1:])), lb


@pytest.mark.parametrize("family", FAMILIES)
def test_integer_weights_equal_repeated_rows(family):
    X = _data(family, n=300)
    counts = np.random.default_rng(5).integers(0, 4, len(X))
    counts[0] = 1
    init = _init_kw(family, _init(family, X))
    a = _fit(_make(family, max_iter=8, tol=0, **init), X, sample_weight=counts)
    b = _fit(_make(family, max_iter=8, tol=0, **init), np.repeat(X, counts, axis=0))
    assert_allclose(a.weights_, b.weights_, rtol=1e-10)
    _assert_param_close(_param(a), _param(b), rtol=1e-10)
    assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-10)


@pytest.mark.parametrize("family", FAMILIES)
def test_zero_weight_equals_dropped_row(family):
    X = _data(family, n=300)
    w = np.ones(len(X))
    w[::7] = 0
    init = _init_kw(family, _init(family, X))
    a = _fit(_make(family, max_iter=8, tol=0, **init), X, sample_weight=w)
    b = _fit(_make(family, max_iter=8, tol=0, **init), X[w > 0])
    assert_allclose(a.weights_, b.weights_, rtol=1e-10)
    _assert_param_close(_param(a), _param(b), rtol=1e-10)
    assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-10)


@pytest.mark.parametrize("family", FAMILIES)
def test_one_thread_equals_two_bit_for_bit(family):
    X = _data(family, n=5000)  # > 3 blocks of 1024 rows
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(X))
    a = _fit(_make(family, max_iter=10, tol=0, random_state=0, n_jobs=1), X,
             sample_weight=w)
    b = _fit(_make(family, max_iter=10, tol=0, random_state=0, n_jobs=2), X,
             sample_weight=w)
    assert_array_equal(a.weights_, b.weights_)
    _assert_param_equal(_param(a), _param(b))
    assert a.lower_bounds_ == b.lower_bounds_
    assert_array_equal(a.score_samples(X), b.score_samples(X))
    # serial twin of the kernel: same blocks, same bits
    fam, params = a._family, a._params
    Xc = a._check_X(X)
    s_par, ll_par = fam.statistics(Xc, w, params)
    s_ser, ll_ser = fam.statistics(Xc, w, params, serial=True)
    assert ll_par == ll_ser
    for x, y in zip(s_par, s_ser):
        assert_array_equal(x, y)
    for x, y in zip(fam.row_outputs(Xc, params, True), fam.row_outputs(Xc, params, True,
                                                                         serial=True)):
        assert_array_equal(x, y)


@pytest.mark.parametrize("family", ["bernoulli", "binomial", "poisson"])
def test_float32_and_int_input(family):
    X = _data(family)
    init = _init_kw(family, _init(family, X))
    a = _fit(_make(family, max_iter=10, tol=0, **init), X)
    b = _fit(_make(family, max_iter=10, tol=0, **init), X.astype(np.float32))
    c = _fit(_make(family, max_iter=10, tol=0, **init), X.astype(np.int64))
    for m in (b, c):
        assert _param(m).dtype == np.float64 and m.weights_.dtype == np.float64
        assert_allclose(_param(m), _param(a), rtol=1e-12)
        assert_allclose(m.lower_bounds_, a.lower_bounds_, rtol=1e-12)
    assert b.sample(3)[0].dtype == np.float32
    assert_allclose(b.score_samples(X), a.score_samples(X), rtol=1e-12)


def test_categorical_float_codes_equal_int_codes():
    X = _data("categorical")
    init = _init_kw("categorical", _init("categorical", X))
    a = _fit(CategoricalMixture(K, max_iter=5, tol=0, **init), X)
    b = _fit(CategoricalMixture(K, max_iter=5, tol=0, **init), X.astype(np.float32))
    _assert_param_equal(a.probs_, b.probs_)
    assert_array_equal(a.n_categories_, CATS)


@pytest.mark.parametrize("family", FAMILIES)
def test_fit_predict_equals_fit_then_predict(family):
    X = _data(family)
    a = _fit(_make(family, max_iter=3, random_state=0), X)
    labels = _make(family, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = labels.fit_predict(X)
    assert_array_equal(labels, a.predict(X))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("init_params", ["random", "random_from_data", "kmeans"])
def test_random_state_reproducible_and_pickle(family, init_params):
    if family == "categorical" and init_params == "kmeans":
        with pytest.raises(ValueError, match="init_params"):
            _make(family, init_params="kmeans").fit(_data(family))
        return
    X = _data(family)
    a = _fit(_make(family, init_params=init_params, random_state=7, n_init=2), X)
    b = _fit(clone(a), X)
    _assert_param_equal(_param(a), _param(b))
    assert a.lower_bounds_ == b.lower_bounds_
    c = pickle.loads(pickle.dumps(a))
    _assert_param_equal(_param(a), _param(c))
    assert_array_equal(a.score_samples(X), c.score_samples(X))


@pytest.mark.parametrize("family", FAMILIES)
def test_learn_weights_false_keeps_weights(family):
    X = _data(family)
    m = _fit(_make(family, learn_weights=False, random_state=0), X)
    assert_array_equal(m.weights_, np.full(K, 1 / K))
    m = _fit(_make(family, learn_weights=False, weights_init=[0.2, 0.3, 0.5],
                   random_state=0), X)
    assert_allclose(m.weights_, [0.2, 0.3, 0.5], rtol=1e-15)


@pytest.mark.parametrize("family", FAMILIES)
def test_sample_and_warm_start(family):
    X = _data(family)
    m = _fit(_make(family, max_iter=4, tol=0, random_state=0), X)
    S, labels = m.sample(200)
    assert S.shape == (200, X.shape[1]) and labels.shape == (200,)
    assert (S >= 0).all() and np.array_equal(S, np.round(S))
    if family == "bernoulli":
        assert set(np.unique(S)) <= {0, 1}
    if family == "binomial":
        assert S.max() <= N_TRIALS
    if family == "categorical":
        assert (S.max(axis=0) < np.array(CATS)).all()
    m.score(S)  # samples are valid input
    full = _fit(_make(family, max_iter=8, tol=0, random_state=0), X)
    m.set_params(warm_start=True)
    _fit(m, X)
    _assert_param_close(_param(m), _param(full), rtol=1e-12)


def test_user_arrays_not_modified():
    X = _data("binomial").astype(np.float32)
    X0 = X.copy()
    p = np.full((K, X.shape[1]), 0.5)
    p[0] = 0.0  # gets clipped inside, not in the user's array
    p0 = p.copy()
    _fit(BinomialMixture(K, n_trials=N_TRIALS, probs_init=p, max_iter=2), X)
    assert_array_equal(X, X0)
    assert_array_equal(p, p0)


# ----------------------------------------------------------- bad input
@pytest.mark.parametrize("make, X, match", [
    (lambda: BernoulliMixture(2), [[0, 1], [2, 0], [1, 1]], r"X\[1, 0\] = 2 is above 1"),
    (lambda: BernoulliMixture(2), [[0, 1], [0.5, 0], [1, 1]], "not an integer"),
    (lambda: BinomialMixture(2, n_trials=3), [[0, 1], [4, 0], [1, 1]],
     r"above n_trials=3"),
    (lambda: BinomialMixture(2, n_trials=3), [[0, -1], [3, 0], [1, 1]], "negative"),
    (lambda: PoissonMixture(2), [[0, 1.5], [3, 0], [1, 1]], "not an integer"),
    (lambda: PoissonMixture(2), [[0, 1], [-3, 0], [1, 1]], "negative"),
    (lambda: PoissonMixture(2), [[0, 1], [np.nan, 0], [1, 1]], "NaN"),
    (lambda: BernoulliMixture(2), [[0, 1], [np.inf, 0], [1, 1]], "NaN or infinity"),
    (lambda: CategoricalMixture(2), [[0, 1], [-1, 0], [1, 1]], "negative"),
    (lambda: CategoricalMixture(2), [[0, 1.2], [1, 0], [1, 1]], "not an integer"),
    (lambda: CategoricalMixture(2), [[0, 1], [np.nan, 0], [1, 1]], "NaN"),
    (lambda: CategoricalMixture(2, n_categories=2), [[0, 1], [2, 0], [1, 1]],
     "out of range"),
    (lambda: CategoricalMixture(2, n_categories=[2, 3, 4]), [[0, 1], [1, 0]],
     "n_categories"),
    (lambda: BinomialMixture(2, n_trials=0), [[0, 1], [1, 0]], "n_trials"),
    (lambda: BernoulliMixture(2, smoothing=0), [[0, 1], [1, 0]], "smoothing"),
    (lambda: BernoulliMixture(2, smoothing=0.5), [[0, 1], [1, 0]], "smoothing"),
    (lambda: BernoulliMixture(2, learn_weights="no"), [[0, 1], [1, 0]], "learn_weights"),
    (lambda: BernoulliMixture(2, init_params="kmeans++"), [[0, 1], [1, 0]], "init_params"),
    (lambda: BernoulliMixture(2, probs_init=[[0.5, 1.5], [0.5, 0.5]]), [[0, 1], [1, 0]],
     "probs_init"),
    (lambda: BernoulliMixture(2, probs_init=[[0.5], [0.5]]), [[0, 1], [1, 0]],
     "probs_init"),
    (lambda: BernoulliMixture(2, weights_init=[0.5, 0.6]), [[0, 1], [1, 0]],
     "weights_init"),
    (lambda: PoissonMixture(2, rates_init=[[1, -1], [1, 1]]), [[0, 1], [1, 0]],
     "rates_init"),
    (lambda: CategoricalMixture(2, probs_init=[[[0.5, 0.6], [0.5, 0.5]],
                                               [[0.5, 0.5], [0.5, 0.5]]]),
     [[0, 1], [1, 0]], r"probs_init\[0\]"),
    (lambda: CategoricalMixture(2, smoothing=0.5), [[0, 1], [1, 0]], "smoothing"),
    (lambda: BernoulliMixture(3), [[0, 1], [1, 0]], "n_components"),
])
def test_bad_input_errors(make, X, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make().fit(np.array(X))


def test_bad_input_at_predict():
    b = _fit(BinomialMixture(2, n_trials=3, max_iter=2), [[0, 1], [3, 2], [1, 1]])
    with pytest.raises(ValueError, match="above n_trials=3"):
        b.predict([[0, 4]])
    with pytest.raises(ValueError, match="features"):
        b.predict([[0, 1, 1]])
    c = _fit(CategoricalMixture(2, max_iter=2), [[0, 1], [2, 1], [1, 0]])
    assert_array_equal(c.n_categories_, [3, 2])
    with pytest.raises(ValueError, match=r"X\[1, 1\] = 2 is out of range.*feature 1 has 2"):
        c.predict([[0, 1], [0, 2]])
    with pytest.raises(ValueError, match="negative"):
        c.score_samples([[0, -1]])


def test_sample_weight_errors():
    X = _data("bernoulli", n=20)
    with pytest.raises(ValueError, match="sample_weight"):
        BernoulliMixture(2).fit(X, sample_weight=-np.ones(20))


@pytest.mark.parametrize("init", ["given", "random", "random_from_data"])
@pytest.mark.parametrize("family", FAMILIES)
def test_fit_does_not_depend_on_the_unit_of_sample_weight(family, init):
    X = _data(family, n=300)
    w = np.random.default_rng(6).uniform(0.0, 2.0, len(X))
    w[:5] = 0.0
    kw = (_init_kw(family, _init(family, X)) if init == "given"
          else dict(init_params=init, random_state=0))
    fits = [_fit(_make(family, max_iter=8, tol=0, **kw), X, sample_weight=w * scale)
            for scale in (1.0, 1e-15, 1e12)]
    for g in fits[1:]:
        assert_allclose(g.weights_, fits[0].weights_, rtol=1e-10)
        _assert_param_close(_param(g), _param(fits[0]), rtol=1e-10)
        assert_allclose(g.lower_bounds_, fits[0].lower_bounds_, rtol=1e-10)


@pytest.mark.parametrize("family", FAMILIES)
def test_zero_weight_rows_never_seed_a_component(family):
    # positive-weight rows have 0 in feature 0, zero-weight rows 1: a seed
    # row's value shows in its component's initial parameter
    X = _data(family, n=300)
    if family == "categorical":
        X[:, 0] = 0
    else:
        X[:, 0] = 0.0
    X[::2, 0] = 1
    w = np.where(np.arange(len(X)) % 2 == 0, 0.0, 1.0)
    for seed in range(10):
        g = _fit(_make(family, init_params="random_from_data", random_state=seed,
                       max_iter=0), X, sample_weight=w)
        first = _param(g)[0][:, 1] if family == "categorical" else _param(g)[:, 0]
        assert np.all(first < 1e-3), (seed, first)
    with pytest.raises(ValueError, match="sample_weight has 2 positive"):
        _fit(_make(family, init_params="random_from_data"), X[:6],
             sample_weight=[0, 1, 0, 1, 0, 0])
