"""``phase=strategy``: one Phase 2 trial — the cached predictions through the fast backtest.

The model is fixed (best Phase 1 trial, or ``model.*`` with ``phase.model_source=config``); its
out-of-fold predictions are computed once per process (read from the disk cache if Phase 1 made
them) and each trial only runs :func:`crypto_tune.backtest.simulate_returns` per fold.
"""

from __future__ import annotations

import logging

import numpy as np

from crypto_tune.config import Settings
from crypto_tune.evaluation import (
    PortfolioContext,
    StrategyContext,
    evaluate_strategy,
    strategy_context,
    tuned_params,
)
from crypto_tune.phases._inputs import check_datasets, check_model_study
from crypto_tune.phases._phase import Phase
from crypto_tune.progress import TrialLines
from crypto_tune.tracking import trial_run

log = logging.getLogger("crypto_tune.strategy")


_PROGRESS = TrialLines("strategy trials", log)


def strategy_fingerprint(
    settings: Settings, context: StrategyContext | PortfolioContext
) -> dict[str, object]:
    """What this process's strategy trials score (see :mod:`crypto_tune.fingerprint`)."""
    from crypto_tune.fingerprint import study_fingerprint

    members = context.members if isinstance(context, PortfolioContext) else (context,)
    return study_fingerprint(
        settings,
        [m.dataset for m in members],
        phase="strategy",
        predictions=context.predictions_key,
    )


def check_study_predictions(
    settings: Settings, context: StrategyContext | PortfolioContext, *, record: bool = False
) -> None:
    """Refuse to extend a Phase 2 study scored on other inputs (another model, data, costs...).

    The first trial of each process records the fingerprint on a new study; a later run whose
    inputs differ (Phase 1 found a new best, the data or the fees changed) would mix trials that
    score different things, so it fails at start and names what differs.
    """
    from crypto_tune.study import check_fingerprint

    fingerprint = strategy_fingerprint(settings, context)
    check_fingerprint(settings, fingerprint, phase="strategy", record=record)


_TAGGED: set[str] = set()


def _first_trial(settings: Settings, context: StrategyContext | PortfolioContext) -> None:
    """Once per process: say which model feeds the sweep, check and record the study's
    fingerprint (see check_study_predictions)."""
    from crypto_tune.study import study_name

    name = study_name(settings)
    if name in _TAGGED:
        return
    log.info("strategy: %s", context.describe())
    check_study_predictions(settings, context, record=True)
    _TAGGED.add(name)


@trial_run(when=lambda s: s.tracking.per_trial_runs)  # a run per trial only when asked
def run_strategy_trial(settings: Settings) -> float | list[float]:
    """Backtest every fold with the trial's strategy parameters; return the objective (a list of
    two values for a two-objective sweep)."""
    context = strategy_context(settings)
    _first_trial(settings, context)
    values, returns, trades = evaluate_strategy(settings, context)
    params = tuned_params(settings.strategy)
    value = values if isinstance(values, float) else values[0]
    _PROGRESS.update(value, params)
    log.debug("strategy trial %s -> %s, trades per fold %s", params, values, trades)
    if settings.tracking.per_trial_runs:
        _log_trial_run(settings, context, value, returns, trades)
    return values if isinstance(values, float) else list(values)


def _log_trial_run(
    settings: Settings,
    context: StrategyContext | PortfolioContext,
    value: float,
    returns: list,
    trades: list[int],
) -> None:
    from crypto_tune import metrics
    from crypto_tune.study import study_name
    from crypto_tune.tracking import code_version, settings_params, start_run

    merged = np.concatenate(returns)
    tags = {
        "study": study_name(settings),
        "phase": "strategy",
        "asset": settings.asset.name,
        "predictions": context.predictions_key,
        "code_version": code_version(),
        "model_source": context.model_source,
    }
    with start_run(
        settings.tracking, study_name(settings), run_name="strategy-trial", tags=tags
    ) as run:
        if run is not None:
            run.params(settings_params(settings))
            summary = metrics.performance_summary(merged, periods_per_year=context.periods_per_year)
            run.metrics(
                {
                    "objective": value,
                    "n_trades": float(sum(trades)),
                    **{k: v for k, v in summary.items() if isinstance(v, float)},
                }
            )


def preflight_strategy(settings: Settings, *, multirun: bool) -> None:
    """The storage, the data, the Phase 1 model and its cached predictions this study's."""
    from crypto_tune.evaluation import strategy_context

    check_datasets(settings, storage=True, trades="folds")
    check_model_study(settings)
    check_study_predictions(settings, strategy_context(settings))


PHASE = Phase(run=run_strategy_trial, preflight=preflight_strategy, sweep=True)
