"""Where a trading rule meets the engine: the parameters each rule tunes, the rule's signal and
the engine's options from a strategy's settings (:func:`rule_inputs`), and a full backtest of a
segment of candles (:func:`backtest_segment`). Phase 2, the best run, walk-forward refits and
the regime switch all trade through these.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from crypto_tune.backtest import BacktestResult, realised_volatility, run_backtest
from crypto_tune.config import StrategySettings
from crypto_tune.data import time_index
from crypto_tune.strategies import rule_for, sizing_for
from crypto_tune.timeframes import periods_per_year, timeframe_minutes


def tuned_params(strategy: StrategySettings) -> dict[str, object]:
    """The parameters Phase 2 tunes for ``strategy``'s rule (its search space), by name."""
    return {k: getattr(strategy, k) for k in rule_for(strategy.name).tuned}


def rule_inputs(
    strategy: StrategySettings,
    predictions: np.ndarray,
    in_regime: np.ndarray,
    volatility: np.ndarray | None,
    *,
    segments: np.ndarray | None = None,
    signal: np.ndarray | None = None,
) -> tuple[np.ndarray, dict]:
    """(signal, :func:`run_backtest` kwargs): the one place a rule meets the engine.

    ``predictions``: one or more models' predictions in time order (``segments`` gives each bar's
    model, so a z-score never mixes two models' scales); ``in_regime``: bars the strategy may
    trade (the signal is NaN elsewhere: flat); ``volatility``: realised volatility known at each
    bar's open (:func:`realised_volatility`), needed by ``sizing=vol_target`` only. ``signal``
    passes a precomputed z-score. Used identically by Phase 2 (fold models) and the best run
    (holdout refit, walk-forward refits).
    """
    if signal is None:
        preds = np.asarray(predictions, dtype=np.float64)
        signal = rule_for(strategy.name).signal(preds, strategy, segments=segments)
    signal = np.where(np.asarray(in_regime, dtype=bool), signal, np.nan)
    kwargs = strategy.backtest_params().kwargs()
    kwargs["leverage"] = sizing_for(strategy.sizing).leverage(
        strategy, kwargs["leverage"], volatility
    )
    return np.ascontiguousarray(signal), kwargs


def backtest_segment(
    candles: pd.DataFrame,
    positions: np.ndarray,
    predictions: np.ndarray,
    in_regime: np.ndarray,
    strategy: StrategySettings,
    *,
    timeframe: str,
    segments: np.ndarray | None = None,
) -> BacktestResult:
    """Full backtest of ``strategy`` on ``candles.iloc[positions]`` (the best run's segments).

    ``predictions`` and ``in_regime`` are per bar of the segment; the realised volatility is
    computed on all of ``candles`` (history before the segment included, causal).
    """
    vol = None
    if sizing_for(strategy.sizing).needs_volatility:
        close = candles["close"].to_numpy(dtype=np.float64)
        ppy = periods_per_year(timeframe)
        vol = realised_volatility(close, strategy.vol_window, periods_per_year=ppy)[positions]
    signal, kwargs = rule_inputs(strategy, predictions, in_regime, vol, segments=segments)
    part = candles.iloc[positions]
    kwargs["funding_rate"] = strategy.costs.funding(time_index(part), timeframe_minutes(timeframe))
    traded = pd.Series(signal, index=part.index)
    result = run_backtest(part, traded, timeframe=timeframe, **kwargs)
    return dataclasses.replace(result, signal=traded)


__all__ = ["backtest_segment", "rule_inputs", "tuned_params"]
