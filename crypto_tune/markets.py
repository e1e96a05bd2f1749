"""Markets as the exchange charges them: ``asset.market`` is ``spot`` or ``perp``.

The per-market defaults live here and nowhere else (Binance, the lowest fee tier, 2024):

============  ==============  ==============  ==========================================
              spot            perp            notes
============  ==============  ==============  ==========================================
taker fee     0.10%           0.05%           per side on notional (market orders)
maker fee     0.10%           0.02%           ``strategy.orders=maker`` (fills not modelled)
shorting      borrow only     yes             spot shorts (and longs above 1x) borrow
borrow rate   none            none            ``asset.borrow_rate`` per year turns it on
funding       none            0.01% per 8 h   at 00:00, 08:00, 16:00 UTC, on the position
                                              held then (``asset.funding``: a constant
                                              or a file of rates)
maintenance   10%             0.5%            of the notional: liquidation level
============  ==============  ==============  ==========================================

Spot without ``asset.borrow_rate`` trades long only and at most 1x (no loan, so no interest
and no liquidation). With a borrow rate a spot short pays interest on the coins it borrows and
a long above 1x on the quote it owes; the liquidation level of 10% of the notional stands for
Binance margin's margin level 1.1. A perpetual pays (positive rate, longs) or earns funding on
the notional at every funding timestamp it is held over; its isolated margin is liquidated at
the maintenance margin, and the rest of the margin is lost.

>>> costs = market_costs("perp")
>>> costs.fee, costs.funding_rate, costs.allow_short
(0.0005, 0.0001, True)
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.memo import memo

FUNDING_HOURS = 8.0  # funding timestamps: every 8 hours from 00:00 UTC


@dataclass(frozen=True)
class MarketDefaults:
    """What a market charges unless the config says otherwise."""

    taker_fee: float
    maker_fee: float
    shorting: str  # "yes" or "borrow" (only with a borrow rate)
    funding_rate: float  # per FUNDING_HOURS, paid by longs when positive
    maintenance_margin: float  # fraction of the notional


MARKETS: dict[str, MarketDefaults] = {
    "spot": MarketDefaults(
        taker_fee=0.001,
        maker_fee=0.001,
        shorting="borrow",
        funding_rate=0.0,
        maintenance_margin=0.1,
    ),
    "perp": MarketDefaults(
        taker_fee=0.0005,
        maker_fee=0.0002,
        shorting="yes",
        funding_rate=0.0001,
        maintenance_margin=0.005,
    ),
}
ORDERS = ("taker", "maker")


@dataclass(frozen=True)
class MarketCosts:
    """The costs one asset's trades pay, resolved by :func:`market_costs`.

    ``funding_rate`` is the constant per 8 hours (0 on spot) unless ``funding_file`` names a file
    of rates; ``borrow_rate`` is per year (0: nothing is borrowed); ``max_leverage`` is 1 on spot
    without borrowing.
    """

    market: str
    fee: float
    allow_short: bool
    borrow_rate: float = 0.0
    funding_rate: float = 0.0
    funding_file: str | None = None
    maintenance_margin: float = 0.0
    max_leverage: float = math.inf

    def funding(self, index: pd.DatetimeIndex, bar_minutes: float) -> np.ndarray:
        """The funding rate due at the close of each bar of ``index`` (0 where none is due); a
        funding file must span the bars (:func:`check_funding_covers`)."""
        if self.funding_file is not None:
            check_funding_covers(self, index)
            return funding_schedule(index, bar_minutes, rates=read_funding(self.funding_file))
        return funding_schedule(index, bar_minutes, rate=self.funding_rate)

    def summary(self, slippage: float) -> str:
        """One line for people: ``market spot: fee 0.10% + slippage 0.02% per side, long only
        at most 1x (no asset.borrow_rate), no funding, liquidation at 10% of the notional``."""
        parts = [f"fee {100 * self.fee:.2f}% + slippage {100 * slippage:.2f}% per side"]
        if not self.allow_short:
            how = "at most 1x (no asset.borrow_rate)" if self.max_leverage <= 1 else "on margin"
            parts.append(f"long only {how}")
        if self.borrow_rate:
            parts.append(f"borrow {100 * self.borrow_rate:.2f}% a year")
        if self.funding_file is not None:
            parts.append(f"funding from {self.funding_file}")
        elif self.funding_rate:
            parts.append(f"funding {100 * self.funding_rate:.4f}% per 8 h (longs pay)")
        else:
            parts.append("no funding")
        parts.append(f"liquidation at {100 * self.maintenance_margin:g}% of the notional")
        return f"market {self.market}: " + ", ".join(parts)

    def describe(self) -> dict[str, object]:
        """One plain value per cost setting (fingerprints, ``workflow.best.json``)."""
        funding: object = self.funding_rate
        if self.funding_file is not None:
            funding = f"file:{funding_file_hash(self.funding_file)}"
        return {
            "market": self.market,
            "fee": self.fee,
            "allow_short": self.allow_short,
            "borrow_rate": self.borrow_rate,
            "funding": funding,
            "maintenance_margin": self.maintenance_margin,
            "max_leverage": self.max_leverage if math.isfinite(self.max_leverage) else None,
        }


def market_costs(
    market: str,
    *,
    fee: float | None = None,
    orders: str = "taker",
    allow_short: bool | None = None,
    borrow_rate: float | None = None,
    funding: float | str | None = None,
    maintenance_margin: float | None = None,
) -> MarketCosts:
    """Resolve a market's costs: every ``None`` takes the market's default.

    Raises :class:`ConfigError` naming the config key for a combination the market does not
    allow (a spot short without a borrow rate, funding on spot, borrowing on a perpetual).
    """
    if market not in MARKETS:
        raise ConfigError(f"asset.market must be one of {', '.join(MARKETS)}, got {market!r}")
    if orders not in ORDERS:
        raise ConfigError(f"strategy.orders must be one of {', '.join(ORDERS)}, got {orders!r}")
    spec = MARKETS[market]
    if borrow_rate is not None and spec.shorting != "borrow":
        raise ConfigError(
            f"asset.borrow_rate must be null on asset.market={market} (it shorts without "
            f"borrowing), got {borrow_rate!r}"
        )
    if borrow_rate is not None and not 0 <= borrow_rate <= 10:
        raise ConfigError(f"asset.borrow_rate must be in [0, 10] per year, got {borrow_rate!r}")
    can_short = spec.shorting == "yes" or borrow_rate is not None
    if allow_short and not can_short:
        raise ConfigError(
            f"strategy.allow_short must be false or null on asset.market={market} without "
            "asset.borrow_rate (a spot short borrows the coin), got True"
        )
    if funding is not None and spec.funding_rate == 0.0 and funding != 0:
        raise ConfigError(
            f"asset.funding must be null on asset.market={market} (no funding), got {funding!r}"
        )
    funding_file = None
    rate = spec.funding_rate
    if isinstance(funding, str):
        if not os.path.isfile(funding):
            raise ConfigError(f"asset.funding: no such file: {funding} (a number or a rate file)")
        funding_file = funding
        rate = 0.0
    elif funding is not None:
        if not -0.1 <= funding <= 0.1:
            raise ConfigError(f"asset.funding must be in [-0.1, 0.1] per 8 h, got {funding!r}")
        rate = float(funding)
    mm = spec.maintenance_margin if maintenance_margin is None else maintenance_margin
    if not 0 <= mm < 1:
        raise ConfigError(f"asset.maintenance_margin must be in [0, 1), got {mm!r}")
    if fee is None:
        fee = spec.taker_fee if orders == "taker" else spec.maker_fee
    borrows = spec.shorting == "borrow"
    return MarketCosts(
        market=market,
        fee=float(fee),
        allow_short=can_short if allow_short is None else bool(allow_short),
        borrow_rate=float(borrow_rate or 0.0),
        funding_rate=rate,
        funding_file=funding_file,
        maintenance_margin=float(mm),
        max_leverage=1.0 if borrows and borrow_rate is None else math.inf,
    )


def funding_schedule(
    index: pd.DatetimeIndex,
    bar_minutes: float,
    *,
    rate: float = 0.0,
    rates: pd.Series | None = None,
) -> np.ndarray:
    """The funding rate due at each bar's close: the rates whose timestamps fall in the bar
    ``(open, open + bar]``, summed (a 4h bar closing at 08:00 carries the 08:00 rate; a 1d bar
    three). ``rate``: a constant at every 8-hour timestamp from 00:00 UTC; ``rates``: a Series
    of rates on their timestamps (those outside every bar are not paid).

    >>> idx = pd.date_range("2024-01-01", periods=4, freq="4h", tz="UTC")
    >>> funding_schedule(idx, 240, rate=0.0001).tolist()
    [0.0, 0.0001, 0.0, 0.0001]
    """
    opens = np.asarray(index.as_unit("ns").asi8, dtype=np.int64)
    bar = round(bar_minutes * 60e9)
    if rates is None:
        if rate == 0.0:
            return np.zeros(len(opens))
        step = int(FUNDING_HOURS * 3600e9)
        due = (opens + bar) // step - opens // step
        return due * float(rate)
    times = np.asarray(pd.DatetimeIndex(rates.index).as_unit("ns").asi8, dtype=np.int64)
    values = rates.to_numpy(dtype=np.float64)
    bar_of = np.searchsorted(opens, times, side="left") - 1  # the last bar opening before it
    inside = (bar_of >= 0) & (times <= opens[np.clip(bar_of, 0, None)] + bar)
    out = np.zeros(len(opens))
    np.add.at(out, bar_of[inside], values[inside])
    return out


_FUNDING: dict[tuple[str, int, int], pd.Series] = memo("funding_files", {})
_TIME_COLUMNS = ("timestamp", "date", "fundingTime", "funding_time", "calc_time", "time")
_RATE_COLUMNS = ("funding_rate", "fundingRate", "rate", "last_funding_rate", "open")


def read_funding(path: str) -> pd.Series:
    """A funding-rate file as a Series of rates on UTC timestamps (read once per process).

    CSV or Parquet (Freqtrade's feather too) with a time column (``timestamp``, ``date``,
    ``fundingTime``, ...: ISO-8601 or epoch ms) and a rate column (``funding_rate``,
    ``fundingRate``, ``rate``; Freqtrade's funding files keep it in ``open``).
    """
    file = Path(path)
    try:
        stat = os.stat(file)
    except OSError as exc:
        raise ConfigError(f"asset.funding: cannot read {path}: {exc.strerror}") from exc
    key = (str(file.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _FUNDING:
        _FUNDING[key] = _parse_funding(file)
    return _FUNDING[key]


def _parse_funding(file: Path) -> pd.Series:
    try:
        if file.suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(file)
        elif file.suffix == ".feather":
            frame = pd.read_feather(file)
        else:
            frame = pd.read_csv(file)
    except (OSError, ValueError, ImportError) as exc:
        raise DataError(f"{file}: not a readable funding file: {exc}") from exc
    time_col = next((c for c in _TIME_COLUMNS if c in frame.columns), None)
    rate_col = next((c for c in _RATE_COLUMNS if c in frame.columns), None)
    if time_col is None or rate_col is None:
        raise DataError(
            f"{file}: a funding file needs a time column ({', '.join(_TIME_COLUMNS)}) and a "
            f"rate column ({', '.join(_RATE_COLUMNS)}); columns: {list(frame.columns)}"
        )
    raw = frame[time_col]
    if pd.api.types.is_numeric_dtype(raw):
        times = pd.to_datetime(raw, unit="ms", utc=True)
    else:
        times = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601")
    rates = pd.to_numeric(frame[rate_col], errors="coerce")
    bad = times.isna() | ~np.isfinite(rates.to_numpy(dtype=np.float64, na_value=np.nan))
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise DataError(
            f"{file}: line {row + 2}: not a timestamp and a finite funding rate: "
            f"{raw.iloc[row]!r}, {frame[rate_col].iloc[row]!r}"
        )
    series = pd.Series(rates.to_numpy(dtype=np.float64), index=pd.DatetimeIndex(times))
    return series.groupby(level=0).last().sort_index()


def funding_file_hash(path: str) -> str:
    """A short hash of the funding rates a file holds (its identity in fingerprints)."""
    rates = read_funding(path)
    stamps = pd.DatetimeIndex(rates.index).as_unit("ns").asi8.astype(np.float64)
    payload = np.concatenate([stamps, rates.to_numpy()])
    return hashlib.sha256(payload.tobytes()).hexdigest()[:12]


def check_funding_covers(costs: MarketCosts, index: pd.DatetimeIndex) -> None:
    """Raise :class:`ConfigError` unless a funding file spans the candles ``index``."""
    if costs.funding_file is None or not len(index):
        return
    rates = read_funding(costs.funding_file)
    step = pd.Timedelta(hours=FUNDING_HOURS)
    if not len(rates) or rates.index[0] > index[0] + step or rates.index[-1] < index[-1] - step:
        span = f"{rates.index[0]}..{rates.index[-1]}" if len(rates) else "nothing"
        raise ConfigError(
            f"asset.funding: {costs.funding_file} covers {span}, the candles run "
            f"{index[0]}..{index[-1]}"
        )


__all__ = [
    "FUNDING_HOURS",
    "MARKETS",
    "ORDERS",
    "MarketCosts",
    "MarketDefaults",
    "check_funding_covers",
    "funding_file_hash",
    "funding_schedule",
    "market_costs",
    "read_funding",
]
