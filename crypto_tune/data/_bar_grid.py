"""The bar grid of a candle index: its gaps (reported, never filled), the timeframe its spacing
shows, and how many bars of one timeframe make a bar of another."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crypto_tune.exceptions import DataError
from crypto_tune.timeframes import timeframe_delta, timeframe_minutes


@dataclass(frozen=True)
class Gap:
    """A hole in the bar grid (never filled): ``missing_bars`` bars between after and before."""

    after: pd.Timestamp
    before: pd.Timestamp
    missing_bars: int


def time_index(candles: pd.DataFrame | pd.Series) -> pd.DatetimeIndex:
    """The bar open times of ``candles`` (its DatetimeIndex); a :class:`DataError` otherwise."""
    index = candles.index
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(f"candles need a DatetimeIndex, got {type(index).__name__}")
    return index


def _spacings(index: pd.DatetimeIndex) -> np.ndarray:
    stamps = pd.DatetimeIndex(index).as_unit("ns").asi8
    return np.diff(stamps)


def find_gaps(index: pd.DatetimeIndex, timeframe: str) -> tuple[Gap, ...]:
    """Holes in a sorted bar index: every spacing longer than one ``timeframe`` bar.

    ``missing_bars`` is ``spacing / bar - 1`` (rounded up when the spacing is not a whole number of
    bars). Gaps are reported, never filled.

    >>> idx = pd.DatetimeIndex(["2021-01-01 00:00", "2021-01-01 12:00"], tz="UTC")
    >>> find_gaps(idx, "4h")[0].missing_bars
    2
    """
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(f"find_gaps needs a DatetimeIndex, got {type(index).__name__}")
    step = timeframe_delta(timeframe).value
    spacing = _spacings(index)
    where = np.flatnonzero(spacing > step)
    missing = -(-spacing[where] // step) - 1
    return tuple(
        Gap(after=index[i], before=index[i + 1], missing_bars=int(m))
        for i, m in zip(where.tolist(), missing, strict=True)
    )


def format_timeframe(minutes: int) -> str:
    """``240 -> "4h"``, ``1440 -> "1d"``, ``10080 -> "1w"``, ``15 -> "15m"``."""
    for unit, size in (("w", 10080), ("d", 1440), ("h", 60)):
        if minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"


def infer_timeframe(index: pd.DatetimeIndex) -> str:
    """The modal spacing of a bar index as a timeframe string ("15m", "1h", "4h", "1d", "1w").

    Ties go to the shortest spacing. Needs at least two bars and a whole number of minutes.

    >>> infer_timeframe(pd.date_range("2021-01-01", periods=5, freq="4h", tz="UTC"))
    '4h'
    """
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(f"infer_timeframe needs a DatetimeIndex, got {type(index).__name__}")
    spacing = _spacings(index)
    spacing = spacing[spacing > 0]
    if spacing.size == 0:
        raise DataError(
            f"cannot infer the timeframe from {len(index)} distinct bar time(s); need at least 2"
        )
    values, counts = np.unique(spacing, return_counts=True)
    modal = int(values[np.argmax(counts)])  # np.unique sorts, so ties go to the shortest
    minute = 60 * 1_000_000_000
    if modal % minute:
        raise DataError(
            f"cannot infer the timeframe: the most common bar spacing {pd.Timedelta(modal)} "
            f"is not a whole number of minutes"
        )
    return format_timeframe(modal // minute)


def timeframe_ratio(source: str, target: str) -> int:
    """How many ``source`` bars make one ``target`` bar; ConfigError for a malformed timeframe."""
    small, big = timeframe_minutes(source), timeframe_minutes(target)
    if big < small:
        raise DataError(
            f"cannot turn {source} bars into finer {target} bars (target timeframe must be a "
            f"multiple of {source})"
        )
    if big % small:
        raise DataError(
            f"cannot resample {source} bars to {target}: {target} is not a whole multiple of "
            f"{source}"
        )
    return big // small


__all__ = [
    "Gap",
    "find_gaps",
    "format_timeframe",
    "infer_timeframe",
    "time_index",
    "timeframe_ratio",
]
