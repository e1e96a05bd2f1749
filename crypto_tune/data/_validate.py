"""Candle validation: column lookup, parsing to float64/UTC, OHLC sanity, duplicates, order.

Every check is vectorised; the first offending row is named in a one-line :class:`DataError`.
Rows are named by :class:`~crypto_tune.data._rows.RowNames` ("line 7" of a CSV file, "row 6" of
a frame, 1-based). Timestamps are parsed in ``_timestamps.py``; gaps and timeframes of the bar
grid are in ``_bar_grid.py`` (re-exported here).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from crypto_tune.data._bar_grid import Gap, find_gaps, infer_timeframe, time_index
from crypto_tune.data._local_time import daylight_saving_hint
from crypto_tune.data._rows import RowNames, cell_text, first_row
from crypto_tune.data._timestamps import TIME_UNIT, format_time, parse_timestamps
from crypto_tune.exceptions import ConfigError, DataError

OHLCV: tuple[str, ...] = ("open", "high", "low", "close", "volume")
PRICES: tuple[str, ...] = ("open", "high", "low", "close")
# Accepted names of the bar-open-time column, in order of preference (after normalisation).
TIMESTAMP_ALIASES: tuple[str, ...] = ("timestamp", "open_time", "datetime", "date", "time")


def normalise_name(name: object) -> str:
    """Column name as matched by the loader: stripped, lower case, spaces/dashes -> underscores."""
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def find_columns(columns: Iterable[object], *, source: str) -> dict[str, object]:
    """Map ``timestamp`` and the OHLCV names to the frame's own column labels (case-insensitive).

    The timestamp column may be called timestamp, open_time, datetime, date or time. Raises
    :class:`DataError` naming every missing column. A frame without a timestamp column is allowed
    here only when the caller handles the index itself (the key is then absent).
    """
    by_name: dict[str, object] = {}
    for label in columns:
        by_name.setdefault(normalise_name(label), label)
    found = {name: by_name[name] for name in OHLCV if name in by_name}
    for alias in TIMESTAMP_ALIASES:
        if alias in by_name:
            found["timestamp"] = by_name[alias]
            break
    missing = [name for name in OHLCV if name not in found]
    if missing:
        shown = ", ".join(repr(str(c)) for c in list(columns)[:12])
        raise DataError(
            f"{source}: missing column(s) {', '.join(repr(m) for m in missing)} (found: {shown})"
        )
    return found


def parse_numbers(values: pd.Series, *, column: str, source: str, labels: RowNames) -> np.ndarray:
    """Parse one OHLCV column to finite float64; the first empty/unparsable/NaN/inf cell raises."""
    if pd.api.types.is_bool_dtype(values.dtype):
        raise DataError(f"{source}: column {column!r} is boolean, expected numbers")
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = first_row(~np.isfinite(numbers))
    if bad is None:
        return numbers
    text = str(cell_text(values.iloc[bad : bad + 1]).iloc[0])
    what = "empty cell" if text in ("", "<NA>") else f"not a finite number: {text!r}"
    raise DataError(f"{source}: {labels[bad]}, column {column!r}: {what}")


def check_parsed_rows(
    index: pd.DatetimeIndex,
    values: np.ndarray,
    *,
    source: str,
    labels: RowNames,
    raw_time: pd.Series | pd.Index | None = None,
) -> tuple[pd.DataFrame, int]:
    """Sanity checks on parsed candles (finite float64 ``values`` in OHLCV order, UTC ``index``).

    Returns the candles frame and the number of identical duplicate rows dropped. ``raw_time``
    (the times as written) lets a conflicting duplicate name a daylight-saving change.
    """
    if len(index) == 0:
        raise DataError(f"{source}: no data rows")
    o, h, low, c, vol = (values[:, i] for i in range(5))
    for i, name in enumerate(PRICES):
        bad = first_row(values[:, i] <= 0)
        if bad is not None:
            raise DataError(
                f"{source}: {labels[bad]}, column {name!r}: price must be > 0, "
                f"got {float(values[bad, i])}"
            )
    bad = first_row(vol < 0)
    if bad is not None:
        raise DataError(
            f"{source}: {labels[bad]}, column 'volume': volume must be >= 0, got {float(vol[bad])}"
        )
    bad = first_row(h < low)
    if bad is not None:
        raise DataError(
            f"{source}: {labels[bad]}, column 'high': high {float(h[bad])} < low "
            f"{float(low[bad])} (high and low swapped?)"
        )
    top = np.maximum(o, c)
    bad = first_row(h < top)
    if bad is not None:
        raise DataError(
            f"{source}: {labels[bad]}, column 'high': high {float(h[bad])} < max(open, close) "
            f"{float(top[bad])}"
        )
    bottom = np.minimum(o, c)
    bad = first_row(low > bottom)
    if bad is not None:
        raise DataError(
            f"{source}: {labels[bad]}, column 'low': low {float(low[bad])} > min(open, close) "
            f"{float(bottom[bad])}"
        )

    stamps = index.asi8
    keep = np.ones(len(stamps), dtype=bool)
    n_dropped = 0
    if not index.is_unique:
        order = np.argsort(stamps, kind="stable")
        same = stamps[order][1:] == stamps[order][:-1]
        ordered = values[order]
        differs = same & np.any(ordered[1:] != ordered[:-1], axis=1)
        j = first_row(differs)
        if j is not None:
            first, second = int(order[j]), int(order[j + 1])
            col = int(np.flatnonzero(values[first] != values[second])[0])
            hint = "" if raw_time is None else daylight_saving_hint(raw_time, index[second])
            raise DataError(
                f"{source}: {labels[second]}: duplicate timestamp {format_time(index[second])} "
                f"with different values than {labels[first]} ({OHLCV[col]} "
                f"{float(values[first, col])} vs {float(values[second, col])}){hint}"
            )
        keep[order[1:][same]] = False
        n_dropped = int((~keep).sum())
    kept = np.flatnonzero(keep)
    kept_stamps = stamps[kept]
    step = np.diff(kept_stamps)
    j = first_row(step <= 0)
    if j is not None:
        prev, cur = int(kept[j]), int(kept[j + 1])
        raise DataError(
            f"{source}: {labels[cur]}: timestamps not increasing ({format_time(index[cur])} after "
            f"{format_time(index[prev])} at {labels[prev]}); rows must be sorted ascending"
        )
    frame = pd.DataFrame(values[kept], index=index[kept], columns=list(OHLCV), dtype=np.float64)
    frame.index.name = "timestamp"
    return frame, n_dropped


def validate_candles(frame: pd.DataFrame, *, source: str = "<frame>") -> tuple[pd.DataFrame, int]:
    """Validate and normalise a candles frame; returns ``(candles, n_duplicates_dropped)``.

    ``frame`` has a DatetimeIndex (naive = UTC) or a timestamp/date/time/open_time column, and
    open/high/low/close/volume columns (any case; numbers or numeric text). The result has a UTC
    DatetimeIndex named ``timestamp`` and float64 OHLCV columns only, strictly increasing; rows that
    repeat a timestamp with identical values are dropped and counted, any other problem raises
    :class:`DataError` naming ``source``, the 1-based row and the column.

    >>> candles, n_dropped = validate_candles(raw)  # doctest: +SKIP
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{source}: expected a pandas DataFrame, got {type(frame).__name__}")
    if not isinstance(source, str):
        raise ConfigError(f"source must be a str, got {source!r}")
    return frame_to_candles(frame, source=source, labels=RowNames())


def frame_to_candles(
    frame: pd.DataFrame, *, source: str, labels: RowNames
) -> tuple[pd.DataFrame, int]:
    """Shared by :func:`validate_candles` and the loaders: locate, parse and check the columns."""
    if len(frame) == 0:
        raise DataError(f"{source}: no data rows")
    columns = find_columns(frame.columns, source=source)
    raw_time = time_values(frame, source=source)
    time_column = "index" if isinstance(raw_time, pd.Index) else str(columns["timestamp"])
    values = np.empty((len(frame), 5), dtype=np.float64)
    for i, name in enumerate(OHLCV):
        column = frame[columns[name]]
        if isinstance(column, pd.DataFrame):  # repeated label: take the first
            column = column.iloc[:, 0]
        values[:, i] = parse_numbers(column, column=name, source=source, labels=labels)
    index = parse_timestamps(raw_time, column=time_column, source=source, labels=labels)
    return check_parsed_rows(index, values, source=source, labels=labels, raw_time=raw_time)


def time_values(frame: pd.DataFrame, *, source: str) -> pd.Series | pd.Index:
    """The raw bar times of ``frame``: its DatetimeIndex, else its timestamp (or alias) column."""
    if isinstance(frame.index, pd.DatetimeIndex):
        return frame.index
    columns = find_columns(frame.columns, source=source)
    if "timestamp" not in columns:
        raise DataError(
            f"{source}: missing column 'timestamp' (or {'/'.join(TIMESTAMP_ALIASES[1:])}) "
            f"and the index is not a DatetimeIndex"
        )
    raw_time = frame[columns["timestamp"]]
    if isinstance(raw_time, pd.DataFrame):  # repeated label: take the first
        raw_time = raw_time.iloc[:, 0]
    return raw_time


__all__ = [
    "OHLCV",
    "TIME_UNIT",
    "Gap",
    "find_gaps",
    "infer_timeframe",
    "time_index",
    "validate_candles",
]
