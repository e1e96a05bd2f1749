"""Objective registries: one small function per name (freqtrade's losses, but maximised).

The registries' keys feed config validation and the unknown-name error. Every objective returns a
finite float; degenerate input is handled by an explicit rule documented here, never by NaN.

Rules for degenerate input
--------------------------
* Phase 1: a fold whose predictions are constant (LightGBM found no split) carries no
  information: its IC and rank IC count as 0.
* Phase 2: a fold with fewer than ``min_trades`` closed trades is under-traded. The objective of
  a trial is ``score - shortfall``, where ``shortfall`` is the mean over folds of
  ``max(0, min_trades - n_trades) / min_trades`` (0 when every fold trades enough, 1 when none
  trades). An undefined score (no variance at all: the strategy never trades) counts as 0, so
  "never trade" scores -1 and cannot win against any strategy with a score above -1, while
  under-traded strategies keep their ranking among themselves (a cap at 0 would flatten every
  good-but-under-traded trial into one plateau the sampler cannot climb).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from crypto_tune import metrics

# ------------------------------------------------------------------------------- Phase 1 (IC)

ModelObjective = Callable[[Mapping[str, float]], float]


def _nan_to_zero(value: float) -> float:
    return 0.0 if value is None or not math.isfinite(value) else float(value)


MODEL_OBJECTIVES: dict[str, ModelObjective] = {
    "ic": lambda summary: _nan_to_zero(summary["ic"]),
    "rank_ic": lambda summary: _nan_to_zero(summary["rank_ic"]),
    "icir": lambda summary: _nan_to_zero(summary["icir"]),
}

# ------------------------------------------------------------------------- Phase 2 (backtest)

DRAWDOWN_PENALTY = 2.0  # sharpe_dd: each 10% of max drawdown costs 0.2 Sharpe


def _sharpe(returns: np.ndarray, periods_per_year: float) -> float:
    return metrics.sharpe_ratio(returns, periods_per_year=periods_per_year)


def _sortino(returns: np.ndarray, periods_per_year: float) -> float:
    return metrics.sortino_ratio(returns, periods_per_year=periods_per_year)


def _calmar(returns: np.ndarray, periods_per_year: float) -> float:
    return metrics.calmar_ratio(returns, periods_per_year=periods_per_year)


def _sharpe_dd(returns: np.ndarray, periods_per_year: float) -> float:
    sharpe = metrics.sharpe_ratio(returns, periods_per_year=periods_per_year)
    return sharpe - DRAWDOWN_PENALTY * metrics.max_drawdown(returns)


StrategyObjective = Callable[[np.ndarray, float], float]

STRATEGY_OBJECTIVES: dict[str, StrategyObjective] = {
    "sharpe": _sharpe,
    "sortino": _sortino,
    "calmar": _calmar,
    "sharpe_dd": _sharpe_dd,
}


def trade_shortfall(n_trades_per_fold: Sequence[int], min_trades: int) -> float:
    """Mean over folds of the missing share of ``min_trades`` (0 when every fold trades enough)."""
    if min_trades <= 0 or not len(n_trades_per_fold):
        return 0.0
    missing = [max(0, min_trades - n) / min_trades for n in n_trades_per_fold]
    return float(np.mean(missing))


def strategy_score(
    name: str,
    fold_returns: Sequence[np.ndarray],
    n_trades_per_fold: Sequence[int],
    *,
    periods_per_year: float,
    min_trades: int,
) -> float:
    """Objective ``name`` on the out-of-fold returns (folds concatenated), with the trade rule."""
    returns = np.concatenate([np.asarray(r, dtype=float) for r in fold_returns])
    score = _nan_to_zero(STRATEGY_OBJECTIVES[name](returns, periods_per_year))
    return score - trade_shortfall(n_trades_per_fold, min_trades)


__all__ = [
    "DRAWDOWN_PENALTY",
    "MODEL_OBJECTIVES",
    "STRATEGY_OBJECTIVES",
    "strategy_score",
    "trade_shortfall",
]
