"""A fold's test bars as the kernel takes them (:class:`FoldArrays`, with the per-window cache of
signals, volatility and funding), built from a dataset's out-of-fold predictions, backtested
fold by fold, and scored by a strategy's objective.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crypto_tune.backtest import realised_volatility, simulate_returns
from crypto_tune.config import StrategySettings
from crypto_tune.data import time_index
from crypto_tune.dataset import Dataset, regime_mask
from crypto_tune.evaluation._rules import rule_inputs
from crypto_tune.model import OutOfFold
from crypto_tune.objectives import strategy_score
from crypto_tune.strategies import rule_for, sizing_for


@dataclass(frozen=True)
class FoldArrays:
    """One fold's test bars as contiguous float arrays for the backtest kernel.

    ``predictions`` are the fold model's, NaN outside the regime (the threshold rule's signal);
    ``raw`` the same unmasked (the z-score's history) and ``in_regime`` the mask; ``positions``
    index the fold's bars in ``all_close`` (the dataset's closes, for causal volatility).
    """

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    predictions: np.ndarray
    raw: np.ndarray | None = None
    in_regime: np.ndarray | None = None
    positions: np.ndarray | None = None
    all_close: np.ndarray | None = None
    times: pd.DatetimeIndex | None = None  # the bars' open times (funding at its timestamps)
    bar_minutes: float = 240.0
    cache: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def signal(self, strategy: StrategySettings, *, periods_per_year: float) -> tuple:
        """(signal, backtest kwargs) of ``strategy`` on this fold, cached per window."""
        raw = self.predictions if self.raw is None else self.raw
        in_regime = np.isfinite(self.predictions) if self.in_regime is None else self.in_regime
        rule = rule_for(strategy.name)
        key: tuple[object, ...] = ("signal", *rule.window_key(strategy))
        if key not in self.cache:
            self.cache[key] = rule.signal(raw, strategy)
        traded = self.cache[key]
        vol = None
        if sizing_for(strategy.sizing).needs_volatility:
            key = ("vol", strategy.vol_window, periods_per_year)
            if key not in self.cache:
                if self.all_close is None or self.positions is None:
                    full = realised_volatility(
                        self.close, strategy.vol_window, periods_per_year=periods_per_year
                    )
                else:
                    full = realised_volatility(
                        self.all_close, strategy.vol_window, periods_per_year=periods_per_year
                    )[self.positions]
                self.cache[key] = np.ascontiguousarray(full)
            vol = self.cache[key]
        signal, kwargs = rule_inputs(strategy, raw, in_regime, vol, signal=traded)
        if self.times is not None:
            key = ("funding", strategy.costs)
            if key not in self.cache:
                self.cache[key] = strategy.costs.funding(self.times, self.bar_minutes)
            kwargs["funding_rate"] = self.cache[key]
        return signal, kwargs


def fold_arrays_for(dataset: Dataset, oof: OutOfFold, regime: str) -> tuple[FoldArrays, ...]:
    """Per-fold OHLC and predictions (NaN = flat outside the regime), with the bars' times."""
    mask = regime_mask(dataset, regime)
    candles = dataset.candles
    times = time_index(candles)
    steps = np.diff(times.as_unit("ns").asi8)
    bar_minutes = float(np.median(steps)) / 60e9 if len(steps) else 240.0
    all_close = np.ascontiguousarray(candles["close"].to_numpy(dtype=np.float64))
    out = []
    for fold in dataset.folds:
        preds = oof.fold_slice(fold.number)
        positions = candles.index.get_indexer(preds.index)
        raw = np.ascontiguousarray(preds.to_numpy(dtype=np.float64))
        values = raw.copy()
        values[~mask[positions]] = np.nan
        o, h, lo, c = (
            np.ascontiguousarray(candles[c].to_numpy(dtype=np.float64)[positions])
            for c in ("open", "high", "low", "close")
        )
        out.append(
            FoldArrays(
                o,
                h,
                lo,
                c,
                predictions=values,
                raw=raw,
                in_regime=np.ascontiguousarray(mask[positions]),
                positions=positions,
                all_close=all_close,
                times=times[positions],
                bar_minutes=bar_minutes,
            )
        )
    return tuple(out)


def backtest_folds(
    folds: tuple[FoldArrays, ...],
    strategy: StrategySettings,
    *,
    bar_hours: float,
) -> tuple[list[np.ndarray], list[int]]:
    """Per-fold returns and closed-trade counts of ``strategy`` (the lean engine entry point).

    Each fold's signal comes from its own model's predictions only (:func:`rule_inputs`).
    """
    ppy = 24.0 * 365.0 / bar_hours  # a 24/7 market, as crypto_tune.timeframes.periods_per_year
    returns, trades = [], []
    for fold in folds:
        signal, kwargs = fold.signal(strategy, periods_per_year=ppy)
        r, n = simulate_returns(
            fold.open,
            fold.high,
            fold.low,
            fold.close,
            signal,
            bar_hours=bar_hours,
            **kwargs,
        )
        returns.append(r)
        trades.append(int(n))
    return returns, trades


def score_strategy(
    strategy: StrategySettings, returns: list[np.ndarray], trades: list[int], *, ppy: float
) -> float:
    """The (first) objective of ``strategy`` on its per-fold returns: feasibility (drawdown,
    ruin), then the trade floor (see :mod:`crypto_tune.objectives`)."""
    return strategy_score(
        strategy.primary_objective,
        returns,
        trades,
        periods_per_year=ppy,
        min_trades_per_year=strategy.min_trades_per_year,
        max_drawdown=strategy.max_drawdown,
    )


__all__ = ["FoldArrays", "backtest_folds", "fold_arrays_for", "score_strategy"]
