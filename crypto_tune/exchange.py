"""The one door to exchanges: ccxt, for candles and funding-rate history (``phase=download``).

Everything crypto-tune asks an exchange goes through :class:`ExchangeClient`: the ccxt exchange
is built here (``enableRateLimit`` on, so ccxt spaces the requests by the exchange's own rate
limit), its markets are loaded once, and history is fetched page by page from a start time,
each page starting after the last bar received. A bar the exchange does not return is a gap: it
is never filled or invented here. Transient failures (network, rate limit, exchange busy) are
retried ``retries`` times with a doubling wait; any other failure, or the last retry, raises
:class:`~crypto_tune.exceptions.DataError` naming the exchange, the market and the request.

A test or a mirror points ccxt elsewhere by passing ccxt's own constructor options
(``options={"urls": {"api": {...}}}``: deep-merged into the exchange's defaults), never by
patching ccxt.

>>> client = ExchangeClient("binance", market="spot")  # doctest: +SKIP
>>> info = client.find("ETHUSDT")  # doctest: +SKIP
>>> for page in client.candle_pages(info, "4h", since_ms=0, end_ms=10**13):  # doctest: +SKIP
...     print(len(page))
"""

from __future__ import annotations

import difflib
import functools
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.timeframes import timeframe_minutes

# asset.market -> the ccxt market type it trades (spot; a perpetual is a linear swap)
CCXT_TYPES: dict[str, str] = {"spot": "spot", "perp": "swap"}
# Markets each exchange's load_markets fetches, narrowed to the one type asked for (fewer
# requests); an exchange not listed loads its defaults.
_MARKET_TYPES: dict[str, dict[str, dict[str, Any]]] = {
    "binance": {
        "spot": {"fetchMarkets": {"types": ["spot"]}},
        "perp": {"fetchMarkets": {"types": ["linear"]}},
    },
}
DEFAULT_LIMIT = 1000  # bars (or funding rates) asked for per request; exchanges cap it lower


@dataclass(frozen=True)
class MarketInfo:
    """An exchange market as ccxt names it: ``id`` (ETHUSDT) and unified ``symbol``."""

    exchange: str
    market: str  # spot | perp
    id: str
    symbol: str  # ETH/USDT, ETH/USDT:USDT


def _ccxt() -> Any:
    import ccxt

    return ccxt


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``extra``, nested mappings merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class ExchangeClient:
    """A ccxt exchange for one market type, with retries and page-by-page history.

    ``options`` are ccxt constructor options merged over ours (e.g. ``{"urls": {"api":
    {"public": "http://127.0.0.1:8080/api/v3"}}}``, a proxy, a timeout). ``retries`` transient
    failures are retried per request, waiting ``retry_wait`` seconds, doubled each time.
    """

    def __init__(
        self,
        name: str,
        *,
        market: str,
        options: Mapping[str, Any] | None = None,
        retries: int = 5,
        retry_wait: float = 1.0,
        limit: int = DEFAULT_LIMIT,
    ) -> None:
        ccxt = _ccxt()
        if name not in ccxt.exchanges:
            close = difflib.get_close_matches(name, ccxt.exchanges, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"download.exchange: ccxt knows no exchange {name!r}{hint}")
        if market not in CCXT_TYPES:
            raise ConfigError(
                f"asset.market must be one of {', '.join(CCXT_TYPES)}, got {market!r}"
            )
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigError(f"download.retries must be an int >= 0, got {retries!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"download.limit must be an int >= 1, got {limit!r}")
        config: dict[str, Any] = {
            "enableRateLimit": True,  # ccxt waits between requests by the exchange's rate limit
            "options": {
                "defaultType": CCXT_TYPES[market],
                **_MARKET_TYPES.get(name, {}).get(market, {}),
            },
        }
        self.name, self.market = name, market
        self.retries, self.retry_wait, self.limit = retries, retry_wait, limit
        self.api = getattr(ccxt, name)(deep_merge(config, options or {}))
        self._loaded = False

    # ---------------------------------------------------------------------------------------
    def _call(self, what: str, function: Callable[[], Any]) -> Any:
        """``function()``, retrying ccxt's transient errors; a DataError naming ``what`` else."""
        ccxt = _ccxt()
        wait = self.retry_wait
        for attempt in range(self.retries + 1):
            try:
                return function()
            except (ccxt.NetworkError, ccxt.ExchangeNotAvailable) as exc:
                # RateLimitExceeded, DDoSProtection, RequestTimeout are NetworkErrors too
                if attempt == self.retries:
                    raise DataError(
                        f"{self.name}: {what}: {type(exc).__name__} after {self.retries} "
                        f"retries: {_first_line(exc)}"
                    ) from None
                time.sleep(wait)
                wait *= 2
            except ccxt.BaseError as exc:
                raise DataError(f"{self.name}: {what}: {_first_line(exc)}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def check_timeframe(self, timeframe: str) -> None:
        """ConfigError unless the exchange serves ``timeframe`` candles (no request needed)."""
        frames = dict(getattr(self.api, "timeframes", None) or {})
        if frames and timeframe not in frames:
            raise ConfigError(
                f"asset.timeframe: {self.name} has no {timeframe} candles "
                f"(it has {', '.join(frames)})"
            )

    def find(self, symbol: str) -> MarketInfo:
        """The market of ``symbol`` (an exchange id like ETHUSDT or a unified ETH/USDT)."""
        if not self._loaded:
            self._call("load markets", self.api.load_markets)
            self._loaded = True
        kind = CCXT_TYPES[self.market]
        matches = [
            m
            for m in self.api.markets.values()
            if m.get("type") == kind
            and (kind == "spot" or m.get("linear"))
            and symbol in (m.get("id"), m.get("symbol"))
        ]
        if not matches:
            names = sorted(
                str(m.get("id"))
                for m in self.api.markets.values()
                if m.get("type") == kind and m.get("id")
            )
            close = difflib.get_close_matches(symbol, names, n=3)
            hint = f" (similar: {', '.join(close)})" if close else ""
            raise ConfigError(
                f"asset.symbol: {self.name} has no {self.market} market {symbol!r}{hint}"
            )
        found = matches[0]
        return MarketInfo(self.name, self.market, str(found["id"]), str(found["symbol"]))

    def candle_pages(
        self, info: MarketInfo, timeframe: str, *, since_ms: int, end_ms: int
    ) -> Iterator[pd.DataFrame]:
        """Closed bars opening in ``[since_ms, end_ms)``, one frame per request, oldest first.

        Each frame has ``timestamp`` (ms, bar open) and open/high/low/close/volume columns, as
        the exchange sent them; the next request starts one bar after the last bar received.
        """
        step = timeframe_minutes(timeframe) * 60_000
        since = since_ms
        while since < end_ms:
            rows = self._call(
                f"{info.symbol} {timeframe} candles from {_iso(since)}",
                functools.partial(
                    self.api.fetch_ohlcv,
                    info.symbol,
                    timeframe,
                    since=since,
                    limit=self.limit,
                    params={"until": end_ms - 1},
                ),
            )
            frame = pd.DataFrame(
                rows, columns=["timestamp", "open", "high", "low", "close", "volume"]
            )
            frame = frame[(frame["timestamp"] >= since) & (frame["timestamp"] < end_ms)]
            if frame.empty:
                return
            yield frame.reset_index(drop=True)
            since = int(frame["timestamp"].iloc[-1]) + step

    def funding_pages(
        self, info: MarketInfo, *, since_ms: int, end_ms: int
    ) -> Iterator[pd.DataFrame]:
        """Funding rates with times in ``[since_ms, end_ms)``, one frame per request: columns
        ``timestamp`` (ms) and ``funding_rate`` (per funding interval, paid by longs if > 0)."""
        if self.market != "perp":
            raise ConfigError(f"asset.market={self.market} has no funding rates (perp has)")
        since = since_ms
        while since < end_ms:
            rows = self._call(
                f"{info.symbol} funding rates from {_iso(since)}",
                functools.partial(
                    self.api.fetch_funding_rate_history,
                    info.symbol,
                    since=since,
                    limit=self.limit,
                    params={"until": end_ms - 1},
                ),
            )
            frame = pd.DataFrame(
                {
                    "timestamp": [int(r["timestamp"]) for r in rows],
                    "funding_rate": np.array(
                        [
                            np.nan if r.get("fundingRate") is None else r["fundingRate"]
                            for r in rows
                        ],
                        dtype=np.float64,
                    ),
                }
            )
            frame = frame[(frame["timestamp"] >= since) & (frame["timestamp"] < end_ms)]
            if frame.empty:
                return
            yield frame.reset_index(drop=True)
            since = int(frame["timestamp"].iloc[-1]) + 1


def ccxt_version() -> str:
    """The installed ccxt's version (recorded with every download)."""
    return str(_ccxt().__version__)


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:200] + "...") if len(text) > 200 else (text or type(exc).__name__)


__all__ = ["CCXT_TYPES", "DEFAULT_LIMIT", "ExchangeClient", "MarketInfo", "ccxt_version"]
