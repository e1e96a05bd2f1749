"""Where a data file came from: exchange, market, symbol, timeframe and when it was fetched.

``phase=download`` writes it into the Parquet file's metadata (key :data:`PROVENANCE_KEY`, JSON);
:func:`~crypto_tune.data.load_candles` reads it back into :attr:`CandleReport.provenance`, and
the study fingerprint records it (``data.source``), so a study knows what its candles are.
``fetched_at`` is the time the file's last bar was fetched: a rerun that adds no bar leaves it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

PROVENANCE_KEY = "crypto_tune.provenance"


@dataclass(frozen=True)
class Provenance:
    """The origin of a downloaded file (all text; times ISO-8601 UTC)."""

    exchange: str  # ccxt id, e.g. binance
    market: str  # spot | perp
    symbol: str  # the exchange's market id, e.g. ETHUSDT
    unified: str  # ccxt's unified symbol, e.g. ETH/USDT:USDT
    series: str  # candles | funding
    timeframe: str  # e.g. 4h ("" for funding rates)
    fetched_at: str
    source: str  # the tool, e.g. ccxt 4.5.90

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Provenance | None:
        """The provenance recorded as ``text``; None when it is not one (another tool's key)."""
        try:
            data: Any = json.loads(text)
            return cls(**{k: str(data[k]) for k in cls.__dataclass_fields__})
        except (ValueError, TypeError, KeyError):
            return None

    def key(self) -> str:
        """What the study fingerprint records: ``binance:spot:ETHUSDT:4h@2026-12-06T15:00:00Z``."""
        parts = [self.exchange, self.market, self.symbol, self.timeframe or self.series]
        return f"{':'.join(parts)}@{self.fetched_at}"

    def describe(self) -> str:
        """One short line: ``binance spot ETHUSDT 4h, fetched 2026-12-06T15:00:00Z (ccxt 4.5)``."""
        what = f"{self.exchange} {self.market} {self.symbol}"
        if self.timeframe:
            what += f" {self.timeframe}"
        if self.series != "candles":
            what += f" {self.series}"
        return f"{what}, fetched {self.fetched_at} ({self.source})"


def read_provenance(path: object) -> Provenance | None:
    """The provenance in a Parquet file's metadata, or None (not recorded, not Parquet)."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(str(path)).metadata or {}
    except Exception:  # not a Parquet file, or unreadable: no provenance to report
        return None
    raw = metadata.get(PROVENANCE_KEY.encode())
    return None if raw is None else Provenance.from_json(raw)


__all__ = ["PROVENANCE_KEY", "Provenance", "read_provenance"]
