"""Freqtrade's data directory: find the candle file of a symbol, timeframe and market in it.

Freqtrade (``freqtrade download-data``) keeps one folder per exchange,
``user_data/data/<exchange>/``, and names every file after the pair, with ``/``, ``:`` and a few
other characters replaced by ``_``:

- spot candles: ``<exchange>/ETH_USDT-4h.feather`` (or ``.json``, ``.json.gz``, ``.parquet``);
- perpetual candles: ``<exchange>/futures/ETH_USDT_USDT-4h-futures.feather``;
- funding rates: ``<exchange>/futures/ETH_USDT_USDT-8h-funding_rate.feather`` (or ``-1h-``), the
  rate in a ``funding_rate`` column (in ``open`` in older files): give that file as
  ``asset.funding``.

Feather and Parquet files hold the columns ``date, open, high, low, close, volume``; JSON files a
list of ``[epoch ms, open, high, low, close, volume]`` rows. :func:`freqtrade_candles` picks the
file for ``asset.symbol`` (``ETHUSDT``, ``ETH/USDT`` or ``ETH/USDT:USDT``), ``asset.timeframe``
(or a finer one that divides it: it is resampled) and ``asset.market``;
:func:`~crypto_tune.data.load_candles` reads it.
"""

from __future__ import annotations

import re
from pathlib import Path

from crypto_tune.exceptions import ConfigError
from crypto_tune.timeframes import timeframe_minutes

FREQTRADE_SUFFIXES: tuple[str, ...] = (".feather", ".parquet", ".json.gz", ".json")
# <pair>-<timeframe>[-<candle type>].<extension>, as Freqtrade's data handlers name them
_NAME = re.compile(r"^(?P<pair>[A-Za-z0-9_-]+?)-(?P<tf>\d+(?:m|h|d|w|Mo))(?:-(?P<kind>[a-z_]+))?\.")
# asset.market -> (sub-folder, candle type in the file name)
_LAYOUT: dict[str, tuple[str, str | None]] = {"spot": ("", None), "perp": ("futures", "futures")}


def _symbol_key(symbol: str) -> str:
    """ETHUSDT, ETH/USDT, ETH/USDT:USDT and ETH_USDT all give ``ETHUSDT``."""
    return re.sub(r"[^A-Z0-9]", "", symbol.split(":")[0].upper())


def _pair_key(pair: str, market: str) -> str:
    """A file's pair part as a symbol key: ETH_USDT (spot), ETH_USDT_USDT (perp: settle dropped)."""
    parts = pair.split("_")
    if market == "perp" and len(parts) >= 3:
        parts = parts[:-1]
    return _symbol_key("".join(parts))


def freqtrade_candles(datadir: str | Path, symbol: str, timeframe: str, *, market: str) -> Path:
    """The candle file of ``symbol`` in a Freqtrade exchange folder (``user_data/data/binance``).

    The file of ``timeframe`` itself if there is one, else the coarsest finer timeframe that
    divides it; among formats, feather, then Parquet, then JSON. A ConfigError names the folder
    and the files it holds when none fits.

    >>> folder = "user_data/data/binance"
    >>> freqtrade_candles(folder, "ETHUSDT", "4h", market="perp")  # doctest: +SKIP
    PosixPath('user_data/data/binance/futures/ETH_USDT_USDT-4h-futures.feather')
    """
    if market not in _LAYOUT:
        raise ConfigError(f"asset.market must be one of {', '.join(_LAYOUT)}, got {market!r}")
    sub, kind = _LAYOUT[market]
    folder = Path(datadir) / sub if sub else Path(datadir)
    want = timeframe_minutes(timeframe)
    key = _symbol_key(symbol)
    candidates: list[tuple[int, int, Path]] = []  # (-minutes, format rank, path)
    listed: list[str] = []
    for path in sorted(folder.glob("*")) if folder.is_dir() else []:
        suffix = next((s for s in FREQTRADE_SUFFIXES if path.name.endswith(s)), None)
        match = _NAME.match(path.name)
        if suffix is None or match is None or match["kind"] != kind:
            continue
        listed.append(path.name)
        tf = match["tf"].replace("Mo", "M")
        try:
            minutes = timeframe_minutes(tf)
        except ConfigError:  # months and other calendar timeframes: never a candidate
            continue
        if _pair_key(match["pair"], market) != key or minutes > want or want % minutes:
            continue
        candidates.append((-minutes, FREQTRADE_SUFFIXES.index(suffix), path))
    if not candidates:
        shown = ", ".join(listed[:8]) + (", ..." if len(listed) > 8 else "") or "none"
        raise ConfigError(
            f"asset.path: no Freqtrade {market} candles of {symbol} at {timeframe} or finer in "
            f"{folder} (candle files there: {shown})"
        )
    return min(candidates)[2]


__all__ = ["FREQTRADE_SUFFIXES", "freqtrade_candles"]
