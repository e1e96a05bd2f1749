"""What a universe's best run reports: the benchmark, a portfolio's statistics, contributions.

Pure functions of arrays. The benchmark is the equal-weight buy-and-hold of the universe: equal
capital in every symbol with a candle at the segment's first bar, never rebalanced (a symbol
listed later does not enter it), no fees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from crypto_tune import metrics
from crypto_tune._json import json_value
from crypto_tune.universe._kernel import PortfolioResult


def buy_and_hold(returns: np.ndarray, tradable: np.ndarray) -> np.ndarray:
    """``(T,)`` returns of equal capital in the symbols present at bar 0, held (drifting).

    >>> buy_and_hold(np.array([[0.0, 0.0], [0.1, -0.1]]), np.ones((2, 2), bool)).round(3)
    array([0., 0.])
    """
    value = np.where(tradable[0], 1.0, 0.0)
    out = np.zeros(returns.shape[0])
    if value.sum() == 0:
        return out
    for t in range(1, returns.shape[0]):
        total = value.sum()
        out[t] = float(value @ returns[t]) / total if total > 0 else 0.0
        value = value * (1.0 + returns[t])
    return out


def portfolio_summary(
    results: Sequence[PortfolioResult], *, periods_per_year: float, fee: float
) -> dict[str, Any]:
    """Performance of the chained ``results`` (net of costs) and how they traded: turnover per
    year (sum of ``|w_new - w_old|``), mean gross and net exposure, names entered, fees paid,
    the gross (before fees and carry) total return."""
    net = np.concatenate([r.net for r in results])
    gross = np.concatenate([r.gross for r in results])
    turnover = np.concatenate([r.turnover for r in results])
    long = np.concatenate([r.long for r in results])
    short = np.concatenate([r.short for r in results])
    years = net.size / periods_per_year
    out = {
        k: json_value(v)
        for k, v in metrics.performance_summary(net, periods_per_year=periods_per_year).items()
    }
    out.update(
        {
            "n_bars": int(net.size),
            "n_entries": int(sum(r.n_entries for r in results)),
            "turnover_per_year": json_value(turnover.sum() / years if years > 0 else np.nan),
            "gross_exposure": json_value(float(np.mean(long + short)) if net.size else np.nan),
            "net_exposure": json_value(float(np.mean(long - short)) if net.size else np.nan),
            "fees": json_value(fee * float(turnover.sum())),
            "gross_total_return": json_value(float(np.prod(1.0 + gross) - 1.0)),
        }
    )
    return out


def benchmark_summary(returns: np.ndarray, *, periods_per_year: float) -> dict[str, Any]:
    """The benchmark's performance (the same measures as the portfolio's)."""
    summary = metrics.performance_summary(returns, periods_per_year=periods_per_year)
    return {k: json_value(v) for k, v in summary.items() if np.isfinite(v)}


def contributions(results: Sequence[PortfolioResult], symbols: Sequence[str]) -> dict[str, float]:
    """Each symbol's share of the gross return, summed over bars (before fees and carry)."""
    total = np.sum([r.contribution for r in results], axis=0)
    return {s: float(v) for s, v in zip(symbols, total, strict=True)}


def symbol_ic(
    prediction: np.ndarray, forward: np.ndarray, sym: np.ndarray, symbols: Sequence[str]
) -> dict[str, float | None]:
    """Each symbol's rank IC over time: its predictions against its own forward returns (rows
    with both finite; None with fewer than 3)."""
    out: dict[str, float | None] = {}
    for j, symbol in enumerate(symbols):
        rows = sym == j
        out[symbol] = json_value(
            metrics.rank_information_coefficient(prediction[rows], forward[rows])
        )
    return out


__all__ = ["benchmark_summary", "buy_and_hold", "contributions", "portfolio_summary", "symbol_ic"]
