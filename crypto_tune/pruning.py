"""Phase 1 pruners (``phase.pruner``): the one registry of names, and the trial a job runs as.

A Phase 1 trial trains its folds in order; after each fold it reports that fold's score as an
intermediate value (step = fold number; a basket's member ``m`` uses steps ``m * n_folds + fold``)
and asks its study's pruner whether to go on. A pruned trial raises :class:`optuna.TrialPruned`
and the sweeper records it PRUNED (Optuna's own state), which the verdict's family counts.

* ``none``: never prune (Optuna's ``NopPruner``); the folds are still reported.
* ``median`` (the default, chosen by ``make bench``: docs/benchmarks.md): Optuna's
  ``MedianPruner(n_startup_trials=5, n_warmup_steps=0)``: once 5 trials are complete, stop a
  trial whose best fold score so far is below the median of the earlier trials' scores at the
  same fold, from the first fold on (measured against the second fold on, 12 studies on four
  markets: the same best IC in 10, 20% less time; docs/benchmarks.md).
* ``wilcoxon``: Optuna's ``WilcoxonPruner(p_threshold=0.1, n_startup_steps=2)``, the pruner
  made for k-fold-like instances: a one-sided Wilcoxon signed-rank test of this trial's fold
  scores against the best trial's on the same folds. With 5 folds it can only prune at the
  fourth fold or later (the smallest p of 3 pairs is 0.125).

Names are data here (:data:`PRUNERS`), read by the config check and :func:`make_pruner`. The
sweeper (:mod:`crypto_tune.sweeper`) builds the study's pruner from ``phase.pruner`` and hands
each job its trial through the launcher; a job reaches it with :func:`sweep_trial`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna


def _none() -> optuna.pruners.BasePruner:
    import optuna

    return optuna.pruners.NopPruner()


def _median() -> optuna.pruners.BasePruner:
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)


def _wilcoxon() -> optuna.pruners.BasePruner:
    import optuna

    with warnings.catch_warnings():  # experimental in Optuna 5: chosen on purpose here
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.pruners.WilcoxonPruner(p_threshold=0.1, n_startup_steps=2)


PRUNERS: dict[str, Callable[[], optuna.pruners.BasePruner]] = {
    "none": _none,
    "median": _median,
    "wilcoxon": _wilcoxon,
}
DEFAULT_PRUNER = "median"


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    """The Optuna pruner called ``name`` (one of :data:`PRUNERS`).

    >>> type(make_pruner("none")).__name__
    'NopPruner'
    """
    if name not in PRUNERS:
        raise ValueError(f"phase.pruner must be one of {', '.join(PRUNERS)}, got {name!r}")
    return PRUNERS[name]()


_TRIAL: ContextVar[Any] = ContextVar("crypto_tune_sweep_trial", default=None)


@contextmanager
def trial_scope(trial: optuna.trial.Trial | None) -> Iterator[None]:
    """Run a job as ``trial`` (the sweeper's live trial; None: no trial)."""
    token = _TRIAL.set(trial)
    try:
        yield
    finally:
        _TRIAL.reset(token)


def sweep_trial() -> optuna.trial.Trial | None:
    """The live Optuna trial this job runs as, or None (a single run, another launcher)."""
    trial: optuna.trial.Trial | None = _TRIAL.get()
    return trial


__all__ = ["DEFAULT_PRUNER", "PRUNERS", "make_pruner", "sweep_trial", "trial_scope"]
