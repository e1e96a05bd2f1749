"""Sharpe, Sortino, drawdown, CAGR, Calmar and trade statistics on hand-computed returns."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.metrics import (
    cagr,
    calmar_ratio,
    exposure,
    max_drawdown,
    performance_summary,
    profit_factor,
    sharpe_ratio,
    sortino_ratio,
    total_return,
    turnover,
    win_rate,
)
from crypto_tune.timeframes import periods_per_year

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
PPY_4H = periods_per_year("4h")  # 2190 bars a year, 24/7

# mean 0.005; deviations (+.01, -.01, -.01, +.01, 0): sum of squares 4e-4
# -> std(ddof=1) 0.01, std(ddof=0) sqrt(0.8e-4); downside: two -0.005 -> sqrt(5e-5 / 5) = sqrt(1e-5)
RETURNS = [0.015, -0.005, -0.005, 0.015, 0.005]
# equity 1, 1.015, 1.009925, 1.004875375, 1.01994850563, 1.02504824815
GROWTH = 1.015**2 * 0.995**2 * 1.005
MDD = 1 - 0.995**2  # peak 1.015 after bar 0, trough after two -0.5% bars


def test_periods_per_year_for_4h_is_2190():
    assert PPY_4H == 2190.0


def test_sharpe_hand_computed():
    # per period 0.005 / 0.01 = 0.5; annualised 0.5 * sqrt(2190) = sqrt(547.5)
    assert sharpe_ratio(RETURNS, periods_per_year=PPY_4H) == pytest.approx(math.sqrt(547.5))
    assert sharpe_ratio(RETURNS, periods_per_year=PPY_4H) == pytest.approx(23.398717914, rel=1e-9)
    # ddof=0: 0.005 / sqrt(0.8e-4) = 0.5 * sqrt(5/4)
    assert sharpe_ratio(RETURNS, periods_per_year=PPY_4H, ddof=0) == pytest.approx(
        0.5 * math.sqrt(1.25) * math.sqrt(2190)
    )


def test_sortino_uses_downside_deviation_over_all_periods():
    # 0.005 / sqrt(1e-5) = sqrt(2.5) per period; annualised sqrt(2.5 * 2190) = sqrt(5475)
    assert sortino_ratio(RETURNS, periods_per_year=PPY_4H) == pytest.approx(math.sqrt(5475))
    # dividing by the std of the two losing periods only (0, undefined) or by their RMS over
    # the losing periods (0.005) would give 1.0 per period instead
    assert sortino_ratio(RETURNS, periods_per_year=1) == pytest.approx(math.sqrt(2.5))


def test_max_drawdown_total_return_and_cagr_hand_computed():
    assert max_drawdown(RETURNS) == pytest.approx(0.009975, abs=1e-15)
    assert total_return(RETURNS) == pytest.approx(0.025048248153125, abs=1e-15)
    assert pytest.approx(0.025048248153125, abs=1e-15) == GROWTH - 1
    # five bars are one year at 5 periods a year, two years at 2.5
    assert cagr(RETURNS, periods_per_year=5) == pytest.approx(GROWTH - 1)
    assert cagr(RETURNS, periods_per_year=2.5) == pytest.approx(math.sqrt(GROWTH) - 1)
    # 4h bars: 5 bars are 5/2190 of a year -> GROWTH ** 438
    assert cagr(RETURNS, periods_per_year=PPY_4H) == pytest.approx(GROWTH**438 - 1, rel=1e-9)


def test_calmar_hand_computed():
    assert calmar_ratio(RETURNS, periods_per_year=5) == pytest.approx(0.025048248153125 / 0.009975)
    assert calmar_ratio(RETURNS, periods_per_year=5) == pytest.approx(2.511102572, rel=1e-9)
    assert calmar_ratio(RETURNS, periods_per_year=PPY_4H) == pytest.approx(
        (GROWTH**438 - 1) / MDD, rel=1e-9
    )


def test_max_drawdown_conventions():
    # equity starts at 1 BEFORE the first return: a first-bar loss is a drawdown
    assert max_drawdown([-0.1]) == pytest.approx(0.1)
    # equity 1, 1.1, 0.55, 0.66: peak 1.1, trough 0.55 -> 0.5 (a positive fraction)
    assert max_drawdown([0.1, -0.5, 0.2]) == pytest.approx(0.5)
    # compounded, not summed: -10% then -10% is -19%, not -20%
    assert max_drawdown([-0.1, -0.1, 0.5]) == pytest.approx(0.19)
    assert max_drawdown([0.01, 0.0, 0.02]) == 0.0


def test_trade_statistics_hand_computed():
    pnls = [10.0, -5.0, 0.0, 20.0, -15.0]
    assert win_rate(pnls) == pytest.approx(0.4)  # a zero pnl is not a win
    assert profit_factor(pnls) == pytest.approx(1.5)  # 30 / 20
    assert profit_factor([5.0, 0.0]) == math.inf
    assert win_rate([0.0, 0.0]) == 0.0
    assert math.isnan(profit_factor([0.0, 0.0]))
    assert math.isnan(win_rate([]))
    assert math.isnan(profit_factor([]))


def test_exposure_and_turnover_hand_computed():
    positions = [0.0, 1.0, 1.0, -1.0, 0.0]
    assert exposure(positions) == pytest.approx(0.6)
    # starting flat: changes 0, 1, 0, 2, 1 -> 4 / 5 of equity per bar
    assert turnover(positions) == pytest.approx(0.8)
    # units x prices: 0*10 + 1*10 + 0*11 + 2*12 + 1*10 = 44 quote over 5 bars
    assert turnover(positions, [10.0, 10.0, 11.0, 12.0, 10.0]) == pytest.approx(8.8)
    assert turnover([0.5, 0.5]) == pytest.approx(0.25)  # entering from flat counts
    with pytest.raises(DataError, match="prices must have the length of positions"):
        turnover(positions, [1.0, 2.0])


@pytest.mark.parametrize(
    "returns",
    [[], [0.01], [0.02, 0.02, 0.02]],
)
def test_degenerate_ratios_are_nan(returns):
    assert math.isnan(sharpe_ratio(returns, periods_per_year=PPY_4H))
    if len(returns) < 2:
        assert math.isnan(sortino_ratio(returns, periods_per_year=PPY_4H))


def test_degenerate_rules():
    # no losing period: downside deviation 0 -> undefined, not infinite
    assert math.isnan(sortino_ratio([0.01, 0.02, 0.0], periods_per_year=PPY_4H))
    # no drawdown: Calmar undefined
    assert math.isnan(calmar_ratio([0.01, 0.02], periods_per_year=PPY_4H))
    for function in (max_drawdown, total_return, exposure, turnover, win_rate):
        assert math.isnan(function([]))
    assert math.isnan(cagr([], periods_per_year=PPY_4H))
    # everything lost: CAGR -100%, drawdown 100%
    assert cagr([0.5, -1.0, 0.2], periods_per_year=PPY_4H) == -1.0
    assert max_drawdown([0.5, -1.0, 0.2]) == pytest.approx(1.0)


def test_performance_summary_keys_and_values():
    summary = performance_summary(
        RETURNS,
        periods_per_year=PPY_4H,
        trade_pnls=[10.0, -5.0, 0.0, 20.0, -15.0],
        positions=[0.0, 1.0, 1.0, -1.0, 0.0],
    )
    assert list(summary) == [
        "sharpe",
        "sortino",
        "calmar",
        "max_drawdown",
        "total_return",
        "cagr",
        "volatility",
        "win_rate",
        "profit_factor",
        "n_trades",
        "exposure",
        "turnover",
    ]
    assert all(isinstance(value, float) for value in summary.values())
    assert summary["sharpe"] == pytest.approx(math.sqrt(547.5))
    assert summary["sortino"] == pytest.approx(math.sqrt(5475))
    assert summary["max_drawdown"] == pytest.approx(MDD)
    assert summary["volatility"] == pytest.approx(0.01 * math.sqrt(2190))
    assert summary["calmar"] == pytest.approx((GROWTH**438 - 1) / MDD, rel=1e-9)
    assert summary["n_trades"] == 5.0
    assert summary["win_rate"] == pytest.approx(0.4)
    assert summary["profit_factor"] == pytest.approx(1.5)
    assert summary["exposure"] == pytest.approx(0.6)
    assert summary["turnover"] == pytest.approx(0.8)


def test_performance_summary_without_trades_or_positions():
    summary = performance_summary(pd.Series(RETURNS), periods_per_year=PPY_4H)
    for key in ("win_rate", "profit_factor", "n_trades", "exposure", "turnover"):
        assert math.isnan(summary[key]), key
    assert summary["total_return"] == pytest.approx(GROWTH - 1)
    with pytest.raises(DataError, match=r"positions must have the length of returns \(5\), got 2"):
        performance_summary(RETURNS, periods_per_year=PPY_4H, positions=[0.0, 1.0])


@pytest.mark.parametrize("bad", [0, -2190.0, float("nan"), float("inf"), "4h", True, None])
def test_bad_periods_per_year_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="periods_per_year must be"):
        sharpe_ratio(RETURNS, periods_per_year=bad)
    with pytest.raises(ConfigError, match="periods_per_year must be"):
        performance_summary(RETURNS, periods_per_year=bad)


def test_bad_inputs_are_refused_on_entry():
    with pytest.raises(ConfigError, match=r"ddof must be an int >= 0, got -1"):
        sharpe_ratio(RETURNS, periods_per_year=PPY_4H, ddof=-1)
    with pytest.raises(DataError, match=r"returns must be finite, got nan at position 2"):
        sharpe_ratio([0.01, 0.02, np.nan], periods_per_year=PPY_4H)
    with pytest.raises(DataError, match=r"returns must be 1-D, got shape \(2, 2\)"):
        max_drawdown(np.zeros((2, 2)))
    with pytest.raises(DataError, match="trade_pnls must be finite"):
        win_rate([1.0, np.inf])


# --- properties ------------------------------------------------------------------------------

# returns on a basis-point grid in [-50%, +50%]: realistic, and free of subnormal noise
_returns = st.integers(2, 60).flatmap(
    lambda n: arrays(np.float64, n, elements=st.integers(-5000, 5000).map(lambda k: k / 1e4))
)


def _brute_force_drawdown(returns: np.ndarray) -> float:
    equity = np.concatenate(([1.0], np.cumprod(1.0 + returns)))
    return max(
        (1.0 - equity[j] / equity[i] for i in range(equity.size) for j in range(i, equity.size)),
        default=0.0,
    )


@settings(max_examples=60, deadline=None)
@given(returns=_returns)
def test_max_drawdown_matches_brute_force(returns):
    mdd = max_drawdown(returns)
    assert 0.0 <= mdd < 1.0
    assert mdd == pytest.approx(_brute_force_drawdown(returns), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(returns=_returns, scale=st.sampled_from([0.25, 0.5, 2.0, 4.0]))
def test_sharpe_is_scale_invariant(returns, scale):
    value = sharpe_ratio(returns, periods_per_year=PPY_4H)
    scaled = sharpe_ratio(returns * scale, periods_per_year=PPY_4H)
    if math.isnan(value):
        assert math.isnan(scaled)
    else:
        assert scaled == pytest.approx(value, rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(returns=_returns)
def test_cagr_over_one_year_is_the_total_return(returns):
    growth = total_return(returns)
    assert growth == pytest.approx(np.prod(1.0 + returns) - 1.0, abs=1e-12)
    assert cagr(returns, periods_per_year=returns.size) == pytest.approx(
        growth, rel=1e-9, abs=1e-12
    )


# --- real data -------------------------------------------------------------------------------


def test_buy_and_hold_eth_4h():
    path = DATA_DIR / "binance_ETHUSDT_4h.csv"
    if not path.exists():
        pytest.skip(f"{path} not present")
    close = pd.read_csv(path, usecols=["close"])["close"].to_numpy()
    returns = close[1:] / close[:-1] - 1.0
    assert total_return(returns) == pytest.approx(close[-1] / close[0] - 1.0, rel=1e-9)
    expected_mdd = float(np.max(1.0 - close / np.maximum.accumulate(close)))
    assert max_drawdown(returns) == pytest.approx(expected_mdd, abs=1e-9)
    assert 0.5 < max_drawdown(returns) < 1.0  # ETH fell by more than half at least once
    summary = performance_summary(returns, periods_per_year=PPY_4H)
    years = returns.size / 2190
    assert summary["cagr"] == pytest.approx((close[-1] / close[0]) ** (1 / years) - 1, rel=1e-6)
    assert summary["calmar"] == pytest.approx(summary["cagr"] / summary["max_drawdown"])
