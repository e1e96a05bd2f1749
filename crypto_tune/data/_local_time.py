"""Stamps written on a local clock: the hint added to a refusal when stamps without a UTC offset
repeat or crowd together in a month where clocks change for daylight saving, and the check of
bars closer than the timeframe that uses it.

A local clock that falls back an hour in autumn repeats an hour's stamps (a "duplicate
timestamp" with other prices); one that springs forward skips an hour. In 4h bars the fall back
shows as two bars 3h apart. Naive stamps are read as UTC, so the refusal says what they look like
and how to fix the file, rather than only what is wrong with one row.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from crypto_tune.data._rows import cell_text
from crypto_tune.data._timestamps import format_time
from crypto_tune.exceptions import DataError
from crypto_tune.timeframes import timeframe_delta

# Months in which some country's clocks change (EU/US: March, October/November; Australia, New
# Zealand, Chile, Brazil: April, September/October).
DST_MONTHS: frozenset[int] = frozenset({3, 4, 9, 10, 11})
# A time of day followed by an offset: "...T02:00:00Z", "... 02:00+02:00", "... 02:00 UTC".
_OFFSET = r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[zZ]|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$"


def written_without_offset(values: pd.Series | pd.Index) -> bool:
    """Whether bar times are wall-clock times with no UTC offset: naive datetimes, or text with a
    time of day and no ``Z``/offset. Epoch numbers and aware datetimes are UTC by definition."""
    series = pd.Series(values, copy=False)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return False
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return True
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return False
    text = cell_text(series)
    if pd.to_numeric(text, errors="coerce").notna().mean() > 0.5:  # epoch numbers as text
        return False
    return not bool(text.str.contains(_OFFSET, regex=True).any())


def daylight_saving_hint(values: pd.Series | pd.Index, stamp: pd.Timestamp) -> str:
    """The text appended to a refusal at ``stamp`` (a repeated or crowded bar time) when the raw
    ``values`` look like local time across a clock change; ``""`` otherwise.

    >>> daylight_saving_hint(pd.Series(["2021-10-31 02:00"]), pd.Timestamp("2021-10-31 02:00"))[:24]
    ': the timestamps have no'
    """
    if stamp.month not in DST_MONTHS or not written_without_offset(values):
        return ""
    return (
        ": the timestamps have no UTC offset and look like local time across a daylight-saving "
        "change (the clock went back or forward an hour); give UTC stamps ending in Z "
        "(e.g. 2021-10-31T00:00:00Z) or stamps with their offset (e.g. 2021-10-31T02:00:00+02:00)"
    )


def check_spacing(
    index: pd.DatetimeIndex,
    timeframe: str,
    *,
    source: str,
    raw_time: Callable[[], pd.Series | pd.Index] | None = None,
) -> None:
    """Bars closer together than the data's own timeframe mean mixed or corrupt data, or local
    time across a clock change (``raw_time``: the file's time column, read only for the hint)."""
    stamps = index.as_unit("ns").asi8
    close = np.flatnonzero(np.diff(stamps) < timeframe_delta(timeframe).value)
    if close.size:
        i = int(close[0])
        hint = "" if raw_time is None else daylight_saving_hint(raw_time(), index[i + 1])
        raise DataError(
            f"{source}: bars {format_time(index[i])} and {format_time(index[i + 1])} are closer "
            f"than the data's {timeframe} timeframe ({close.size} such pair(s))"
            f"{hint or '; mixed timeframes?'}"
        )


__all__ = ["DST_MONTHS", "check_spacing", "daylight_saving_hint", "written_without_offset"]
