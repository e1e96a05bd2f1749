"""A basket's sleeves weighted, rebalanced and vol-targeted fold by fold (``asset.weights``,
``asset.rebalance``, ``asset.target_vol``) for Phase 2 and the best run's evaluator: the glue
between the members' backtests and :func:`crypto_tune.portfolio.rebalanced_portfolio`.

``weights=equal rebalance=never`` without a target is the plain basket (equal sleeves left
alone, :func:`crypto_tune.portfolio.combine_sleeves`); anything else moves capital between
sleeves at the scheduled closes and pays the market's fee + ``strategy.slippage`` on the notional
that moves (the capital moved times the sleeve's gross exposure at that close).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from crypto_tune.backtest._params import check_params
from crypto_tune.config import AssetSettings, StrategySettings
from crypto_tune.memo import memo
from crypto_tune.portfolio import alignment, rebalance_points, rebalanced_portfolio

if TYPE_CHECKING:
    from crypto_tune.evaluation._context_types import PortfolioContext
    from crypto_tune.evaluation._folds import FoldArrays


def is_plain(asset: AssetSettings) -> bool:
    """Equal sleeves, never rebalanced, no portfolio target: today's basket."""
    return asset.weights == "equal" and asset.rebalance == "never" and asset.target_vol is None


def path_kwargs(asset: AssetSettings, strategy: StrategySettings, ppy: float) -> dict[str, Any]:
    """The portfolio's options: the gross exposure is capped by ``asset.max_gross`` and by what
    the market lends (1x on spot without a borrow rate: the sleeves cannot be levered up)."""
    return {
        "weighting": asset.weights,
        "cost_rate": strategy.costs.fee + strategy.slippage,
        "target_vol": asset.target_vol,
        "max_gross": min(asset.max_gross, strategy.costs.max_leverage),
        "window": strategy.vol_window,
        "periods_per_year": ppy,
    }


def fold_paths(
    folds: tuple[FoldArrays, ...], strategy: StrategySettings, *, bar_hours: float
) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Per fold: (returns, gross exposure at each close, trades) of ``strategy`` (the engine with
    its records on: the exposure is |position| * close / equity)."""
    ppy = 24.0 * 365.0 / bar_hours
    out = []
    for fold in folds:
        signal, kwargs = fold.signal(strategy, periods_per_year=ppy)
        options = check_params(**kwargs)
        returns, equity, positions, n_trades, _, _, _ = options.run(
            fold.open, fold.high, fold.low, fold.close, signal, bar_hours=bar_hours, records=True
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            exposure = np.where(equity > 0, np.abs(positions) * fold.close / equity, 0.0)
        out.append((returns, exposure, int(n_trades)))
    return out


def sleeve_grid(
    n_bars: int, positions: tuple[np.ndarray, ...], columns: list[np.ndarray]
) -> np.ndarray:
    """``(n_bars, sleeves)``: each sleeve at its positions on the union grid, 0 elsewhere."""
    grid = np.zeros((n_bars, len(columns)))
    for i, (pos, values) in enumerate(zip(positions, columns, strict=True)):
        grid[pos, i] = values
    return grid


_INDEXES: dict[int, tuple[Any, list[pd.DatetimeIndex]]] = memo("basket_indexes", {})


def fold_indexes(context: PortfolioContext) -> list[pd.DatetimeIndex]:
    """The union grid's timestamps of each fold (memoised per context)."""
    key = id(context)
    if key not in _INDEXES:
        indexes = []
        for k in range(len(context.grids)):
            members = [
                m.dataset.candles.index[m.dataset.folds[k].test_idx] for m in context.members
            ]
            indexes.append(alignment(members)[0])
        _INDEXES[key] = (context, indexes)  # the context is kept alive with its key
    return _INDEXES[key][1]


def rebalanced_folds(
    context: PortfolioContext, strategy: StrategySettings, asset: AssetSettings
) -> tuple[list[np.ndarray], list[int]]:
    """Per-fold portfolio returns (weighted, rebalanced, vol-targeted) and trades of all members."""
    per_member = [
        fold_paths(m.folds, strategy, bar_hours=context.bar_hours) for m in context.members
    ]
    kwargs = path_kwargs(asset, strategy, context.periods_per_year)
    returns, trades = [], []
    for k, ((n_bars, positions), index) in enumerate(
        zip(context.grids, fold_indexes(context), strict=True)
    ):
        r = sleeve_grid(n_bars, positions, [paths[k][0] for paths in per_member])
        e = sleeve_grid(n_bars, positions, [paths[k][1] for paths in per_member])
        path = rebalanced_portfolio(
            r, rebalance_points(index, asset.rebalance), exposures=e, **kwargs
        )
        returns.append(path.returns)
        trades.append(sum(paths[k][2] for paths in per_member))
    return returns, trades


__all__ = ["fold_paths", "is_plain", "path_kwargs", "rebalanced_folds", "sleeve_grid"]
