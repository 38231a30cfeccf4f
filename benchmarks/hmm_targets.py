"""The HMM issue's targets: per-iteration speed and peak memory against hmmlearn.

Run from the repository top: ``python benchmarks/hmm_targets.py`` (about 5
minutes on 2 cores; ``--scale 0.1`` for a quick look). Both libraries fit the
same data from the same initial parameters with ``tol=0`` (hmmlearn's
``implementation='scaling'``, its faster code); fastem is compiled on small
data first; the two are timed alternately in one process, best of
``--repeats``; a fit's time over its iterations is the per-iteration figure.
Peak memory is the highest resident memory a fit adds, sampled every
millisecond, each library in a fresh child process. The CPU seconds per
iteration (all threads) are printed beside: on a machine that other jobs
share, wall ratios of a two-thread fastem against a one-thread hmmlearn
understate what an idle machine shows, and the CPU ratio is the work saved.
``--first-fit`` times instead import + a first ``GaussianHMM`` fit in fresh
processes (cold and warm Numba cache) against the import floor.
"""
import argparse
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_hmm  # noqa: E402

#: (label, case, rows, goal: hmmlearn time / fastem time per iteration)
SPEED_TARGETS = [
    ("GaussianHMM diag, 1 x 1,000,000, K=8, D=4", "gaussian-one", 1_000_000, 4.0),
    ("GaussianHMM diag, 200 x 5,000, K=8, D=4", "gaussian-many", 1_000_000, 8.0),
    ("CategoricalHMM, 1 x 1,000,000, K=8, 32 symbols", "categorical", 1_000_000, 4.0),
]
#: peak memory a fit adds: fastem at most half of hmmlearn's
MEMORY_TARGET = ("gaussian-one", 1_000_000)


def _fit_seconds(case, lib, X, lengths, start, n_iter):
    """(wall, process CPU) seconds per iteration of one fit."""
    model = bench_hmm.make_model(case, lib, start, n_iter=n_iter)
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(X, lengths)
    return (time.perf_counter() - t0) / n_iter, (time.process_time() - c0) / n_iter


def speed(case, n_samples, repeats, n_iter):
    """Best per-iteration ``{lib: (wall seconds, CPU seconds)}``."""
    X, lengths, start = bench_hmm.make_case(case, n_samples)
    warm = 2 * bench_hmm.SEQUENCE_LENGTH
    bench_hmm.make_model(case, "fastem", start, n_iter=1).fit(
        X[:warm], None if case != "gaussian-many" else [bench_hmm.SEQUENCE_LENGTH] * 2)
    best = {"fastem": (float("inf"),) * 2, "hmmlearn": (float("inf"),) * 2}
    for _ in range(repeats):
        for lib in best:
            wall, cpu = _fit_seconds(case, lib, X, lengths, start, n_iter)
            best[lib] = (min(best[lib][0], wall), min(best[lib][1], cpu))
    return best


def _peak_child(lib, case, n_samples):
    """In a child: print the resident memory a fit adds at its peak (bytes)."""
    import psutil
    process = psutil.Process()
    X, lengths, start = bench_hmm.make_case(case, n_samples)
    if lib == "fastem":  # compiled and loaded before the baseline
        bench_hmm.make_model(case, lib, start, n_iter=1).fit(X[:2000])
    else:
        import hmmlearn.hmm  # noqa: F401
    model = bench_hmm.make_model(case, lib, start, n_iter=1)
    base = process.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    model.fit(X, lengths)
    done.set()
    sampler.join()
    print(peak[0] - base)


def peak_memory(lib, case, n_samples):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--peak-child", lib,
                          case, str(n_samples)], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return int(out.stdout.split()[-1])


#: a new user's first fit: import + GaussianHMM(4) with default parameters on
#: 20,000 x 8 rows (the mixtures' first-fit data), in a fresh process
FIRST_FIT_CODE = ("import warnings; warnings.simplefilter('ignore'); import numpy as np; "
                  "from fastem import hmm; "
                  "X = np.random.default_rng(0).standard_normal((20000, 8)); X[:7000] += 3; "
                  "hmm.GaussianHMM(4).fit(X)")


def first_fit(repeats):
    """``(floor, cold, warm)`` seconds: ``import sklearn.mixture, numba`` alone,
    and import + first fit (:data:`FIRST_FIT_CODE`) with an empty Numba
    cache, then with that cache filled (best of ``repeats``)."""
    import tempfile
    from fastem._compare import _fresh_process_seconds, import_seconds
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        cold = _fresh_process_seconds(FIRST_FIT_CODE, env)
        warm = min(_fresh_process_seconds(FIRST_FIT_CODE, env) for _ in range(repeats))
    return import_seconds(), cold, warm


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the row counts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-iter", type=int, default=3)
    parser.add_argument("--first-fit", action="store_true",
                        help="only time import + a first GaussianHMM fit in fresh processes")
    parser.add_argument("--peak-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peak_child:
        lib, case, n = args.peak_child
        _peak_child(lib, case, int(n))
        return 0
    if args.first_fit:
        floor, cold, warm = first_fit(args.repeats)
        print(f"import + first GaussianHMM(4) fit, 20,000 x 8, fresh process: cold (empty "
              f"Numba cache) {cold:.2f} s, warm {warm:.2f} s; `import sklearn.mixture, "
              f"numba` alone {floor:.2f} s (warm - floor: {warm - floor:+.2f} s)")
        return 0
    import logging
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)
    import fastem
    print(f"fastem from {os.path.dirname(fastem.__file__)}; per-iteration seconds, "
          f"best of {args.repeats}, {args.n_iter} iterations per fit")
    failed = []
    for label, case, n, goal in SPEED_TARGETS:
        n = int(n * args.scale)
        best = speed(case, n, args.repeats, args.n_iter)
        (ours, ours_cpu), (ref, ref_cpu) = best["fastem"], best["hmmlearn"]
        ratio = ref / ours
        ok = ratio >= goal
        failed += [] if ok else [label]
        print(f"{label:50s} fastem {ours:7.3f} s  hmmlearn {ref:7.3f} s  "
              f"ratio {ratio:5.1f}x  (goal {goal:.0f}x) {'ok' if ok else 'MISSED'}"
              f"   [CPU s/iter: fastem {ours_cpu:.3f}, hmmlearn {ref_cpu:.3f}, "
              f"ratio {ref_cpu / ours_cpu:.1f}x]")
    case, n = MEMORY_TARGET
    n = int(n * args.scale)
    ours, ref = (peak_memory(lib, case, n) for lib in ("fastem", "hmmlearn"))
    ok = ours <= ref / 2
    failed += [] if ok else ["memory"]
    print(f"{'peak memory a fit adds, ' + case + f' T={n:,}':50s} fastem {ours / 2**20:7.0f} MB"
          f"  hmmlearn {ref / 2**20:7.0f} MB  ratio {ref / max(ours, 1):5.1f}x  (goal 2x) "
          f"{'ok' if ok else 'MISSED'}")
    print("all targets met" if not failed else f"missed: {', '.join(failed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
