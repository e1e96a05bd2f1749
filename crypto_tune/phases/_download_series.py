"""One series downloaded into its file, resumably: the closed candles of a market at a
timeframe (:func:`download_candles`), a perpetual's funding rates (:func:`download_funding`),
and the gaps between funding times."""

from __future__ import annotations

from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from crypto_tune.data import (
    Gap,
    Provenance,
    find_gaps,
    infer_timeframe,
    read_provenance,
    validate_candles,
)
from crypto_tune.data._timestamps import TIME_UNIT, format_time
from crypto_tune.exceptions import DataError
from crypto_tune.exchange import ExchangeClient, MarketInfo
from crypto_tune.phases._download_file import (
    DownloadResult,
    read_existing,
    run_pages,
    series_provenance,
    write_series,
)
from crypto_tune.phases._download_progress import Progress
from crypto_tune.timeframes import timeframe_minutes

FLUSH_SECONDS = 30.0  # the file is rewritten at most this often during a download


def _utc(stamp: str | pd.Timestamp) -> pd.Timestamp:
    out = pd.Timestamp(stamp)
    return out.tz_localize("UTC") if out.tzinfo is None else out.tz_convert("UTC")


def _ms(stamp: pd.Timestamp) -> int:
    return int(pd.Timestamp(stamp).value // 1_000_000)  # .value is in ns whatever the unit


def _iso_ms(ms: int) -> str:
    return format_time(pd.Timestamp(ms, unit="ms", tz="UTC"))


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
    provenance = series_provenance(client, info, "candles", timeframe, fetch_time)
    stored = read_existing(path, provenance)
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
        write_series(path, frame, series_provenance(client, info, "candles", timeframe, stamp))

    progress = Progress(label, max(0, (end_ms - start_ms) // step_ms), stream=stream)

    def on_page(page: pd.DataFrame) -> None:
        last = _ms(page.index[-1])
        progress.update((last + step_ms - start_ms) // step_ms, format_time(page.index[-1]))

    try:
        added = run_pages(
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
    provenance = series_provenance(client, info, "funding", "", fetch_time)
    stored = read_existing(path, provenance)
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
        write_series(
            path,
            frame.reset_index(drop=True),
            series_provenance(client, info, "funding", "", stamp),
        )

    hours_ms = 8 * 3_600_000  # the usual funding interval, for the progress total only
    progress = Progress(label, max(0, (end_ms - start_ms) // hours_ms), unit="rates", stream=stream)

    def on_page(page: pd.DataFrame) -> None:
        last = page["timestamp"].iloc[-1]
        progress.update((_ms(last) - start_ms) // hours_ms + 1, format_time(last))

    try:
        added = run_pages(
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


__all__ = ["FLUSH_SECONDS", "download_candles", "download_funding", "funding_gaps"]
