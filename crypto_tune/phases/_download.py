"""``phase=download``: candles and funding rates from an exchange (ccxt) into Parquet files.

For each symbol (``asset.symbol``, or every ``asset.symbols`` of a basket) at ``asset.timeframe``:

1. the market is looked up on the exchange (``ETHUSDT`` or ``ETH/USDT``; ``asset.market=perp``
   takes the linear perpetual, ``ETH/USDT:USDT``);
2. closed bars from ``download.since`` (or, when the file exists, from one bar after its last
   bar: a rerun resumes and appends) up to ``download.until`` (null: the last closed bar) are
   fetched page by page, ccxt spacing the requests by the exchange's rate limit;
3. every page is validated like any candle file, and the file is rewritten atomically (a
   temporary file, then a rename) at most every ``flush_seconds``, at the end, and when the
   download stops on an error or Ctrl-C: the file always holds complete, checked bars, and the
   next run continues after the last of them;
4. gaps (bars the exchange does not have) are reported, never filled;
5. the file's metadata records the provenance (exchange, market, symbol, timeframe, fetched
   at, ccxt version), which :func:`~crypto_tune.data.load_candles` reads back and the study
   fingerprint records.

A perpetual's funding-rate history goes to its own file the same way (columns ``timestamp``,
``funding_rate``: what ``asset.funding=FILE`` reads).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from crypto_tune.config import Settings
from crypto_tune.data import (
    PROVENANCE_KEY,
    Gap,
    Provenance,
    find_gaps,
    infer_timeframe,
    read_provenance,
    validate_candles,
)
from crypto_tune.data._validate import TIME_UNIT, format_time
from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.exchange import ExchangeClient, MarketInfo, ccxt_version
from crypto_tune.phases._phase import Phase
from crypto_tune.timeframes import timeframe_minutes

FLUSH_SECONDS = 30.0  # the file is rewritten at most this often during a download
_GAPS_LISTED = 5


# ------------------------------------------------------------------------------------------
# The file layout (one home for the names)


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


# ------------------------------------------------------------------------------------------
# Progress: a tqdm bar on a terminal, a plain line now and then otherwise


class Progress:
    """Bars done out of ``total``: tqdm when ``stream`` is a terminal, else a line at most every
    ``every`` seconds (and at the end)."""

    def __init__(
        self,
        label: str,
        total: int,
        *,
        unit: str = "bars",
        stream: IO[str] | None = None,
        every: float = 10.0,
    ) -> None:
        self.label, self.total, self.unit, self.every = label, max(int(total), 0), unit, every
        self.stream = sys.stderr if stream is None else stream
        self.done, self.last = 0, ""
        self._shown, self._shown_done = -float("inf"), -1
        self._bar = None
        if getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

            self._bar = tqdm(total=self.total, unit=unit, desc=label, file=self.stream)

    def update(self, done: int, last: str) -> None:
        done = min(max(done, self.done), self.total)
        if self._bar is not None:
            self._bar.update(done - self.done)
        self.done, self.last = done, last
        if self._bar is None and time.monotonic() - self._shown >= self.every:
            self._line()

    def _line(self) -> None:
        share = 100.0 * self.done / self.total if self.total else 100.0
        print(
            f"{self.label}: {self.done:,} of {self.total:,} {self.unit} ({share:.0f}%), "
            f"to {self.last}",
            file=self.stream,
            flush=True,
        )
        self._shown, self._shown_done = time.monotonic(), self.done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.done and self.done != self._shown_done:
            self._line()


# ------------------------------------------------------------------------------------------
# One series into one file, resumable


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
        for gap in self.gaps[:_GAPS_LISTED]:
            out.append(
                f"    {format_time(gap.after)} -> {format_time(gap.before)}: "
                f"{gap.missing_bars:,} missing"
            )
        if len(self.gaps) > _GAPS_LISTED:
            out.append(f"    ... and {len(self.gaps) - _GAPS_LISTED:,} more gap(s)")
        out.append(f"  provenance: {self.provenance.describe()}")
        return out


def _utc(stamp: str | pd.Timestamp) -> pd.Timestamp:
    out = pd.Timestamp(stamp)
    return out.tz_localize("UTC") if out.tzinfo is None else out.tz_convert("UTC")


def _ms(stamp: pd.Timestamp) -> int:
    return int(pd.Timestamp(stamp).value // 1_000_000)  # .value is in ns whatever the unit


def _iso_ms(ms: int) -> str:
    return format_time(pd.Timestamp(ms, unit="ms", tz="UTC"))


def _existing(path: Path, expected: Provenance) -> pd.DataFrame | None:
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


def _write(path: Path, frame: pd.DataFrame, provenance: Provenance) -> None:
    import warnings

    from crypto_tune.dataset import write_atomic_parquet

    with warnings.catch_warnings():  # pyarrow reads a tz-aware column via Series.values
        warnings.filterwarnings("ignore", message="Series.values returning")
        write_atomic_parquet(frame, path, {PROVENANCE_KEY: provenance.to_json()})


def _run_pages(
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


def download_candles(
    client: ExchangeClient,
    info: MarketInfo,
    *,
    timeframe: str,
    path: str | Path,
    since: str | pd.Timestamp,
    until: str | pd.Timestamp | None = None,
    now: pd.Timestamp | None = None,
    flush_seconds: float = FLUSH_SECONDS,
    stream: IO[str] | None = None,
) -> DownloadResult:
    """Fetch the closed bars of ``info`` opening in ``[since, until)`` into ``path``, resuming
    after the file's last bar; ``now`` (default: the clock) bounds the last closed bar and is
    the recorded ``fetched_at``."""
    path = Path(path)
    step_ms = timeframe_minutes(timeframe) * 60_000
    clock = _utc(now) if now is not None else None
    fetch_time = clock or pd.Timestamp.now(tz="UTC")
    closed_ms = (_ms(fetch_time) // step_ms) * step_ms  # bars opening before it have closed
    end_ms = closed_ms if until is None else min(_ms(_utc(until)), closed_ms)
    provenance = _provenance(client, info, "candles", timeframe, fetch_time)
    stored = _existing(path, provenance)
    start_ms = _ms(_utc(since))
    if stored is not None and len(stored):  # resume after the last stored bar (never backwards)
        start_ms = max(start_ms, _ms(stored.index[-1]) + step_ms)
    label = f"{info.exchange} {info.id} {timeframe}"

    def parse(raw: pd.DataFrame) -> pd.DataFrame:
        first = _iso_ms(int(raw["timestamp"].iloc[0]))
        candles, _ = validate_candles(raw, source=f"{label} (bars from {first})")
        return candles

    def save(frame: pd.DataFrame) -> None:
        stamp = clock or pd.Timestamp.now(tz="UTC")
        _write(path, frame, _provenance(client, info, "candles", timeframe, stamp))

    progress = Progress(label, max(0, (end_ms - start_ms) // step_ms), stream=stream)

    def on_page(page: pd.DataFrame) -> None:
        last = _ms(page.index[-1])
        progress.update((last + step_ms - start_ms) // step_ms, format_time(page.index[-1]))

    try:
        added = _run_pages(
            client.candle_pages(info, timeframe, since_ms=start_ms, end_ms=end_ms),
            parse,
            stored=stored,
            save=save,
            on_page=on_page,
            flush_seconds=flush_seconds,
        )
    finally:
        progress.close()
    return _candles_result(path, provenance, added, timeframe)


def _candles_result(
    path: Path, provenance: Provenance, added: int, timeframe: str
) -> DownloadResult:
    if not path.exists():
        return DownloadResult(path, provenance, 0, 0, None, None, ())
    frame = pd.read_parquet(path)
    index = pd.DatetimeIndex(frame.index)
    return DownloadResult(
        path,
        read_provenance(path) or provenance,
        len(frame),
        added,
        index[0],
        index[-1],
        find_gaps(index, timeframe),
    )


def download_funding(
    client: ExchangeClient,
    info: MarketInfo,
    *,
    path: str | Path,
    since: str | pd.Timestamp,
    until: str | pd.Timestamp | None = None,
    now: pd.Timestamp | None = None,
    flush_seconds: float = FLUSH_SECONDS,
    stream: IO[str] | None = None,
) -> DownloadResult:
    """Fetch a perpetual's funding rates with times in ``[since, until)`` into ``path``
    (columns ``timestamp``, ``funding_rate``), resuming after the file's last rate."""
    path = Path(path)
    clock = _utc(now) if now is not None else None
    fetch_time = clock or pd.Timestamp.now(tz="UTC")
    end_ms = _ms(fetch_time) if until is None else min(_ms(_utc(until)), _ms(fetch_time))
    provenance = _provenance(client, info, "funding", "", fetch_time)
    stored = _existing(path, provenance)
    start_ms = _ms(_utc(since))
    if stored is not None and len(stored):
        start_ms = max(start_ms, _ms(pd.Timestamp(stored["timestamp"].iloc[-1])) + 1)
    label = f"{info.exchange} {info.id} funding"

    def parse(raw: pd.DataFrame) -> pd.DataFrame:
        rates = raw["funding_rate"].to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(rates))
        if bad.size:
            raise DataError(
                f"{label}: the rate at {_iso_ms(int(raw['timestamp'].iloc[bad[0]]))} is missing"
            )
        stamps = pd.to_datetime(raw["timestamp"].to_numpy(np.int64), unit="ms", utc=True)
        return pd.DataFrame(
            {"timestamp": stamps.as_unit(TIME_UNIT), "funding_rate": rates},
        )

    def save(frame: pd.DataFrame) -> None:
        stamp = clock or pd.Timestamp.now(tz="UTC")
        _write(path, frame.reset_index(drop=True), _provenance(client, info, "funding", "", stamp))

    hours_ms = 8 * 3_600_000  # the usual funding interval, for the progress total only
    progress = Progress(label, max(0, (end_ms - start_ms) // hours_ms), unit="rates", stream=stream)

    def on_page(page: pd.DataFrame) -> None:
        last = page["timestamp"].iloc[-1]
        progress.update((_ms(last) - start_ms) // hours_ms + 1, format_time(last))

    try:
        added = _run_pages(
            client.funding_pages(info, since_ms=start_ms, end_ms=end_ms),
            parse,
            stored=stored,
            save=save,
            on_page=on_page,
            flush_seconds=flush_seconds,
        )
    finally:
        progress.close()
    if not path.exists():
        return DownloadResult(path, provenance, 0, 0, None, None, ())
    frame = pd.read_parquet(path)
    times = pd.DatetimeIndex(frame["timestamp"])
    return DownloadResult(
        path,
        read_provenance(path) or provenance,
        len(frame),
        added,
        times[0],
        times[-1],
        funding_gaps(times),
    )


def funding_gaps(times: pd.DatetimeIndex) -> tuple[Gap, ...]:
    """Funding times further apart than the usual interval (the most common spacing, times
    taken to the minute: exchanges stamp some a few milliseconds late)."""
    minutes = times.floor("min")
    if len(minutes) < 3:
        return ()
    try:
        interval = infer_timeframe(minutes)
    except DataError:
        return ()
    return find_gaps(minutes, interval)


def _provenance(
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


# ------------------------------------------------------------------------------------------
# The phase


def _symbols(settings: Settings) -> list[str]:
    asset = settings.asset
    return list(asset.symbols) if asset.kind == "basket" else [asset.symbol]


def _folder(settings: Settings) -> Path:
    return Path(settings.download.folder or settings.paths.data)


def preflight_download(settings: Settings) -> None:
    """Before any request: an exchange asset, a known ccxt exchange, a writable folder."""
    if settings.asset.kind == "synthetic":
        raise ConfigError(
            "phase=download fetches an exchange's candles: choose a real asset, e.g. asset=eth "
            "or asset=binance asset.symbol=ADAUSDT (asset=synthetic has none)"
        )
    # an unknown exchange or a timeframe it does not serve: refused before anything is written
    _client(settings).check_timeframe(settings.asset.timeframe)
    folder = _folder(settings).absolute()
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(
            f"download.folder: cannot write to {folder}: choose another folder with "
            f"download.folder=DIR (or paths.data=DIR)"
        )


def _client(settings: Settings) -> ExchangeClient:
    d = settings.download
    return ExchangeClient(
        d.exchange,
        market=settings.asset.market,
        options=d.ccxt,
        retries=d.retries,
        limit=d.limit,
    )


def run_download(settings: Settings) -> None:
    """Download every symbol of the asset; print what each file holds and how to use it."""
    preflight_download(settings)
    d, asset = settings.download, settings.asset
    client = _client(settings)
    folder = _folder(settings)
    written: list[tuple[DownloadResult, DownloadResult | None]] = []
    for symbol in _symbols(settings):
        info = client.find(symbol)
        candles = download_candles(
            client,
            info,
            timeframe=asset.timeframe,
            path=candles_path(folder, d.exchange, info.id, asset.timeframe, asset.market),
            since=d.since,
            until=d.until,
        )
        print("\n".join(candles.lines()))
        funding = None
        if asset.market == "perp":
            funding = download_funding(
                client,
                info,
                path=funding_path(folder, d.exchange, info.id),
                since=d.since,
                until=d.until,
            )
            print("\n".join(funding.lines()))
        written.append((candles, funding))
    print(_usage(settings, written))


def _usage(settings: Settings, written: list[tuple[DownloadResult, DownloadResult | None]]) -> str:
    """The command line that studies the downloaded files."""
    asset = settings.asset
    perp = " asset.market=perp" if asset.market == "perp" else ""
    first, funding = written[0]
    if asset.kind == "basket":
        template = str(first.path).replace(first.provenance.symbol, "{symbol}")
        return f"use them: crypto-tune phase=inspect asset=basket{perp} 'asset.path={template}'"
    rates = f" asset.funding={funding.path}" if funding is not None and funding.rows else ""
    return (
        f"use it: crypto-tune phase=inspect asset=csv asset.symbol={asset.symbol} "
        f"asset.timeframe={asset.timeframe} asset.path={first.path}{perp}{rates}"
    )


PHASE = Phase(
    run=run_download, preflight=lambda settings, *, multirun: preflight_download(settings)
)

__all__ = [
    "PHASE",
    "DownloadResult",
    "Progress",
    "candles_path",
    "download_candles",
    "download_funding",
    "funding_gaps",
    "funding_path",
    "preflight_download",
    "run_download",
]
