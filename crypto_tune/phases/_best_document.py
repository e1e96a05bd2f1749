"""The best run's document, the content of ``workflow.best.json``: what was run (command,
data fingerprint, periods, parameters and their sources), the model's and the strategy's
metrics in and out of sample, the robustness section, the members of a basket; and its
explanations: buy-and-hold beside the strategy, the traded signal's distribution, the warnings
a user must not miss and the chosen parameters' Phase 2 objective taken apart.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from crypto_tune import metrics
from crypto_tune._json import json_value, provenance
from crypto_tune.config import Settings, StrategySettings
from crypto_tune.costs import costs_document
from crypto_tune.diagnostics import (
    benchmark_note,
    holdout_note,
    objective_note,
    signal_distribution,
    trade_rate_warning,
)
from crypto_tune.phases._best_choice import Choice, _chosen_trial
from crypto_tune.phases._best_evaluator import Evaluator
from crypto_tune.phases._best_runs import MemberRun, _mean_scores, _summary
from crypto_tune.strategies import rule_for

BENCHMARK_KEYS = ("sharpe", "total_return", "max_drawdown")
_clean = json_value  # NaN/inf -> None, NumPy scalars -> Python numbers


def _benchmark(returns: pd.Series, ppy: float) -> dict[str, Any]:
    """Buy-and-hold over the strategy's bars: Sharpe, total return, max drawdown."""
    out = metrics.performance_summary(returns.to_numpy(), periods_per_year=ppy)
    return {k: _clean(out[k]) for k in BENCHMARK_KEYS}


def _file_of(source: str) -> str:
    """The file candles were read from, absolute (a synthetic market's description as is)."""
    import os

    return os.path.abspath(source) if os.path.exists(source) else source


def _document(
    settings: Settings,
    runs: list[MemberRun],
    choice: Choice,
    in_sample: dict,
    out_of_sample: dict,
    robustness: dict,
    ppy: float,
) -> dict[str, Any]:

    split = settings.split
    single = len(runs) == 1
    fold_scores = _mean_scores(runs)
    member_ics = np.array([r.holdout_ic for r in runs], dtype=float)
    # NaN when no member's holdout IC is defined (constant predictions), without numpy's warning
    holdout_ic = float(np.nanmean(member_ics)) if np.isfinite(member_ics).any() else float("nan")
    iterations = {r.symbol: r.fitted.best_iteration for r in runs}
    # every strategy setting, so a replay restores the rule, its sizing and its costs
    strategy_params = dataclasses.asdict(choice.strategy)
    strategy_params.pop("market", None)  # resolved from asset.market: the `costs` section
    return {
        **provenance(settings, [r.dataset for r in runs]),
        "asset": {
            "name": settings.asset.name,
            "symbol": settings.asset.symbol,
            "timeframe": settings.asset.timeframe,
            "symbols": [r.symbol for r in runs],
            "data_fingerprint": ",".join(r.dataset.data_fingerprint for r in runs),
            "files": {r.symbol: _file_of(r.dataset.report.source) for r in runs},
        },
        "regime": settings.regime.name,
        "periods": {
            "tune": [split.tune_start, split.tune_end],
            "holdout": [split.holdout_start, split.holdout_end],
        },
        "model": {
            "params": choice.model.params(),
            "source": choice.model_source,
            "overrides": choice.model_overrides,
            "holdout_best_iteration": iterations[runs[0].symbol] if single else iterations,
        },
        "strategy": {
            "params": strategy_params,
            "overrides": choice.overrides,
            "tuned": choice.tuned,
            "source": choice.strategy_source,
            "selection": settings.best.selection,
            "holdout_retrain_months": settings.best.retrain_months,
        },
        "metrics": {
            "model": {
                "ic": fold_scores["ic"],
                "rank_ic": fold_scores["rank_ic"],
                "icir": _clean(fold_scores["icir"]),
                "holdout_ic": _clean(holdout_ic),
                "folds": fold_scores["folds"],
            },
            "in_sample": in_sample,
            "out_of_sample": out_of_sample,
        },
        "robustness": robustness,
        "costs": _costs(choice.strategy, runs),
        "members": None
        if single
        else {
            r.symbol: {
                "ic": r.fold_scores["ic"],
                "holdout_ic": _clean(r.holdout_ic),
                "in_sample": _summary(
                    pd.concat(r.is_returns).to_numpy(), r.is_trades, r.is_positions, ppy
                ),
                "out_of_sample": _summary(
                    r.oos.returns.to_numpy(), r.oos.trades, r.oos.positions.to_numpy(), ppy
                ),
            }
            for r in runs
        },
    }


def _costs(strategy: StrategySettings, runs: list[MemberRun]) -> dict[str, Any]:
    """The market's costs and the gross-to-net bridge in and out of sample (a basket: per
    member, each sleeve's own; :mod:`crypto_tune.costs`)."""

    def bridge(run: MemberRun) -> dict[str, Any]:
        periods = {
            "in_sample": (run.is_returns, run.is_costs or [None] * len(run.is_returns)),
            "out_of_sample": ([run.oos.returns], [run.oos.costs]),
        }
        return costs_document(strategy.costs, slippage=strategy.slippage, periods=periods)

    if len(runs) == 1:
        return _clean(bridge(runs[0]))
    return _clean({**strategy.costs.describe(), "members": {r.symbol: bridge(r) for r in runs}})


def _buy_and_hold(runs: list[MemberRun]) -> tuple[pd.Series, pd.Series]:
    """Buy-and-hold returns over the strategy's own bars, in and out of sample."""
    from crypto_tune.report import benchmark_returns

    return benchmark_returns(
        {run.symbol: run.dataset.candles["close"] for run in runs},
        {run.symbol: [part.index for part in run.is_returns] for run in runs},
        {run.symbol: run.oos.returns.index for run in runs},
    )


def _explain(
    document: dict[str, Any],
    settings: Settings,
    choice: Choice,
    evaluator: Evaluator,
    runs: list[MemberRun],
    hold: tuple[pd.Series, pd.Series],
    ppy: float,
) -> None:
    """Buy-and-hold beside the table, the traded signal in and out of sample, and one line for
    each thing a user must not miss (stopped trading, a holdout that contradicts the verdict,
    an objective that differs from the study's)."""
    is_hold, oos_hold = hold
    found = document["metrics"]
    found["benchmark"] = {
        "in_sample": _benchmark(is_hold, ppy),
        "out_of_sample": _benchmark(oos_hold, ppy),
    }
    strategy = choice.strategy
    rule = rule_for(strategy.name)
    entry = rule.levels(strategy)[0]
    in_signal = signal_distribution(
        np.concatenate([r.is_signal for r in runs if r.is_signal is not None]), entry
    )
    out_signal = signal_distribution(np.concatenate([r.oos.signal.to_numpy() for r in runs]), entry)
    document["signal"] = {
        "kind": rule.signal_kind,
        "entry": entry,
        "in_sample": in_signal,
        "out_of_sample": out_signal,
    }
    warnings = []
    stopped = trade_rate_warning(
        found["in_sample"]["trades_per_year"],
        found["out_of_sample"]["trades_per_year"],
        in_sample_beyond=in_signal["beyond_entry"],
        out_of_sample_beyond=out_signal["beyond_entry"],
    )
    if stopped:
        warnings.append(stopped)
    robustness = document["robustness"]
    note = holdout_note(robustness["significant"], found["out_of_sample"]["sharpe"])
    robustness["holdout_note"] = note
    if note:
        warnings.append(note)
    drift = benchmark_note(
        robustness["significant"],
        found["in_sample"]["sharpe"],
        found["benchmark"]["in_sample"]["sharpe"],
    )
    robustness["benchmark_note"] = drift  # the report's verdict box turns to caution
    if drift:
        warnings.append(drift)
    document["warnings"] = warnings

    _explain_objective(document, settings, choice, evaluator, ppy)


def _explain_objective(
    document: dict[str, Any],
    settings: Settings,
    choice: Choice,
    evaluator: Evaluator,
    ppy: float,
) -> None:
    """The Phase 2 objective of the chosen parameters, taken apart: score, penalty, study."""
    from crypto_tune.objectives import STRATEGY_OBJECTIVES, drawdown_excess, trade_shortfall

    strategy = choice.strategy
    name = strategy.primary_objective
    returns, trades = evaluator.fold_returns({})
    chained = np.concatenate(returns)
    raw = STRATEGY_OBJECTIVES[name](chained, ppy)
    years = [len(r) / ppy for r in returns]
    shortfall = trade_shortfall(trades, years, strategy.min_trades_per_year)
    infeasible = drawdown_excess(chained, strategy.max_drawdown) > 0
    recomputed = evaluator.score({})
    study_value = None
    if choice.study is not None:
        trial = _chosen_trial(choice.study, settings.best.pareto)
        study_value = float(trial.values[0])
    found = document["metrics"]
    reasons = []
    if choice.overrides:
        reasons.append(f"manual overrides {choice.overrides}")
    if settings.best.selection != "best":
        reasons.append(f"best.selection={settings.best.selection} chose another trial")
    document["strategy"]["objective"] = {
        "name": name,
        "objectives": list(strategy.objectives),
        "value": _clean(recomputed),
        "score": _clean(raw),
        "trade_shortfall": _clean(shortfall),
        "infeasible": infeasible,
        "study_value": _clean(study_value),
        "note": objective_note(
            name,
            study_value=study_value,
            recomputed=recomputed,
            raw_score=raw,
            shortfall=shortfall,
            infeasible=infeasible,
            in_sample_sharpe=found["in_sample"]["sharpe"],
            reasons=reasons,
        ),
    }
