"""The data health report of loaded candles (:class:`CandleReport`, what ``phase=inspect``
prints) and the pure bar statistics it shows: the largest one-bar move, bars without volume and
the longest run of bars on one price (a trading halt, a pegged price)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from crypto_tune.data._bar_grid import Gap
from crypto_tune.data._provenance import Provenance
from crypto_tune.data._timestamps import format_time

PRICES: tuple[str, ...] = ("open", "high", "low", "close")
_GAPS_LISTED = 5
# A run of one-price bars at least this long is reported (a halt, or a price that does not trade).
FLAT_RUN_REPORTED = 6


@dataclass(frozen=True)
class CandleReport:
    """Data health summary of loaded candles (what ``phase=inspect`` prints)."""

    source: str
    timeframe: str
    n_rows: int
    start: pd.Timestamp
    end: pd.Timestamp
    n_duplicates_dropped: int
    gaps: tuple[Gap, ...]
    price_min: float
    price_max: float
    # where a downloaded file came from (phase=download records it); None for other files
    provenance: Provenance | None = None
    # resampled from finer bars: the source's timeframe, and the bars made from fewer source bars
    # than a whole bin holds (a gap in the source inside the bin: the bar is kept, not filled)
    resampled_from: str | None = None
    partial_bars: int = 0
    # the largest one-bar move of a high or low against the previous close, and its bar: a spike
    # of bad data (a 50x wick) shows here before it shows in a drawdown
    largest_move: float = 0.0
    largest_move_at: pd.Timestamp | None = None
    # bars with no volume (all of them: the volume features are missing everywhere), bars on one
    # price (open = high = low = close) and the longest run of them on one price: a halt
    zero_volume_bars: int = 0
    flat_bars: int = 0
    flat_run: int = 0
    flat_run_at: pd.Timestamp | None = None

    @property
    def missing_bars(self) -> int:
        """Bars missing from the grid, summed over all gaps."""
        return sum(gap.missing_bars for gap in self.gaps)

    def lines(self, *, max_gaps: int = _GAPS_LISTED) -> list[str]:
        """Human-readable lines for a terminal; the first ``max_gaps`` gaps are listed."""
        out = [
            f"source:     {self.source}",
            f"timeframe:  {self.timeframe}",
            f"rows:       {self.n_rows:,}",
            f"range:      {format_time(self.start)} -> {format_time(self.end)}",
            f"duplicates: {self.n_duplicates_dropped:,} identical row(s) dropped",
            f"gaps:       {len(self.gaps):,} gap(s), {self.missing_bars:,} missing bar(s)"
            + (" (not filled)" if self.gaps else ""),
        ]
        out += gap_lines(self.gaps, indent="  ", listed=max_gaps)
        if self.resampled_from is not None:
            out.append(
                f"resampled:  from {self.resampled_from} bars; {self.partial_bars:,} bar(s) made "
                f"from part of their {self.resampled_from} bars (gaps in the source)"
            )
        out.append(f"prices:     low {self.price_min:,.6g}, high {self.price_max:,.6g}")
        if self.largest_move_at is not None:
            out.append(
                f"largest move: {100 * self.largest_move:+,.1f}% in one bar (its high or low "
                f"against the previous close) at {format_time(self.largest_move_at)}"
            )
        if self.zero_volume_bars:
            every = self.zero_volume_bars == self.n_rows
            out.append(
                f"volume:     0 on {self.zero_volume_bars:,} bar(s)"
                + (" (every bar: the volume features are missing)" if every else "")
            )
        if self.flat_bars:
            run = (
                f", longest run {self.flat_run:,} bars on one price from "
                f"{format_time(self.flat_run_at)} (a halt?)"
                if self.flat_run >= FLAT_RUN_REPORTED and self.flat_run_at is not None
                else ""
            )
            out.append(f"flat bars:  {self.flat_bars:,} with open = high = low = close{run}")
        if self.provenance is not None:
            out.append(f"provenance: {self.provenance.describe()}")
        return out


def gap_lines(gaps: tuple[Gap, ...], *, indent: str, listed: int = _GAPS_LISTED) -> list[str]:
    """The first ``listed`` gaps, a line each (``after -> before: n missing``), then how many
    more there are."""
    out = [
        f"{indent}{format_time(gap.after)} -> {format_time(gap.before)}: "
        f"{gap.missing_bars:,} missing"
        for gap in gaps[:listed]
    ]
    if len(gaps) > listed:
        out.append(f"{indent}... and {len(gaps) - listed:,} more gap(s)")
    return out


def largest_move(candles: pd.DataFrame) -> tuple[float, pd.Timestamp | None]:
    """``largest_move`` and ``largest_move_at`` of :class:`CandleReport` (none for one bar)."""
    if len(candles) < 2:
        return 0.0, None
    previous = candles["close"].to_numpy()[:-1]
    up = candles["high"].to_numpy()[1:] / previous - 1.0
    down = candles["low"].to_numpy()[1:] / previous - 1.0
    moves = np.where(np.abs(up) >= np.abs(down), up, down)
    at = int(np.argmax(np.abs(moves)))
    return float(moves[at]), pd.Timestamp(candles.index[at + 1])


def flat_bars(candles: pd.DataFrame) -> tuple[int, int, pd.Timestamp | None]:
    """``(flat_bars, flat_run, flat_run_at)`` of :class:`CandleReport`: bars whose open, high,
    low and close are equal, and the longest run of consecutive such bars on one price.

    >>> index = pd.date_range("2021-01-01", periods=4, freq="4h", tz="UTC")
    >>> flat_bars(pd.DataFrame({c: [1.0, 2.0, 2.0, 2.0] for c in PRICES}, index=index))[:2]
    (4, 3)
    """
    o, h, low, c = (candles[name].to_numpy(dtype=np.float64) for name in PRICES)
    flat = (o == h) & (h == low) & (low == c)
    if not flat.any():
        return 0, 0, None
    continues = np.zeros(len(flat), dtype=bool)
    continues[1:] = flat[1:] & flat[:-1] & (c[1:] == c[:-1])
    starts = flat & ~continues
    run_id = np.cumsum(starts) - 1
    lengths = np.bincount(run_id[flat])
    longest = int(np.argmax(lengths))
    first = int(np.flatnonzero(starts)[longest])
    return int(flat.sum()), int(lengths[longest]), pd.Timestamp(candles.index[first])


def zero_volume_bars(candles: pd.DataFrame) -> int:
    """Bars whose volume is 0 (``zero_volume_bars`` of :class:`CandleReport`)."""
    return int((candles["volume"].to_numpy() == 0).sum())


def bar_statistics(candles: pd.DataFrame) -> dict[str, Any]:
    """The fields of :class:`CandleReport` read off the bars themselves (rows, span, price range,
    largest move, zero-volume and flat bars): one home for a report of the whole file and of the
    part a phase may see (a locked final holdout cut off)."""
    move, move_at = largest_move(candles)
    n_flat, flat_run, flat_run_at = flat_bars(candles)
    return {
        "n_rows": len(candles),
        "start": candles.index[0],
        "end": candles.index[-1],
        "price_min": float(candles["low"].min()),
        "price_max": float(candles["high"].max()),
        "largest_move": move,
        "largest_move_at": move_at,
        "zero_volume_bars": zero_volume_bars(candles),
        "flat_bars": n_flat,
        "flat_run": flat_run,
        "flat_run_at": flat_run_at,
    }


__all__ = [
    "FLAT_RUN_REPORTED",
    "CandleReport",
    "bar_statistics",
    "flat_bars",
    "gap_lines",
    "largest_move",
    "zero_volume_bars",
]
