"""Cold compile time of every kernel a first fit compiles, per model and dtype.

Run from the repository top: ``python benchmarks/compile_times.py`` (about
two minutes on 2 cores). Each (model, dtype) fits small data with default
parameters in a fresh process whose Numba cache directory is empty, and
records Numba's compile events: the seconds of each kernel the fit calls
from Python (callees included), then the whole first fit. Every kernel is
serial (threads come from fastem's own pool), so there is one compile per
kernel and dtype. asv does not collect this module.
"""
import json
import os
import subprocess
import sys
import tempfile

#: model -> the first fit (X: 2,000 x 8 float rows)
FITS = {
    "GaussianMixture full": "fastem.GaussianMixture(4, covariance_type='full').fit(X)",
    "GaussianMixture diag": "fastem.GaussianMixture(4, covariance_type='diag').fit(X)",
    "KMeans": "fastem.KMeans(8).fit(X)",
    "BernoulliMixture": "fastem.BernoulliMixture(4).fit(X > 0)",
    "CategoricalMixture": "fastem.CategoricalMixture(4).fit((X > 0) + (X > 1))",
}

_CHILD = """
import json, time, warnings
warnings.simplefilter("ignore")
import numpy as np
import fastem
from numba.core import event
X = np.random.default_rng(0).standard_normal((2000, 8)).astype({dtype!r})
X[:700] += 3
start = time.perf_counter()
with event.install_recorder("numba:compile") as rec:
    {fit}
total = time.perf_counter() - start
open_, kernels = [], []
for ts, ev in rec.buffer:
    name = ev.data["dispatcher"].py_func.__name__
    if ev.is_start:
        open_.append((name, ts))
    else:
        name, began = open_.pop()
        if not open_:  # called from Python, not from another kernel
            kernels.append((name, ts - began))
print(json.dumps({{"kernels": kernels, "total": total}}))
"""


def measure(fit, dtype):
    """(kernels [(name, seconds)], seconds of the whole first fit), cold."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, "-c", _CHILD.format(fit=fit, dtype=dtype)],
                             env=env, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["kernels"], result["total"]


def main():
    print("model                 dtype    kernel                         compile s")
    for model, fit in FITS.items():
        for dtype in ("float64", "float32"):
            kernels, total = measure(fit, dtype)
            for name, seconds in kernels:
                print(f"{model:<21} {dtype:<8} {name:<30} {seconds:9.2f}")
            print(f"{model:<21} {dtype:<8} {'(whole first fit)':<30} {total:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
