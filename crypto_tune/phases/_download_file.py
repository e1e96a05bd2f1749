"""One downloaded series' file: its name (one home for the layout), the frame already stored
(refused unless it holds this series), the atomic rewrite with its provenance, the pages
appended and flushed, and what the file holds in the end (:class:`DownloadResult`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from crypto_tune.data import PROVENANCE_KEY, Gap, Provenance, read_provenance
from crypto_tune.data._report import gap_lines
from crypto_tune.data._timestamps import TIME_UNIT, format_time
from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.exchange import ExchangeClient, MarketInfo, ccxt_version


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in name)


def candles_path(
    folder: str | Path, exchange: str, symbol: str, timeframe: str, market: str
) -> Path:
    """``<folder>/<exchange>_<SYMBOL>_<timeframe>.parquet``, ``..._perp.parquet`` for a perp."""
    tail = "_perp" if market == "perp" else ""
    return Path(folder) / f"{_safe(exchange)}_{_safe(symbol)}_{timeframe}{tail}.parquet"


def funding_path(folder: str | Path, exchange: str, symbol: str) -> Path:
    """``<folder>/<exchange>_<SYMBOL>_funding.parquet`` (a perpetual's funding rates)."""
    return Path(folder) / f"{_safe(exchange)}_{_safe(symbol)}_funding.parquet"


@dataclass(frozen=True)
class DownloadResult:
    """What a download left in its file: ``rows`` in all, ``added`` by this run, the gaps."""

    path: Path
    provenance: Provenance
    rows: int
    added: int
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    gaps: tuple[Gap, ...]

    def lines(self) -> list[str]:
        span = (
            f"{format_time(self.start)} -> {format_time(self.end)}"
            if self.start is not None and self.end is not None
            else "no data"
        )
        missing = sum(g.missing_bars for g in self.gaps)
        out = [
            f"{self.path}: {self.rows:,} rows ({self.added:,} new), {span}",
            f"  gaps: {len(self.gaps):,} gap(s), {missing:,} missing (reported, not filled)",
        ]
        out += gap_lines(self.gaps, indent="    ")
        out.append(f"  provenance: {self.provenance.describe()}")
        return out


def read_existing(path: Path, expected: Provenance) -> pd.DataFrame | None:
    """The frame already in ``path`` (None when absent); refused unless it holds this series."""
    if not path.exists():
        return None
    found = read_provenance(path)
    same = ("exchange", "market", "symbol", "series", "timeframe")
    if found is None or any(getattr(found, k) != getattr(expected, k) for k in same):
        what = "no download record" if found is None else f"{found.describe()}"
        raise ConfigError(
            f"download: {path} exists and holds other data ({what}): move it away or choose "
            f"another download.folder"
        )
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # a damaged file: name it, keep one line
        detail = " ".join(str(exc).split())[:160]
        raise DataError(f"{path}: not a readable Parquet file ({detail}): delete it") from None
    # the time unit of freshly parsed data, so a resumed file is written exactly as a fresh one
    if isinstance(frame.index, pd.DatetimeIndex):
        frame.index = frame.index.as_unit(TIME_UNIT)
    if "timestamp" in frame.columns:
        frame["timestamp"] = pd.DatetimeIndex(frame["timestamp"]).as_unit(TIME_UNIT)
    return frame


def write_series(path: Path, frame: pd.DataFrame, provenance: Provenance) -> None:
    import warnings

    from crypto_tune.dataset import write_atomic_parquet

    with warnings.catch_warnings():  # pyarrow reads a tz-aware column via Series.values
        warnings.filterwarnings("ignore", message="Series.values returning")
        write_atomic_parquet(frame, path, {PROVENANCE_KEY: provenance.to_json()})


def run_pages(
    pages: Iterator[pd.DataFrame],
    parse: Callable[[pd.DataFrame], pd.DataFrame],
    *,
    stored: pd.DataFrame | None,
    save: Callable[[pd.DataFrame], None],
    on_page: Callable[[pd.DataFrame], None],
    flush_seconds: float,
) -> int:
    """Fetch, check and append pages, saving stored + new at most every ``flush_seconds``, at
    the end and on any error or interrupt; returns the number of rows added."""
    new: list[pd.DataFrame] = []
    saved = 0  # new rows already in the file
    last_save = time.monotonic()

    def flush() -> None:
        nonlocal saved, last_save
        added = sum(len(f) for f in new)
        if added == saved:
            return
        parts = ([stored] if stored is not None else []) + new
        save(pd.concat(parts) if len(parts) > 1 else parts[0])
        saved, last_save = added, time.monotonic()

    try:
        for raw in pages:
            page = parse(raw)
            new.append(page)
            on_page(page)
            if time.monotonic() - last_save >= flush_seconds:
                flush()
    finally:
        flush()  # what was fetched and checked is kept, even when the download stops here
    return saved


def series_provenance(
    client: ExchangeClient, info: MarketInfo, series: str, timeframe: str, at: pd.Timestamp
) -> Provenance:
    return Provenance(
        exchange=info.exchange,
        market=info.market,
        symbol=info.id,
        unified=info.symbol,
        series=series,
        timeframe=timeframe,
        fetched_at=format_time(at),
        source=f"ccxt {ccxt_version()}",
    )


__all__ = [
    "DownloadResult",
    "candles_path",
    "funding_path",
    "read_existing",
    "run_pages",
    "series_provenance",
    "write_series",
]
