"""Synthetic market: determinism, valid candles, regimes, clustering, planted signal and its IC."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto_tune.data import (
    REGIMES,
    SyntheticMarket,
    find_gaps,
    infer_timeframe,
    synthetic_market,
    validate_candles,
)
from crypto_tune.exceptions import ConfigError
from crypto_tune.timeframes import periods_per_year


def log_returns(market: SyntheticMarket, start_price: float = 1000.0) -> np.ndarray:
    close = market.candles["close"].to_numpy()
    return np.diff(np.log(np.r_[start_price, close]))


def test_same_seed_same_market_other_seed_other_market():
    a = synthetic_market(seed=3, n_bars=600, planted_ic=0.1)
    b = synthetic_market(seed=3, n_bars=600, planted_ic=0.1)
    pd.testing.assert_frame_equal(a.candles, b.candles)
    pd.testing.assert_series_equal(a.regime, b.regime)
    pd.testing.assert_series_equal(a.expected_return, b.expected_return)
    assert a.signal_strength == b.signal_strength
    c = synthetic_market(seed=4, n_bars=600, planted_ic=0.1)
    assert not np.allclose(a.candles["close"], c.candles["close"])


def test_candles_are_valid_and_shaped():
    market = synthetic_market(seed=0)
    candles = market.candles
    checked, n_dropped = validate_candles(candles)
    pd.testing.assert_frame_equal(checked, candles)
    assert n_dropped == 0 and len(candles) == 8000
    assert list(candles.columns) == ["open", "high", "low", "close", "volume"]
    assert (candles.dtypes == np.float64).all()
    assert str(candles.index.tz) == "UTC" and candles.index.name == "timestamp"
    assert candles.index[0] == pd.Timestamp("2021-01-01T00:00Z")
    assert infer_timeframe(candles.index) == "4h" and find_gaps(candles.index, "4h") == ()
    # open is the previous close; high/low strictly outside the body on (almost) every bar
    np.testing.assert_array_equal(candles["open"].to_numpy()[1:], candles["close"].to_numpy()[:-1])
    assert candles["open"].iloc[0] == 1000.0
    body_top = np.maximum(candles["open"], candles["close"])
    body_bottom = np.minimum(candles["open"], candles["close"])
    assert (candles["high"] > body_top).mean() > 0.95
    assert (candles["low"] < body_bottom).mean() > 0.95
    for series in (market.regime, market.expected_return):
        assert series.index.equals(candles.index)


def test_timeframe_start_and_volatility_scale():
    market = synthetic_market(
        seed=2,
        n_bars=5000,
        timeframe="1h",
        start="2022-06-01T12:00",
        annual_vol=0.4,
        volatile_multiplier=1.0,
    )
    index = market.candles.index
    assert index[0] == pd.Timestamp("2022-06-01T12:00Z")
    assert (np.diff(index.asi8) == np.diff(index.asi8)[0]).all()
    assert infer_timeframe(index) == "1h"
    per_bar = 0.4 / math.sqrt(periods_per_year("1h"))  # 0.4274% per hour
    assert np.std(log_returns(market)) == pytest.approx(per_bar, rel=0.15)


def test_both_regimes_sticky_and_volatile_is_wilder():
    for seed in range(3):
        market = synthetic_market(seed=seed)
        assert set(market.regime.unique()) == set(REGIMES)
        assert list(market.regime.cat.categories) == ["calm", "volatile"]
        codes = market.regime.cat.codes.to_numpy()
        n_runs = 1 + int(np.count_nonzero(np.diff(codes)))
        assert 100 < len(codes) / n_runs < 1000  # mean regime length: a few hundred bars
        r = pd.Series(log_returns(market), index=market.regime.index)
        ratio = r[market.regime == "volatile"].std() / r[market.regime == "calm"].std()
        assert 1.8 < ratio < 3.5  # the 2.5x multiplier, blurred by GARCH


def test_volatility_clusters_and_volume_follows_abs_return():
    market = synthetic_market(seed=5)
    r = pd.Series(log_returns(market))
    assert r.abs().autocorr(1) > 0.1  # clustering
    shuffled = pd.Series(np.random.default_rng(0).permutation(r.to_numpy()))
    assert abs(shuffled.abs().autocorr(1)) < 0.05  # ... which an iid series lacks
    assert np.corrcoef(r.abs(), market.candles["volume"])[0, 1] > 0.3


@pytest.mark.parametrize("planted_ic", [0.05, 0.1])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_true_ic_matches_the_requested_one(seed, planted_ic):
    market = synthetic_market(seed=seed, planted_ic=planted_ic)
    assert abs(market.true_ic(1) - planted_ic) < 0.02
    assert 0.0 < market.signal_strength < 1.0


def test_no_planted_signal_means_zero_ic_and_no_predictability():
    chance = []
    for seed in range(5):
        market = synthetic_market(seed=seed, planted_ic=0.0)
        assert market.true_ic(1) == 0.0 and market.true_ic(6) == 0.0
        assert market.signal_strength == 0.0
        assert (market.expected_return == 0.0).all()
        # the trend feature the planted signal would use predicts nothing here
        close = market.candles["close"]
        trend = np.log(close).diff(4)
        nxt = close.pct_change().shift(-1)
        chance.append(trend.corr(nxt))
    assert abs(np.mean(chance)) < 0.03


def test_true_ic_one_bar_by_hand():
    market = synthetic_market(seed=11, n_bars=3000, planted_ic=0.1)
    close = market.candles["close"]
    realised = (close.shift(-1) / close - 1).to_numpy()[:-1]
    expected = market.expected_return.to_numpy()[:-1]
    assert market.true_ic(1) == pytest.approx(np.corrcoef(expected, realised)[0, 1], abs=1e-12)
    assert market.true_ic(1) == pytest.approx(0.1, abs=1e-3)


def test_expected_return_is_the_documented_function_of_past_prices():
    """Recompute mu_t = k v_t tanh(z_t) from the closes alone (so it is causal)."""
    market = synthetic_market(seed=8, n_bars=2000, planted_ic=0.2)
    r = log_returns(market)
    k, lookback = market.signal_strength, 4
    var = (0.5 / math.sqrt(periods_per_year("4h"))) ** 2
    mu = np.empty_like(r)
    for t in range(len(r)):
        var = 0.94 * var + 0.06 * r[t] ** 2
        window = r[max(0, t - lookback + 1) : t + 1].sum()
        mu[t] = k * math.sqrt(var) * math.tanh(window / (math.sqrt(var) * math.sqrt(lookback)))
    np.testing.assert_allclose(market.expected_return.to_numpy(), mu, rtol=1e-8, atol=1e-12)
    # and it really is the predictable part of the next return
    residual = r[1:] - mu[:-1]
    assert abs(np.corrcoef(mu[:-1], residual)[0, 1]) < 0.05


def test_multi_bar_true_ic_projects_with_zero_noise():
    market = synthetic_market(seed=9, n_bars=2500, planted_ic=0.1)
    r = log_returns(market)
    mu = market.expected_return.to_numpy()
    k = market.signal_strength
    var = (0.5 / math.sqrt(periods_per_year("4h"))) ** 2
    v = np.empty_like(r)
    for t in range(len(r)):
        var = 0.94 * var + 0.06 * r[t] ** 2
        v[t] = math.sqrt(var)
    # mu_{t+1} as known at t: next return taken as mu_t
    window = pd.Series(r).rolling(3, min_periods=1).sum().to_numpy() + mu
    v_next = np.sqrt(0.94 * v**2 + 0.06 * mu**2)
    mu_next = k * v_next * np.tanh(window / (v_next * 2.0))
    expected = (mu + mu_next)[:-2]
    close = market.candles["close"].to_numpy()
    realised = close[2:] / close[:-2] - 1
    assert market.true_ic(2) == pytest.approx(np.corrcoef(expected, realised)[0, 1], abs=1e-12)
    for horizon in (3, 6, 12):
        assert 0.0 < market.true_ic(horizon) < 0.4


def test_eight_thousand_bars_are_fast():
    synthetic_market(seed=0, n_bars=200, planted_ic=0.1)  # warm-up
    began = time.perf_counter()
    synthetic_market(seed=12, n_bars=8000, planted_ic=0.1)
    assert time.perf_counter() - began < 0.5


def test_unreachable_planted_ic_is_a_config_error():
    with pytest.raises(ConfigError, match=r"planted_ic=0\.45 is not reachable .* raise n_bars$"):
        synthetic_market(seed=6, n_bars=100, planted_ic=0.45)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_bars": 99}, r"n_bars must be an int >= 100, got 99"),
        ({"n_bars": 1000.0}, r"n_bars must be an int >= 100, got 1000\.0"),
        ({"seed": -1}, r"seed must be an int >= 0, got -1"),
        ({"planted_ic": 0.5}, r"planted_ic must be a number in \[0\.0, 0\.5\), got 0\.5"),
        ({"planted_ic": -0.1}, r"planted_ic must be a number in \[0\.0, 0\.5\), got -0\.1"),
        ({"planted_ic": float("nan")}, r"planted_ic must be a number .* got nan"),
        ({"timeframe": "4 hours"}, r"timeframe must look like .* got '4 hours'"),
        ({"start": "someday"}, r"start must be a date like '2021-01-01', got 'someday'"),
        ({"annual_vol": 0.0}, r"annual_vol must be a number in \(0\.0, 5\.0\], got 0\.0"),
        ({"volatile_multiplier": 0.5}, r"volatile_multiplier must be a number in \[1\.0, 10\.0\]"),
        ({"mean_calm_bars": 0.5}, r"mean_calm_bars must be a number in \[1\.0, inf\)"),
        ({"garch_alpha": 0.2, "garch_beta": 0.8}, r"garch_alpha \+ garch_beta must be < 1"),
        ({"tail_df": 2.0}, r"tail_df must be a number in \(2\.0, inf\), got 2\.0"),
        ({"signal_lookback": 0}, r"signal_lookback must be an int >= 1, got 0"),
        ({"signal_lookback": 50, "n_bars": 400}, r"signal_lookback must be <= n_bars // 10 = 40"),
        ({"start_price": -1.0}, r"start_price must be a number in \(0\.0, 1000000000000\.0\)"),
    ],
)
def test_bad_parameters_raise_one_line_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        synthetic_market(**kwargs)


def test_true_ic_horizon_is_checked():
    market = synthetic_market(seed=0, n_bars=200, planted_ic=0.1)
    with pytest.raises(ConfigError, match=r"horizon must be an int >= 1, got 1\.5"):
        market.true_ic(1.5)
    with pytest.raises(ConfigError, match=r"horizon must be an int in \[1, 197\], got 0"):
        market.true_ic(0)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n_bars=st.integers(1500, 4000),
    planted_ic=st.floats(0.15, 0.35),
    timeframe=st.sampled_from(["15m", "1h", "4h", "1d"]),
)
def test_any_market_is_valid_and_hits_its_ic(seed, n_bars, planted_ic, timeframe):
    market = synthetic_market(seed=seed, n_bars=n_bars, planted_ic=planted_ic, timeframe=timeframe)
    checked, n_dropped = validate_candles(market.candles)
    assert n_dropped == 0 and len(checked) == n_bars
    assert np.isfinite(market.expected_return).all()
    # matched on the sample, unless chance alone exceeds it (documented fallback: then above it)
    ic = market.true_ic(1)
    assert ic == pytest.approx(planted_ic, abs=2e-4) or ic > planted_ic


# --- null markets of several kinds (drift, jumps, heavy tails) and the planted signal's causality


def test_default_market_is_bit_identical_to_the_one_before_drift_and_jumps():
    """Values pinned from the generator before annual_drift/jump_intensity existed: studies
    and caches keyed on a synthetic market stay valid."""
    flat = synthetic_market(seed=7, n_bars=600)
    assert flat.candles["close"].iloc[-1] == 593.2744862356263
    assert flat.candles["close"].sum() == 380371.12356379133
    planted = synthetic_market(seed=3, n_bars=1500, planted_ic=0.1)
    assert planted.candles["close"].iloc[-1] == 429.0932451079742
    assert planted.signal_strength == 0.23470797414702047
    assert (flat.jumps == 0).all() and flat.jumps.index.equals(flat.candles.index)


@pytest.mark.parametrize("drift", [0.6, -0.6])
def test_drift_adds_its_share_to_every_bar_and_has_its_sign(drift):
    flat = synthetic_market(seed=4, n_bars=3000)
    drifting = synthetic_market(seed=4, n_bars=3000, annual_drift=drift)
    per_bar = drift / periods_per_year("4h")
    np.testing.assert_allclose(log_returns(drifting) - log_returns(flat), per_bar, atol=1e-12)
    assert np.sign(log_returns(drifting).mean() - log_returns(flat).mean()) == np.sign(drift)
    assert (drifting.expected_return == 0.0).all() and drifting.true_ic(1) == 0.0
    # a strong drift shows in the price path itself over many seeds
    ends = [
        math.log(
            synthetic_market(seed=s, n_bars=3000, annual_drift=5 * drift).candles.close.iloc[-1]
        )
        for s in range(8)
    ]
    assert np.sign(np.mean(ends) - math.log(1000.0)) == np.sign(drift)


def test_jump_counts_follow_the_intensity_and_only_jump_bars_move():
    years = 8766 / periods_per_year("4h")
    counts = []
    for seed in range(5):
        flat = synthetic_market(seed=seed, n_bars=8766)
        jumpy = synthetic_market(seed=seed, n_bars=8766, jump_intensity=12.0, jump_scale=0.08)
        assert jumpy.jumps is not None and jumpy.jumps.index.equals(jumpy.candles.index)
        counts.append(int(jumpy.jumps.sum()))
        moved = ~np.isclose(log_returns(jumpy), log_returns(flat), rtol=0.0, atol=1e-9)
        np.testing.assert_array_equal(moved, jumpy.jumps.to_numpy() > 0)
        size = np.abs(log_returns(jumpy) - log_returns(flat))[moved]
        assert 0.03 < np.median(size) < 0.09  # median |N(0, 0.08)| ~ 0.054
    expected = 12.0 * years * len(counts)  # ~240 jumps in all
    assert abs(sum(counts) - expected) < 4 * math.sqrt(expected)


def test_heavy_tails_show_in_the_kurtosis():
    def kurtosis(market: SyntheticMarket) -> float:
        r = pd.Series(log_returns(market))
        return float(r.kurt())

    heavy = np.mean([kurtosis(synthetic_market(seed=s, tail_df=3.0)) for s in range(3)])
    normal = np.mean([kurtosis(synthetic_market(seed=s, tail_df=math.inf)) for s in range(3)])
    assert heavy > normal + 2.0


@pytest.mark.parametrize(
    "options", [{}, {"annual_drift": 0.6, "jump_intensity": 12.0, "tail_df": 3.0}]
)
def test_no_lookahead_truncating_the_future_leaves_the_past_unchanged(options):
    """At a fixed planted strength, a market of 1,500 bars is the first 1,500 bars of the same
    seed's 4,000 (closes, volumes, regimes, jumps and the planted expected return)."""
    long = synthetic_market(seed=13, n_bars=4000, signal_strength=0.4, **options)
    short = synthetic_market(seed=13, n_bars=1500, signal_strength=0.4, **options)
    head = slice(0, 1500)
    for column in ("open", "close", "volume"):
        pd.testing.assert_series_equal(short.candles[column], long.candles[column].iloc[head])
    pd.testing.assert_series_equal(short.expected_return, long.expected_return.iloc[head])
    pd.testing.assert_series_equal(short.regime, long.regime.iloc[head])
    assert short.jumps is not None and long.jumps is not None
    pd.testing.assert_series_equal(short.jumps, long.jumps.iloc[head])
    assert long.signal_strength == 0.4 and 0.05 < long.true_ic(1) < 0.4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"annual_drift": 6.0}, r"annual_drift must be a number in \[-5\.0, 5\.0\], got 6\.0"),
        ({"jump_intensity": -1.0}, r"jump_intensity must be a number in \[0\.0, 2190\.0\]"),
        ({"jump_scale": 0.0}, r"jump_scale must be a number in \(0\.0, 1\.0\], got 0\.0"),
        ({"signal_strength": 1.0}, r"signal_strength must be a number in \[0\.0, 0\.95\]"),
        (
            {"signal_strength": 0.3, "planted_ic": 0.1},
            r"give planted_ic or signal_strength, not both",
        ),
    ],
)
def test_bad_market_kind_options_raise_one_line_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        synthetic_market(n_bars=200, **kwargs)
