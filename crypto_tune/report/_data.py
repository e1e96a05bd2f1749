"""The files a best run leaves for the report: buy-and-hold returns and the trade list.

``phase=best`` writes, beside ``workflow.best.json``, ``<stem>.curves.parquet`` (index
``(segment, time)``, columns ``returns`` and ``benchmark``) and ``<stem>.trades.parquet`` (one
row per trade, columns :data:`TRADE_FILE_COLUMNS`). The helpers here build both (pure pandas)
and read them back; files written before a column or file existed read as None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SEGMENT_NAMES: tuple[str, ...] = ("in_sample", "out_of_sample")
TRADE_FILE_COLUMNS: tuple[str, ...] = (
    "segment",
    "symbol",
    "entry_time",
    "exit_time",
    "side",
    "entry_price",
    "exit_price",
    "pnl",
    "return",
    "reason",
)


# ------------------------------------------------------------------------------ writing
def buy_and_hold(close: pd.Series, index: pd.Index) -> pd.Series:
    """Close-to-close returns of ``close`` on the bars ``index`` (a subset of its index).

    Bought at the close of the first bar of every run of consecutive bars: that bar's return is
    0, as the strategy cannot hold a position over the bar it first sees.

    >>> close = pd.Series([10.0, 11.0, 12.1, 6.05], index=[0, 1, 2, 3])
    >>> buy_and_hold(close, pd.Index([1, 2, 3])).round(3).tolist()
    [0.0, 0.1, -0.5]
    """
    positions = close.index.get_indexer(index)
    if (positions < 0).any():
        missing = index[int(np.flatnonzero(positions < 0)[0])]
        raise KeyError(f"buy_and_hold: bar {missing} is not in the close series")
    values = close.to_numpy(dtype=float)
    out = np.zeros(len(positions))
    if len(positions) > 1:
        follows = np.r_[False, np.diff(positions) == 1]
        previous = values[np.maximum(positions - 1, 0)]
        out = np.where(follows, values[positions] / previous - 1.0, 0.0)
    return pd.Series(out, index=index, name="benchmark")


def benchmark_returns(
    closes: Mapping[str, pd.Series],
    folds: Mapping[str, Sequence[pd.Index]],
    holdout: Mapping[str, pd.Index],
) -> tuple[pd.Series, pd.Series]:
    """Buy-and-hold in sample (fold by fold) and out of sample, over the strategy's bars.

    One asset: its own returns. A basket: equal, unrebalanced sleeves of the members on the
    union of their bars, combined exactly as the strategy's portfolio returns are.
    """
    from crypto_tune.portfolio import combine_returns

    symbols = list(closes)
    per_fold = {s: [buy_and_hold(closes[s], index) for index in folds[s]] for s in symbols}
    oos = {s: buy_and_hold(closes[s], holdout[s]) for s in symbols}
    if len(symbols) == 1:
        (only,) = symbols
        return pd.concat(per_fold[only]), oos[only]
    n_folds = len(per_fold[symbols[0]])
    parts = [combine_returns({s: per_fold[s][k] for s in symbols}) for k in range(n_folds)]
    return pd.concat(parts), combine_returns(oos)


def trade_records(
    trades: pd.DataFrame, returns: Sequence[pd.Series], *, segment: str, symbol: str
) -> pd.DataFrame:
    """``trades`` (a backtest's trade table) with ``segment``, ``symbol`` and ``return``.

    ``return`` is the trade's pnl over the equity before its entry bar, the equity rebuilt from
    ``returns`` (one series per backtest, each starting at equity 1, as the engine does).
    """
    before = [(1.0 + r).cumprod().shift(1, fill_value=1.0) for r in returns if len(r)]
    equity = pd.concat(before) if before else pd.Series(dtype=float)
    equity = equity[~equity.index.duplicated(keep="last")]
    out = trades.copy()
    at_entry = equity.reindex(pd.Index(out["entry_time"])).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["return"] = out["pnl"].to_numpy(dtype=float) / at_entry
    out["segment"] = segment
    out["symbol"] = symbol
    columns = [c for c in TRADE_FILE_COLUMNS if c in out.columns]
    return out[columns + [c for c in out.columns if c not in columns]]


# ------------------------------------------------------------------------------ reading
@dataclass(frozen=True)
class BestFiles:
    """What a best run's folder holds for the report; None where a file or column is absent."""

    equity: dict[str, pd.Series] | None
    benchmark: dict[str, pd.Series] | None
    trades: pd.DataFrame | None


def _segments(column: pd.Series) -> dict[str, pd.Series]:
    levels = column.index.get_level_values(0).unique()
    return {str(s): column.xs(s) for s in levels if s in SEGMENT_NAMES}


def read_best_files(best: Mapping[str, Any], path: Path) -> BestFiles:
    """The curves (returns and buy-and-hold) and trades named by ``best["files"]``."""
    files = best.get("files") or {}
    equity = benchmark = trades = None
    curves = path.with_name(files["curves"]) if files.get("curves") else None
    if curves is not None and curves.is_file():
        frame = pd.read_parquet(curves)
        equity = _segments(frame["returns"])
        if "benchmark" in frame.columns:
            benchmark = _segments(frame["benchmark"].astype(float).fillna(0.0))
    listed = path.with_name(files["trades"]) if files.get("trades") else None
    if listed is not None and listed.is_file():
        trades = pd.read_parquet(listed)
    return BestFiles(equity, benchmark, trades)


__all__ = [
    "TRADE_FILE_COLUMNS",
    "BestFiles",
    "benchmark_returns",
    "buy_and_hold",
    "read_best_files",
    "trade_records",
]
