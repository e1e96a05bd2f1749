"""Load candles from CSV (headed, or raw Binance klines), Parquet, Feather or Freqtrade JSON, with a
data health report (and the file's provenance when a download recorded one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from crypto_tune.data._bar_grid import find_gaps, infer_timeframe, time_index
from crypto_tune.data._local_time import check_spacing
from crypto_tune.data._provenance import read_provenance
from crypto_tune.data._report import CandleReport, bar_statistics
from crypto_tune.data._resample import partial_bins, resample_candles
from crypto_tune.data._rows import RowNames
from crypto_tune.data._timestamps import format_time
from crypto_tune.data._validate import (
    OHLCV,
    TIMESTAMP_ALIASES,
    frame_to_candles,
    normalise_name,
    time_values,
)
from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.timeframes import timeframe_minutes

PARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".pq")
FEATHER_SUFFIXES: tuple[str, ...] = (".feather", ".arrow")
JSON_SUFFIXES: tuple[str, ...] = (".json", ".json.gz")
# Column names of Binance's kline files (data.binance.vision) and of its REST API documentation.
BINANCE_COLUMNS: tuple[str, ...] = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "trades",
    "taker_buy_base",
    "taker_buy_quote",
    "ignore",
)
_KNOWN_NAMES = frozenset(
    (
        *OHLCV,
        *TIMESTAMP_ALIASES,
        *BINANCE_COLUMNS,
        "count",
        "number_of_trades",
        "quote_asset_volume",
        "taker_buy_volume",
        "taker_buy_quote_volume",
        "taker_buy_base_asset_volume",
        "taker_buy_quote_asset_volume",
    )
)


def _is_parquet(path: Path) -> bool:
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return True
    with path.open("rb") as handle:
        return handle.read(4) == b"PAR1"


def _is_feather(path: Path) -> bool:
    if path.suffix.lower() in FEATHER_SUFFIXES:
        return True
    with path.open("rb") as handle:
        return handle.read(6) == b"ARROW1"


def _is_json(path: Path) -> bool:
    return path.name.lower().endswith(JSON_SUFFIXES)


def _read_feather(path: Path, source: str) -> pd.DataFrame:
    """A Feather (Arrow IPC) file, e.g. Freqtrade's (date, open, high, low, close, volume)."""
    try:
        frame = pd.read_feather(path)
    except Exception as exc:  # pyarrow raises many types for a corrupt file; name it, keep one line
        detail = " ".join(str(exc).split())
        raise DataError(f"{source}: not a readable Feather file: {detail}") from None
    if frame.empty:
        raise DataError(f"{source}: no data rows")
    return frame if isinstance(frame.index, pd.DatetimeIndex) else frame.reset_index(drop=True)


def _read_json(path: Path, source: str) -> pd.DataFrame:
    """Freqtrade's JSON candles (``.json``, ``.json.gz``): ``[[epoch ms, o, h, l, c, v], ...]``."""
    import gzip
    import json

    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                rows = json.load(handle)
        else:
            rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, EOFError) as exc:
        detail = " ".join(str(exc).split())
        raise DataError(f"{source}: not a readable JSON file: {detail}") from None
    if not isinstance(rows, list) or not rows:
        raise DataError(f"{source}: expected a JSON list of [time, open, high, low, close, volume]")
    bad = next((i for i, row in enumerate(rows) if not isinstance(row, list) or len(row) < 6), None)
    if bad is not None:
        raise DataError(
            f"{source}: row {bad + 1}: expected [time, open, high, low, close, volume], "
            f"got {str(rows[bad])[:80]}"
        )
    return pd.DataFrame([row[:6] for row in rows], columns=["timestamp", *OHLCV])


def _delimiter(path: Path) -> str:
    """The file's field delimiter (comma, semicolon, tab or bar), from its first lines
    (:class:`csv.Sniffer`); a comma when they do not tell."""
    import csv

    try:
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            sample = handle.read(4096)
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except (OSError, csv.Error):
        return ","


def _read_csv(path: Path, source: str) -> tuple[pd.DataFrame, RowNames]:
    """Raw cells as text, header detected; returns the named columns and their file line numbers."""
    try:
        raw = pd.read_csv(
            path,
            sep=_delimiter(path),
            header=None,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{source}: empty file") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        raise DataError(f"{source}: not a readable CSV file: {detail}") from None
    lines = np.arange(1, len(raw) + 1)
    blank = raw.iloc[:, 0].fillna("").str.strip().eq("").to_numpy(dtype=bool, copy=True)
    if blank.any():  # a row is blank only if every cell is; check just the candidates
        cells = raw.loc[blank].fillna("")
        blank[blank] = cells.apply(lambda col: col.str.strip().eq("")).all(axis=1).to_numpy()
    raw, lines = raw.loc[~blank], lines[~blank]
    if raw.empty:
        raise DataError(f"{source}: empty file")
    names = [normalise_name(cell) for cell in raw.iloc[0].fillna("")]
    if any(name in _KNOWN_NAMES for name in names):
        raw.columns = pd.Index(names)
        raw, lines = raw.iloc[1:], lines[1:]
        if raw.empty:
            raise DataError(f"{source}: header only, no data rows")
    elif (
        raw.shape[1] >= len(OHLCV) + 1
    ):  # headerless: Binance kline order (time, O, H, L, C, V, ...)
        positional = list(BINANCE_COLUMNS[: raw.shape[1]])
        positional += [f"extra_{i}" for i in range(len(positional), raw.shape[1])]
        raw.columns = pd.Index(positional)
    else:
        raise DataError(
            f"{source}: no recognisable header and only {raw.shape[1]} column(s); expected a "
            f"header with timestamp,open,high,low,close,volume or headerless Binance klines"
        )
    return raw.reset_index(drop=True), RowNames(kind="line", numbers=lines)


def _read_parquet(path: Path, source: str) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a corrupt file; name it, keep one line
        detail = " ".join(str(exc).split())
        raise DataError(f"{source}: not a readable Parquet file: {detail}") from None
    if frame.empty:
        raise DataError(f"{source}: no data rows")
    if isinstance(frame.index, pd.DatetimeIndex):
        return frame
    if not isinstance(frame.index, pd.RangeIndex):  # e.g. a saved integer epoch index
        frame = frame.reset_index()
    return frame.reset_index(drop=True)


def _timeframe_of(index: pd.DatetimeIndex, source: str) -> str:
    """The data's own timeframe, after checking the stamps are bar open times on whole minutes
    (close times like ``03:59:59.999``, or numbers read in the wrong unit, are refused in one
    line naming the file and what the stamps were read as)."""
    minute = 60 * 1_000_000_000
    stamps = index.as_unit("ns").asi8
    off = np.flatnonzero(stamps % minute)
    unit_hint = (
        f"; the timestamps read as {format_time(index[0])}..{format_time(index[-1])}: epoch "
        "numbers in another unit, or a spreadsheet's serial dates?"
        if index[0].year < 1990
        else ""
    )
    if off.size:
        raise DataError(
            f"{source}: timestamps must be bar open times on whole minutes, "
            f"{format_time(index[int(off[0])])} is not ({off.size} such bar(s))"
            f"{unit_hint or '; bar close times? give the open times'}"
        )
    try:
        return infer_timeframe(index)
    except DataError as exc:
        raise DataError(f"{source}: {exc}{unit_hint}") from None


def load_candles(
    path: str | Path, *, timeframe: str | None = None
) -> tuple[pd.DataFrame, CandleReport]:
    """Read, validate and (optionally) resample candles; returns ``(candles, report)``.

    Formats, chosen by extension or content: CSV with a header naming timestamp (or date/time/
    open_time) and open/high/low/close/volume in any case (extra columns ignored); headerless raw
    Binance klines (12 columns); Parquet (``.parquet``/``.pq``, columns or a DatetimeIndex; a
    downloaded file's provenance goes to ``report.provenance``); Feather (``.feather``, e.g.
    Freqtrade's) and Freqtrade's JSON (``.json``/``.json.gz``: ``[[ms, o, h, l, c, v], ...]``).
    Timestamps: ISO-8601 (naive = UTC) or epoch s/ms/us (by magnitude). ``timeframe=None`` infers
    the data's own; a coarser multiple resamples (1h file, ``timeframe="4h"`` -> 4h bars); finer
    than the data -> :class:`DataError`. Gaps are reported, never filled.

    >>> candles, report = load_candles("../shared/data/binance_ETHUSDT_4h.csv")  # doctest: +SKIP
    >>> print("\\n".join(report.lines()))  # doctest: +SKIP
    """
    if not isinstance(path, str | Path):
        raise ConfigError(f"path must be a str or Path, got {path!r}")
    if timeframe is not None:
        if not isinstance(timeframe, str):
            raise ConfigError(f"timeframe must be None or a str like '4h', got {timeframe!r}")
        timeframe_minutes(timeframe)  # ConfigError when malformed, before any I/O
    file = Path(path)
    source = str(path)
    if not file.exists():
        raise DataError(f"{source}: file not found")
    if not file.is_file():
        raise DataError(f"{source}: not a file")
    if file.stat().st_size == 0:
        raise DataError(f"{source}: empty file")

    provenance = None
    if _is_parquet(file):
        frame = _read_parquet(file, source)
        candles, n_dropped = frame_to_candles(frame, source=source, labels=RowNames())
        provenance = read_provenance(file)
    elif _is_feather(file) or _is_json(file):
        frame = _read_feather(file, source) if _is_feather(file) else _read_json(file, source)
        candles, n_dropped = frame_to_candles(frame, source=source, labels=RowNames())
    else:
        frame, rows = _read_csv(file, source)
        candles, n_dropped = frame_to_candles(frame, source=source, labels=rows)

    if len(candles) >= 2:
        native = _timeframe_of(time_index(candles), source)
        check_spacing(
            time_index(candles),
            native,
            source=source,
            raw_time=lambda: time_values(frame, source=source),
        )
    elif timeframe is None:
        raise DataError(f"{source}: cannot infer the timeframe from 1 bar; pass timeframe=")
    else:
        native = timeframe
    if timeframe is not None and timeframe_minutes(timeframe) != timeframe_minutes(native):
        if timeframe_minutes(timeframe) < timeframe_minutes(native):
            raise DataError(
                f"{source}: the data are {native} bars, cannot give finer {timeframe} bars"
            )
        if timeframe_minutes(timeframe) % timeframe_minutes(native):
            raise DataError(
                f"{source}: cannot resample {native} bars to {timeframe}: not a whole multiple"
            )
        source_index = time_index(candles)
        candles = resample_candles(candles, timeframe, source_timeframe=native)
        partial = partial_bins(source_index, time_index(candles), timeframe, native)
    else:
        partial = 0
    final = native if timeframe is None else timeframe
    report = CandleReport(
        source=source,
        timeframe=final,
        n_duplicates_dropped=n_dropped,
        gaps=find_gaps(time_index(candles), final),
        provenance=provenance,
        resampled_from=None if final == native else native,
        partial_bars=partial,
        **bar_statistics(candles),
    )
    return candles, report


__all__ = ["CandleReport", "load_candles"]
