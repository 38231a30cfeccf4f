"""The ``fastem`` command: argument errors, a tiny compare, fit on small files."""
import json
import subprocess
import sys

import numpy as np
import pytest

from fastem.cli import main


def _clusters(n=300, d=3, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=8.0, size=(k, d))
    return centers[rng.integers(0, k, n)] + rng.standard_normal((n, d))


def _run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def _assert_one_line_error(status, err, *words):
    assert status == 2
    assert err.startswith("fastem: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, err


# ------------------------------------------------------------------ arguments
def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 2


@pytest.mark.parametrize("argv, words", [
    (["compare", "--model", "nope"], ["unknown model 'nope'", "gmm-full"]),
    (["compare", "--max-iter", "1"], ["--max-iter"]),
    (["compare", "--n-samples", "0"], ["positive"]),
    (["compare", "--n-samples", "5", "--n-components", "8"], ["--n-components"]),
    (["compare", "--json", "/no/such/dir/out.json"], ["--json", "does not exist"]),
])
def test_compare_argument_errors(capsys, argv, words):
    status, _, err = _run(capsys, *argv)
    _assert_one_line_error(status, err, *words)


def test_bad_option_value_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["fit", "x.csv", "--out", "y.npy", "-k", "three"])
    assert e.value.code == 2


# -------------------------------------------------------------------- compare
def test_tiny_compare_agrees_with_sklearn(capsys, tmp_path):
    out_json = tmp_path / "r.json"
    status, out, err = _run(capsys, "compare", "--n-samples", 400, "--n-features", 3,
                            "--n-components", 3, "--max-iter", 3, "--repeats", 1,
                            "--model", "gmm-diag,gmm-full", "--model", "kmeans",
                            "--data", "blobs", "--json", out_json)
    assert status == 0, err
    assert "[1/3] GaussianMixture diag" in err  # progress
    for label in ("GaussianMixture diag", "GaussianMixture full", "KMeans",
                  "speedup/iter", "max rel diff"):
        assert label in out
    results = json.loads(out_json.read_text())["results"]
    assert [r["model"] for r in results] == ["gmm-diag", "gmm-full", "kmeans"]
    for r in results:
        assert r["max_rel_diff"] <= 1e-6
        assert r["ari"] == pytest.approx(1.0)
        assert r["n_iter"] == {"fastem": 3, "sklearn": 3}
        assert r["fit_speedup"] > 0


def test_compare_on_touching_clusters_from_kmeans_plus_plus(capsys, tmp_path):
    out_json = tmp_path / "r.json"
    status, out, err = _run(capsys, "compare", "--n-samples", 600, "--n-features", 3,
                            "--n-components", 3, "--max-iter", 3, "--repeats", 1,
                            "--model", "gmm-full,kmeans,poisson", "--data", "touching",
                            "--start", "k-means++,random-rows", "-q", "--json", out_json)
    assert status == 0, err
    results = json.loads(out_json.read_text())["results"]
    # scikit-learn's models on each start; PoissonMixture only on its own data
    assert [r["label"] for r in results] == [
        "GaussianMixture full (touching, k-means++)", "KMeans (touching, k-means++)",
        "GaussianMixture full (touching, random-rows)", "KMeans (touching, random-rows)"]
    for r in results:
        assert r["max_rel_diff"] <= 1e-6, r["label"]
        assert r["ari"] == pytest.approx(1.0)
    status, _, err = _run(capsys, "compare", "--data", "spirals")
    assert status == 2 and "--data takes blobs, touching" in err


def test_compare_model_without_sklearn_baseline(capsys):
    status, out, _ = _run(capsys, "compare", "--n-samples", 300, "--n-features", 3,
                          "--n-components", 2, "--max-iter", 2, "--repeats", 1,
                          "--model", "poisson", "-q", "--dtype", "float32")
    assert status == 0
    assert "PoissonMixture" in out and "n/a" in out


def test_compare_plot(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "c.png"
    status, _, err = _run(capsys, "compare", "--n-samples", 300, "--n-features", 2,
                          "--n-components", 2, "--max-iter", 3, "--repeats", 1,
                          "--model", "gmm-spherical", "-q", "--plot", png)
    assert status == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------ fit
def test_fit_csv_with_header_writes_labels(capsys, tmp_path):
    X = _clusters()
    src = tmp_path / "data.csv"
    np.savetxt(src, X, delimiter=",", header="a,b,c", comments="")
    out = tmp_path / "labels.csv"
    status, stdout, err = _run(capsys, "fit", src, "-k", 3, "--out", out,
                               "--covariance-type", "diag")
    assert status == 0, err
    labels = np.loadtxt(out, dtype=int)
    assert labels.shape == (300,) and set(labels) == {0, 1, 2}
    assert "GaussianMixture(k=3) on 300 x 3" in stdout


def test_fit_npy_kmeans_npz_with_parameters_and_proba(capsys, tmp_path):
    src = tmp_path / "data.npy"
    np.save(src, _clusters().astype(np.float32))
    out = tmp_path / "fit.npz"
    status, _, err = _run(capsys, "fit", src, "--model", "kmeans", "-k", 3,
                          "--out", out)
    assert status == 0, err
    with np.load(out) as z:
        assert z["labels"].shape == (300,)
        assert z["cluster_centers"].shape == (3, 3)
        assert z["cluster_centers"].dtype == np.float32
    status, _, err = _run(capsys, "fit", src, "-k", 3, "--out", out, "--proba")
    assert status == 0, err
    with np.load(out) as z:
        assert z["probabilities"].shape == (300, 3)
        np.testing.assert_allclose(z["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
        assert z["means"].shape == (3, 3)


def test_fit_verbose_prints_iterations(capsys, tmp_path):
    src = tmp_path / "data.npy"
    np.save(src, _clusters())
    status, out, _ = _run(capsys, "fit", src, "-k", 3, "--max-iter", 3, "--tol", 0,
                          "--out", tmp_path / "l.npy", "--verbose")
    assert status == 0
    assert out.count("Iteration") >= 3
    assert np.load(tmp_path / "l.npy").shape == (300,)


def test_fit_parquet(capsys, tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    X = _clusters()
    src = tmp_path / "data.parquet"
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1], "n": np.arange(300)}), src)
    status, _, err = _run(capsys, "fit", src, "-k", 2, "--out", tmp_path / "l.npy")
    assert status == 0, err
    pq.write_table(pa.table({"a": X[:, 0], "name": ["x"] * 300}), src)
    status, _, err = _run(capsys, "fit", src, "-k", 2, "--out", tmp_path / "l.npy")
    _assert_one_line_error(status, err, "column 'name'")


def _write(path, content):
    path.write_text(content)
    return path


@pytest.mark.parametrize("make, words", [
    (lambda d: d / "missing.csv", ["no such file"]),
    (lambda d: _write(d / "data.xlsx", "1,2\n"), ["unsupported file type"]),
    (lambda d: _write(d / "empty.csv", ""), ["empty"]),
    (lambda d: _write(d / "text.csv", "a,b\n1,2\n3,x\n"), ["line 3", "column 'b'", "'x'"]),
    (lambda d: _write(d / "ragged.csv", "1,2\n3,4\n5\n"), ["line 3", "1 columns"]),
    (lambda d: _write(d / "hole.csv", "1,2\n3,\n"), ["line 2", "empty value"]),
    (lambda d: _write(d / "bad.npy", "not numpy"), ["cannot read"]),
    (lambda d: np.save(d / "one.npy", np.arange(5.0)) or d / "one.npy",
     ["2-D", "(5,)", "reshape(-1, 1)"]),
    (lambda d: np.save(d / "three.npy", np.zeros((2, 2, 2))) or d / "three.npy",
     ["2-D", "(2, 2, 2)"]),
    (lambda d: np.save(d / "str.npy", np.array([["a", "b"]])) or d / "str.npy",
     ["expected numbers"]),
    (lambda d: np.save(d / "obj.npy", np.array([[1, None]], dtype=object))
     or d / "obj.npy", ["cannot read"]),
    (lambda d: np.save(d / "small.npy", np.ones((2, 2))) or d / "small.npy",
     ["n_components=8"]),
    (lambda d: np.save(d / "nan.npy", np.array([[1.0, np.nan]] * 20)) or d / "nan.npy",
     ["NaN"]),
])
def test_fit_bad_input_is_one_line_exit_2(capsys, tmp_path, make, words):
    status, out, err = _run(capsys, "fit", make(tmp_path), "--out", tmp_path / "l.npy")
    _assert_one_line_error(status, err, *words)


def test_fit_bad_output_path(capsys, tmp_path):
    src = tmp_path / "d.npy"
    np.save(src, _clusters())
    status, _, err = _run(capsys, "fit", src, "--out", tmp_path / "l.json")
    _assert_one_line_error(status, err, "--out")
    status, _, err = _run(capsys, "fit", src, "--out", tmp_path / "l.npy", "--proba")
    _assert_one_line_error(status, err, "--proba")


def test_python_dash_m_fastem():
    proc = subprocess.run([sys.executable, "-m", "fastem", "fit", "/no/such.csv",
                           "--out", "x.npy"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "fastem: error: cannot read /no/such.csv: no such file"


@pytest.mark.parametrize("model", ["kmeans", "gmm"])
def test_fit_defaults_are_the_estimators_own(model):
    from fastem.cli import ESTIMATORS, build_parser
    from fastem.cluster import KMeans
    from fastem.mixture import GaussianMixture
    reference = {"kmeans": KMeans, "gmm": GaussianMixture}[model]().get_params()
    args = build_parser().parse_args(["fit", "x.npy", "--model", model, "-o", "l.npy"])
    params = ESTIMATORS[model](args).get_params()
    for name in ("max_iter", "tol", "n_init"):
        assert params[name] == reference[name], name
    args = build_parser().parse_args(["fit", "x.npy", "--model", model, "-o", "l.npy",
                                      "--max-iter", "7", "--tol", "0", "--n-init", "2"])
    params = ESTIMATORS[model](args).get_params()
    assert (params["max_iter"], params["tol"], params["n_init"]) == (7, 0.0, 2)
