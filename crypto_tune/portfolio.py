"""Combine per-asset return streams into one portfolio (pure NumPy/pandas).

Each asset is a sleeve that receives ``weights[i]`` of the capital at the start and is then left
alone (no rebalancing, so no hidden trading costs): the portfolio's equity is the weighted sum of
the sleeves' equities. Bars are aligned on the union of the assets' timestamps; an asset without
a candle at a timestamp keeps its equity unchanged there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


def alignment(indexes: Sequence[pd.DatetimeIndex]) -> tuple[pd.DatetimeIndex, list[np.ndarray]]:
    """The union of ``indexes`` and, per index, the positions of its bars in that union."""
    if not indexes:
        raise ConfigError("a portfolio needs at least one asset")
    union = indexes[0]
    for index in indexes[1:]:
        union = union.union(index)
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
