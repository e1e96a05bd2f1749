"""Funding at its 8-hour timestamps, borrow interest and the maintenance margin, by hand.

Every case trades a flat market (open = high = low = close = 100 unless a bar says otherwise),
without fee or slippage, so each figure below is the cost alone, computed on paper.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crypto_tune.backtest import run_backtest, simulate_returns
from crypto_tune.markets import funding_schedule

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_backtest import reference_backtest

NO_COSTS = {"fee": 0.0, "slippage": 0.0}


def flat(n: int, *, low: dict[int, float] | None = None, high: dict[int, float] | None = None):
    index = pd.date_range("2024-01-01", periods=n, freq="4h", tz="UTC")
    frame = pd.DataFrame({c: 100.0 for c in ("open", "high", "low", "close")}, index=index)
    for i, value in (low or {}).items():
        frame.iloc[i, frame.columns.get_loc("low")] = value
    for i, value in (high or {}).items():
        frame.iloc[i, frame.columns.get_loc("high")] = value
    return frame


def signal(index: pd.DatetimeIndex, values: list[float]) -> pd.Series:
    return pd.Series(values + [np.nan] * (len(index) - len(values)), index=index)


def reference(candles: pd.DataFrame, preds: pd.Series, **opts) -> list[float]:
    prices = [candles[c].to_numpy() for c in ("open", "high", "low", "close")]
    returns, _ = reference_backtest(*prices, preds.to_numpy(), **opts, bar_hours=4.0)
    return returns


@pytest.mark.parametrize(("side", "final"), [(1.0, 0.998), (-1.0, 1.002)])
def test_funding_is_paid_at_8_hour_timestamps_on_the_position_held_then(side, final):
    # 4h bars from 00:00: the bars closing at 08:00 and 16:00 (bars 1 and 3) carry the funding.
    candles = flat(6)
    funding = funding_schedule(candles.index, 240, rate=0.001)
    assert funding.tolist() == [0.0, 0.001, 0.0, 0.001, 0.0, 0.001]
    # signal at bars 0..2: held from bar 1's open to bar 4's open (closes of bars 1, 2, 3).
    preds = signal(candles.index, [side, side, side])
    opts = {**NO_COSTS, "threshold": 0.5, "allow_short": True, "funding_rate": funding}
    result = run_backtest(candles, preds, **opts)
    # quantity 0.01 at 100: notional 1; 0.1% of it at 08:00 and again at 16:00
    assert result.equity.iloc[-1] == pytest.approx(final, abs=1e-12)
    assert result.costs is not None
    assert result.costs["funding"].tolist() == pytest.approx(
        [0.0, side * 0.001, 0.0, side * 0.001, 0.0, 0.0], abs=1e-12
    )
    assert result.trades["pnl"].iloc[0] == pytest.approx(final - 1.0, abs=1e-12)
    np.testing.assert_allclose(result.returns, reference(candles, preds, **opts), atol=1e-12)
    fast, _ = simulate_returns(*(candles[c] for c in candles.columns), preds, **opts)
    np.testing.assert_array_equal(fast, result.returns.to_numpy())


def test_a_position_opened_and_closed_between_timestamps_pays_no_funding():
    candles = flat(6)
    funding = funding_schedule(candles.index, 240, rate=0.001)
    # held over bar 2's close only (12:00): no funding timestamp
    preds = signal(candles.index, [np.nan, 1.0])
    result = run_backtest(candles, preds, **NO_COSTS, threshold=0.5, funding_rate=funding)
    assert len(result.trades) == 1 and result.equity.iloc[-1] == 1.0


def test_borrow_interest_on_a_short_and_on_a_long_above_1x():
    candles = flat(5)
    per_bar = 0.0876 * 4 / (24 * 365)  # 8.76% a year over 4-hour bars: 0.004% a bar
    preds = signal(candles.index, [-1.0, -1.0, -1.0])
    opts = {**NO_COSTS, "threshold": 0.5, "borrow_rate": 0.0876}
    short = run_backtest(candles, preds, **opts)
    # borrows 0.01 coin worth 1.0 at every close it is held over (bars 1, 2, 3)
    assert short.equity.iloc[-1] == pytest.approx(1.0 - 3 * per_bar, abs=1e-12)
    assert short.costs is not None
    assert short.costs["borrow"].sum() == pytest.approx(3 * per_bar, abs=1e-12)

    long_preds = signal(candles.index, [1.0, 1.0, 1.0])
    at_1x = run_backtest(candles, long_preds, **opts, leverage=1.0)
    assert at_1x.equity.iloc[-1] == 1.0  # nothing borrowed
    at_2x = run_backtest(candles, long_preds, **opts, leverage=2.0)
    equity = 1.0
    for _ in range(3):  # owes notional 2.0 minus its equity, which the interest shrinks
        equity -= per_bar * (2.0 - equity)
    assert at_2x.equity.iloc[-1] == pytest.approx(equity, abs=1e-12)
    for result, lev in ((short, 1.0), (at_1x, 1.0), (at_2x, 2.0)):
        preds_used = preds if result is short else long_preds
        want = reference(candles, preds_used, **opts, leverage=lev)
        np.testing.assert_allclose(result.returns, want, atol=1e-12)


@pytest.mark.parametrize(
    ("low", "maintenance", "liquidated"),
    [
        (50.2, 0.0, False),  # margin 1 on notional 2: equity 0 at 50
        (50.2, 0.005, True),  # 0.5% maintenance: (100 - 50) / 0.995 = 50.2513
        (50.3, 0.005, False),
    ],
)
def test_a_long_is_liquidated_at_the_maintenance_margin(low, maintenance, liquidated):
    candles = flat(5, low={2: low})
    preds = signal(candles.index, [1.0, 1.0, 1.0])
    opts = {**NO_COSTS, "threshold": 0.5, "leverage": 2.0, "maintenance_margin": maintenance}
    result = run_backtest(candles, preds, **opts)
    reasons = result.trades["reason"].tolist()
    if liquidated:
        assert reasons == ["liquidation"] and result.equity.iloc[-1] == 0.0
        assert result.trades["exit_time"].iloc[0] == candles.index[2]
    else:
        assert reasons == ["signal"] and result.equity.iloc[-1] == pytest.approx(1.0)
    np.testing.assert_allclose(result.returns, reference(candles, preds, **opts), atol=1e-12)


def test_a_short_is_liquidated_at_the_maintenance_margin():
    # short 2x at 100: (100 + 50) / 1.005 = 149.2537
    for high, liquidated in ((149.2, False), (149.3, True)):
        candles = flat(5, high={2: high})
        preds = signal(candles.index, [-1.0, -1.0, -1.0])
        opts = {**NO_COSTS, "threshold": 0.5, "leverage": 2.0, "maintenance_margin": 0.005}
        result = run_backtest(candles, preds, **opts)
        assert (result.trades["reason"].iloc[0] == "liquidation") is liquidated
        np.testing.assert_allclose(result.returns, reference(candles, preds, **opts), atol=1e-12)


def test_funding_that_eats_the_margin_liquidates_at_the_maintenance_margin():
    candles = flat(4)
    funding = np.array([0.0, 0.3, 0.0, 0.0])  # 30% of notional 2 at bar 1's close: equity 0.4
    preds = signal(candles.index, [1.0, 1.0])
    opts = {**NO_COSTS, "threshold": 0.5, "leverage": 2.0, "funding_rate": funding}
    kept = run_backtest(candles, preds, **opts, maintenance_margin=0.1)  # 0.4 > 0.2: kept
    assert kept.trades["reason"].tolist() == ["signal"]
    gone = run_backtest(candles, preds, **opts, maintenance_margin=0.25)  # 0.4 <= 0.5: gone
    assert gone.trades["reason"].tolist() == ["liquidation"] and gone.equity.iloc[-1] == 0.0


def test_funding_schedule_for_other_bar_lengths_and_from_rates():
    hours = pd.date_range("2024-01-01", periods=17, freq="1h", tz="UTC")
    due = funding_schedule(hours, 60, rate=0.0001)
    assert np.flatnonzero(due).tolist() == [7, 15]  # bars closing at 08:00 and 16:00
    days = pd.date_range("2024-01-01", periods=2, freq="1D", tz="UTC")
    assert funding_schedule(days, 1440, rate=0.0001) == pytest.approx([0.0003, 0.0003])
    stamps = pd.to_datetime(["2024-01-01 08:00", "2024-01-01 16:00", "2024-01-05 00:00"], utc=True)
    rates = pd.Series([0.0002, -0.0001, 0.5], index=stamps)
    bars = pd.date_range("2024-01-01", periods=6, freq="4h", tz="UTC")
    assert funding_schedule(bars, 240, rates=rates) == pytest.approx(
        [0, 0.0002, 0, -0.0001, 0, 0]  # the rate after the last bar is not paid
    )


def test_a_per_bar_funding_array_of_the_wrong_length_is_refused():
    from crypto_tune.exceptions import DataError

    candles = flat(4)
    preds = signal(candles.index, [1.0])
    with pytest.raises(DataError, match=r"funding_rate has shape \(3,\), expected \(4,\)"):
        run_backtest(candles, preds, threshold=0.5, funding_rate=np.zeros(3))
