"""A basket's best run: its members' in- and out-of-sample backtests weighted, rebalanced and
vol-targeted as Phase 2 scored them (:mod:`crypto_tune.evaluation._basket`), with the
correlation and contributions of the sleeves, and their lines on the terminal.

``weights=equal rebalance=never`` without a target is today's basket (equal sleeves left alone,
:func:`crypto_tune.portfolio.combine_sleeves`); anything else moves capital between sleeves at the
scheduled closes and pays the market's fee + ``strategy.slippage`` on the notional that moves (the
capital moved times the sleeve's gross exposure at that close).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from crypto_tune.config import AssetSettings, StrategySettings
from crypto_tune.evaluation._basket import is_plain, path_kwargs, sleeve_grid
from crypto_tune.portfolio import (
    alignment,
    contributions,
    rebalance_points,
    rebalanced_portfolio,
)

if TYPE_CHECKING:
    from crypto_tune.phases._best_runs import MemberRun


def _exposure(result_returns: pd.Series, positions: np.ndarray, close: pd.Series) -> np.ndarray:
    equity = np.cumprod(1.0 + result_returns.to_numpy())
    price = close.reindex(result_returns.index).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(equity > 0, np.abs(positions) * price / equity, 0.0)


def _segment(
    members: list[tuple[str, pd.Series, np.ndarray]],
    asset: AssetSettings,
    kwargs: dict[str, Any],
) -> tuple[pd.Series, dict[str, Any], Any, np.ndarray]:
    """One segment's portfolio: (returns, contributions/correlation, path, sleeve returns)."""
    union, positions = alignment([returns.index for _, returns, _ in members])
    r = sleeve_grid(len(union), tuple(positions), [ret.to_numpy() for _, ret, _ in members])
    e = sleeve_grid(len(union), tuple(positions), [expo for _, _, expo in members])
    path = rebalanced_portfolio(r, rebalance_points(union, asset.rebalance), exposures=e, **kwargs)
    names = [name for name, _, _ in members]
    return (
        pd.Series(path.returns, index=union, name="portfolio"),
        contributions(path, r, names),
        path,
        r,
    )


def rebalance_runs(
    runs: list[MemberRun],
    asset: AssetSettings,
    strategy: StrategySettings,
    ppy: float,
    combined: tuple[pd.Series, pd.Series, dict, dict],
) -> tuple[pd.Series, pd.Series, dict, dict, dict[str, Any]]:
    """The best run's basket: (IS returns, OOS returns, IS summary, OOS summary, the document's
    ``portfolio`` section). A plain basket keeps ``combined`` (:func:`_combine`'s) numbers."""
    from crypto_tune.phases._best_runs import _summary

    kwargs = path_kwargs(asset, strategy, ppy)
    is_parts, oos = [], None
    sections: dict[str, Any] = {}
    stats: dict[str, dict[str, float]] = {}
    for segment in ("in_sample", "out_of_sample"):
        folds = range(len(runs[0].is_returns)) if segment == "in_sample" else [None]
        returns_parts, r_parts, paths = [], [], []
        for k in folds:
            members = []
            for run in runs:
                close = run.dataset.candles["close"]
                if k is None:
                    ret, pos = run.oos.returns, run.oos.positions.to_numpy()
                else:
                    start = sum(len(p) for p in run.is_returns[:k])
                    ret = run.is_returns[k]
                    pos = run.is_positions[start : start + len(ret)]
                members.append((run.symbol, ret, _exposure(ret, pos, close)))
            series, _, path, r = _segment(members, asset, kwargs)
            returns_parts.append(series)
            r_parts.append(r)
            paths.append(path)
        names = [run.symbol for run in runs]
        merged = _merge_paths(paths)
        section = contributions(merged, np.vstack(r_parts), names)
        section["rebalances"] = int(sum(p.rebalances for p in paths))
        section["costs"] = float(merged.costs.sum())
        section["mean_gross"] = float(merged.gross.mean())
        sections[segment] = section
        stats[segment] = {}
        if segment == "in_sample":
            is_parts = returns_parts
        else:
            oos = returns_parts[0]
    is_returns, oos_returns, in_sample, out_of_sample = combined
    if not is_plain(asset):
        assert oos is not None
        is_returns, oos_returns = pd.concat(is_parts), oos
        is_trades = pd.concat([r.is_trades for r in runs], ignore_index=True)
        oos_trades = pd.concat([r.oos.trades for r in runs], ignore_index=True)
        in_sample = _summary(is_returns.to_numpy(), is_trades, None, ppy)
        out_of_sample = _summary(oos_returns.to_numpy(), oos_trades, None, ppy)
    document = {
        "weights": asset.weights,
        "rebalance": asset.rebalance,
        "target_vol": asset.target_vol,
        "max_gross": asset.max_gross,
        **sections,
    }
    return is_returns, oos_returns, in_sample, out_of_sample, document


def _merge_paths(paths: list[Any]) -> Any:
    from crypto_tune.portfolio import PortfolioPath

    return PortfolioPath(
        returns=np.concatenate([p.returns for p in paths]),
        allocations=np.vstack([p.allocations for p in paths]),
        costs=np.concatenate([p.costs for p in paths]),
        rebalances=sum(p.rebalances for p in paths),
    )


def print_portfolio(section: dict[str, Any]) -> None:
    """The basket's weighting, correlation and contributions, under the best run's table."""
    target = section["target_vol"]
    print(
        f"portfolio: weights {section['weights']}, rebalance {section['rebalance']}, "
        f"target vol {'none' if target is None else f'{100 * target:.0f}%'}"
    )
    for segment, short in (("in_sample", "IS"), ("out_of_sample", "OOS")):
        data = section[segment]
        names = [n for n in data["contributions"] if n != "costs"]
        pairs = [
            f"{a}/{b} {data['correlation'][a][b]:.2f}"
            if data["correlation"][a][b] is not None
            else f"{a}/{b} —"
            for i, a in enumerate(names)
            for b in names[i + 1 :]
        ]
        parts = [
            f"{n} {100 * c['return']:+.1f}% ret, "
            + ("—" if c["risk"] is None else f"{100 * c['risk']:.0f}%")
            + " risk"
            for n, c in data["contributions"].items()
        ]
        print(
            f"  {short:<4}rebalances {data['rebalances']}, mean gross {data['mean_gross']:.2f}, "
            f"correlation {', '.join(pairs)}"
        )
        print(f"       contributions: {'; '.join(parts)}")


__all__ = ["print_portfolio", "rebalance_runs"]
