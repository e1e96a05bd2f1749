"""Candle data: load (CSV, Binance klines, Parquet, Feather, Freqtrade JSON and data folders),
validate, find gaps, resample, synthesise; the provenance of downloaded files.

One frame shape everywhere ("candles"): a UTC DatetimeIndex named ``timestamp`` (bar open time)
and float64 columns open, high, low, close, volume, strictly increasing. Gaps are reported, never
filled.

>>> from crypto_tune.data import load_candles
>>> path = "../shared/data/binance_ETHUSDT_1h.csv"
>>> candles, report = load_candles(path, timeframe="4h")  # doctest: +SKIP
"""

from crypto_tune.data._finer import finer_file
from crypto_tune.data._freqtrade import freqtrade_candles
from crypto_tune.data._loader import load_candles
from crypto_tune.data._provenance import PROVENANCE_KEY, Provenance, read_provenance
from crypto_tune.data._report import CandleReport, bar_statistics
from crypto_tune.data._resample import resample_candles
from crypto_tune.data._synthetic import REGIMES, SyntheticMarket, synthetic_market
from crypto_tune.data._validate import (
    OHLCV,
    Gap,
    find_gaps,
    infer_timeframe,
    time_index,
    validate_candles,
)

__all__ = [
    "OHLCV",
    "PROVENANCE_KEY",
    "REGIMES",
    "CandleReport",
    "Gap",
    "Provenance",
    "SyntheticMarket",
    "bar_statistics",
    "find_gaps",
    "finer_file",
    "freqtrade_candles",
    "infer_timeframe",
    "load_candles",
    "read_provenance",
    "resample_candles",
    "synthetic_market",
    "time_index",
    "validate_candles",
]
