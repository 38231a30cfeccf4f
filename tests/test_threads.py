"""Threads: lanes give the same bits for any thread count; a team of
threads runs every lane of every pass and stops on a failure; fits do not
block other models' predictions; BLAS limits are restored; processes
compile one at a time."""
import sys
import threading
import time
import warnings

import numpy as np
import pytest
from numba import njit
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning

import fastem
from fastem import _threads
from fastem.kernels import _team
from fastem.kernels import kmeans as kmeans_kernels
from fastem.kernels._team import claim_lanes, lanes_done, next_pass, pass_done


def test_run_lanes_calls_every_lane_once_whatever_the_thread_count():
    for n_lanes in (1, 2, 5, 64):
        for n_threads in (1, 2, 3, 8, 100):
            seen = []
            _threads.run_lanes(lambda lo, hi: seen.extend(range(lo, hi)), (), n_lanes,
                               n_threads)
            assert sorted(seen) == list(range(n_lanes)), (n_lanes, n_threads)


def test_a_slow_thread_takes_fewer_lanes():
    """Threads claim runs of lanes as they finish: one held up for a while
    leaves the rest to the others (every lane still done once)."""
    caller = threading.get_ident()
    done = {}

    def kernel(lo, hi):
        if threading.get_ident() != caller and not done.get("slept"):
            done["slept"] = True
            threading.Event().wait(0.3)
        done.setdefault(threading.get_ident() == caller, []).extend(range(lo, hi))

    _threads.run_lanes(kernel, (), 64, 2)
    assert sorted(done[True] + done.get(False, [])) == list(range(64))
    assert len(done[True]) >= 48  # the other took one run: a quarter at most


def test_run_lanes_waits_for_every_thread_when_one_call_fails():
    done = []

    def kernel(lo, hi):
        if lo == 0:
            raise RuntimeError("boom")
        threading.Event().wait(0.2)
        done.append(lo)

    with pytest.raises(RuntimeError, match="boom"):
        _threads.run_lanes(kernel, (), 4, 4)
    assert sorted(done) == [1, 2, 3]  # nothing still writes after the error


@njit(nogil=True)
def _square_lanes(x, out, served, fail, work, lane_lo, lane_hi, serving):
    """``out = x * x + lane``; ``served``: whether a team thread ran the
    lane; ``fail``: 1 fails the caller's lanes, 2 the team threads';
    ``work``: a busy loop (a few ms) in each lane of the side that does not
    fail (of both, when none does), so that the other side claims lanes
    meanwhile, even on a loaded machine."""
    for lane in range(lane_lo, lane_hi):
        if fail[0] == (2 if serving else 1):
            raise ValueError("lane failed")
        busy = fail[0] == 0 or fail[0] == (1 if serving else 2)
        t = x[lane]
        for _ in range(work[0] if busy else 0):
            t = 0.5 * t + 0.5 * x[lane]
        out[lane] = t * t + lane
        served[lane] = serving


@njit(nogil=True)
def _square_team(x, out, served, fail, work, state, serving):
    while True:
        lo, hi = claim_lanes(state)
        if lo < hi:
            _square_lanes(x, out, served, fail, work, lo, hi, serving)
            lanes_done(state, hi - lo)
        elif not serving:
            return pass_done(state)
        elif not next_pass(state):
            return 0


def _square_team_on(n_lanes, n_threads, work=0):
    args = (np.zeros(n_lanes), np.zeros(n_lanes), np.zeros(n_lanes, dtype=np.bool_),
            np.array([0]), np.array([work]))
    return _threads.LaneTeam(_square_team, args, n_lanes, n_threads)


@pytest.mark.parametrize("n_lanes", [1, 5, 64])
def test_a_team_runs_every_lane_of_every_pass(n_lanes):
    team = _square_team_on(n_lanes, 2)
    x, out = team.args[:2]
    rng = np.random.default_rng(0)
    for _ in range(200):
        x[:] = rng.standard_normal(n_lanes)
        out[:] = np.nan
        team.run()
        assert_array_equal(out, x * x + np.arange(n_lanes))
    team.close()
    _wait_until_no_thread_serves(team)
    with pytest.raises(RuntimeError, match="closed"):
        team.run()


def _wait_until_no_thread_serves(team):
    deadline = time.monotonic() + 10
    while team.state[_team.SERVING] > 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert team.state[_team.SERVING] == 0


def test_team_threads_take_lanes_and_leave_when_no_pass_comes():
    team = _square_team_on(64, 2, work=4_000_000)
    x, out, served = team.args[:3]
    x[:] = 2.0
    team.run()
    assert_array_equal(out, 4.0 + np.arange(64))
    assert 0 < served.sum() < 64
    _wait_until_no_thread_serves(team)  # back in the pool: no pass came
    x[:] = 3.0
    team.run()  # sends another
    assert_array_equal(out, 9.0 + np.arange(64))
    assert 0 < served.sum() < 64
    team.close()


@pytest.mark.parametrize("failing", [1, 2], ids=["caller", "team thread"])
def test_a_failing_lane_stops_the_team_and_raises_its_error(failing):
    team = _square_team_on(64, 2, work=4_000_000)
    team.run()
    team.args[3][0] = failing
    with pytest.raises(ValueError, match="lane failed"):
        team.run()
    assert team.state[_team.SERVING] == 0  # nothing writes after the error
    with pytest.raises(RuntimeError, match="closed"):
        team.run()


def test_blas_limit_is_held_until_the_last_region_in_any_thread_ends():
    """BLAS limits are process-wide: a region ending in one thread must not
    lift the limit while another thread's region is still open, and the last
    one out restores it."""
    controller = _threads._blas_controller()

    def threads_now():
        return [lib["num_threads"] for lib in controller.select(user_api="blas").info()]

    before = threads_now()
    inside, release = threading.Event(), threading.Event()

    def other_region():
        with _threads.one_blas_thread():
            inside.set()
            release.wait(10)

    with _threads.one_blas_thread():
        assert all(n == 1 for n in threads_now())
        worker = threading.Thread(target=other_region)
        worker.start()
        assert inside.wait(10)
    # this thread's region is over, the other's is not: still limited
    assert _threads._blas_limiter is not None and _threads._blas_users == 1
    release.set()
    worker.join()
    assert _threads._blas_limiter is None and _threads._blas_users == 0
    # The last one out restored the limit from its thread; whether OpenBLAS
    # shows that in this thread depends on the build (OpenBLAS 0.3.31 does not
    # when this thread set it). Set, read and restore here, in one thread:
    controller.limit(limits=max(before), user_api="blas")
    with _threads.one_blas_thread():
        held = threads_now()
    assert all(n == 1 for n in held) and threads_now() == before


@pytest.mark.parametrize("make, data", [
    (lambda: fastem.GaussianMixture(4, covariance_type="full", random_state=0),
     lambda X: X),
    (lambda: fastem.BernoulliMixture(4, random_state=0), lambda X: X > 0),
    (lambda: fastem.KMeans(4, n_init=1, random_state=0), lambda X: X),
])
def test_predict_runs_while_another_model_fits(monkeypatch, make, data):
    """A fit holds no lock between its passes: another model's predict in
    another thread finishes while the fit is still running."""
    rng = np.random.default_rng(0)
    small = data(rng.standard_normal((5000, 6)))  # > 2 blocks: the threaded path
    fitted = make().fit(small)
    expected = fitted.predict(small)
    # long enough that a blocked predict would see the fit end: many cheap passes
    big = data(rng.standard_normal((6000, 6)))
    slow = make()
    # many cheap passes: KMeans stops when labels stop changing, so many runs
    slow.set_params(**({"n_init": 400} if isinstance(slow, fastem.KMeans)
                       else {"max_iter": 3000, "tol": 0}))
    started = threading.Event()
    original = _threads.run_lanes

    def run_lanes(*args):
        if threading.current_thread() is worker:
            started.set()
        return original(*args)

    monkeypatch.setattr(_threads, "run_lanes", run_lanes)  # the mixtures' passes
    monkeypatch.setattr(kmeans_kernels, "run_lanes", run_lanes)  # KMeans
    monkeypatch.setattr(kmeans_kernels, "_MIN_THREADED_WORK", 0)  # its threaded path
    errors = []

    def fit():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                slow.fit(big)
        except Exception as exc:  # reported below
            errors.append(exc)

    worker = threading.Thread(target=fit)
    worker.start()
    assert started.wait(60)
    labels = fitted.predict(small)
    still_fitting = worker.is_alive()
    worker.join()
    assert not errors, errors
    np.testing.assert_array_equal(labels, expected)
    assert still_fitting, "predict waited for the other model's whole fit"


_TINY_KERNEL = '''
from numba import njit

@njit(cache=True, nogil=True)
def tiny(x, lane_lo, lane_hi):
    return x * 2.0 + lane_lo
'''


def test_a_compile_is_announced_once_and_a_disk_cache_hit_is_not(tmp_path, monkeypatch,
                                                                  caplog):
    import subprocess
    import sys
    from fastem import _jit
    (tmp_path / "tinykernel.py").write_text(_TINY_KERNEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(_jit, "_announced", False)
    import tinykernel
    with caplog.at_level("INFO", logger="fastem"):
        _jit.machine_code(tinykernel.tiny, (1.0, 0, 1))
        _jit.machine_code(tinykernel.tiny, (1.0, 0, 1))
    notices = [r.message for r in caplog.records if "compiling" in r.message]
    assert len(notices) == 1, notices
    assert tinykernel.tiny.signatures  # compiled, and so written to the disk cache
    # a new process finds it in the disk cache: no notice
    code = ("import logging, sys; logging.basicConfig(level=logging.INFO); "
            f"sys.path.insert(0, {str(tmp_path)!r}); import tinykernel; "
            "from fastem import _jit; _jit.machine_code(tinykernel.tiny, (1.0, 0, 1)); "
            "print(tinykernel.tiny(1.0, 0, 1))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "2.0"
    assert "compiling" not in proc.stderr, proc.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="no fcntl: no lock")
def test_a_compile_holds_the_cache_folders_lock(tmp_path, monkeypatch):
    """Processes sharing a cache compile one at a time (Numba's index of a
    kernel's overloads is not safe against two writers): the lock file in
    the kernel's cache folder is held while it compiles, released after."""
    import fcntl
    from fastem import _jit
    (tmp_path / "tinylock.py").write_text(_TINY_KERNEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    import tinylock
    compile_sig = tinylock.tiny.compile
    seen = []

    def lock_is_held():
        with open(tmp_path / "__pycache__" / "fastem-compile.lock", "a") as other:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(other, fcntl.LOCK_UN)
            return False

    def compile_and_look(sig):
        seen.append(lock_is_held())
        return compile_sig(sig)

    monkeypatch.setattr(tinylock.tiny, "compile", compile_and_look)
    assert _jit.machine_code(tinylock.tiny, (1.0, 0, 1))(1.0, 0, 1) == 2.0
    assert seen == [True]
    assert not lock_is_held()
