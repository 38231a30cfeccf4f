"""The ``fastem`` command: ``fastem compare`` (against scikit-learn) and ``fastem fit FILE``.

Errors are one line on stderr (``fastem: error: ...``) and exit status 2.
"""
import argparse
import json
import logging
import os
import sys
import time
import warnings

import numpy as np

from . import _compare
from ._io import SUFFIXES, DataError, load_matrix


class UsageError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


# ------------------------------------------------------------------ compare
def _progress(quiet):
    """Progress printer on stderr (overwritten in place on a terminal)."""
    if quiet:
        return lambda msg: None
    tty = sys.stderr.isatty()

    def say(msg):
        if tty:
            sys.stderr.write("\r\033[K" + msg)
        else:
            sys.stderr.write(msg + "\n")
        sys.stderr.flush()
    return say


def _check_output_path(path, what):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{what}: folder {folder} does not exist")


def _selected_models(names):
    if not names:
        return list(_compare.MODELS.values())
    wanted = [n.strip() for arg in names for n in arg.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in _compare.MODELS]
    if unknown:
        raise UsageError(f"unknown model {unknown[0]!r}; choose from "
                         f"{', '.join(_compare.MODELS)}")
    return [_compare.MODELS[n] for n in dict.fromkeys(wanted)]


def _choices(value, allowed, option):
    """A comma-separated option value as a list, each item checked."""
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    for v in chosen:
        if v not in allowed:
            raise UsageError(f"{option} takes {', '.join(allowed)} (comma-separated), "
                             f"got {v!r}")
    if not chosen:
        raise UsageError(f"{option} needs at least one of {', '.join(allowed)}")
    return chosen


def run_compare(args):
    """``fastem compare``: time and check fastem against scikit-learn; print the tables."""
    models = _selected_models(args.model)
    if args.max_iter < 2:
        raise UsageError("--max-iter must be at least 2 (per-iteration time needs two fits)")
    if min(args.n_samples, args.n_features, args.n_components, args.repeats) < 1:
        raise UsageError("--n-samples, --n-features, --n-components and --repeats "
                         "must be positive")
    if args.n_components > args.n_samples:
        raise UsageError("--n-components must not exceed --n-samples")
    if args.n_jobs is not None and args.n_jobs == 0:
        raise UsageError("--n-jobs must be a non-zero integer")
    if args.json:
        _check_output_path(args.json, "--json")
    if args.plot:
        _check_output_path(args.plot, "--plot")
        _import_pyplot()  # fail now, not after a minute of work
    datasets = _choices(args.data, _compare.DATASETS, "--data")
    starts = _choices(args.start, _compare.STARTS, "--start")
    # other datasets and starts: the models scikit-learn also has
    models = [_compare.variant(m, d, s) for d in datasets for s in starts for m in models
              if (d, s) == ("blobs", "random-rows")
              or (m.sklearn is not None and m.data_variants)]
    say = _progress(args.quiet)
    results, data = [], {}
    started = time.perf_counter()
    for i, model in enumerate(models, 1):
        def step(msg, i=i, model=model):
            say(f"[{i}/{len(models)}] {model.label}: {msg}")
        key = model.make_data
        if key not in data:
            step("making data")
            data = {key: model.make_data(args.n_samples, args.n_features,
                                         args.n_components, args.dtype, args.seed)}
        results.append(_compare.compare_model(
            model, data[key], args.n_components, max_iter=args.max_iter,
            repeats=args.repeats, n_jobs=args.n_jobs, seed=args.seed,
            history=bool(args.plot), progress=step))
    say(f"done in {time.perf_counter() - started:.0f} s")
    if not args.quiet:
        sys.stderr.write("\n" if sys.stderr.isatty() else "")
    info = _compare.machine_info()
    setup = (f"N={args.n_samples:,}, D={args.n_features}, K={args.n_components}, "
             f"{args.dtype}, {args.max_iter} iterations (tol=0), same initial "
             f"parameters; best of {args.repeats} or more interleaved rounds; threads: "
             f"{args.n_jobs or info['numba_threads']}")
    print(f"fastem compare: {setup}")
    print(f"machine: {info['processor']}, {info['cpus']} CPUs, {info['platform']}; "
          f"numpy {info['numpy']}, numba {info['numba']}, scikit-learn "
          f"{info['scikit-learn']}")
    print()
    print(_compare.format_table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"setup": vars(args) | {"command": "compare"}, "machine": info,
                       "results": [r.to_dict() for r in results]}, f, indent=2,
                      default=str)
        print(f"\nwrote {args.json}")
    if args.plot:
        plot_results(results, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _import_pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: python -m pip install "
                         "'fastem[plot]'") from None
    return plt


def plot_results(results, path):
    """Save speedup bars and objective-per-iteration curves of both libraries to ``path``."""
    plt = _import_pyplot()
    fig, (bars, curves) = plt.subplots(1, 2, figsize=(13, 4.8))
    x = np.arange(len(results))
    bars.bar(x - 0.2, [r.iter_speedup for r in results], 0.4, label="per iteration")
    bars.bar(x + 0.2, [r.fit_speedup for r in results], 0.4, label="whole fit")
    bars.axhline(1.0, color="gray", lw=0.8)
    bars.set_xticks(x, [r.label.replace("GaussianMixture ", "GMM ") for r in results],
                    rotation=20)
    bars.set_ylabel("speedup (scikit-learn time / fastem time)")
    bars.set_title("fastem vs scikit-learn")
    bars.legend()
    for r in results:
        if "fastem" not in r.history:
            continue
        it = np.arange(1, len(r.history["fastem"]) + 1)
        line, = curves.plot(it, r.history["fastem"], label=f"{r.label} fastem")
        if "sklearn" in r.history:
            curves.plot(np.arange(1, len(r.history["sklearn"]) + 1), r.history["sklearn"],
                        "o", mfc="none", color=line.get_color(),
                        label=f"{r.label} scikit-learn")
    curves.xaxis.get_major_locator().set_params(integer=True)
    curves.set_xlabel("iteration")
    curves.set_ylabel("mean log-likelihood")
    curves.set_title("log-likelihood per iteration (same start)")
    if curves.lines:
        curves.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------- fit
def _given(args):
    """The options the user gave among those whose defaults are the estimator's."""
    given = dict(max_iter=args.max_iter, tol=args.tol, n_init=args.n_init)
    return {k: v for k, v in given.items() if v is not None}


def _gmm(args):
    from .mixture import GaussianMixture
    return GaussianMixture(args.k, covariance_type=args.covariance_type,
                           random_state=args.random_state, n_jobs=args.n_jobs,
                           verbose=2 if args.verbose else 0, verbose_interval=1,
                           **_given(args))


def _kmeans(args):
    from .cluster import KMeans
    return KMeans(args.k, random_state=args.random_state, n_jobs=args.n_jobs,
                  verbose=int(args.verbose), **_given(args))


#: ``fastem fit --model`` name -> builder(args) of the unfitted estimator.
ESTIMATORS = {"gmm": _gmm, "kmeans": _kmeans}

_LABEL_SUFFIXES = (".npy", ".npz", ".csv", ".txt")


def run_fit(args):
    """``fastem fit INPUT``: cluster a file and write labels (and parameters) to ``--out``."""
    out_suffix = os.path.splitext(args.out)[1].lower()
    if out_suffix not in _LABEL_SUFFIXES:
        raise UsageError(f"--out must end with one of {', '.join(_LABEL_SUFFIXES)}, "
                         f"got {args.out!r}")
    _check_output_path(args.out, "--out")
    if args.proba and out_suffix != ".npz":
        raise UsageError("--proba needs an .npz --out file")
    X = load_matrix(args.input)
    if args.dtype:
        X = np.asarray(X, dtype=args.dtype)
    est = ESTIMATORS[args.model](args)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = est.fit_predict(X)
    seconds = time.perf_counter() - start
    for w in caught:
        print(f"fastem: warning: {w.message}", file=sys.stderr)
    _write_output(args.out, est, X, labels, args.proba)
    objective = (f"inertia {est.inertia_:.6g}" if hasattr(est, "inertia_")
                 else f"mean log-likelihood {est.lower_bound_:.6g}")
    print(f"{type(est).__name__}(k={args.k}) on {X.shape[0]:,} x {X.shape[1]} "
          f"in {seconds:.2f} s: {est.n_iter_} iterations, {objective}; "
          f"labels written to {args.out}")
    return 0


def fitted_parameters(est):
    """Fitted public attributes of ``est`` (names ending in ``_``) as arrays."""
    out = {}
    for name, value in vars(est).items():
        if name.endswith("_") and not name.startswith("_"):
            arr = np.asarray(value)
            if arr.dtype.kind in "biufb":
                out[name.rstrip("_")] = arr
    return out


def _write_output(path, est, X, labels, proba):
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".npy":
        np.save(path, labels)
    elif suffix in (".csv", ".txt"):
        np.savetxt(path, labels, fmt="%d")
    else:
        arrays = {"labels": labels, **fitted_parameters(est)}
        if proba:
            arrays["probabilities"] = est.predict_proba(X)
        np.savez(path, **arrays)


# ------------------------------------------------------------------- parser
def build_parser():
    """The argument parser of the ``fastem`` command."""
    parser = argparse.ArgumentParser(
        prog="fastem", description="Compiled EM: compare fastem with scikit-learn, "
        "or cluster a data file.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    c = sub.add_parser("compare", help="fit fastem and scikit-learn from identical "
                       "initial parameters and print a comparison table",
                       description="Fit fastem and scikit-learn on a generated "
                       "dataset from identical initial parameters and compare "
                       "speed, results and memory.")
    c.add_argument("--n-samples", type=int, default=100_000)
    c.add_argument("--n-features", type=int, default=8)
    c.add_argument("--n-components", type=int, default=8)
    c.add_argument("--max-iter", type=int, default=10,
                   help="iterations per timed fit (tol=0); default 10")
    c.add_argument("--repeats", type=int, default=3,
                   help="interleaved repetitions, at least (short fits repeat until "
                   "about 2 s of timing); the best time counts (default 3)")
    c.add_argument("--model", action="append", metavar="NAME",
                   help=f"model(s) to compare, repeatable or comma-separated: "
                   f"{', '.join(_compare.MODELS)} (default: all)")
    c.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    c.add_argument("--data", default="blobs,touching", metavar="LIST",
                   help="datasets: blobs (each model's own), touching (clusters that "
                        "overlap, of unequal sizes and shapes, in 2%% noise; models "
                        "scikit-learn has); default: both")
    c.add_argument("--start", default="random-rows", metavar="LIST",
                   help="initial means: random-rows, k-means++ (comma-separated); "
                        "the same for both libraries")
    c.add_argument("--n-jobs", type=int, default=None,
                   help="threads for both libraries (default: all cores)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    c.add_argument("--plot", metavar="FILE.png",
                   help="draw speedups and log-likelihood curves (needs matplotlib)")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    c.set_defaults(run=run_compare)

    f = sub.add_parser("fit", help="cluster a data file",
                       description="Fit a model to the rows of INPUT and write the "
                       "labels (.npy, .csv, .txt) or labels and fitted parameters "
                       "(.npz) to --out.")
    f.add_argument("input", metavar="INPUT",
                   help=f"data file ({', '.join(SUFFIXES)}; .parquet needs pyarrow)")
    f.add_argument("--model", choices=list(ESTIMATORS), default="gmm")
    f.add_argument("-k", "--n-components", dest="k", type=int, default=8,
                   help="number of components / clusters (default 8)")
    f.add_argument("--covariance-type", choices=["full", "tied", "diag", "spherical"],
                   default="full", help="GaussianMixture only (default full)")
    # None: the estimator's own default (KMeans and GaussianMixture differ)
    f.add_argument("--max-iter", type=int, default=None,
                   help="default: the estimator's (KMeans 300, GaussianMixture 100)")
    f.add_argument("--tol", type=float, default=None,
                   help="default: the estimator's")
    f.add_argument("--n-init", type=int, default=None,
                   help="default: the estimator's")
    f.add_argument("--random-state", type=int, default=0)
    f.add_argument("--n-jobs", type=int, default=None)
    f.add_argument("--dtype", choices=["float64", "float32"], default=None,
                   help="convert the data (default: keep .npy dtype, float64 otherwise)")
    f.add_argument("-o", "--out", required=True, metavar="FILE",
                   help="labels as .npy/.csv/.txt, or .npz with labels and parameters")
    f.add_argument("--proba", action="store_true",
                   help="also store component probabilities in the .npz")
    f.add_argument("-v", "--verbose", action="store_true", help="per-iteration progress")
    f.set_defaults(run=run_fit)
    return parser


def _show_notices():
    """Print the ``fastem`` logger's notices (e.g. a first compile) on stderr."""
    logger = logging.getLogger("fastem")
    if not any(getattr(h, "_fastem_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("fastem: %(message)s"))
        handler._fastem_cli = True
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def main(argv=None):
    """Entry point of the ``fastem`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    _show_notices()
    try:
        return args.run(args)
    except (UsageError, DataError) as e:
        message = str(e)
    except (ValueError, TypeError, OSError) as e:  # refused by an estimator or I/O
        message = " ".join(str(e).split())
    except KeyboardInterrupt:
        print("\nfastem: interrupted", file=sys.stderr)
        return 130
    print(f"fastem: error: {message}", file=sys.stderr)
    return 2
