"""Lanes claimed by a team of threads that stay in compiled code between passes.

A pass of a lane kernel handed to pool threads from Python waits for the
hand-off: a futex wake (7-8 µs of the caller's time on a VM), the woken
thread's start, then its wait for the GIL. At 100,000 x 8 rows, K=8, a
k-means pass takes about 0.3 ms on two threads, and the hand-off cost a
third as much again. A team's threads instead poll a shared counter
without the GIL between passes, and claim the next pass's lanes as soon as
the caller publishes it (:class:`fastem._threads.LaneTeam`).

A team's state is one int64 array, one slot per cache line: the lanes of a
pass, the threads, how long a thread polls before it leaves, the next lane
to claim, the lanes done, the threads serving, and the stop and failed
flags. A kernel on a team (e.g. :func:`fastem.kernels.kmeans._bounded_lanes`)
loops::

    while True:
        lo, hi = claim_lanes(state)
        if lo < hi:
            ... lanes lo:hi, reading the pass's inputs after the claim ...
            lanes_done(state, hi - lo)
        elif not serving:
            return pass_done(state)
        elif not next_pass(state):
            return 0

Lanes stay the unit of work, so results do not depend on which thread, or
how many, ran them.
"""
import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

from ._compile import INNER

_SLOT = 8  # int64s per 64-byte cache line
N_LANES, N_THREADS, POLLS, CLAIMED, DONE, SERVING, STOP, FAILED = (
    _SLOT * i for i in range(8))

#: Polls of the shared counter before a serving thread leaves (0.6 ms on
#: the Zen 4 VM; the Python between two k-means passes takes 60-100 µs at
#: K=8, more at larger K): a team spins only between close passes, then its
#: threads return to the pool.
LEAVE_AFTER_POLLS = 1 << 20


def new_state(n_lanes, n_threads, polls=LEAVE_AFTER_POLLS):
    """A team's state, no pass published yet: ``(8 * 8,)`` int64."""
    state = np.zeros(8 * _SLOT, dtype=np.int64)
    state[N_LANES], state[N_THREADS], state[POLLS] = n_lanes, n_threads, polls
    state[CLAIMED] = state[DONE] = n_lanes
    return state


def _slot_pointer(context, builder, sig, args):
    array_type = sig.args[0]
    array = context.make_array(array_type)(context, builder, args[0])
    return cgutils.get_item_pointer(context, builder, array_type, array, [args[1]])


def _check_slot(name, state, slot):
    if not (isinstance(state, types.Array) and state.dtype == types.int64
            and state.ndim == 1 and isinstance(slot, types.Integer)):
        raise TypingError(f"{name} takes an int64 array and an integer slot")


@intrinsic
def _load(typingctx, state, slot):
    """``state[slot]``, read atomically (sequentially consistent)."""
    _check_slot("_load", state, slot)

    def codegen(context, builder, sig, args):
        return builder.load_atomic(_slot_pointer(context, builder, sig, args), "seq_cst", 8)
    return types.int64(state, slot), codegen


@intrinsic
def _store(typingctx, state, slot, value):
    """``state[slot] = value``, written atomically (sequentially consistent)."""
    _check_slot("_store", state, slot)

    def codegen(context, builder, sig, args):
        value = context.cast(builder, args[2], sig.args[2], types.int64)
        builder.store_atomic(value, _slot_pointer(context, builder, sig, args), "seq_cst", 8)
        return context.get_dummy_value()
    return types.none(state, slot, value), codegen


@intrinsic
def _add(typingctx, state, slot, value):
    """``state[slot] += value`` atomically; returns the old value."""
    _check_slot("_add", state, slot)

    def codegen(context, builder, sig, args):
        value = context.cast(builder, args[2], sig.args[2], types.int64)
        return builder.atomic_rmw("add", _slot_pointer(context, builder, sig, args), value,
                                  "seq_cst")
    return types.int64(state, slot, value), codegen


@intrinsic
def _swap_if(typingctx, state, slot, expected, value):
    """``state[slot] = value`` if it holds ``expected``, atomically; whether it did."""
    _check_slot("_swap_if", state, slot)

    def codegen(context, builder, sig, args):
        expected = context.cast(builder, args[2], sig.args[2], types.int64)
        value = context.cast(builder, args[3], sig.args[3], types.int64)
        pair = builder.cmpxchg(_slot_pointer(context, builder, sig, args), expected, value,
                               "seq_cst", "seq_cst")
        return builder.extract_value(pair, 1)
    return types.boolean(state, slot, expected, value), codegen


@njit(**INNER)
def claim_lanes(state):
    """The next run of lanes ``(lo, hi)`` of the published pass, empty when
    none is left: guided, the lanes left over twice the threads (at least
    one), so a thread that starts late or runs slow takes fewer."""
    n_lanes = state[N_LANES]
    n_threads = state[N_THREADS]
    while True:
        lo = _load(state, CLAIMED)
        if lo >= n_lanes:
            return n_lanes, n_lanes
        hi = min(n_lanes, lo + max(1, (n_lanes - lo) // (2 * n_threads)))
        if _swap_if(state, CLAIMED, lo, hi):
            return lo, hi


@njit(**INNER)
def lanes_done(state, n):
    """Count ``n`` lanes of the pass as done (their results written)."""
    _add(state, DONE, n)


@njit(**dict(INNER, no_cpython_wrapper=False))
def pass_done(state):
    """The caller's wait for every lane of the pass: 1 when they are done,
    -1 when a serving thread failed (its lanes will never be), 0 when they
    are still running after ``state[POLLS]`` polls (the caller then gives
    its core away a moment: a serving thread may be waiting for one)."""
    n_lanes = state[N_LANES]
    for _ in range(state[POLLS]):
        if _load(state, DONE) >= n_lanes:
            return 1
        if _load(state, FAILED) != 0:
            return -1
    return 0


@njit(**INNER)
def next_pass(state):
    """A serving thread's wait for lanes to claim: True when there are; False
    when the team stops or no pass came within ``state[POLLS]`` polls, and
    then the thread has left (no longer counted as serving)."""
    n_lanes = state[N_LANES]
    polls = state[POLLS]
    while True:
        for _ in range(polls):
            if _load(state, STOP) != 0:
                _add(state, SERVING, -1)
                return False
            if _load(state, CLAIMED) < n_lanes:
                return True
        _add(state, SERVING, -1)
        # a pass published while it left would go unserved: the caller saw
        # this thread serving and sent no other
        if _load(state, CLAIMED) >= n_lanes or _load(state, STOP) != 0:
            return False
        _add(state, SERVING, 1)


@njit(**dict(INNER, no_cpython_wrapper=False))
def publish(state):
    """Open a new pass (its inputs written before); returns how many threads
    are serving, which will claim its lanes."""
    _store(state, DONE, 0)
    _store(state, CLAIMED, 0)
    return _load(state, SERVING)


@njit(**dict(INNER, no_cpython_wrapper=False))
def join(state, n):
    """Count ``n`` more threads as serving (about to be started)."""
    _add(state, SERVING, n)


@njit(**dict(INNER, no_cpython_wrapper=False))
def stop(state, failed):
    """Stop the team: no lane is claimed after this, and serving threads
    leave after their current lanes (a queued one on starting); ``failed``:
    a thread failed (the caller's wait ends)."""
    _store(state, CLAIMED, state[N_LANES])
    if failed:
        _store(state, FAILED, 1)
    _store(state, STOP, 1)


@njit(**dict(INNER, no_cpython_wrapper=False))
def leave(state):
    """A serving thread that failed no longer serves."""
    _add(state, SERVING, -1)


@njit(**dict(INNER, no_cpython_wrapper=False))
def wait_left(state):
    """Wait until no thread serves, queued ones included (after :func:`stop`)."""
    while _load(state, SERVING) > 0:
        pass
