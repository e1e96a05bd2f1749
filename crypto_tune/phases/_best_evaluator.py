"""The best run's strategy evaluator: scores a strategy parameter set on the out-of-fold
predictions of the tuning period (one asset's folds, or a basket's portfolio), as Phase 2 does.
It is cheap and called many times: by the robust selection, the robustness tests (trial ledger,
PBO configurations, neighbourhoods) and the explanation of the chosen parameters' objective.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from crypto_tune import metrics
from crypto_tune.config import Settings, StrategySettings
from crypto_tune.evaluation import (
    PortfolioContext,
    StrategyContext,
    backtest_folds,
    portfolio_folds,
    score_strategy,
)


@dataclasses.dataclass
class Evaluator:
    """Scores strategy parameter sets on the out-of-fold predictions (cheap, many calls)."""

    settings: Settings
    context: StrategyContext | PortfolioContext
    ppy: float
    bar_hours: float

    def strategy(self, params: dict[str, Any]) -> StrategySettings:
        return dataclasses.replace(self.settings.strategy, **params)

    def fold_returns(self, params: dict[str, Any]) -> tuple[list[np.ndarray], list[int]]:
        """Per-fold returns (the portfolio's for a basket) and trade counts of ``params``."""
        if isinstance(self.context, PortfolioContext):
            return portfolio_folds(self.context, self.strategy(params), self.settings.asset)
        return backtest_folds(self.context.folds, self.strategy(params), bar_hours=self.bar_hours)

    def score(self, params: dict[str, Any]) -> float:
        returns, trades = self.fold_returns(params)
        return score_strategy(self.strategy(params), returns, trades, ppy=self.ppy)

    def sharpe_per_period(self, params: dict[str, Any]) -> float:
        returns, _ = self.fold_returns(params)
        return metrics.sharpe_ratio(np.concatenate(returns), periods_per_year=1.0)
