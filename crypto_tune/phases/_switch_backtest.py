"""The switched account of ``regime=switch``: each bar trades the parameter set of its regime
(:func:`switched_backtest`), the sets and their studies (:class:`ParameterSet`), and the
in-sample and holdout segments the best run trades them on (:class:`Segments`)."""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from crypto_tune import metrics
from crypto_tune._json import json_value
from crypto_tune.backtest import BacktestResult, realised_volatility, run_backtest
from crypto_tune.config import ModelSettings, Settings, StrategySettings
from crypto_tune.data import time_index
from crypto_tune.dataset import Dataset
from crypto_tune.evaluation import rule_inputs
from crypto_tune.exceptions import ConfigError
from crypto_tune.phases._regimes import SETS, regime_settings, with_regime_hint
from crypto_tune.strategies import sizing_for
from crypto_tune.timeframes import periods_per_year, timeframe_minutes

log = logging.getLogger("crypto_tune.switch")


def normalised_signal(signal: np.ndarray, entry: float, exit_: float | None) -> np.ndarray:
    """``signal`` mapped so that the engine's levels 1 (entry) and 0.5 (exit) reproduce the rule
    ``entry``/``exit_`` exactly: odd, increasing, |s| <= exit -> [0, 0.5], exit < |s| <= entry ->
    (0.5, 1], beyond entry -> (1, inf). NaN stays NaN (flat)."""
    x = entry if exit_ is None else min(exit_, entry)
    a = np.abs(signal)
    low = 0.5 * a / x if x > 0 else np.zeros_like(a)
    middle = 0.5 + 0.5 * (a - x) / (entry - x) if entry > x else np.ones_like(a)
    high = 1.0 + (a - entry)
    out = np.where(a <= x, low, np.where(a <= entry, middle, high))
    return np.sign(signal) * out


def per_bar(value: Any, n: int) -> np.ndarray:
    return np.full(n, np.nan if value is None else float(value)) if np.ndim(value) == 0 else value


@dataclasses.dataclass(frozen=True)
class ParameterSet:
    """One regime's model and strategy, and where they came from."""

    regime: str
    model: ModelSettings
    strategy: StrategySettings
    model_source: str
    strategy_source: str
    # the command line's strategy.* that change what this regime's trials traded (full keys)
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)


def switched_backtest(
    candles: pd.DataFrame,
    positions: np.ndarray,
    predictions: dict[str, np.ndarray],
    labels: np.ndarray,
    sets: dict[str, StrategySettings],
    *,
    timeframe: str,
) -> BacktestResult:
    """One account over ``candles.iloc[positions]`` trading, at each bar, the set of the bar's
    label (``labels``: "calm"/"volatile"/"unknown" per bar of the segment; unknown: flat).

    ``predictions[regime]`` are that set's model's predictions on the segment. The decision made
    at bar t's close (opening a trade on t+1) uses bar t's set: its signal and levels, and the
    stop-loss, take-profit and size of a trade entered at t+1's open.
    """
    n = len(positions)
    ppy = periods_per_year(timeframe)
    close = candles["close"].to_numpy(dtype=np.float64)
    signal = np.full(n, np.nan)
    stop, target, leverage = np.zeros(n), np.zeros(n), np.full(n, np.nan)
    decided = np.r_[labels[:1], labels[:-1]]  # the label of the bar whose signal opens bar i
    costs = None
    for regime, strategy in sets.items():
        vol = None
        if sizing_for(strategy.sizing).needs_volatility:
            vol = realised_volatility(close, strategy.vol_window, periods_per_year=ppy)[positions]
        raw, kwargs = rule_inputs(strategy, predictions[regime], np.ones(n, dtype=bool), vol)
        mine = labels == regime
        levels = normalised_signal(raw, kwargs["threshold"], kwargs["exit"])
        signal[mine] = levels[mine]
        entry = decided == regime
        stop[entry] = np.nan_to_num(per_bar(kwargs["stop_loss"], n)[entry])
        target[entry] = np.nan_to_num(per_bar(kwargs["take_profit"], n)[entry])
        leverage[entry] = per_bar(kwargs["leverage"], n)[entry]
        costs_keys = ("fee", "slippage", "allow_short", "funding_rate", "borrow_rate")
        shared = {k: kwargs[k] for k in (*costs_keys, "maintenance_margin")}
        if costs is not None and costs != shared:
            raise ConfigError(f"regime=switch: the sets differ in costs or shorting: {shared}")
        costs = shared
    assert costs is not None
    part = candles.iloc[positions]
    # funding at its timestamps, as every backtest_segment pays it (the sets share the market)
    market = next(iter(sets.values())).costs
    funding = market.funding(time_index(part), timeframe_minutes(timeframe))
    costs = {**costs, "funding_rate": funding}
    traded = pd.Series(signal, index=part.index)
    result = run_backtest(
        part,
        traded,
        threshold=1.0,
        exit=0.5,
        stop_loss=stop,
        take_profit=target,
        leverage=leverage,
        timeframe=timeframe,
        **costs,
    )
    return dataclasses.replace(result, signal=traded)


def set_params(strategy: StrategySettings) -> dict[str, Any]:
    """Every strategy setting but the resolved market (the document's ``costs`` holds it)."""
    params = dataclasses.asdict(strategy)
    params.pop("market", None)
    return params


def switch_costs(strategy: StrategySettings, parts: list[BacktestResult], n_is: int) -> dict:
    """The switched account's gross-to-net bridge (:mod:`crypto_tune.costs`; the sets share
    the market)."""
    from crypto_tune.costs import costs_document

    periods = {
        "in_sample": ([p.returns for p in parts[:n_is]], [p.costs for p in parts[:n_is]]),
        "out_of_sample": ([p.returns for p in parts[n_is:]], [p.costs for p in parts[n_is:]]),
    }
    return costs_document(strategy.costs, slippage=strategy.slippage, periods=periods)


def parameter_set(settings: Settings, regime: str, overrides: dict[str, Any]) -> ParameterSet:
    from crypto_tune.evaluation import resolve_model
    from crypto_tune.phases._best_choice import _chosen_trial, check_fixed_settings
    from crypto_tune.phases._best_how import keyed
    from crypto_tune.phases._study_settings import beyond_study
    from crypto_tune.study import group_params, load_study

    member = regime_settings(settings, regime)
    try:
        model, model_source = resolve_model(member)
        study = load_study(member, phase="strategy")
    except ConfigError as exc:
        raise with_regime_hint(settings, exc) from None
    trial = _chosen_trial(study, settings.best.pareto)
    tuned = group_params(trial.params, "strategy")
    strategy = dataclasses.replace(settings.strategy, **{**tuned, **overrides})
    strategy.validate("strategy")
    check_fixed_settings(member, strategy, study)  # the settings this regime's trials traded
    return ParameterSet(
        regime,
        model,
        strategy,
        model_source,
        f"study:{study.study_name}#{trial.number}",
        beyond_study(keyed("strategy", overrides), study, trial.params),
    )


@dataclasses.dataclass
class Segments:
    """Per segment (tuning folds, then the holdout): bar positions and each set's predictions."""

    positions: list[np.ndarray]
    predictions: dict[str, list[np.ndarray]]
    in_sample: int  # how many leading segments are tuning folds


def switch_segments(
    settings: Settings, dataset: Dataset, sets: dict[str, ParameterSet]
) -> Segments:
    from crypto_tune.model import fit_refit, out_of_fold, refit_rounds

    folds = dataset.folds
    positions: list[np.ndarray] = []
    predictions: dict[str, list[np.ndarray]] = {r: [] for r in sets}
    for regime, chosen in sets.items():
        oof = out_of_fold(dataset, chosen.model, seed=settings.seed, cache_dir=settings.paths.cache)
        for fold in folds:
            preds = oof.fold_slice(fold.number)
            if regime == next(iter(sets)):
                positions.append(dataset.candles.index.get_indexer(preds.index))
            predictions[regime].append(preds.to_numpy(dtype=np.float64))
        fitted = fit_refit(
            dataset.features,
            dataset.label,
            dataset.holdout,
            chosen.model,
            seed=settings.seed,
            num_rounds=refit_rounds(oof.best_iterations),
        )
        predictions[regime].append(np.asarray(fitted.test_predictions, dtype=np.float64))
    if len(dataset.holdout.test_idx) == 0:
        raise ConfigError("split.holdout_start..holdout_end: no bars in the holdout")
    positions.append(np.asarray(dataset.holdout.test_idx))
    return Segments(positions, predictions, len(folds))


def segment_stats(returns: np.ndarray, n_trades: int, ppy: float) -> dict[str, Any]:
    years = len(returns) / ppy if ppy else math.nan
    return {
        "sharpe": json_value(metrics.sharpe_ratio(returns, periods_per_year=ppy)),
        "total_return": json_value(metrics.total_return(returns)),
        "max_drawdown": json_value(metrics.max_drawdown(returns)),
        "volatility": json_value(float(np.std(returns, ddof=1) * math.sqrt(ppy)))
        if len(returns) > 1
        else None,
        "n_trades": int(n_trades),
        "trades_per_year": json_value(n_trades / years) if years > 0 else None,
        "n_bars": len(returns),
    }


def per_regime(returns: np.ndarray, labels: np.ndarray, ppy: float) -> dict[str, Any]:
    """Sharpe, summed return and share of bars on the bars of each switch label."""
    out = {}
    for regime in SETS:
        mine = labels == regime
        part = returns[mine]
        out[regime] = {
            "share_of_bars": json_value(float(mine.mean())) if len(labels) else None,
            "sharpe": json_value(metrics.sharpe_ratio(part, periods_per_year=ppy))
            if len(part) > 2
            else None,
            "return": json_value(float(np.log1p(part).sum())) if len(part) else None,
        }
    return out


def trade_count(result: BacktestResult) -> int:
    return len(result.trades)


__all__ = [
    "ParameterSet",
    "Segments",
    "normalised_signal",
    "parameter_set",
    "per_bar",
    "per_regime",
    "segment_stats",
    "set_params",
    "switch_costs",
    "switch_segments",
    "switched_backtest",
    "trade_count",
]
