"""Volatility regimes: hand-checked labels, warm-up, masks and validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.regimes import REGIMES, regime_mask, volatility_regime

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def candles_from_returns(returns: list[float] | np.ndarray) -> pd.DataFrame:
    """Close = 100 * exp(cumsum(returns)), so log(close).diff() gives back ``returns[1:]``."""
    close = 100.0 * np.exp(np.cumsum(np.r_[0.0, returns]))
    index = pd.date_range("2022-01-01", periods=len(close), freq="4h", tz="UTC")
    return pd.DataFrame({"close": close}, index=index)


def test_hand_checked_labels() -> None:
    # window=2: vol[t] = |r[t] - r[t-1]| / sqrt(2), i.e. proportional to 3, 7, 5, 1, 2, 8, 1 (%)
    candles = candles_from_returns([0.01, -0.02, 0.05, 0.0, 0.01, 0.03, -0.05, -0.04])
    labels = volatility_regime(candles, window=2, lookback=3, quantile=0.5)
    # rows 0-3 warm up (vol needs 2 returns, the median needs 3 vols); then
    # t=4: 5 vs median(3,7,5)=5 -> calm (ties are calm); t=5: 1 vs 5 -> calm;
    # t=6: 2 vs median(5,1,2)=2 -> calm; t=7: 8 vs median(1,2,8)=2 -> volatile;
    # t=8: 1 vs median(2,8,1)=2 -> calm
    assert labels.tolist() == ["unknown"] * 4 + ["calm", "calm", "calm", "volatile", "calm"]
    assert labels.name == "regime" and isinstance(labels.dtype, pd.CategoricalDtype)
    assert labels.index.equals(candles.index)
    # min_periods=1 starts as soon as a vol exists: t=2 compares 3 with itself -> calm;
    # t=3: 7 vs median(3, 7) = 5 -> volatile
    early = volatility_regime(candles, window=2, lookback=3, min_periods=1)
    assert early.tolist()[:4] == ["unknown", "unknown", "calm", "volatile"]
    # a low quantile makes "volatile" common; linear interpolation, e.g. t=4: 5 vs 3 + 0.2 * 2
    # t=5: 1 vs 1.8, t=6: 2 vs 1.2, t=7: 8 vs 1.2, t=8: 1 vs 1.2
    loose = volatility_regime(candles, window=2, lookback=3, quantile=0.1)
    assert loose.tolist()[4:] == ["volatile", "calm", "volatile", "volatile", "calm"]


def test_volatility_burst_is_volatile_then_becomes_the_new_normal() -> None:
    sign = np.where(np.arange(500) % 2 == 0, 1.0, -1.0)
    amplitude = np.r_[np.full(300, 0.001), np.full(100, 0.02), np.full(100, 0.001)]
    labels = volatility_regime(candles_from_returns(sign * amplitude), window=10, lookback=200)
    assert (labels.iloc[: 10 + 199] == "unknown").all()  # 10 bars of vol, 200 for the quantile
    assert (labels.iloc[209:] != "unknown").all()
    assert (labels.iloc[302:401] == "volatile").all()  # returns 301+ are 20x larger
    assert (labels.iloc[411:] == "calm").all()  # back to small moves, below the recent median


def test_regime_mask() -> None:
    labels = pd.Series(pd.Categorical(["unknown", "calm", "volatile", "calm"]), name="regime")
    assert regime_mask(labels, "all").tolist() == [True, True, True, True]
    assert regime_mask(labels, "calm").tolist() == [False, True, False, True]
    assert regime_mask(labels, "volatile").tolist() == [False, False, True, False]
    assert regime_mask(labels.astype(object), "calm").dtype == bool
    assert REGIMES == ("all", "calm", "volatile")
    with pytest.raises(ConfigError, match=r"^regime must be one of \['all', 'calm', 'volatile'\]"):
        regime_mask(labels, "bull")
    with pytest.raises(DataError, match="Series"):
        regime_mask(["calm"], "calm")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 1}, r"^window must be an int >= 2, got 1$"),
        ({"lookback": 0}, r"^lookback must be an int >= 1, got 0$"),
        ({"quantile": 1.0}, r"^quantile must be a float in \(0, 1\), got 1.0$"),
        ({"quantile": True}, r"^quantile must be a float in \(0, 1\), got True$"),
        ({"min_periods": 0}, r"^min_periods must be an int >= 1, got 0$"),
        ({"min_periods": 600}, r"^min_periods must be <= lookback=500, got 600$"),
    ],
)
def test_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        volatility_regime(candles_from_returns([0.01] * 10), **kwargs)


def test_bad_candles() -> None:
    with pytest.raises(DataError, match="'close' column"):
        volatility_regime(pd.DataFrame({"open": [1.0]}))
    bad = candles_from_returns([0.01] * 5)
    bad.iloc[3, 0] = 0.0
    with pytest.raises(DataError, match=r"'close' must be > 0: row 3 has 0.0$"):
        volatility_regime(bad)


def test_real_eth_4h_is_roughly_balanced() -> None:
    path = DATA / "binance_ETHUSDT_4h.csv"
    if not path.exists():
        pytest.skip(f"{path} not available")
    candles = pd.read_csv(path, index_col=0, parse_dates=True)
    labels = volatility_regime(candles)
    counts = labels.value_counts()
    assert counts["unknown"] == 30 + 499
    # vs its own rolling median, each regime holds roughly half of the known bars
    assert 0.35 < counts["volatile"] / (counts["calm"] + counts["volatile"]) < 0.65
