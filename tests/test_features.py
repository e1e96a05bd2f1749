"""Features and label: hand-checked values, guards, validation and speed on real data."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.features import (
    DEFAULT_WINDOWS,
    compute_features,
    empty_features,
    feature_names,
    forward_return,
    warm_up_bars,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def random_candles(n: int = 400, *, seed: int = 0, freq: str = "4h") -> pd.DataFrame:
    """Seeded geometric random walk with consistent OHLCV bars."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * (1.0 + rng.exponential(0.003, n))
    low = np.minimum(open_, close) * (1.0 - rng.exponential(0.003, n))
    volume = rng.lognormal(3.0, 0.5, n)
    index = pd.date_range("2021-01-01", periods=n, freq=freq, tz="UTC")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


def tiny_candles() -> pd.DataFrame:
    """Five hand-made bars used for hand-checked values."""
    index = pd.date_range("2022-01-01", periods=5, freq="4h", tz="UTC")
    return pd.DataFrame(
        {
            "open": [100.0, 100.0, 110.0, 99.0, 99.0],
            "high": [101.0, 120.0, 111.0, 100.0, 99.0],
            "low": [99.0, 90.0, 98.0, 97.0, 99.0],
            "close": [100.0, 110.0, 99.0, 99.0, 99.0],
            "volume": [10.0, 20.0, 30.0, 0.0, 40.0],
        },
        index=index,
    )


def test_names_match_columns_and_count() -> None:
    names = feature_names()
    assert len(names) == 85 and len(set(names)) == 85
    assert names[:8] == ["ret_1", "ret_2", "ret_3", "ret_5", "ret_10", "ret_20", "ret_30", "ret_60"]
    feats = compute_features(random_candles(200))
    assert list(feats.columns) == names
    assert (feats.dtypes == np.float64).all()
    assert feats.index.equals(random_candles(200).index)
    # short lags are not duplicated when a window equals one of them
    assert feature_names(windows=(3, 7))[:4] == ["ret_1", "ret_2", "ret_3", "ret_7"]
    assert len(feature_names(windows=(3, 7))) == 4 + 7 + 14 * 2


def test_bar_features_hand_checked() -> None:
    feats = compute_features(tiny_candles(), windows=(3,))
    row = feats.iloc[1]  # open 100, high 120, low 90, close 110, previous close 100
    assert row["ret_1"] == pytest.approx(math.log(1.1))
    assert row["range"] == pytest.approx(30.0 / 110.0)
    assert row["kmid"] == pytest.approx(0.1)
    assert row["kup"] == pytest.approx(0.1)  # (120 - 110) / 100
    assert row["klow"] == pytest.approx(0.1)  # (100 - 90) / 100
    assert row["ksft"] == pytest.approx(0.1)  # (220 - 120 - 90) / 100
    assert row["clv"] == pytest.approx(20.0 / 30.0)
    assert row["vchg"] == pytest.approx(math.log(2.0))
    assert feats["ret_2"].iloc[2] == pytest.approx(math.log(0.99))
    assert feats["ret_3"].iloc[3] == pytest.approx(math.log(0.99))


def test_window_features_hand_checked() -> None:
    feats = compute_features(tiny_candles(), windows=(3,))
    r1, r2 = math.log(1.1), math.log(0.9)  # returns of bars 1..3 are r1, r2, 0
    row = feats.iloc[3]
    assert row["ma_gap_3"] == pytest.approx(99.0 / ((110.0 + 99.0 + 99.0) / 3.0) - 1.0)
    assert row["max_gap_3"] == pytest.approx(99.0 / 120.0 - 1.0)
    assert row["min_gap_3"] == pytest.approx(99.0 / 90.0 - 1.0)
    assert row["rsv_3"] == pytest.approx((99.0 - 90.0) / (120.0 - 90.0))
    assert row["range_mean_3"] == pytest.approx((30 / 110 + 13 / 99 + 3 / 99) / 3.0)
    assert row["up_share_3"] == pytest.approx(1.0 / 3.0)
    assert row["rsi_3"] == pytest.approx(r1 / (r1 + abs(r2)))
    assert row["vol_3"] == pytest.approx(float(np.std([r1, r2, 0.0], ddof=1)))
    assert row["vratio_3"] == pytest.approx(math.log1p(0.0 / (50.0 / 3.0)))
    assert feats["vratio_3"].iloc[2] == pytest.approx(math.log1p(30.0 / 20.0))
    assert feats["vstd_3"].iloc[2] == pytest.approx(10.0 / 20.0)  # std(10, 20, 30) / mean


def test_warm_up_is_nan_not_filled() -> None:
    feats = compute_features(random_candles(300), windows=(5, 20))
    first_valid = feats.apply(lambda col: col.first_valid_index()).map(feats.index.get_loc)
    assert first_valid["ret_1"] == 1 and first_valid["kmid"] == 0
    assert first_valid["ret_20"] == 20 and first_valid["vol_20"] == 20
    assert first_valid["ma_gap_20"] == 19 and first_valid["rsv_20"] == 19
    assert first_valid["volvol_20"] == 20 + 19  # std of 20 vol values, the first at row 20
    assert first_valid["skew_5"] == 5 and first_valid["kurt_20"] == 20
    assert feats.iloc[300 - 1].notna().all()


def test_warm_up_bars_is_the_longest_window_and_ignores_columns_never_defined() -> None:
    candles = random_candles(300)
    feats = compute_features(candles, windows=(5, 20))
    assert warm_up_bars(feats) == 20 + 19 and empty_features(feats) == []
    silent = compute_features(candles.assign(volume=0.0), windows=(5, 20))
    volume_columns = ["vchg", "corr_rv_5", "corr_rv_20", "vratio_5", "vratio_20"]
    assert set(volume_columns) <= set(empty_features(silent))
    assert all(
        name.startswith(("vchg", "corr_rv", "vratio", "vstd")) for name in empty_features(silent)
    )
    assert warm_up_bars(silent) == 20 + 19  # not 0: every bar has a missing volume column


def test_degenerate_bars_give_nan_never_inf() -> None:
    candles = tiny_candles()
    feats = compute_features(candles, windows=(2,))
    # bar 4 has high == low == close == open and two flat returns in a row
    assert math.isnan(feats["clv"].iloc[4])
    assert math.isnan(feats["rsi_2"].iloc[4])  # no move at all: gain share undefined
    assert feats["rsv_2"].iloc[4] == pytest.approx((99.0 - 97.0) / (100.0 - 97.0))  # not flat
    assert math.isnan(feats["vchg"].iloc[3]) and math.isnan(feats["vchg"].iloc[4])  # zero volume
    flat = random_candles(100)
    flat[["open", "high", "low", "close"]] = 50.0
    flat_feats = compute_features(flat, windows=(5,))
    assert np.isfinite(flat_feats.to_numpy()[~np.isnan(flat_feats.to_numpy())]).all()
    assert flat_feats["skew_5"].isna().all() and flat_feats["corr_rv_5"].isna().all()
    assert (flat_feats["ret_5"].dropna() == 0.0).all()


def test_features_are_scale_free() -> None:
    """Ratios and returns only: rescaling prices and volume leaves every feature unchanged."""
    candles = random_candles(300, seed=3)
    scaled = candles.copy()
    scaled[["open", "high", "low", "close"]] *= 1234.5
    scaled["volume"] *= 0.01
    pd.testing.assert_frame_equal(
        compute_features(candles), compute_features(scaled), rtol=1e-6, atol=1e-9
    )


def test_forward_return_hand_checked() -> None:
    candles = tiny_candles()
    label = forward_return(candles, horizon=1)
    assert label.name == "label"
    np.testing.assert_allclose(label.iloc[:2].to_numpy(), [0.1, -0.1])
    assert label.iloc[2] == 0.0
    assert math.isnan(label.iloc[4])
    two = forward_return(candles, horizon=2)
    np.testing.assert_allclose(two.iloc[:3].to_numpy(), [-0.01, -0.1, 0.0], atol=1e-15)
    assert two.iloc[3:].isna().all()
    assert forward_return(candles, horizon=np.int64(7)).isna().all()  # longer than the data


@pytest.mark.parametrize("horizon", [0, -1, 1.5, True, "2", None])
def test_forward_return_rejects_bad_horizon(horizon: object) -> None:
    with pytest.raises(ConfigError, match=r"^horizon must be an int >= 1, got "):
        forward_return(tiny_candles(), horizon=horizon)  # type: ignore[arg-type]


@pytest.mark.parametrize("windows", [(), (0,), (1, 5), (5, 5), (5.0,), (True,), "5", 5])
def test_rejects_bad_windows(windows: object) -> None:
    with pytest.raises(ConfigError, match=r"^windows must "):
        compute_features(tiny_candles(), windows=windows)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        feature_names(windows=windows)  # type: ignore[arg-type]


def test_rejects_bad_candles() -> None:
    candles = tiny_candles()
    with pytest.raises(DataError, match=r"missing column\(s\) \['volume'\]"):
        compute_features(candles.drop(columns="volume"))
    with pytest.raises(DataError, match=r"missing column\(s\) \['close'\]"):
        forward_return(candles.drop(columns="close"), horizon=1)
    bad = candles.copy()
    bad.loc[bad.index[2], "low"] = -1.0
    with pytest.raises(DataError, match=r"'low' must be finite and > 0: row 2 .* has -1.0"):
        compute_features(bad)
    with pytest.raises(DataError, match="strictly increasing"):
        compute_features(candles.iloc[::-1])
    with pytest.raises(DataError, match="DatetimeIndex"):
        compute_features(candles.reset_index(drop=True))
    with pytest.raises(DataError, match="DataFrame"):
        compute_features(candles["close"])  # type: ignore[arg-type]


def test_nan_bar_propagates_without_error() -> None:
    candles = random_candles(100)
    candles.iloc[50, candles.columns.get_loc("close")] = np.nan
    feats = compute_features(candles, windows=(5,))
    assert math.isnan(feats["ret_1"].iloc[50]) and math.isnan(feats["ret_1"].iloc[51])
    assert feats["ret_1"].iloc[52:].notna().all()


def test_real_eth_4h_fast_and_finite() -> None:
    path = DATA / "binance_ETHUSDT_4h.csv"
    if not path.exists():
        pytest.skip(f"{path} not available")
    candles = pd.read_csv(path, index_col=0, parse_dates=True)
    start = time.process_time()  # CPU time: a loaded machine does not slow it down
    feats = compute_features(candles)
    elapsed = time.process_time() - start
    assert elapsed < 1.5, f"compute_features took {elapsed:.2f}s on {len(candles)} rows"
    assert feats.shape == (len(candles), len(feature_names(windows=DEFAULT_WINDOWS)))
    values = feats.to_numpy()
    assert not np.isinf(values).any()
    # after the warm-up almost everything is defined (a zero-volume bar leaves a few NaN)
    assert feats.iloc[200:].notna().mean().min() > 0.99
    assert feats["rsv_20"].dropna().between(0.0, 1.0).all()
    assert feats["max_gap_60"].dropna().le(0.0).all() and feats["min_gap_60"].dropna().ge(0).all()
