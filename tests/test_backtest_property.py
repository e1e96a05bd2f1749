"""Hypothesis: the numba engine equals the plain-Python reference, and money is conserved."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto_tune.backtest import run_backtest, simulate_returns

sys.path.insert(0, str(Path(__file__).resolve().parent))  # rootdir insertion may be off
from reference_backtest import reference_backtest

PROPERTY = settings(max_examples=60, deadline=None, database=None)


def make_market(seed: int, n_bars: int, nan_share: float) -> tuple[pd.DataFrame, pd.Series]:
    """A random walk with occasional gaps at the open, highs/lows around, noisy predictions."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, n_bars)))
    gaps = np.where(rng.random(n_bars) < 0.1, np.exp(rng.normal(0.0, 0.06, n_bars)), 1.0)
    open_ = np.r_[100.0, close[:-1]] * gaps * np.exp(rng.normal(0.0, 0.002, n_bars))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.015, n_bars)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.015, n_bars)))
    index = pd.date_range("2023-03-01", periods=n_bars, freq="4h", tz="UTC")
    candles = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": 1.0}, index=index
    )
    values = rng.normal(0.0, 0.01, n_bars)
    values[rng.random(n_bars) < nan_share] = np.nan
    return candles, pd.Series(values, index=index)


markets = st.builds(
    make_market,
    seed=st.integers(0, 2**32 - 1),
    n_bars=st.integers(1, 90),
    nan_share=st.sampled_from([0.0, 0.1, 0.5]),
)
options = st.fixed_dictionaries(
    {
        "threshold": st.sampled_from([0.0, 0.002, 0.01]),
        "stop_loss": st.none() | st.floats(0.005, 0.1),
        "take_profit": st.none() | st.floats(0.005, 0.2),
        "leverage": st.integers(1, 20).map(float) | st.floats(1.0, 20.0),
        "allow_short": st.booleans(),
        "fee": st.floats(0.0, 0.001),
        "slippage": st.floats(0.0, 0.001),
        "funding_rate": st.floats(-0.002, 0.002),
        "borrow_rate": st.just(0.0) | st.floats(0.0, 2.0),
        "maintenance_margin": st.sampled_from([0.0, 0.005]) | st.floats(0.0, 0.2),
    }
)


def arrays(candles: pd.DataFrame) -> list[np.ndarray]:
    return [candles[c].to_numpy() for c in ("open", "high", "low", "close")]


@PROPERTY
@given(market=markets, opts=options)
def test_engine_matches_reference(market, opts):
    candles, predictions = market
    result = run_backtest(candles, predictions, **opts)
    ref_returns, ref_trades = reference_backtest(
        *arrays(candles), predictions.to_numpy(), **opts, bar_hours=4.0
    )
    np.testing.assert_allclose(result.returns.to_numpy(), ref_returns, rtol=0, atol=1e-9)
    assert len(result.trades) == len(ref_trades)
    index = candles.index
    for got, want in zip(result.trades.itertuples(), ref_trades, strict=True):
        assert (got.entry_time, got.exit_time) == (
            index[want["entry_index"]],
            index[want["exit_index"]],
        )
        assert (got.side, got.reason) == (want["side"], want["reason"])
        for field in ("entry_price", "exit_price", "quantity"):
            assert getattr(got, field) == pytest.approx(want[field], rel=1e-9, abs=1e-9)
        for field in ("pnl", "fees"):
            assert getattr(got, field) == pytest.approx(want[field], rel=0, abs=1e-9)

    fast, n_trades = simulate_returns(*arrays(candles), predictions.to_numpy(), **opts)
    np.testing.assert_array_equal(fast, result.returns.to_numpy())
    assert n_trades == len(result.trades)


@PROPERTY
@given(market=markets, opts=options, initial=st.sampled_from([1.0, 250.0, 1e6]))
def test_money_is_conserved_and_equity_never_negative(market, opts, initial):
    candles, predictions = market
    result = run_backtest(candles, predictions, **opts, initial_equity=initial)
    equity = result.equity.to_numpy()
    assert (equity >= 0.0).all()
    compounded = initial * np.prod(1.0 + result.returns.to_numpy())
    assert compounded == pytest.approx(equity[-1], rel=1e-9, abs=1e-9 * initial)
    assert initial + result.trades["pnl"].sum() == pytest.approx(
        equity[-1], rel=1e-9, abs=1e-9 * initial
    )
    assert result.trades["fees"].ge(0.0).all()
    assert set(result.trades["reason"]) <= {
        "signal",
        "stop_loss",
        "take_profit",
        "liquidation",
        "end",
    }
    if (result.trades["reason"] == "liquidation").any():
        wiped = int(np.argmax(equity == 0.0))
        assert (equity[wiped:] == 0.0).all()
        assert (result.positions.to_numpy()[wiped:] == 0.0).all()
    # No position is held into the first bar; the last bar's position is closed ("end").
    assert result.positions.iloc[0] == 0.0
    if len(result.trades) and result.positions.iloc[-1] != 0.0:
        assert result.trades["reason"].iloc[-1] == "end"


@settings(max_examples=30, deadline=None, database=None)
@given(market=markets, opts=options)
def test_no_view_means_no_trades(market, opts):
    candles, _ = market
    nothing = pd.Series(math.nan, index=candles.index)
    result = run_backtest(candles, nothing, **{**opts, "threshold": 0.0})
    assert result.trades.empty
    assert (result.returns == 0.0).all()
    assert (result.equity == 1.0).all()
    assert (result.positions == 0.0).all()


@PROPERTY
@given(
    market=markets,
    opts=options,
    exit_share=st.sampled_from([None, 0.0, 0.5, 1.0]),
    sizing_seed=st.integers(0, 2**16),
)
def test_exit_level_and_per_bar_leverage_match_reference(market, opts, exit_share, sizing_seed):
    """The hysteresis exit and per-bar (volatility-target) sizes, on z-score-like signals."""
    candles, predictions = market
    signal = predictions * 200.0  # z-like units
    opts = {**opts, "threshold": opts["threshold"] * 100.0}
    exit_ = None if exit_share is None else exit_share * opts["threshold"]
    rng = np.random.default_rng(sizing_seed)
    leverage = rng.uniform(0.1, 4.0, len(candles))
    leverage[rng.random(len(candles)) < 0.1] = np.nan  # size unknown: no entry on that bar
    opts = {**opts, "leverage": leverage, "exit": exit_}
    result = run_backtest(candles, signal, **opts)
    ref_returns, ref_trades = reference_backtest(
        *arrays(candles), signal.to_numpy(), **opts, bar_hours=4.0
    )
    np.testing.assert_allclose(result.returns.to_numpy(), ref_returns, rtol=0, atol=1e-9)
    assert len(result.trades) == len(ref_trades)
    for got, want in zip(result.trades.itertuples(), ref_trades, strict=True):
        assert (got.side, got.reason) == (want["side"], want["reason"])
        assert got.quantity == pytest.approx(want["quantity"], rel=1e-9, abs=1e-9)
    fast, n_trades = simulate_returns(*arrays(candles), signal.to_numpy(), **opts)
    np.testing.assert_array_equal(fast, result.returns.to_numpy())
    assert n_trades == len(result.trades)


@PROPERTY
@given(market=markets, opts=options, every=st.sampled_from([1, 2, 3]), seed=st.integers(0, 99))
def test_funding_at_timestamps_borrow_and_costs_match_reference(market, opts, every, seed):
    """Funding due on some closes only (as at 8-hour timestamps), borrow interest and the
    maintenance margin: returns, trades and the money paid per bar equal the reference's."""
    candles, predictions = market
    rng = np.random.default_rng(seed)
    funding = np.where(np.arange(len(candles)) % every == 0, rng.normal(0, 0.002, len(candles)), 0)
    opts = {**opts, "funding_rate": funding}
    result = run_backtest(candles, predictions, **opts)
    paid: list[dict] = []
    ref_returns, ref_trades = reference_backtest(
        *arrays(candles), predictions.to_numpy(), **opts, bar_hours=4.0, costs=paid
    )
    np.testing.assert_allclose(result.returns.to_numpy(), ref_returns, rtol=0, atol=1e-9)
    assert [(t.reason, t.side) for t in result.trades.itertuples()] == [
        (t["reason"], t["side"]) for t in ref_trades
    ]
    assert result.costs is not None
    want = pd.DataFrame(paid, index=candles.index)[list(result.costs.columns)]
    np.testing.assert_allclose(result.costs.to_numpy(), want.to_numpy(), rtol=0, atol=1e-9)
    fast, n_trades = simulate_returns(*arrays(candles), predictions.to_numpy(), **opts)
    np.testing.assert_array_equal(fast, result.returns.to_numpy())
    assert n_trades == len(result.trades)
