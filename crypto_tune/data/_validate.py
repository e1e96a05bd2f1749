"""Candle validation: column lookup, parsing to float64/UTC, OHLC sanity, duplicates, order, gaps.

Every check is vectorised; the first offending row is named in a one-line :class:`DataError`.
Rows are named by :class:`RowNames` ("line 7" of a CSV file, "row 6" of a frame, 1-based).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import pandas as pd

from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.timeframes import timeframe_delta, timeframe_minutes

OHLCV: tuple[str, ...] = ("open", "high", "low", "close", "volume")
PRICES: tuple[str, ...] = ("open", "high", "low", "close")
# Accepted names of the bar-open-time column, in order of preference (after normalisation).
TIMESTAMP_ALIASES: tuple[str, ...] = ("timestamp", "open_time", "datetime", "date", "time")
# The unit pandas gives parsed datetimes ("ns" on pandas 2, "us" on pandas 3); candles use it too,
# so a frame from this package compares equal to one the user parsed with pandas directly.
TimeUnit: TypeAlias = Literal["s", "ms", "us", "ns"]
TIME_UNIT: TimeUnit = pd.date_range("2021-01-01", periods=1, freq="h", tz="UTC").unit

# Epoch magnitude thresholds (value below -> unit): 1e11 s is the year 5138, 1e11 ms is 1973-03.
_EPOCH_UNITS: tuple[tuple[float, int, str], ...] = (
    (1e11, 1_000_000_000, "s"),
    (1e14, 1_000_000, "ms"),
    (1e17, 1_000, "us"),
    (np.inf, 1, "ns"),
)
_MAX_NS = float(pd.Timestamp.max.value)


@dataclass(frozen=True)
class Gap:
    """A hole in the bar grid (never filled): ``missing_bars`` bars between after and before."""

    after: pd.Timestamp
    before: pd.Timestamp
    missing_bars: int


def normalise_name(name: object) -> str:
    """Column name as matched by the loader: stripped, lower case, spaces/dashes -> underscores."""
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def format_time(stamp: pd.Timestamp) -> str:
    """ISO-8601 UTC text of a timestamp, e.g. ``2021-01-01T04:00:00Z``."""
    return stamp.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class RowNames:
    """Names rows in error messages: ``"row 3"`` (1-based position) or ``"line 4"`` of a file.

    Built lazily, so a 72k-row file costs nothing until a message needs a name.
    """

    kind: str = "row"
    numbers: np.ndarray | None = None  # 1-based number of each row; None -> position + 1

    def __getitem__(self, position: int) -> str:
        number = position + 1 if self.numbers is None else int(self.numbers[position])
        return f"{self.kind} {number}"


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


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def _text(values: pd.Series) -> pd.Series:
    """Cells as stripped strings ('' for missing), for messages and emptiness checks."""
    return values.astype("string").fillna("").str.strip()


def parse_numbers(values: pd.Series, *, column: str, source: str, labels: RowNames) -> np.ndarray:
    """Parse one OHLCV column to finite float64; the first empty/unparsable/NaN/inf cell raises."""
    if pd.api.types.is_bool_dtype(values.dtype):
        raise DataError(f"{source}: column {column!r} is boolean, expected numbers")
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = _first(~np.isfinite(numbers))
    if bad is None:
        return numbers
    text = str(_text(values.iloc[bad : bad + 1]).iloc[0])
    what = "empty cell" if text in ("", "<NA>") else f"not a finite number: {text!r}"
    raise DataError(f"{source}: {labels[bad]}, column {column!r}: {what}")


def _epoch_to_index(
    numbers: np.ndarray, *, column: str, source: str, labels: RowNames
) -> np.ndarray:
    """Epoch numbers (s, ms, us or ns, decided per value by magnitude) -> int64 nanoseconds."""
    factors = np.ones(numbers.shape, dtype=np.int64)
    for limit, factor, _unit in reversed(_EPOCH_UNITS):
        factors[numbers < limit] = factor
    scaled = numbers * factors.astype(np.float64)
    bad = _first(~(scaled <= _MAX_NS))
    if bad is not None:
        raise DataError(
            f"{source}: {labels[bad]}, column {column!r}: epoch timestamp {float(numbers[bad])} "
            f"is out of range"
        )
    if np.all(numbers == np.floor(numbers)) and np.all(numbers < 2**53):
        return numbers.astype(np.int64) * factors
    return np.round(scaled).astype(np.int64)


def parse_timestamps(
    values: pd.Series | pd.Index, *, column: str, source: str, labels: RowNames
) -> pd.DatetimeIndex:
    """Parse bar open times to a UTC :class:`DatetimeIndex` named ``timestamp``.

    Accepts datetimes (naive = UTC, aware converted to UTC), ISO-8601 text (with or without ``Z``
    or an offset), and epoch seconds, milliseconds, microseconds or nanoseconds (decided per value
    by magnitude, so a file that switches from ms to us mid-way still parses).
    """
    series = pd.Series(values, copy=False).reset_index(drop=True)
    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(
        series.dtype
    ):
        stamps = pd.DatetimeIndex(series)
        stamps = stamps.tz_localize("UTC") if stamps.tz is None else stamps.tz_convert("UTC")
        bad = _first(np.asarray(stamps.isna()))
        if bad is not None:
            raise DataError(f"{source}: {labels[bad]}, column {column!r}: empty timestamp")
        return _finish_index(stamps)
    if pd.api.types.is_bool_dtype(series.dtype):
        raise DataError(f"{source}: column {column!r} is boolean, expected timestamps")
    if pd.api.types.is_numeric_dtype(series.dtype):
        numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = _first(~np.isfinite(numbers) | (numbers < 0))
        if bad is not None:
            raise DataError(
                f"{source}: {labels[bad]}, column {column!r}: not an epoch timestamp: "
                f"{float(numbers[bad])}"
            )
        return _epoch_index(_epoch_to_index(numbers, column=column, source=source, labels=labels))
    text = _text(series)
    bad = _first(text.eq("").to_numpy())
    if bad is not None:
        raise DataError(f"{source}: {labels[bad]}, column {column!r}: empty cell")
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    numeric = np.isfinite(numbers)
    if numeric.mean() > 0.5:  # an epoch column; any other cell is the error
        bad = _first(~numeric | (numbers < 0))
        if bad is not None:
            raise DataError(
                f"{source}: {labels[bad]}, column {column!r}: not an epoch timestamp: "
                f"{text.iloc[bad]!r}"
            )
        return _epoch_index(_epoch_to_index(numbers, column=column, source=source, labels=labels))
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    bad = _first(parsed.isna().to_numpy())
    if bad is not None:
        raise DataError(
            f"{source}: {labels[bad]}, column {column!r}: unparsable timestamp {text.iloc[bad]!r}"
        )
    return _finish_index(pd.DatetimeIndex(parsed))


def _epoch_index(nanoseconds: np.ndarray) -> pd.DatetimeIndex:
    return _finish_index(pd.DatetimeIndex(pd.to_datetime(nanoseconds, unit="ns", utc=True)))


def _finish_index(stamps: pd.DatetimeIndex) -> pd.DatetimeIndex:
    naive = stamps.tz_convert("UTC").tz_localize(None).as_unit(TIME_UNIT)
    return pd.DatetimeIndex(naive.to_numpy(), name="timestamp").tz_localize("UTC")


def check_parsed_rows(
    index: pd.DatetimeIndex, values: np.ndarray, *, source: str, labels: RowNames
) -> tuple[pd.DataFrame, int]:
    """Sanity checks on parsed candles (finite float64 ``values`` in OHLCV order, UTC ``index``).

    Returns the candles frame and the number of identical duplicate rows dropped.
    """
    if len(index) == 0:
        raise DataError(f"{source}: no data rows")
    o, h, low, c, vol = (values[:, i] for i in range(5))
    for i, name in enumerate(PRICES):
        bad = _first(values[:, i] <= 0)
        if bad is not None:
            raise DataError(
                f"{source}: {labels[bad]}, column {name!r}: price must be > 0, "
                f"got {float(values[bad, i])}"
            )
    bad = _first(vol < 0)
    if bad is not None:
        raise DataError(
            f"{source}: {labels[bad]}, column 'volume': volume must be >= 0, got {float(vol[bad])}"
        )
    top = np.maximum(o, c)
    bad = _first(h < top)
    if bad is not None:
        raise DataError(
            f"{source}: {labels[bad]}, column 'high': high {float(h[bad])} < max(open, close) "
            f"{float(top[bad])}"
        )
    bottom = np.minimum(o, c)
    bad = _first(low > bottom)
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
        j = _first(differs)
        if j is not None:
            first, second = int(order[j]), int(order[j + 1])
            col = int(np.flatnonzero(values[first] != values[second])[0])
            raise DataError(
                f"{source}: {labels[second]}: duplicate timestamp {format_time(index[second])} "
                f"with different values than {labels[first]} ({OHLCV[col]} "
                f"{float(values[first, col])} vs {float(values[second, col])})"
            )
        keep[order[1:][same]] = False
        n_dropped = int((~keep).sum())
    kept = np.flatnonzero(keep)
    kept_stamps = stamps[kept]
    step = np.diff(kept_stamps)
    j = _first(step <= 0)
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
    if isinstance(frame.index, pd.DatetimeIndex):
        raw_time: pd.Series | pd.Index = frame.index
        time_column = "index"
    elif "timestamp" in columns:
        raw_time = frame[columns["timestamp"]]
        if isinstance(raw_time, pd.DataFrame):  # repeated label: take the first
            raw_time = raw_time.iloc[:, 0]
        time_column = str(columns["timestamp"])
    else:
        raise DataError(
            f"{source}: missing column 'timestamp' (or {'/'.join(TIMESTAMP_ALIASES[1:])}) "
            f"and the index is not a DatetimeIndex"
        )
    values = np.empty((len(frame), 5), dtype=np.float64)
    for i, name in enumerate(OHLCV):
        column = frame[columns[name]]
        if isinstance(column, pd.DataFrame):  # repeated label: take the first
            column = column.iloc[:, 0]
        values[:, i] = parse_numbers(column, column=name, source=source, labels=labels)
    index = parse_timestamps(raw_time, column=time_column, source=source, labels=labels)
    return check_parsed_rows(index, values, source=source, labels=labels)


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
    "OHLCV",
    "TIME_UNIT",
    "Gap",
    "find_gaps",
    "infer_timeframe",
    "time_index",
    "validate_candles",
]
