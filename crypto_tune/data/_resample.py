"""OHLCV resampling to a coarser, epoch-aligned timeframe (gaps stay gaps)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crypto_tune.data._bar_grid import infer_timeframe, time_index, timeframe_ratio
from crypto_tune.data._rows import RowNames
from crypto_tune.data._timestamps import format_time
from crypto_tune.data._validate import check_parsed_rows, validate_candles
from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.timeframes import timeframe_delta, timeframe_minutes

_MONDAY = pd.Timestamp("1970-01-05", tz="UTC").value  # week bins start on Monday, like Binance's


def bin_starts(index: pd.DatetimeIndex, timeframe: str) -> np.ndarray:
    """Left edge (int64 ns since the epoch) of the ``timeframe`` bin holding each timestamp.

    Bins are aligned to 1970-01-01T00:00Z (so 4h bins open at 00, 04, ..., 20 UTC and 1d bins at
    midnight UTC); whole-week timeframes are aligned to Monday 1970-01-05 instead.
    """
    width = timeframe_delta(timeframe).value
    origin = _MONDAY if timeframe_minutes(timeframe) % 10080 == 0 else 0
    stamps = pd.DatetimeIndex(index).as_unit("ns").asi8
    return (stamps - origin) // width * width + origin


def resample_candles(
    candles: pd.DataFrame, timeframe: str, *, source_timeframe: str | None = None
) -> pd.DataFrame:
    """Aggregate candles to a coarser, epoch-aligned ``timeframe``.

    OHLCV aggregation: first open, max high, min low, last close, summed volume. Bins are
    labelled by their left edge in UTC and aligned to the epoch. A bin with missing sub-bars is
    kept (from the bars it has); a bin without any bar is not created (gaps are never filled);
    the trailing bin is dropped when the data end before its last sub-bar. ``timeframe`` must be
    a whole multiple of the data's own timeframe (``source_timeframe``, inferred from the modal
    spacing when None), else :class:`DataError`. The result is validated candles.

    >>> four_hourly = resample_candles(hourly, "4h")  # doctest: +SKIP
    """
    if not isinstance(timeframe, str):
        raise ConfigError(f"timeframe must be a str like '4h', got {timeframe!r}")
    candles, _ = validate_candles(candles, source="resample_candles(candles)")
    index = time_index(candles)
    if source_timeframe is None:
        source_timeframe = infer_timeframe(index)
    ratio = timeframe_ratio(source_timeframe, timeframe)
    if ratio == 1:
        return candles.copy()

    starts = bin_starts(index, timeframe)
    values = candles.to_numpy()
    # Sorted input: each bin is one contiguous run of rows.
    first = np.flatnonzero(np.r_[True, starts[1:] != starts[:-1]])
    last = np.r_[first[1:] - 1, len(starts) - 1]
    out = np.empty((len(first), 5), dtype=np.float64)
    out[:, 0] = values[first, 0]
    out[:, 1] = np.maximum.reduceat(values[:, 1], first)
    out[:, 2] = np.minimum.reduceat(values[:, 2], first)
    out[:, 3] = values[last, 3]
    out[:, 4] = np.add.reduceat(values[:, 4], first)

    bin_width = timeframe_delta(timeframe).value
    sub_width = timeframe_delta(source_timeframe).value
    last_stamp = index.as_unit("ns").asi8[-1]
    if last_stamp + sub_width < starts[-1] + bin_width:  # data end inside the last bin
        out, first = out[:-1], first[:-1]
    if len(first) == 0:
        raise DataError(
            f"resample_candles: no complete {timeframe} bin in {len(candles)} {source_timeframe} "
            f"bars ending {format_time(index[-1])}"
        )
    labels = pd.to_datetime(starts[first], unit="ns", utc=True).as_unit(index.unit)
    result, _ = check_parsed_rows(
        pd.DatetimeIndex(labels, name="timestamp"),
        out,
        source=f"resample_candles(to {timeframe})",
        labels=RowNames(),
    )
    return result


def partial_bins(
    source: pd.DatetimeIndex, resampled: pd.DatetimeIndex, timeframe: str, source_timeframe: str
) -> int:
    """How many bars of ``resampled`` were made from fewer ``source`` bars than their bin holds
    (a gap in the source inside the bin).

    >>> hours = pd.date_range("2021-01-01", periods=8, freq="1h", tz="UTC").delete(5)
    >>> bars = pd.DatetimeIndex(["2021-01-01 00:00", "2021-01-01 04:00"], tz="UTC")
    >>> partial_bins(hours, bars, "4h", "1h")  # 05:00 is missing from the second bin
    1
    """
    starts = bin_starts(source, timeframe)
    bins, counts = np.unique(starts, return_counts=True)
    at = np.searchsorted(bins, pd.DatetimeIndex(resampled).as_unit("ns").asi8)
    return int((counts[at] < timeframe_ratio(source_timeframe, timeframe)).sum())


__all__ = ["partial_bins", "resample_candles"]
