"""BayesianGaussianMixture's targets (issue 15): ratios against scikit-learn.

Run from the repository top: ``python benchmarks/bayesian_targets.py``
(``--scale 0.1`` for a quick look at one tenth of the rows). Where the CPU has
AVX-512 it runs twice: native code, then AVX2 code (``targets.avx2_environment``:
Numba, OpenBLAS and numpy, in a child process with its own Numba cache).

Speed: whole fits of N=1,000,000, D=16, K=16, 10 iterations, ``tol=0``, both
libraries from the same random rows (``init_params='random_from_data'``, same
``random_state``), interleaved in one process, best of ``--repeats``, compile
excluded (:func:`fastem._compare.compare_model`). Memory: the peak resident
memory one 2-iteration fit adds at N=2,000,000, D=4, K=64, in a fresh child
process per library (:func:`fastem._compare.peak_fit_memory`). asv does not
collect this module (it defines no benchmarks).
"""
import argparse
import os
import subprocess
import sys
import tempfile

#: (model, n_samples, n_features, n_components, max_iter, whole-fit goal)
SPEED_TARGETS = [("bgm-diag", 1_000_000, 16, 16, 10, 15.0),
                 ("bgm-full", 1_000_000, 16, 16, 10, 20.0)]
#: (models, n_samples, n_features, n_components, goal in bytes for fastem);
#: scikit-learn is measured on the first model only (it adds gigabytes)
MEMORY_TARGET = (("bgm-diag", "bgm-full"), 2_000_000, 4, 64, 100e6)


def main(argv=None):
    """Run the targets; print the tables and a pass/fail summary; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every row count (default 1)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--code-path", choices=["native", "avx2", "both"], default=None,
                        help="default: both where the CPU has AVX-512, else native")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args(argv)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    from targets import _code_path, _has_avx512, avx2_environment  # the core targets' helpers

    code_path = args.code_path or ("both" if _has_avx512() else "native")
    if code_path != "native":  # AVX2 code needs a fresh process (environment)
        if code_path == "both":
            native = ["--scale", str(args.scale), "--repeats", str(args.repeats),
                      "--code-path", "native"]
            main(native + (["--skip-memory"] if args.skip_memory else []))
        env = dict(avx2_environment(), NUMBA_CACHE_DIR=os.path.join(
            tempfile.gettempdir(), "fastem-numba-haswell"))
        child = [sys.executable, os.path.abspath(__file__), "--scale", str(args.scale),
                 "--repeats", str(args.repeats), "--code-path", "native",
                 "--skip-memory"]  # memory does not depend on the instructions
        return subprocess.run(child, env=env).returncode

    from fastem import _compare

    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    results, summary = [], []
    for name, n, d, k, n_iter, goal in SPEED_TARGETS:
        model = _compare.MODELS[name]
        n = int(n * args.scale)
        say(f"{model.label}: N={n:,}, D={d}, K={k}, {n_iter} iterations")
        X = model.make_data(n, d, k, "float64", 0)
        r = _compare.compare_model(model, X, k, max_iter=n_iter, repeats=args.repeats,
                                   progress=lambda m, lb=model.label: say(f"  {lb}: {m}"))
        del X
        results.append(r)
        summary.append((f"{model.label} N={n:,} D={d} K={k}, whole fit",
                        r.fit_speedup, goal))
    print(f"code path: {_code_path()}")
    print(_compare.format_table(results))
    print("\nspeed targets (scikit-learn time / fastem time, same process):")
    for what, value, goal in summary:
        verdict = "ok" if value >= goal else "BELOW TARGET"
        print(f"  {what:<62} {value:6.2f}x  (target >= {goal:g}x)  {verdict}")
    if args.skip_memory:
        return 0
    names, n, d, k, goal = MEMORY_TARGET
    n = int(n * args.scale)
    print(f"\npeak memory one fit adds, N={n:,} D={d} K={k} (an N x K float64 matrix "
          f"is {n * k * 8 / 1e9:.2f} GB), fresh child processes:")
    for i, name in enumerate(names):
        model = _compare.MODELS[name]
        for lib in ("fastem", "sklearn") if i == 0 else ("fastem",):
            say(f"memory: {model.label}, {lib}")
            added = _compare.peak_fit_memory(model, lib, n, d, k)
            verdict = "" if lib == "sklearn" else \
                ("  ok" if added < goal else f"  ABOVE TARGET ({goal / 1e6:g} MB)")
            print(f"  {model.label:<32} {lib:<8} {added / 1e6:10.1f} MB{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
