"""Where the data comes from and what is learnt from it: paths, the asset (a file, a synthetic
market, a basket or a universe), the label and the features."""

from __future__ import annotations

import typing
from dataclasses import dataclass

from crypto_tune.config._universe import check_universe_asset
from crypto_tune.config._validate import _check_choice, _check_date, _check_range, _fail
from crypto_tune.exceptions import ConfigError
from crypto_tune.markets import MARKETS
from crypto_tune.timeframes import timeframe_minutes

if typing.TYPE_CHECKING:
    pass

ASSET_KINDS = ("file", "synthetic", "basket", "universe")


@dataclass(frozen=True)
class PathsSettings:
    outputs: str
    root: str
    cache: str
    best: str
    reports: str
    data: str


@dataclass(frozen=True)
class SyntheticSettings:
    seed: int = 7
    start: str = "2021-01-01"
    n_bars: int = 8766
    planted_ic: float = 0.08

    def validate(self, key: str) -> None:
        _check_range(f"{key}.n_bars", self.n_bars, low=100)
        _check_range(f"{key}.planted_ic", self.planted_ic, low=0.0, high=0.5, high_open=True)
        _check_date(f"{key}.start", self.start)


@dataclass(frozen=True)
class AssetSettings:
    name: str
    kind: str
    symbol: str
    timeframe: str
    path: str | None = None
    symbols: tuple[str, ...] = ()
    synthetic: SyntheticSettings | None = None
    # a basket's sleeves (crypto_tune/portfolio.py): weights equal | inverse_vol, rebalanced
    # never | weekly | monthly | every N bars, optionally scaled to a portfolio volatility target
    weights: str = "equal"
    rebalance: str = "never"
    target_vol: float | None = None
    max_gross: float = 3.0
    # what the exchange charges (crypto_tune/markets.py holds each market's defaults; null: the
    # market's): spot | perp, funding per 8 h or a file of rates (perp), borrow rate per year
    # (spot: shorting and leverage above 1x), maintenance margin (the liquidation level)
    market: str = "spot"
    funding: float | str | None = None
    borrow_rate: float | None = None
    maintenance_margin: float | None = None

    def validate(self, key: str) -> None:
        _check_choice(f"{key}.kind", self.kind, ASSET_KINDS)
        _check_choice(f"{key}.market", self.market, MARKETS)
        if self.kind == "basket" and isinstance(self.funding, str):
            _fail(
                f"{key}.funding",
                "null or a number for a basket (one rate file per member is not supported)",
                self.funding,
            )
        try:
            timeframe_minutes(self.timeframe)
        except ConfigError:
            _fail(f"{key}.timeframe", "like 15m, 1h, 4h or 1d", self.timeframe)
        if self.kind == "file" and not self.path:
            _fail(f"{key}.path", "a CSV or Parquet file for a file asset", self.path)
        if self.kind == "synthetic":
            if self.synthetic is None:
                _fail(f"{key}.synthetic", "a mapping of synthetic-market settings", None)
            self.synthetic.validate(f"{key}.synthetic")
        repeated = sorted({s for s in self.symbols if list(self.symbols).count(s) > 1})
        if repeated:
            _fail(
                f"{key}.symbols",
                f"a list without repeats ({', '.join(repeated)} twice)",
                list(self.symbols),
            )
        if self.kind == "universe":
            check_universe_asset(key, self.symbols, self.path)
        if self.kind == "basket":
            if len(self.symbols) < 2:
                _fail(f"{key}.symbols", "a list of at least two symbols", list(self.symbols))
            if not self.path or "{symbol}" not in self.path:
                _fail(f"{key}.path", "a path template containing {symbol}", self.path)
        _check_choice(f"{key}.weights", self.weights, ("equal", "inverse_vol"))
        if self.rebalance not in ("never", "weekly", "monthly") and not (
            self.rebalance.isdigit() and int(self.rebalance) >= 1
        ):
            _fail(f"{key}.rebalance", "never, weekly, monthly or a number of bars", self.rebalance)
        if self.target_vol is not None:
            _check_range(f"{key}.target_vol", self.target_vol, low=0, high=10, low_open=True)
            if self.rebalance == "never":
                _fail(f"{key}.rebalance", "a schedule when asset.target_vol is set", "never")
        _check_range(f"{key}.max_gross", self.max_gross, low=0, high=125, low_open=True)


@dataclass(frozen=True)
class LabelSettings:
    horizon: int = 1

    def validate(self, key: str) -> None:
        _check_range(f"{key}.horizon", self.horizon, low=1)


@dataclass(frozen=True)
class FeatureSettings:
    windows: tuple[int, ...] = (5, 10, 20, 30, 60)

    def validate(self, key: str) -> None:
        if not self.windows:
            _fail(f"{key}.windows", "a non-empty list of ints >= 2", list(self.windows))
        for window in self.windows:
            _check_range(f"{key}.windows", window, low=2)
