"""float32 against float64 input for the same fastem fit.

Run from the repository top: ``python benchmarks/bench_dtype.py`` (about two
minutes on 2 cores; ``--scale 0.1`` for a quick look). Each model fits the
same data, cast to each dtype, from the same initial parameters with
``tol=0``; the fits are interleaved, compile time is excluded (a first fit of
each dtype warms the cache), and the best of ``--repeats`` whole fits is
reported. asv does not collect this module (it defines no benchmarks); asv
times both dtypes in ``bench_fit``.
"""
import argparse
import dataclasses
import os
import sys

import numpy as np

#: (label, model, n_samples, n_features, n_components, max_iter, KMeans data)
CASES = [
    ("GaussianMixture diag", "gmm-diag", 1_000_000, 16, 16, 10, None),
    ("GaussianMixture full", "gmm-full", 1_000_000, 16, 16, 10, None),
    ("GaussianMixture tied", "gmm-tied", 1_000_000, 16, 16, 10, None),
    ("GaussianMixture spherical", "gmm-spherical", 1_000_000, 16, 16, 10, None),
    ("KMeans separated", "kmeans", 1_000_000, 16, 64, 20, "separated"),
    ("KMeans overlapping", "kmeans", 1_000_000, 16, 64, 20, "overlapping"),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every row count (default 1)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    from fastem import _compare
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_kmeans import data_maker  # this directory's KMeans datasets

    for label, name, n, d, k, n_iter, data in CASES:
        model = _compare.MODELS[name]
        if data is not None:
            model = dataclasses.replace(model, make_data=data_maker(data))
        X64 = model.make_data(int(n * args.scale), d, k, "float64", 0)
        data = {"float64": X64, "float32": X64.astype(np.float32)}
        inits = {dt: model.make_init(X, k, 0) for dt, X in data.items()}
        best = dict.fromkeys(data, np.inf)
        for dt, X in data.items():  # compile / load the cache
            _compare.fit_timed(model, "fastem", X, inits[dt], 2, None, k)
        for _ in range(args.repeats):
            for dt, X in data.items():
                seconds = _compare.fit_timed(model, "fastem", X, inits[dt], n_iter, None, k)[1]
                best[dt] = min(best[dt], seconds)
        print(f"{label:<25} N={len(X64):,} D={d} K={k}, {n_iter} iterations: float64 "
              f"{best['float64']:6.2f} s, float32 {best['float32']:6.2f} s -> float32 "
              f"{best['float64'] / best['float32']:.2f}x faster", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
