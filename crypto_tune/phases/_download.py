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

The file layout and the resumable writing are in ``_download_file.py``, the two series in
``_download_series.py``, the progress in ``_download_progress.py``; this module is the phase.
"""

from __future__ import annotations

import os
from pathlib import Path

from crypto_tune.config import Settings
from crypto_tune.exceptions import ConfigError
from crypto_tune.exchange import ExchangeClient
from crypto_tune.phases._download_file import DownloadResult, candles_path, funding_path
from crypto_tune.phases._download_progress import Progress
from crypto_tune.phases._download_series import (
    FLUSH_SECONDS,
    download_candles,
    download_funding,
    funding_gaps,
)
from crypto_tune.phases._phase import Phase


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
    "FLUSH_SECONDS",
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
