"""``phase=best``: retrain with the chosen parameters, backtest in and out of sample, judge.

Reads the best Phase 1 and Phase 2 parameters from their studies (or replays a
``workflow.best.json`` given as ``best.from``), applies manual overrides from the command line,
refits the model on the whole tuning period (same early-stopping rule), predicts the holdout,
backtests the tuning period (out-of-fold predictions) and the holdout, computes the overfitting
statistics and writes ``workflow.best.json`` under ``paths.best/<study.name>/``.

The parts live in modules of their own: the choice of parameters (``_best_choice``), the
strategy evaluator (``_best_evaluator``), the member backtests and holdout refits
(``_best_runs``), the overfitting statistics (``_best_robustness``), the document and its
explanations (``_best_document``) and the outputs (``_best_output``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from crypto_tune.config import ModelSettings, Settings
from crypto_tune.evaluation import portfolio_context, single_context
from crypto_tune.phases._best_choice import _choose
from crypto_tune.phases._best_document import _buy_and_hold, _document, _explain
from crypto_tune.phases._best_evaluator import Evaluator
from crypto_tune.phases._best_how import describe_how, holdout_coverage
from crypto_tune.phases._best_looks import record_look
from crypto_tune.phases._best_output import (
    _log_to_mlflow,
    _print_table,
    _write_outputs,
    best_report,
)
from crypto_tune.phases._best_robustness import _robustness
from crypto_tune.phases._best_runs import MemberRun, _combine, _run_member
from crypto_tune.phases._inputs import check_datasets, check_model_study, check_same_data
from crypto_tune.phases._phase import Phase
from crypto_tune.timeframes import periods_per_year, timeframe_minutes


def run_best(settings: Settings) -> None:
    """Refit, backtest in and out of sample, judge, print the table and write the JSON.

    For a basket every member is refit and backtested with the same parameters and the tables,
    statistics and curves are the portfolio's (equal, unrebalanced sleeves).
    """
    from crypto_tune.dataset import member_settings

    if settings.regime.name == "switch":  # one account switching the calm/volatile sets
        from crypto_tune.phases._switch import run_switch_best

        return run_switch_best(settings)
    ppy = periods_per_year(settings.asset.timeframe)
    bar_hours = timeframe_minutes(settings.asset.timeframe) / 60.0
    basket = settings.asset.kind == "basket"

    def evaluator_for(model: ModelSettings) -> Evaluator:
        context = (portfolio_context if basket else single_context)(settings, model, "best")
        return Evaluator(settings, context, ppy, bar_hours)

    choice = _choose(settings, evaluator_for)
    evaluator = evaluator_for(choice.model)
    evaluator.settings = dataclasses.replace(settings, strategy=choice.strategy)
    runs = [_run_member(m, choice.model, choice.strategy) for m in member_settings(settings)]
    is_returns, oos_returns, in_sample, out_of_sample = _combine(runs, ppy)
    portfolio = None
    if basket:  # weights, rebalancing, portfolio vol target; correlation and contributions
        from crypto_tune.phases._basket import rebalance_runs

        is_returns, oos_returns, in_sample, out_of_sample, portfolio = rebalance_runs(
            runs,
            settings.asset,
            choice.strategy,
            ppy,
            (is_returns, oos_returns, in_sample, out_of_sample),
        )
    looks = record_look(settings, choice)
    robustness = _robustness(
        settings,
        choice,
        evaluator,
        is_returns.to_numpy(),
        in_sample,
        out_of_sample,
        holdout_looks=looks["looks"],
    )
    document = _document(settings, runs, choice, in_sample, out_of_sample, robustness, ppy)
    coverage = _holdout_coverage(settings, runs)
    document["periods"]["holdout_data"] = coverage
    document["how"] = describe_how(settings, choice, looks, coverage)
    if portfolio is not None:
        document["portfolio"] = portfolio
    hold = _buy_and_hold(runs)
    _explain(document, settings, choice, evaluator, runs, hold, ppy)
    paths = _write_outputs(settings, document, is_returns, oos_returns, hold, runs)
    page = best_report(document, paths)  # written with MLflow or without
    _print_table(document, paths["json"])
    if portfolio is not None:
        from crypto_tune.phases._basket import print_portfolio

        print_portfolio(portfolio)
    _log_to_mlflow(settings, document, paths, page)


def _holdout_coverage(settings: Settings, runs: list[MemberRun]) -> dict[str, Any]:
    """What the members' data cover of the holdout (:func:`holdout_coverage`)."""
    import pandas as pd

    times = pd.DatetimeIndex([], tz="UTC")
    for run in runs:
        index = pd.DatetimeIndex(run.dataset.candles.index)
        times = times.union(index[run.dataset.holdout.test_idx])
    return holdout_coverage(settings, times)


def preflight_best(settings: Settings, *, multirun: bool) -> None:
    """The storage, the data, and what the best run starts from: a ``best.from`` file, or the
    Phase 1 and Phase 2 studies."""
    check_datasets(settings, storage=True, trades="holdout")
    if settings.best.from_file is not None:
        from crypto_tune.phases._best_choice import load_replay

        load_replay(settings)
        return
    from crypto_tune.study import best_params, load_study

    check_model_study(settings)
    best_params(load_study(settings, phase="strategy"))
    from_study = settings.phase.model_source == "study"
    check_same_data(settings, phases=("model", "strategy") if from_study else ("strategy",))


def _run_with_studied_objective(settings: Settings) -> None:
    """:func:`run_best`, scoring with the objective the strategy study was tuned on."""
    from crypto_tune.phases._best_objective import with_studied_objective

    run_best(with_studied_objective(settings))


PHASE = Phase(run=_run_with_studied_objective, preflight=preflight_best)
