"""crypto_tune.data._finer: a timeframe whose file is absent is read from the coarsest finer
file of the same name that divides it, and resampled (the asset's path, a basket's and a
universe's members alike)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crypto_tune.config import AssetSettings
from crypto_tune.data import finer_file, load_candles, resample_candles
from crypto_tune.dataset import asset_path, load_asset
from crypto_tune.exceptions import ConfigError


def _write(path: Path, freq: str, n: int) -> None:
    index = pd.date_range("2024-01-01", periods=n, freq=freq, tz="UTC")
    close = 100 + np.cumsum(np.random.default_rng(0).normal(0, 1, n))
    frame = pd.DataFrame(
        {"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 1.0},
        index=index.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    frame.index.name = "timestamp"
    frame.to_csv(path)


def test_the_coarsest_finer_file_that_divides_the_timeframe(tmp_path: Path) -> None:
    for name in ("binance_ETHUSDT_1h.csv", "binance_ETHUSDT_4h.csv", "binance_ETHUSDT_3h.csv"):
        (tmp_path / name).write_text("x")
    for other in (
        "binance_ETHUSDT_4h_perp.csv",
        "binance_BTCUSDT_4h.csv",
        "binance_ETHUSDT_2d.csv",
    ):
        (tmp_path / other).write_text("x")  # another market, symbol, a coarser timeframe
    wanted = tmp_path / "binance_ETHUSDT_1d.csv"
    assert finer_file(wanted, "1d") == tmp_path / "binance_ETHUSDT_4h.csv"  # 3h divides no day
    assert (
        finer_file(tmp_path / "binance_ETHUSDT_2h.csv", "2h") == tmp_path / "binance_ETHUSDT_1h.csv"
    )
    assert finer_file(tmp_path / "binance_ETHUSDT_1h.csv", "1h") is None  # nothing finer
    assert finer_file(tmp_path / "binance_ETHUSDT_1d.parquet", "1d") is None  # another format
    assert finer_file(tmp_path / "eth.csv", "1d") is None  # no timeframe in the name
    assert finer_file(tmp_path / "absent" / "binance_ETHUSDT_1d.csv", "1d") is None


def _daily(path: Path, kind: str = "file") -> AssetSettings:
    return AssetSettings(name="x", kind=kind, symbol="ETHUSDT", timeframe="1d", path=str(path))


def test_an_asset_reads_the_finer_file_resampled(tmp_path: Path) -> None:
    _write(tmp_path / "binance_ETHUSDT_4h.csv", "4h", 60)
    _write(tmp_path / "binance_ETHUSDT_1h.csv", "1h", 240)
    asset = _daily(tmp_path / "binance_ETHUSDT_1d.csv")
    assert asset_path(asset) == str(tmp_path / "binance_ETHUSDT_4h.csv")
    candles, report = load_asset(asset)
    four_hours, _ = load_candles(tmp_path / "binance_ETHUSDT_4h.csv")
    pd.testing.assert_frame_equal(candles, resample_candles(four_hours, "1d"))
    assert len(candles) == 10 and report.source.endswith("binance_ETHUSDT_4h.csv")
    # a member of a basket or universe: the template filled with the symbol, then the same
    template = _daily(tmp_path / "binance_{symbol}_1d.csv", kind="basket")
    assert asset_path(template, "ETHUSDT") == str(tmp_path / "binance_ETHUSDT_4h.csv")
    # no finer file either: the error names the file asked for
    with pytest.raises(ConfigError, match=r"binance_BTCUSDT_1d\.csv not found"):
        load_asset(_daily(tmp_path / "binance_BTCUSDT_1d.csv"))
