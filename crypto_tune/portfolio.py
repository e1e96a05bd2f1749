"""Combine per-asset return streams into one portfolio (pure NumPy/pandas).

Each asset is a sleeve that receives ``weights[i]`` of the capital at the start and is then left
alone (no rebalancing, so no hidden trading costs): the portfolio's equity is the weighted sum of
the sleeves' equities. Bars are aligned on the union of the assets' timestamps; an asset without
a candle at a timestamp keeps its equity unchanged there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crypto_tune.exceptions import ConfigError, DataError


def _weights(n: int, weights: Sequence[float] | None) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ConfigError(f"weights must be {n} non-negative numbers, got {list(weights)}")
    if not np.isclose(w.sum(), 1.0):
        raise ConfigError(f"weights must sum to 1, got {w.sum():g}")
    return w


def alignment(indexes: Sequence[pd.Index]) -> tuple[pd.DatetimeIndex, list[np.ndarray]]:
    """The union of the bar times ``indexes`` and, per index, its positions in that union."""
    if not indexes:
        raise ConfigError("a portfolio needs at least one asset")
    union = pd.DatetimeIndex(indexes[0])
    for index in indexes[1:]:
        union = union.union(pd.DatetimeIndex(index))
    return union, [union.get_indexer(index) for index in indexes]


def combine_sleeves(
    returns: Sequence[np.ndarray],
    positions: Sequence[np.ndarray],
    n_bars: int,
    *,
    weights: Sequence[float] | None = None,
) -> np.ndarray:
    """Per-bar portfolio returns on a grid of ``n_bars`` from each sleeve's returns.

    ``returns[i]`` are asset i's simple per-bar returns at grid positions ``positions[i]``
    (increasing). The result compounds to the weighted sum of the sleeves' final equities.
    """
    if len(returns) != len(positions):
        raise ConfigError("returns and positions must have one entry per asset")
    w = _weights(len(returns), weights)
    total = np.zeros(n_bars)
    for weight, r, pos in zip(w, returns, positions, strict=True):
        r = np.asarray(r, dtype=float)
        pos = np.asarray(pos)
        if r.shape != pos.shape:
            raise DataError(f"an asset has {r.size} returns for {pos.size} positions")
        if not np.all(np.isfinite(r)):
            raise DataError("sleeve returns must be finite")
        sleeve = np.full(n_bars, np.nan)
        sleeve[pos] = np.cumprod(1.0 + r)
        # equity stays where it was on bars the asset has no candle (1.0 before its first bar)
        filled = pd.Series(sleeve).ffill().fillna(1.0).to_numpy()
        total += weight * filled
    previous = np.r_[1.0, total[:-1]]
    return total / previous - 1.0


def combine_returns(
    returns: Mapping[str, pd.Series], *, weights: Mapping[str, float] | None = None
) -> pd.Series:
    """Portfolio returns of per-asset return Series (equal weights unless given), on the union
    of their indexes. ``(1 + result).prod()`` equals the weighted sum of the sleeves' growth."""
    names = list(returns)
    union, positions = alignment([returns[n].index for n in names])
    w = None if weights is None else [weights[n] for n in names]
    values = combine_sleeves(
        [returns[n].to_numpy() for n in names], positions, len(union), weights=w
    )
    return pd.Series(values, index=union, name="portfolio")


__all__ = ["alignment", "combine_returns", "combine_sleeves"]


# ------------------------------------------------------------------ risk-budgeted baskets
WEIGHTINGS = ("equal", "inverse_vol")
SCHEDULES = ("never", "weekly", "monthly")


def rebalance_points(index: pd.DatetimeIndex, rebalance: str) -> np.ndarray:
    """Boolean per bar: rebalance at this bar's close (the last bar of each week or month, or
    every N bars for ``rebalance="N"``; never on the last bar)."""
    n = len(index)
    points = np.zeros(n, dtype=bool)
    if rebalance == "never" or n < 2:
        return points
    if rebalance.isdigit():
        step = int(rebalance)
        if step < 1:
            raise ConfigError(f"asset.rebalance must be a number of bars >= 1, got {step}")
        points[step - 1 :: step] = True
    elif rebalance in ("weekly", "monthly"):
        period = index.tz_localize(None) if index.tz is not None else index
        key = period.to_period("W" if rebalance == "weekly" else "M").asi8
        points[:-1] = key[1:] != key[:-1]
    else:
        raise ConfigError(
            f"asset.rebalance must be never, weekly, monthly or a number of bars, got {rebalance!r}"
        )
    points[-1] = False
    return points


@dataclass(frozen=True)
class PortfolioPath:
    """A rebalanced basket bar by bar: portfolio returns net of rebalancing costs, each sleeve's
    allocation (its capital over portfolio equity, at each bar's open), the costs paid (share of
    equity, charged on the bar whose close rebalances), and the number of rebalances."""

    returns: np.ndarray
    allocations: np.ndarray
    costs: np.ndarray
    rebalances: int

    @property
    def gross(self) -> np.ndarray:
        """Capital allocated to sleeves over equity per bar (> 1: the target borrows)."""
        return self.allocations.sum(axis=1)


def target_weights(history: np.ndarray, weighting: str) -> np.ndarray:
    """Sleeve weights from the trailing sleeve returns ``history`` (bars × sleeves): ``equal``,
    or ``inverse_vol`` (1 / trailing std of each sleeve's returns, a floor at a tenth of the
    median; equal when the history is too short or flat)."""
    m = history.shape[1]
    equal = np.full(m, 1.0 / m)
    if weighting == "equal":
        return equal
    if weighting != "inverse_vol":
        choices = ", ".join(WEIGHTINGS)
        raise ConfigError(f"asset.weights must be one of {choices}, got {weighting!r}")
    if history.shape[0] < 20:
        return equal
    vol = history.std(axis=0, ddof=1)
    if not np.all(np.isfinite(vol)) or np.median(vol) <= 0:
        return equal
    vol = np.maximum(vol, 0.1 * np.median(vol))
    w = 1.0 / vol
    return w / w.sum()


def rebalanced_portfolio(
    returns: np.ndarray,
    points: np.ndarray,
    *,
    weighting: str = "equal",
    exposures: np.ndarray | None = None,
    cost_rate: float = 0.0,
    target_vol: float | None = None,
    max_gross: float = 3.0,
    window: int = 180,
    periods_per_year: float = 2190.0,
) -> PortfolioPath:
    """Sleeves rebalanced at the closes ``points`` marks (bars × sleeves ``returns``, 0 where a
    member has no bar).

    At each rebalance the weights come from the last ``window`` bars of sleeve returns (causal:
    known at that close); with ``target_vol`` the allocations are scaled by
    ``min(max_gross, target_vol / ex-ante vol)``, the ex-ante vol being ``sqrt(w' C w)`` of the
    trailing covariance C, annualised (scale 1 before 20 bars of history). Moving capital into or
    out of a sleeve trades ``|change| * exposure`` of notional (``exposures``: each sleeve's gross
    position over its equity at that close; 1 if not given), charged at ``cost_rate``. The first
    allocation is free (sleeves start flat) and uses equal weights and scale 1.
    """
    r = np.asarray(returns, dtype=float)
    n, m = r.shape
    expo = np.ones_like(r) if exposures is None else np.asarray(exposures, dtype=float)
    alloc = np.full(m, 1.0 / m)  # capital per unit of equity, at the current bar's open
    allocations = np.empty((n, m))
    out = np.empty(n)
    costs = np.zeros(n)
    count = 0
    bounds = np.r_[np.flatnonzero(points) + 1, n]
    start = 0
    for stop in bounds:
        if stop <= start:
            continue
        block = r[start:stop]
        growth = np.cumprod(1.0 + block, axis=0)
        sleeves = alloc * np.vstack([np.ones(m), growth[:-1]])  # capital at each bar's open
        cash = 1.0 - alloc.sum()
        equity_open = sleeves.sum(axis=1) + cash
        allocations[start:stop] = sleeves / equity_open[:, None]
        end_sleeves = alloc * growth[-1]
        equity = end_sleeves.sum() + cash
        out[start:stop] = (sleeves * block).sum(axis=1) / equity_open
        if stop < n:  # rebalance at the close of bar stop - 1
            history = r[max(0, stop - window) : stop]
            w = target_weights(history, weighting)
            scale = 1.0
            if target_vol is not None and history.shape[0] >= 20:
                ex_ante = float(np.sqrt(max(w @ np.cov(history, rowvar=False) @ w, 0.0)))
                ex_ante *= np.sqrt(periods_per_year)
                scale = max_gross if ex_ante <= 0 else min(max_gross, target_vol / ex_ante)
            new = scale * w * equity
            cost = cost_rate * float(np.sum(np.abs(new - end_sleeves) * expo[stop - 1]))
            cost = min(cost, equity)
            costs[stop - 1] = cost / equity if equity > 0 else 0.0
            # the bar's return includes the cost paid at its close
            before = equity_open[-1] * (1.0 + out[stop - 1])
            out[stop - 1] = (before - cost) / equity_open[-1] - 1.0
            equity -= cost
            alloc = new / equity if equity > 0 else np.zeros(m)
            count += 1
        else:
            alloc = end_sleeves / equity if equity > 0 else np.zeros(m)
        start = stop
    return PortfolioPath(returns=out, allocations=allocations, costs=costs, rebalances=count)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def contributions(path: PortfolioPath, returns: np.ndarray, names: Sequence[str]) -> dict:
    """Each sleeve's contribution to the portfolio's return (sum of allocation × sleeve return
    per bar) and to its risk (Euler: cov(contribution, portfolio) / var(portfolio), shares that
    sum to 1 with the costs' share), and the correlation of the sleeves' returns."""
    r = np.asarray(returns, dtype=float)
    parts = path.allocations * r
    total = path.returns
    var = float(np.var(total, ddof=1)) if len(total) > 1 else 0.0
    out: dict[str, dict[str, float | None]] = {}
    for i, name in enumerate(names):
        risk = None
        if var > 0:
            risk = float(np.cov(parts[:, i], total, ddof=1)[0, 1] / var)
        out[str(name)] = {"return": float(parts[:, i].sum()), "risk": risk}
    out["costs"] = {
        "return": -float(path.costs.sum()),
        "risk": None if var <= 0 else float(np.cov(-path.costs, total, ddof=1)[0, 1] / var),
    }
    corr = np.full((r.shape[1], r.shape[1]), np.nan)
    if r.shape[0] > 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.corrcoef(r, rowvar=False)
    matrix = {
        str(a): {str(b): _finite(corr[i, j]) for j, b in enumerate(names)}
        for i, a in enumerate(names)
    }
    return {"contributions": out, "correlation": matrix}


__all__ += [
    "PortfolioPath",
    "contributions",
    "rebalance_points",
    "rebalanced_portfolio",
    "target_weights",
]
