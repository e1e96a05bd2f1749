"""The scale-free signal and volatility sizing: causal, scale-free, and a rule that transfers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto_tune.backtest import (
    SIGNAL_MIN_PERIODS,
    realised_volatility,
    run_backtest,
    vol_target_leverage,
    zscore_signal,
)
from crypto_tune.config import StrategySettings
from crypto_tune.data import synthetic_market
from crypto_tune.evaluation import backtest_segment, rule_inputs
from crypto_tune.exceptions import ConfigError, DataError


def _noisy(seed: int, n: int, nan_share: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.normal(0.001, 0.01, n)
    values[rng.random(n) < nan_share] = np.nan
    return values


@settings(max_examples=40, deadline=None, database=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(2, 400),
    window=st.integers(2, 120),
    cut=st.floats(0.0, 1.0),
)
def test_zscore_is_causal_under_truncation(seed: int, n: int, window: int, cut: float) -> None:
    values = _noisy(seed, n)
    full = zscore_signal(values, window)
    k = max(1, int(cut * n))
    np.testing.assert_array_equal(zscore_signal(values[:k], window), full[:k])


@settings(max_examples=30, deadline=None, database=None)
@given(seed=st.integers(0, 2**16), scale=st.floats(1e-4, 1e4), shift=st.floats(-1.0, 1.0))
def test_zscore_is_scale_and_shift_free(seed: int, scale: float, shift: float) -> None:
    values = _noisy(seed, 300)
    base = zscore_signal(values, 60)
    moved = zscore_signal(values * scale + shift * 0.01, 60)
    np.testing.assert_array_equal(np.isnan(base), np.isnan(moved))
    np.testing.assert_allclose(moved, base, rtol=1e-6, atol=1e-6)


def test_zscore_warm_up_and_definition() -> None:
    values = _noisy(3, 400, nan_share=0.0)
    z = zscore_signal(values, 100)
    assert (
        np.isnan(z[: SIGNAL_MIN_PERIODS - 1]).all()
        and np.isfinite(z[SIGNAL_MIN_PERIODS - 1 :]).all()
    )
    t = 250
    window = values[t - 99 : t + 1]
    assert z[t] == pytest.approx((values[t] - window.mean()) / window.std(ddof=1), rel=1e-12)
    assert np.isnan(zscore_signal(np.full(80, 0.3), 20)).all()  # no variation: no view
    short = zscore_signal(values, 10)  # min_periods = window when the window is short
    assert np.isnan(short[:9]).all() and np.isfinite(short[9:]).all()


def test_zscore_history_never_crosses_a_model_boundary() -> None:
    first, second = _noisy(1, 200, 0.0), _noisy(2, 150, 0.0) * 10.0
    segments = np.r_[np.zeros(200), np.ones(150)]
    z = zscore_signal(np.r_[first, second], 90, segments=segments)
    np.testing.assert_array_equal(z[:200], zscore_signal(first, 90))
    np.testing.assert_array_equal(z[200:], zscore_signal(second, 90))


def test_zscore_rejects_bad_input() -> None:
    with pytest.raises(ConfigError, match="signal_window must be an int >= 2"):
        zscore_signal(np.zeros(5), 1)
    with pytest.raises(DataError, match="segments"):
        zscore_signal(np.zeros(5), 3, segments=np.zeros(4))


def test_realised_volatility_is_known_at_the_open() -> None:
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 300)))
    vol = realised_volatility(close, 30, periods_per_year=2190.0)
    assert np.isnan(vol[:31]).all() and np.isfinite(vol[31:]).all()
    i = 200
    logs = np.diff(np.log(close[:i]))[-30:]  # returns up to close[i - 1] only
    assert vol[i] == pytest.approx(np.std(logs, ddof=1) * np.sqrt(2190.0), rel=1e-10)
    changed = close.copy()
    changed[i:] *= 3.0  # the future (from bar i's close on) does not move vol[: i + 1]
    np.testing.assert_array_equal(
        realised_volatility(changed, 30, periods_per_year=2190.0)[: i + 1], vol[: i + 1]
    )
    lev = vol_target_leverage(
        np.array([np.nan, 0.0, 0.1, 0.4, 2.0]), target_vol=0.2, max_leverage=1.5
    )
    np.testing.assert_allclose(lev, [np.nan, 1.5, 1.5, 0.5, 0.1])


def _planted(seed: int = 11) -> tuple[pd.DataFrame, np.ndarray]:
    market = synthetic_market(seed=seed, n_bars=3000, planted_ic=0.1)
    rng = np.random.default_rng(seed)
    signal = market.expected_return.to_numpy()
    return market.candles, signal + rng.normal(0.0, signal.std(), signal.size)


def test_a_shrunk_refit_trades_exactly_like_the_tuned_model() -> None:
    """Refit predictions 10x smaller (a refit stopped early): the z rule makes the same trades;
    the raw threshold rule tuned on the larger scale stops trading."""
    candles, predictions = _planted()
    everywhere = np.ones(len(candles), dtype=bool)
    positions = np.arange(len(candles))
    zscore = StrategySettings(
        name="zscore", entry=1.5, exit=0.3, signal_window=180, stop_loss=0.08, sizing="vol_target"
    )
    tuned = backtest_segment(candles, positions, predictions, everywhere, zscore, timeframe="4h")
    shrunk = backtest_segment(
        candles, positions, predictions / 10.0 + 1e-4, everywhere, zscore, timeframe="4h"
    )
    assert len(tuned.trades) > 100
    pd.testing.assert_frame_equal(tuned.trades, shrunk.trades, rtol=1e-9)
    np.testing.assert_allclose(tuned.returns, shrunk.returns, rtol=0, atol=1e-12)

    threshold = float(np.nanquantile(np.abs(predictions), 0.8))
    raw = StrategySettings(name="threshold", threshold=threshold, sizing="fixed")
    raw_tuned = backtest_segment(candles, positions, predictions, everywhere, raw, timeframe="4h")
    raw_shrunk = backtest_segment(
        candles, positions, predictions / 10.0, everywhere, raw, timeframe="4h"
    )
    assert len(raw_tuned.trades) > 100 and len(raw_shrunk.trades) == 0


def test_the_planted_signal_pays_and_the_size_follows_volatility() -> None:
    candles, predictions = _planted()
    strategy = StrategySettings(
        name="zscore", entry=1.0, exit=0.0, sizing="vol_target", target_vol=0.2, max_leverage=3.0
    )
    vol = realised_volatility(candles["close"].to_numpy(), 180, periods_per_year=2190.0)
    signal, kwargs = rule_inputs(strategy, predictions, np.ones(len(candles), bool), vol)
    result = run_backtest(candles, pd.Series(signal, index=candles.index), timeframe="4h", **kwargs)
    assert result.final_equity > 1.0
    trades = result.trades
    entries = candles.index.get_indexer(trades["entry_time"])
    notional = trades["quantity"].to_numpy() * trades["entry_price"].to_numpy()
    equity_before = result.equity.to_numpy()[entries - 1]
    # quantity = min(max_leverage, target_vol / vol at the entry's open) * equity / price
    # (the entry bar's equity before costs; equal up to the entry costs of a reversal)
    np.testing.assert_allclose(notional / equity_before, kwargs["leverage"][entries], rtol=2e-3)


def test_rule_inputs_mask_after_the_transform() -> None:
    """Outside the regime the signal is NaN, but the z-score's history keeps every prediction."""
    values = _noisy(8, 300, 0.0)
    regime = np.arange(300) % 50 < 25
    strategy = StrategySettings(name="zscore", signal_window=60, sizing="fixed")
    signal, _ = rule_inputs(strategy, values, regime, None)
    full = zscore_signal(values, 60)
    np.testing.assert_array_equal(signal[regime], full[regime])
    assert np.isnan(signal[~regime]).all()
    with pytest.raises(ConfigError, match="vol_target"):
        rule_inputs(StrategySettings(sizing="vol_target"), values, regime, None)
