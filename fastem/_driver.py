"""The EM loop. It knows no model: only a statistics pass and an M-step."""
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning


class ComponentCollapse(ValueError):
    """An M-step found collapsed components (a ``ValueError`` naming the remedy).

    Attributes
    ----------
    components : list
        Indices of the collapsed components (``None`` for a shared parameter,
        e.g. a tied covariance).
    reseedable : bool
        False when re-seeding cannot help (e.g. a feature constant in the data).
    """

    def __init__(self, message, components=(), reseedable=True):
        super().__init__(message)
        self.components = list(components)
        self.reseedable = reseedable


def m_step(maximize, reseed, stats, params):
    """``maximize(stats, params)``; on :class:`ComponentCollapse`, re-seed or raise.

    Parameters
    ----------
    reseed : callable(stats, params, components) -> params, or None
        The family's re-seeding M-step (``on_collapse='reseed'``); None raises.

    Returns
    -------
    params, reseeded : dict, bool
    """
    try:
        return maximize(stats, params), False
    except ComponentCollapse as exc:
        if reseed is None or not exc.reseedable:
            raise
        return reseed(stats, params, exc.components), True


@dataclass
class EMRun:
    """Outcome of one EM run from one initialization."""

    params: dict
    lower_bound: float = -np.inf
    lower_bounds: list = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False
    reseeded: list = field(default_factory=list)
    #: statistics of the last pass and the parameters they were taken at
    #: (None when no pass ran): what ``partial_fit`` continues from
    stats: tuple = None
    stats_params: dict = None


def run_em(pass_fn, maximize, params, *, total_weight, tol, max_iter,
           lower_bound=-np.inf, verbose=0, verbose_interval=10, reseed=None,
           converged=None, objective=None):
    """Iterate statistics pass + M-step from ``params``.

    Parameters
    ----------
    pass_fn : callable(params) -> (stats, loglik)
        One read of the data: additive statistics and ``sum w log p(x)``.
    maximize : callable(stats, params) -> params
    params : dict
        Starting parameters.
    total_weight : float
        Sum of sample weights; ``lower_bound = loglik / total_weight`` is the
        weighted mean log-likelihood (scikit-learn's ``lower_bound_``).
    tol : float
        Stop when the lower bound changes by less than ``tol``.
    max_iter : int
    lower_bound : float
        Lower bound of ``params`` if known (warm start), else -inf.
    verbose, verbose_interval : int
        Print per-iteration progress as scikit-learn does.
    reseed : callable(stats, params, components) -> params, or None
        Re-seeding M-step used when ``maximize`` raises
        :class:`ComponentCollapse` (None: the error propagates). An iteration
        that re-seeds is listed in ``EMRun.reseeded`` and never counts as
        converged (the log-likelihood may drop after it).
    converged : callable(stats, old_params, new_params) -> bool, or None
        The model's own convergence test, in place of the change of the
        lower bound within ``tol`` (k-means: no label changed, or the
        centers moved less than its tolerance).
    objective : callable(stats, loglik, new_params) -> float, or None
        The lower bound of an iteration from its pass and the parameters of
        its M-step (variational Bayes: the ELBO); None: ``loglik / total_weight``.

    Returns
    -------
    EMRun
        ``lower_bound`` is the log-likelihood of the parameters that entered
        the last M-step, as in scikit-learn.
    """
    run = EMRun(params=params, lower_bound=lower_bound)
    start = last_print = time.perf_counter()
    for n_iter in range(1, max_iter + 1):
        previous = run.lower_bound
        stats, loglik = pass_fn(run.params)
        run.stats, run.stats_params = stats, run.params
        run.params, reseeded = m_step(maximize, reseed, stats, run.params)
        if reseeded:
            run.reseeded.append(n_iter)
        run.lower_bound = (loglik / total_weight if objective is None
                           else objective(stats, loglik, run.params))
        run.lower_bounds.append(run.lower_bound)
        run.n_iter = n_iter
        change = run.lower_bound - previous
        if verbose >= 1 and n_iter % verbose_interval == 0:
            now = time.perf_counter()
            if verbose >= 2:
                print(f"  Iteration {n_iter}\t time lapse {now - last_print:.5f}s"
                      f"\t ll change {change:.5f}")
            else:
                print(f"  Iteration {n_iter}")
            last_print = now
        done = (abs(change) < tol if converged is None
                else converged(stats, run.stats_params, run.params))
        if done and not reseeded:
            run.converged = True
            break
    if verbose >= 1:
        state = "converged" if run.converged else "did not converge"
        print(f"Initialization {state}. time lapse {time.perf_counter() - start:.5f}s"
              f"\t lower bound {run.lower_bound:.5f}")
    return run


def fit_em(pass_fn, maximize, initialize, *, n_init, total_weight, tol, max_iter,
           warm_params=None, warm_lower_bound=-np.inf, verbose=0,
           verbose_interval=10, reseed=None, objective=None):
    """Run EM from ``n_init`` initializations (or one warm start); keep the best.

    Parameters
    ----------
    initialize : callable() -> params
        Draws a fresh initialization (consuming the caller's random state).
    warm_params : dict or None
        Parameters to continue from; then ``n_init`` is ignored.

    Returns
    -------
    EMRun
        The run with the highest final lower bound. A ``ConvergenceWarning``
        is issued when it did not converge (and ``max_iter > 0``).
    """
    best = None
    n_runs = 1 if warm_params is not None else n_init
    for init in range(n_runs):
        if verbose >= 1:
            print(f"Initialization {init}")
        if warm_params is not None:
            params, lower_bound = warm_params, warm_lower_bound
        else:
            params, lower_bound = initialize(), -np.inf
        run = run_em(pass_fn, maximize, params, total_weight=total_weight, tol=tol,
                     max_iter=max_iter, lower_bound=lower_bound, verbose=verbose,
                     verbose_interval=verbose_interval,
                     reseed=reseed, objective=objective)
        if best is None or run.lower_bound > best.lower_bound:
            best = run
    if not best.converged and max_iter > 0:
        warnings.warn("Best performing initialization did not converge. Try different "
                      "init parameters, or increase max_iter, tol, or check for "
                      "degenerate data.", ConvergenceWarning)
    return best
