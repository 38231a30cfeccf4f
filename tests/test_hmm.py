"""fastem.hmm against hmmlearn (identical starting parameters) and properties."""
import logging
import warnings

import numpy as np
import pytest

from fastem import hmm

hmmlearn_hmm = pytest.importorskip("hmmlearn.hmm")
logging.getLogger("hmmlearn").setLevel(logging.ERROR)  # MultinomialHMM's notice

K = 3
LENGTHS = [40, 1, 25, 9, 1, 14]  # several sequences, two of length 1
N = sum(LENGTHS)
RTOL = 1e-8


def _data(kind, rng, n=N):
    """Data with some sequential structure for each emission kind."""
    states = np.repeat(rng.randint(0, K, n // 5 + 1), 5)[:n]
    if kind == "gaussian":
        return rng.randn(n, 2) + 3.0 * rng.randn(K, 2)[states]
    if kind == "categorical":
        return (rng.randint(0, 6, n) * (states < 2) + (states == 2) * 5)[:, None]
    if kind == "poisson":
        return rng.poisson(np.array([1.0, 4.0, 9.0])[states][:, None] * [1, 2])
    return np.array([rng.multinomial(6, p) for p in
                     np.array([[.2, .3, .5], [.6, .2, .2], [.1, .8, .1]])[states]])


def _start(rng):
    return {"startprob_": np.array([0.5, 0.3, 0.2]),
            "transmat_": rng.dirichlet(np.ones(K) * 2, size=K)}


def _emission_start(name, ct, rng, D=2, M=2):
    if name == "GaussianHMM":
        full = np.eye(D) * 1.5 + 0.3
        return {"means_": rng.randn(K, D) * 2, "covars_": {
            "diag": rng.uniform(1, 2, (K, D)), "spherical": rng.uniform(1, 2, K),
            "full": np.tile(full, (K, 1, 1)), "tied": full}[ct]}
    if name == "GMMHMM":
        full = np.eye(D) * 1.5 + 0.3
        return {"weights_": rng.dirichlet(np.ones(M), size=K), "means_": rng.randn(K, M, D) * 2,
                "covars_": {"diag": rng.uniform(1, 2, (K, M, D)),
                            "spherical": rng.uniform(1, 2, (K, M)),
                            "full": np.tile(full, (K, M, 1, 1)),
                            "tied": np.tile(full, (K, 1, 1))}[ct]}
    if name == "CategoricalHMM":
        return {"emissionprob_": rng.dirichlet(np.ones(6), size=K)}
    if name == "PoissonHMM":
        return {"lambdas_": rng.uniform(1, 6, (K, 2))}
    return {"emissionprob_": rng.dirichlet(np.ones(3), size=K)}


CASES = ([("GaussianHMM", ct, "gaussian", {"covariance_type": ct, "means_prior": 0.2,
                                            "means_weight": 0.5, "covars_prior": 0.05,
                                            "covars_weight": 3})
          for ct in ("spherical", "diag", "full", "tied")]
         + [("GMMHMM", ct, "gaussian", {"covariance_type": ct, "n_mix": 2,
                                        "weights_prior": 1.3, "means_weight": 0.1})
            for ct in ("spherical", "diag", "full", "tied")]
         + [("CategoricalHMM", None, "categorical", {"emissionprob_prior": 1.5}),
            ("PoissonHMM", None, "poisson", {"lambdas_prior": 0.5, "lambdas_weight": 0.2}),
            ("MultinomialHMM", None, "multinomial", {"n_trials": 6})])


def _pair(name, ct, kind, kwargs, seed=0, n_iter=5):
    """The same model fitted by hmmlearn and fastem from identical parameters."""
    rng = np.random.RandomState(seed)
    X = _data(kind, rng)
    start = {**_start(rng), **_emission_start(name, ct, rng)}
    models = []
    for module in (hmmlearn_hmm, hmm):
        model = getattr(module, name)(n_components=K, init_params="", n_iter=n_iter, tol=0,
                                      startprob_prior=1.2, transmat_prior=1.1,
                                      implementation="scaling", **kwargs)
        for attr, value in start.items():
            setattr(model, attr, value.copy())
        models.append(model.fit(X, LENGTHS))
    return X, models


def _assert_rel(actual, expected, what):
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=0, err_msg=what)


@pytest.mark.parametrize("name, ct, kind, kwargs", CASES,
                         ids=[c[0] + (f"-{c[1]}" if c[1] else "") for c in CASES])
def test_equal_to_hmmlearn(name, ct, kind, kwargs):
    X, (ref, ours) = _pair(name, ct, kind, kwargs)
    attrs = {"GaussianHMM": ["means_", "_covars_"], "GMMHMM": ["weights_", "means_", "covars_"],
             "CategoricalHMM": ["emissionprob_"], "PoissonHMM": ["lambdas_"],
             "MultinomialHMM": ["emissionprob_"]}[name]
    for attr in ["startprob_", "transmat_"] + attrs:
        expected = getattr(ref, attr)
        if name == "GaussianHMM" and ct == "spherical" and attr == "_covars_":
            expected = expected[:, 0]  # hmmlearn stores spherical covars tiled (K, D)
        _assert_rel(getattr(ours, attr), expected, attr)
    _assert_rel(ours.lower_bounds_, list(ref.monitor_.history), "history")
    _assert_rel(ours.score(X, LENGTHS), ref.score(X, LENGTHS), "score")
    logprob, path = ours.decode(X, LENGTHS)
    ref_logprob, ref_path = ref.decode(X, LENGTHS)
    np.testing.assert_array_equal(path, ref_path)
    _assert_rel(logprob, ref_logprob, "viterbi log-probability")
    np.testing.assert_allclose(ours.predict_proba(X, LENGTHS), ref.predict_proba(X, LENGTHS),
                               rtol=1e-7, atol=1e-12)
    np.testing.assert_array_equal(ours.decode(X, LENGTHS, algorithm="map")[1],
                                  ref.decode(X, LENGTHS, algorithm="map")[1])
    _assert_rel(ours.bic(X, LENGTHS), ref.bic(X, LENGTHS), "bic")
    _assert_rel(ours.aic(X, LENGTHS), ref.aic(X, LENGTHS), "aic")
    # sampling consumes the generator in hmmlearn's order: the same draws
    # (except spherical GaussianHMM: after a fit, hmmlearn's covars_ has
    # shape (K * D, D, D) and it samples from the wrong covariances)
    ours_X, ours_z = ours.sample(15, random_state=4)
    ref_X, ref_z = ref.sample(15, random_state=4)
    np.testing.assert_array_equal(ours_z, ref_z)
    if (name, ct) != ("GaussianHMM", "spherical"):
        np.testing.assert_allclose(ours_X, ref_X, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(ours.get_stationary_distribution(),
                               ref.get_stationary_distribution(), rtol=1e-7)


@pytest.mark.parametrize("name, kind", [("GaussianHMM", "gaussian"),
                                        ("CategoricalHMM", "categorical"),
                                        ("PoissonHMM", "poisson")])
def test_default_initialization_equals_hmmlearn(name, kind):
    """Same ``random_state``: same initial parameters, hence the same fit."""
    X = _data(kind, np.random.RandomState(1))
    ref = getattr(hmmlearn_hmm, name)(K, n_iter=3, tol=0, random_state=7).fit(X, LENGTHS)
    ours = getattr(hmm, name)(K, n_iter=3, tol=0, random_state=7).fit(X, LENGTHS)
    _assert_rel(ours.transmat_, ref.transmat_, "transmat_")
    _assert_rel(ours.score(X, LENGTHS), ref.score(X, LENGTHS), "score")


def test_dishonest_casino():
    """The occasionally dishonest casino of Durbin, Eddy, Krogh & Mitchison,
    *Biological Sequence Analysis* (Cambridge UP, 1998), section 3.2: a fair
    die and a loaded one (a six with probability 1/2, the other faces 1/10),
    switching fair -> loaded with probability 0.05 and back with 0.1.
    Decoded with the book's parameters, Viterbi finds the loaded stretches
    (the book's figure 3.5); here the path equals hmmlearn's and a log-space
    Viterbi written out below, and most rolls get their true die."""
    start = np.array([0.5, 0.5])
    trans = np.array([[0.95, 0.05], [0.1, 0.9]])
    emission = np.array([[1 / 6] * 6, [0.1] * 5 + [0.5]])
    models = []
    for module in (hmm, hmmlearn_hmm):
        model = module.CategoricalHMM(2, init_params="")
        model.startprob_, model.transmat_, model.emissionprob_ = start, trans, emission
        models.append(model)
    ours, ref = models
    rolls, dice = ours.sample(300, random_state=np.random.RandomState(1998))
    logprob, path = ours.decode(rolls)
    ref_logprob, ref_path = ref.decode(rolls)
    np.testing.assert_array_equal(path, ref_path)
    _assert_rel(logprob, ref_logprob, "viterbi log-probability")
    # textbook log-space Viterbi
    log_a, log_e = np.log(trans), np.log(emission)
    x = rolls[:, 0]
    delta = np.log(start) + log_e[:, x[0]]
    back = []
    for t in range(1, len(x)):
        scores = delta[:, None] + log_a
        back.append(scores.argmax(axis=0))
        delta = scores.max(axis=0) + log_e[:, x[t]]
    naive = [int(delta.argmax())]
    for pointers in reversed(back):
        naive.append(int(pointers[naive[-1]]))
    np.testing.assert_array_equal(path, naive[::-1])
    assert (path == dice).mean() > 0.8
    assert 0 < path.sum() < len(path)  # both dice are found
    # twenty sixes in a row come from the loaded die, 1..5 repeated from the fair one
    assert (ours.predict(np.full((20, 1), 5)) == 1).all()
    assert (ours.predict(np.tile(np.arange(5), 4)[:, None]) == 0).all()


# ------------------------------------------------------------------ properties
def _gaussian(n_seq=30, length=80, seed=0, dtype=np.float64):
    rng = np.random.RandomState(seed)
    X = np.vstack([_data("gaussian", rng, length) for _ in range(n_seq)]).astype(dtype)
    return X, [length] * n_seq


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("ct", ["diag", "full"])
def test_lower_bounds_monotone(seed, ct):
    X, lengths = _gaussian(n_seq=6, length=60, seed=seed)
    model = hmm.GaussianHMM(K, covariance_type=ct, n_iter=15, tol=0, random_state=seed,
                            covars_prior=0, min_covar=1e-3).fit(X, lengths)
    lb = np.array(model.lower_bounds_)
    assert len(lb) == 15
    assert (np.diff(lb) >= -1e-9 * np.abs(lb[1:])).all(), np.diff(lb).min()


@pytest.mark.parametrize("name, kind", [("GaussianHMM", "gaussian"),
                                        ("CategoricalHMM", "categorical")])
def test_integer_weights_equal_repeated_sequences(name, kind):
    rng = np.random.RandomState(3)
    seqs = [_data(kind, rng, n) for n in (30, 1, 12)]
    weights = [2, 1, 3]
    repeated = [s for s, w in zip(seqs, weights) for _ in range(w)]
    start = {**_start(rng), **_emission_start(name, "diag", rng)}
    fits = []
    for data, sample_weight in ((seqs, weights), (repeated, None)):
        model = getattr(hmm, name)(K, init_params="", n_iter=4, tol=0)
        for attr, value in start.items():
            setattr(model, attr, value.copy())
        fits.append(model.fit(np.vstack(data), [len(s) for s in data],
                              sample_weight=sample_weight))
    for attr in ["startprob_", "transmat_", *start]:
        np.testing.assert_allclose(getattr(fits[0], attr), getattr(fits[1], attr),
                                   rtol=1e-10, atol=1e-14, err_msg=attr)
    np.testing.assert_allclose(fits[0].lower_bounds_, fits[1].lower_bounds_, rtol=1e-12)


@pytest.mark.parametrize("ct", ["diag", "full"])
@pytest.mark.parametrize("layout", ["many", "one"])
def test_threads_bit_identical(ct, layout):
    X, lengths = _gaussian(n_seq=40, length=60) if layout == "many" else _gaussian(1, 3000)
    rng = np.random.RandomState(0)
    start = {**_start(rng), **_emission_start("GaussianHMM", ct, rng)}
    fits = []
    for n_jobs in (1, 2):
        model = hmm.GaussianHMM(K, covariance_type=ct, n_iter=3, tol=0, init_params="",
                                n_jobs=n_jobs)
        for attr, value in start.items():
            setattr(model, attr, value.copy())
        fits.append(model.fit(X, lengths))
    for attr in ("startprob_", "transmat_", "means_", "_covars_"):
        np.testing.assert_array_equal(getattr(fits[0], attr), getattr(fits[1], attr))
    assert fits[0].lower_bounds_ == fits[1].lower_bounds_
    np.testing.assert_array_equal(fits[0].predict_proba(X, lengths),
                                  fits[1].predict_proba(X, lengths))


@pytest.mark.parametrize("name", ["GaussianHMM-diag", "GaussianHMM-full", "GMMHMM-diag",
                                  "CategoricalHMM"])
def test_unvisited_state_keeps_parameters(name, caplog):
    """State 2 cannot be entered (start and transition probability 0): it
    keeps its emission parameters, nothing is NaN, nothing is logged."""
    rng = np.random.RandomState(0)
    cls, _, ct = name.partition("-")
    kind = "categorical" if cls == "CategoricalHMM" else "gaussian"
    X = _data(kind, rng)
    kwargs = {"covariance_type": ct} if ct else {}
    if cls == "GMMHMM":
        kwargs["n_mix"] = 2
    model = getattr(hmm, cls)(K, init_params="", n_iter=4, tol=0, **kwargs)
    start = _emission_start(cls, ct or None, rng)
    for attr, value in start.items():
        setattr(model, attr, value.copy())
    model.startprob_ = np.array([0.5, 0.5, 0.0])
    model.transmat_ = np.array([[0.8, 0.2, 0.0], [0.3, 0.7, 0.0], [0.2, 0.3, 0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level(logging.WARNING):
            model.fit(X, LENGTHS)
    assert not caplog.records
    for attr, value in start.items():
        stored = "_covars_" if (cls, attr) == ("GaussianHMM", "covars_") else attr
        fitted = np.asarray(getattr(model, stored))
        assert np.isfinite(fitted).all(), attr
        np.testing.assert_array_equal(fitted[2], value[2], err_msg=attr)
        assert not np.array_equal(fitted[0], value[0]), attr  # visited states moved
    assert np.isfinite(model.transmat_).all() and np.isfinite(model.score(X, LENGTHS))


def test_float32_kept_and_close_to_float64():
    X, lengths = _gaussian(n_seq=5, length=80)
    f64 = hmm.GaussianHMM(K, n_iter=5, tol=0, random_state=0).fit(X, lengths)
    X32 = X.astype(np.float32)
    copy = X32.copy()
    f32 = hmm.GaussianHMM(K, n_iter=5, tol=0, random_state=0).fit(X32, lengths)
    np.testing.assert_array_equal(X32, copy)  # the user's array is untouched
    np.testing.assert_allclose(f32.means_, f64.means_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(f32.score(X32, lengths), f64.score(X, lengths), rtol=1e-5)


@pytest.mark.parametrize("source", ["dask", "list-numpy", "list-dask"])
def test_dask_and_sequence_lists_equal_in_memory(source, monkeypatch):
    """A Dask array is fitted block by block (blocks of whole sequences, here
    several: batches of 300 rows), a list of sequences as its concatenation."""
    da = pytest.importorskip("dask.array")
    import fastem.families.hmm as families
    monkeypatch.setattr(families, "BATCH_ROWS", 300)
    rng = np.random.RandomState(5)
    lengths = [120, 1, 70, 33] * 6
    X = _data("gaussian", rng, sum(lengths))
    seqs = np.split(X, np.cumsum(lengths)[:-1])
    data = {"dask": (da.from_array(X, chunks=250), lengths),
            "list-numpy": (seqs, None),
            "list-dask": ([da.from_array(s) for s in seqs], None)}[source]
    start = {**_start(rng), **_emission_start("GaussianHMM", "full", rng)}
    fits = []
    for X_fit, lengths_fit in ((X, lengths), data):
        model = hmm.GaussianHMM(K, "full", init_params="", n_iter=4, tol=0)
        for attr, value in start.items():
            setattr(model, attr, value.copy())
        fits.append(model.fit(X_fit, lengths_fit, sample_weight=np.arange(24) % 3 + 1))
    ref, ours = fits
    for attr in ("startprob_", "transmat_", "means_", "covars_"):
        np.testing.assert_allclose(getattr(ours, attr), getattr(ref, attr), rtol=1e-12,
                                   err_msg=attr)
    np.testing.assert_allclose(ours.lower_bounds_, ref.lower_bounds_, rtol=1e-13)
    np.testing.assert_allclose(ours.score(*data), ref.score(X, lengths), rtol=1e-13)
    np.testing.assert_array_equal(ours.predict(*data), ref.predict(X, lengths))
    np.testing.assert_allclose(ours.predict_proba(*data), ref.predict_proba(X, lengths),
                               rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ bad input
def _fitted_gaussian():
    X, lengths = _gaussian(n_seq=2, length=30)
    return hmm.GaussianHMM(K, n_iter=2, random_state=0).fit(X, lengths), X


@pytest.mark.parametrize("lengths, match", [([10, 10], "doesn't sum to"),
                                            ([60, 0], "positive"),
                                            ([70, -10], "positive"),
                                            ([[60]], "1-D")])
def test_bad_lengths(lengths, match):
    X, _ = _gaussian(n_seq=2, length=30)
    with pytest.raises(ValueError, match=match):
        hmm.GaussianHMM(K, n_iter=1).fit(X, lengths)


def test_bad_input_messages():
    model, X = _fitted_gaussian()
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        hmm.GaussianHMM(K, n_iter=1).fit(bad)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :1])
    with pytest.raises(ValueError, match="out of range"):
        hmm.CategoricalHMM(2, n_features=3, n_iter=1).fit(np.array([[0], [1], [3]]))
    with pytest.raises(ValueError, match="out of range"):
        hmm.CategoricalHMM(2, n_iter=1, random_state=0).fit(
            np.array([[0], [1], [2]])).predict(np.array([[3]]))
    with pytest.raises(ValueError, match="NaN"):
        hmm.CategoricalHMM(2, n_iter=1).fit(np.array([[0.0], [np.nan]]))
    with pytest.raises(ValueError, match="integers"):
        hmm.CategoricalHMM(2, n_iter=1).fit(np.array([[0.5], [1.0]]))
    with pytest.raises(ValueError, match="nonnegative"):
        hmm.CategoricalHMM(2, n_iter=1).fit(np.array([[0], [-1]]))
    zero_row = hmm.GaussianHMM(2, init_params="mc", n_iter=1)
    zero_row.startprob_ = np.array([0.5, 0.5])
    zero_row.transmat_ = np.array([[1.0, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="transmat_ rows must sum to 1"):
        zero_row.fit(X)
    with pytest.raises(ValueError, match="sample_weight"):
        hmm.GaussianHMM(K, n_iter=1).fit(X, [30, 30], sample_weight=[1.0])
    with pytest.raises(ValueError, match="decoder"):
        model.decode(X, algorithm="nope")


def test_impossible_sequence_is_an_error():
    model = hmm.CategoricalHMM(2, init_params="", n_iter=1)
    model.startprob_ = np.array([1.0, 0.0])
    model.transmat_ = np.array([[1.0, 0.0], [0.0, 1.0]])
    model.emissionprob_ = np.array([[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="zero probability"):
        model.score(np.array([[0], [1]]))
