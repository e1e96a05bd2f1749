"""Bar open times: parsed to a UTC :class:`DatetimeIndex` named ``timestamp`` from datetimes,
ISO-8601 text or epoch numbers (:func:`parse_timestamps`), in pandas' own time unit
(:data:`TIME_UNIT`), and written as ISO-8601 UTC text (:func:`format_time`)."""

from __future__ import annotations

from typing import Literal, TypeAlias

import numpy as np
import pandas as pd

from crypto_tune.data._rows import RowNames, cell_text, first_row
from crypto_tune.exceptions import DataError

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


def format_time(stamp: pd.Timestamp) -> str:
    """ISO-8601 UTC text of a timestamp, e.g. ``2021-01-01T04:00:00Z``."""
    return stamp.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch_to_index(
    numbers: np.ndarray, *, column: str, source: str, labels: RowNames
) -> np.ndarray:
    """Epoch numbers (s, ms, us or ns, decided per value by magnitude) -> int64 nanoseconds."""
    factors = np.ones(numbers.shape, dtype=np.int64)
    for limit, factor, _unit in reversed(_EPOCH_UNITS):
        factors[numbers < limit] = factor
    scaled = numbers * factors.astype(np.float64)
    bad = first_row(~(scaled <= _MAX_NS))
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
        bad = first_row(np.asarray(stamps.isna()))
        if bad is not None:
            raise DataError(f"{source}: {labels[bad]}, column {column!r}: empty timestamp")
        return _finish_index(stamps)
    if pd.api.types.is_bool_dtype(series.dtype):
        raise DataError(f"{source}: column {column!r} is boolean, expected timestamps")
    if pd.api.types.is_numeric_dtype(series.dtype):
        numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = first_row(~np.isfinite(numbers) | (numbers < 0))
        if bad is not None:
            raise DataError(
                f"{source}: {labels[bad]}, column {column!r}: not an epoch timestamp: "
                f"{float(numbers[bad])}"
            )
        return _epoch_index(_epoch_to_index(numbers, column=column, source=source, labels=labels))
    text = cell_text(series)
    bad = first_row(text.eq("").to_numpy())
    if bad is not None:
        raise DataError(f"{source}: {labels[bad]}, column {column!r}: empty cell")
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    numeric = np.isfinite(numbers)
    if numeric.mean() > 0.5:  # an epoch column; any other cell is the error
        bad = first_row(~numeric | (numbers < 0))
        if bad is not None:
            raise DataError(
                f"{source}: {labels[bad]}, column {column!r}: not an epoch timestamp: "
                f"{text.iloc[bad]!r}"
            )
        return _epoch_index(_epoch_to_index(numbers, column=column, source=source, labels=labels))
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    bad = first_row(parsed.isna().to_numpy())
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


__all__ = ["TIME_UNIT", "TimeUnit", "format_time", "parse_timestamps"]
