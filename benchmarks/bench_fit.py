"""EM fits, fastem paired with scikit-learn, for every model of ``fastem compare``.

Each case fits the same data from the same initial parameters with a fixed
number of iterations and ``tol=0``, so the times are iteration times, not
convergence luck. Kernels are compiled (or loaded from the cache) in
``setup``; ``timeraw_*`` measures import + first fit in a fresh process.
"""
try:
    from asv_runner.benchmarks.mark import SkipNotImplemented
except ImportError:  # older asv
    SkipNotImplemented = NotImplementedError

from fastem._compare import FIRST_FITS, first_fit_code

from .common import DTYPES, MODELS, N_ITER, dataset, fit, sizes


class Fit:
    """One fit of ``N_ITER`` iterations: time, peak memory, speedup, objective."""

    params = (list(MODELS), DTYPES, sizes([10_000, 200_000]))
    param_names = ["model", "dtype", "n_samples"]
    timeout = 900
    number = 1
    repeat = (1, 5, 30.0)
    warmup_time = 0.0

    def setup(self, model, dtype, n_samples):
        self.model = model
        self.X, self.init = dataset(model, dtype, n_samples)
        fit(model, "fastem", self.X, self.init)  # compile / load every kernel used

    def _fit(self, lib, max_iter=N_ITER):
        try:
            return fit(self.model, lib, self.X, self.init, max_iter)[0]
        except NotImplementedError as e:
            raise SkipNotImplemented(str(e)) from e

    def time_fastem(self, *params):
        self._fit("fastem")

    def time_sklearn(self, *params):
        self._fit("sklearn")

    def peakmem_fastem(self, *params):
        self._fit("fastem")

    def peakmem_sklearn(self, *params):
        self._fit("sklearn")

    def _best_times(self, max_iters, repeats=3):
        """Best of ``repeats`` interleaved fits per (lib, max_iter)."""
        best = {}
        for _ in range(repeats):
            for lib in ("fastem", "sklearn"):
                for m in max_iters:
                    try:
                        t = fit(self.model, lib, self.X, self.init, m)[1]
                    except NotImplementedError as e:
                        raise SkipNotImplemented(str(e)) from e
                    best[lib, m] = min(best.get((lib, m), t), t)
        return best

    def track_speedup(self, *params):
        """scikit-learn whole-fit time / fastem whole-fit time (same process)."""
        best = self._best_times([N_ITER])
        return best["sklearn", N_ITER] / best["fastem", N_ITER]

    track_speedup.unit = "ratio"

    def track_speedup_per_iteration(self, *params):
        """Speedup per iteration: (fit of N_ITER - fit of 1) ratio, fixed costs removed."""
        b = self._best_times([N_ITER, 1])
        return ((b["sklearn", N_ITER] - b["sklearn", 1])
                / (b["fastem", N_ITER] - b["fastem", 1]))

    track_speedup_per_iteration.unit = "ratio"

    def track_loglik(self, *params):
        """fastem's final mean log-likelihood (lower_bound_), or inertia for KMeans."""
        est = self._fit("fastem")
        return float(getattr(est, MODELS[self.model].objective))

    track_loglik.unit = "log-likelihood (KMeans: inertia)"


def _first_fit_code(model, cold):
    """One line of code (asv embeds it in a string, so no newlines)."""
    cache = ("import atexit, os, shutil, tempfile; "
             "d = tempfile.mkdtemp(prefix='fastem-asv-'); os.environ['NUMBA_CACHE_DIR'] = d; "
             "atexit.register(shutil.rmtree, d, True); " if cold else "")
    return cache + first_fit_code(model)


def timeraw_first_fit_cold(model):
    """Import + first fit in a fresh process with an empty Numba cache (compile cost)."""
    return _first_fit_code(model, cold=True)


def timeraw_first_fit_warm(model):
    """Import + first fit in a fresh process, kernels loaded from the on-disk cache."""
    code = _first_fit_code(model, cold=False)
    # setup (untimed): fill the cache from another process first
    setup = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {code!r}])"
    return code, setup


for _f in (timeraw_first_fit_cold, timeraw_first_fit_warm):
    _f.params = [list(FIRST_FITS)]
    _f.param_names = ["model"]
    _f.number = 1
    _f.repeat = (1, 3, 60.0)
    _f.timeout = 600
