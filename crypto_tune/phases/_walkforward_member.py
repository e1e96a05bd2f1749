"""A walk-forward window's members (:class:`Member`: one asset, or each symbol of a basket) and
the two objectives its studies tune: Phase 1's mean over the members, Phase 2's on the asset or
the basket's portfolio."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from crypto_tune.config import ModelSettings, Settings, StrategySettings
from crypto_tune.dataset import Dataset
from crypto_tune.evaluation import (
    PortfolioContext,
    StrategyContext,
    fold_arrays_for,
    portfolio_folds,
    score_strategy,
)
from crypto_tune.exceptions import ConfigError
from crypto_tune.model import OutOfFold
from crypto_tune.phases._tuning import (
    model_objective,
    strategy_objective,
)
from crypto_tune.timeframes import periods_per_year, timeframe_minutes
from crypto_tune.walkforward import Window


@dataclasses.dataclass(frozen=True)
class Member:
    """One asset of a window: its settings, its whole dataset, its window (positions into that
    dataset) and ``data``, the dataset whose folds are the window's tuning folds."""

    settings: Settings
    dataset: Dataset
    window: Window
    data: Dataset

    @property
    def symbol(self) -> str:
        return self.settings.asset.symbol


def is_basket(settings: Settings) -> bool:
    return settings.asset.kind == "basket"


# ------------------------------------------------------------------------ the two objectives
def window_model_value(
    settings: Settings, members: Sequence[Member], model: ModelSettings
) -> tuple[float, list[OutOfFold]]:
    """Phase 1's objective of ``model`` in a window (the members' mean) and each member's
    out-of-fold predictions on the window's tuning folds."""
    values, oofs = [], []
    for member in members:
        value, oof = model_objective(member.settings, member.data, model)
        values.append(value)
        oofs.append(oof)
    return float(np.mean(values)), oofs


def strategy_scorer(
    settings: Settings, members: Sequence[Member], oofs: Sequence[OutOfFold]
) -> Callable[[StrategySettings], float]:
    """Phase 2's objective in a window, as a function of the strategy: the asset's, or the
    basket portfolio's (weighted, rebalanced, vol-targeted as ``settings.asset`` says)."""
    regime = settings.regime.name
    arrays = [fold_arrays_for(m.data, oof, regime) for m, oof in zip(members, oofs, strict=True)]
    if not is_basket(settings):
        return lambda strategy: strategy_objective(settings, arrays[0], strategy)
    context = portfolio_context(settings, members, oofs, arrays)

    def score(strategy: StrategySettings) -> float:
        returns, trades = portfolio_folds(context, strategy, settings.asset)
        return score_strategy(strategy, returns, trades, ppy=context.periods_per_year)

    return score


def portfolio_context(
    settings: Settings,
    members: Sequence[Member],
    oofs: Sequence[OutOfFold],
    arrays: Sequence[Any],
) -> PortfolioContext:
    """The basket's Phase 2 context on the window's tuning folds (the union grid per fold)."""
    from crypto_tune.portfolio import alignment

    timeframe = settings.asset.timeframe
    ppy, bar_hours = periods_per_year(timeframe), timeframe_minutes(timeframe) / 60.0
    counts = {len(m.data.folds) for m in members}
    if len(counts) != 1:
        raise ConfigError(
            f"asset.symbols: the basket's members give different tuning fold counts "
            f"{sorted(counts)} in walk-forward window {members[0].window.number}"
        )
    contexts = tuple(
        StrategyContext(
            dataset=m.data,
            model=settings.model,
            model_source="walkforward",
            oof=oof,
            folds=tuple(folds),
            periods_per_year=ppy,
            bar_hours=bar_hours,
        )
        for m, oof, folds in zip(members, oofs, arrays, strict=True)
    )
    grids = []
    for k in range(counts.pop()):
        union, positions = alignment(
            [m.data.candles.index[m.data.folds[k].test_idx] for m in members]
        )
        grids.append((len(union), tuple(positions)))
    return PortfolioContext(
        members=contexts,
        symbols=tuple(m.symbol for m in members),
        grids=tuple(grids),
        periods_per_year=ppy,
        bar_hours=bar_hours,
        model_source="walkforward",
    )


__all__ = ["Member", "is_basket", "portfolio_context", "strategy_scorer", "window_model_value"]
