"""Synthetic universes for the tests: random walks with an optional planted cross-sectional
reversal (``r[t+1, i] = -reversal * (r[t, i] - mean_j r[t, j]) + noise``), late listings and
gaps, written as one CSV per symbol like the real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def universe_candles(
    *,
    n_symbols: int = 6,
    n_bars: int = 3000,
    reversal: float = 0.0,
    seed: int = 0,
    start: str = "2021-01-01",
    late: dict[int, int] | None = None,
    gaps: dict[int, tuple[int, int]] | None = None,
) -> dict[str, pd.DataFrame]:
    """``{symbol: candles}`` on a 4h grid; ``late[j] = bar`` lists symbol j from that bar,
    ``gaps[j] = (a, b)`` removes its bars a..b-1."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=n_bars, freq="4h", tz="UTC")
    common = rng.normal(0, 0.01, n_bars)
    noise = rng.normal(0, 0.015, (n_bars, n_symbols))
    ret = np.zeros((n_bars, n_symbols))
    for t in range(1, n_bars):
        prev = ret[t - 1] - ret[t - 1].mean()
        ret[t] = common[t] + noise[t] - reversal * prev
    close = 100.0 * np.exp(np.cumsum(ret, axis=0))
    out = {}
    for j in range(n_symbols):
        c = close[:, j]
        o = np.concatenate([[c[0]], c[:-1]])
        spread = np.abs(rng.normal(0, 0.004, n_bars))
        frame = pd.DataFrame(
            {
                "open": o,
                "high": np.maximum(o, c) * (1 + spread),
                "low": np.minimum(o, c) * (1 - spread),
                "close": c,
                "volume": rng.lognormal(10, 0.5, n_bars),
            },
            index=index,
        )
        frame.index.name = "timestamp"
        keep = np.ones(n_bars, dtype=bool)
        if late and j in late:
            keep[: late[j]] = False
        if gaps and j in gaps:
            a, b = gaps[j]
            keep[a:b] = False
        out[f"S{j}USDT"] = frame[keep]
    return out


def write_universe(folder: Path, candles: dict[str, pd.DataFrame]) -> str:
    """Write ``binance_<symbol>_4h.csv`` files; returns the ``{symbol}`` path template."""
    folder.mkdir(parents=True, exist_ok=True)
    for symbol, frame in candles.items():
        out = frame.copy()
        out.index = out.index.strftime("%Y-%m-%dT%H:%M:%SZ")
        out.to_csv(folder / f"binance_{symbol}_4h.csv")
    return str(folder / "binance_{symbol}_4h.csv")
