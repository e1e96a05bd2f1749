"""Each backtest rule on a 3-8 bar frame with numbers worked out by hand."""

from __future__ import annotations

import dataclasses
import inspect
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crypto_tune.backtest import (
    TRADE_COLUMNS,
    BacktestParams,
    BacktestResult,
    run_backtest,
    simulate_returns,
)
from crypto_tune.exceptions import ConfigError, DataError

NAN = math.nan
FREE = {"fee": 0.0, "slippage": 0.0}  # no costs: the arithmetic stays readable
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def frame(rows: list[tuple[float, float, float, float]], freq: str = "4h") -> pd.DataFrame:
    """Candles from (open, high, low, close) rows, starting 2024-01-01 UTC."""
    index = pd.date_range("2024-01-01", periods=len(rows), freq=freq, tz="UTC")
    candles = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index)
    candles["volume"] = 1.0
    return candles


def preds(candles: pd.DataFrame, values: list[float]) -> pd.Series:
    return pd.Series(values, index=candles.index, dtype=float)


def flat(price: float) -> tuple[float, float, float, float]:
    return (price, price, price, price)


def trade_rows(result: BacktestResult) -> list[tuple]:
    """(entry bar, exit bar, side, entry, exit, reason) per trade; bars as positions, prices
    rounded to 1e-9."""
    index = result.returns.index
    return [
        (
            index.get_loc(t.entry_time),
            index.get_loc(t.exit_time),
            t.side,
            round(t.entry_price, 9),
            round(t.exit_price, 9),
            t.reason,
        )
        for t in result.trades.itertuples()
    ]


def approx(values, tol: float = 1e-12):
    return pytest.approx(list(values), abs=tol)


# Rule 1: signal timing -------------------------------------------------------------------------


def test_prediction_sets_the_next_bars_position_at_its_open():
    candles = frame(
        [
            flat(100),
            (101, 103, 100, 102),
            (104, 105, 103, 104),
            (102, 103, 101, 101),
            (99, 100, 98, 100),
        ]
    )
    result = run_backtest(
        candles, preds(candles, [0.01, 0.01, NAN, 0.01, -0.5]), threshold=0.005, **FREE
    )
    # long from bar 1's open (101); NaN at bar 2 -> out at bar 3's open (102); long again at
    # bar 4's open (99), closed at the last close (100). Bar 4's -0.5 is never executed.
    assert trade_rows(result) == [
        (1, 3, "long", 101.0, 102.0, "signal"),
        (4, 4, "long", 99.0, 100.0, "end"),
    ]
    assert result.returns.tolist() == approx([0, 1 / 101, 104 / 102 - 1, 102 / 104 - 1, 1 / 99])
    assert result.equity.tolist() == approx([1, 102 / 101, 104 / 101, 102 / 101, 10200 / 9999])
    assert result.positions.tolist() == approx([0, 1 / 101, 1 / 101, 0, 102 / 101 / 99])


def test_threshold_is_strict_and_shorts_need_allow_short():
    candles = frame([flat(100), (100, 101, 97, 98), (97, 98, 95, 96), flat(96)])
    values = [-0.02, 0.01, -0.02, 0.0]  # 0.01 == threshold: flat, not long
    shorted = run_backtest(candles, preds(candles, values), threshold=0.01, **FREE)
    assert trade_rows(shorted) == [
        (1, 2, "short", 100.0, 97.0, "signal"),
        (3, 3, "short", 96.0, 96.0, "end"),
    ]
    # short 0.01 from 100: close 98 -> 1.02; out at 97 -> 1.03; flat at bar 2 close.
    assert shorted.equity.tolist() == approx([1, 1.02, 1.03, 1.03])
    assert shorted.trades["pnl"].tolist() == approx([0.03, 0.0])
    long_only = run_backtest(
        candles, preds(candles, values), threshold=0.01, allow_short=False, **FREE
    )
    assert long_only.trades.empty
    assert long_only.returns.tolist() == [0.0, 0.0, 0.0, 0.0]


# Rule 2: quantity fixed at entry, equity marked every bar -------------------------------------


def test_quantity_is_fixed_at_entry_and_equity_compounds_to_the_trade_pnl():
    candles = frame([flat(100), (100, 110, 100, 110), (110, 121, 110, 121), (121, 121, 100, 100)])
    result = run_backtest(
        candles, preds(candles, [1, 1, 1, 1]), threshold=0, leverage=2, fee=0.001, slippage=0.0005
    )
    # qty = 2 * 1 / 100 = 0.02, never rebalanced; entry costs 0.0015 * 2 = 0.003.
    assert result.positions.tolist() == approx([0, 0.02, 0.02, 0.02])
    # 1 - 0.003 + 0.02 * 10 = 1.197; + 0.02 * 11 = 1.417; + 0.02 * -21 - 0.0015 * 0.02 * 100.
    assert result.equity.tolist() == approx([1, 1.197, 1.417, 0.994])
    assert result.returns.tolist() == approx([0, 0.197, 1.417 / 1.197 - 1, 0.994 / 1.417 - 1])
    (trade,) = result.trades.itertuples()
    assert (trade.quantity, trade.fees, trade.pnl) == pytest.approx((0.02, 0.006, -0.006))
    assert np.prod(1 + result.returns.to_numpy()) == pytest.approx(1 + trade.pnl, abs=1e-12)


def test_reversal_sizes_the_new_side_from_equity_after_the_exit():
    candles = frame([flat(100), (100, 110, 100, 110), (120, 120, 115, 115)])
    result = run_backtest(candles, preds(candles, [1, -1, 0]), threshold=0, fee=0.001, slippage=0.0)
    # long 0.01 @100 (cost 0.001); out @120: 1 - 0.001 + 0.2 - 0.0012 = 1.1978;
    # short 1.1978 / 120 @120 (cost 0.0011978), closed at 115 with cost 0.001 * qty * 115.
    short_qty = 1.1978 / 120
    final = 1.1978 - 0.0011978 + short_qty * 5 - 0.001 * short_qty * 115
    assert trade_rows(result) == [
        (1, 2, "long", 100.0, 120.0, "signal"),
        (2, 2, "short", 120.0, 115.0, "end"),
    ]
    assert result.trades["quantity"].tolist() == approx([0.01, short_qty])
    assert result.trades["pnl"].tolist() == approx([0.1978, final - 1.1978])
    assert result.equity.tolist() == approx([1, 1.099, final])


# Rule 3: costs and funding ---------------------------------------------------------------------


def test_fee_and_slippage_are_charged_per_side_on_traded_notional():
    candles = frame([flat(100), (100, 110, 100, 110), (110, 111, 109, 110)])
    result = run_backtest(candles, preds(candles, [1, NAN, NAN]), threshold=0)
    # defaults fee 0.0005 + slippage 0.0002: 0.0007 * 1.0 at entry, 0.0007 * 1.1 at exit @110.
    (trade,) = result.trades.itertuples()
    assert trade.fees == pytest.approx(0.00147, abs=1e-15)
    assert trade.pnl == pytest.approx(0.1 - 0.00147, abs=1e-15)
    assert result.equity.tolist() == approx([1, 1.0993, 1.09853])


@pytest.mark.parametrize(
    ("value", "timeframe", "freq", "per_bar"),
    [
        (1.0, None, "4h", 0.0001 / 2),  # 4h bars: half the 8-hour rate
        (-1.0, None, "4h", -0.0001 / 2),  # shorts receive a positive rate
        (1.0, "1h", "4h", 0.0001 / 8),  # the timeframe argument wins over the index
        (1.0, None, "1h", 0.0001 / 8),  # inferred from the index
    ],
)
def test_funding_is_paid_on_notional_at_each_close(value, timeframe, freq, per_bar):
    candles = frame([flat(100)] * 4, freq=freq)
    result = run_backtest(
        candles,
        preds(candles, [value] * 4),
        threshold=0,
        funding_rate=0.0001,
        timeframe=timeframe,
        **FREE,
    )
    # notional 0.01 * 100 = 1; funding at the closes of bars 1, 2 and 3 (the last, before "end").
    assert result.equity.tolist() == approx([1, 1 - per_bar, 1 - 2 * per_bar, 1 - 3 * per_bar])
    assert result.trades["pnl"].tolist() == approx([-3 * per_bar])
    assert result.trades["fees"].tolist() == [0.0]


# Rule 4: stop-loss and take-profit -------------------------------------------------------------

LONG_THEN_DIP = [flat(100), (100, 101, 99, 100), (99, 100, 94, 96), (97, 98, 96, 98)]


def test_stop_loss_exits_at_the_level_then_reenters_at_the_next_open():
    candles = frame(LONG_THEN_DIP)
    result = run_backtest(
        candles, preds(candles, [1, 1, 1, 1]), threshold=0, stop_loss=0.05, **FREE
    )
    # stop at 95 hit on bar 2 (low 94): flat for the rest of bar 2, long again at bar 3's open.
    assert trade_rows(result) == [
        (1, 2, "long", 100.0, 95.0, "stop_loss"),
        (3, 3, "long", 97.0, 98.0, "end"),
    ]
    assert result.positions.tolist() == approx([0, 0.01, 0, 0.95 / 97])
    assert result.equity.tolist() == approx([1, 1, 0.95, 0.95 * 98 / 97])
    no_stop = run_backtest(candles, preds(candles, [1, 1, 1, 1]), threshold=0, **FREE)
    assert trade_rows(no_stop) == [(1, 3, "long", 100.0, 98.0, "end")]


def test_stop_loss_gap_fills_at_the_open():
    candles = frame([flat(100), (100, 101, 99, 100), (93, 94, 90, 92), flat(92)])
    result = run_backtest(
        candles, preds(candles, [1, 1, 0, 0]), threshold=0, stop_loss=0.05, **FREE
    )
    assert trade_rows(result) == [(1, 2, "long", 100.0, 93.0, "stop_loss")]
    assert result.equity.tolist() == approx([1, 1, 0.93, 0.93])


def test_stop_counts_when_stop_and_target_touch_in_one_bar_even_on_the_entry_bar():
    candles = frame([flat(100), (100, 106, 94, 101), flat(101)])
    result = run_backtest(
        candles, preds(candles, [1, 0, 0]), threshold=0, stop_loss=0.05, take_profit=0.05, **FREE
    )
    assert trade_rows(result) == [(1, 1, "long", 100.0, 95.0, "stop_loss")]
    assert result.returns.tolist() == approx([0, -0.05, 0])


def test_take_profit_at_the_level_and_at_a_gapped_open():
    candles = frame([flat(100), (100, 105, 99, 104), (106, 111, 105, 108), (112, 113, 111, 112)])
    result = run_backtest(
        candles, preds(candles, [1, 1, 1, 1]), threshold=0, take_profit=0.1, **FREE
    )
    # target 110 reached on bar 2; re-entry at bar 3's open would target 123.2: held to the end.
    assert trade_rows(result) == [
        (1, 2, "long", 100.0, 110.0, "take_profit"),
        (3, 3, "long", 112.0, 112.0, "end"),
    ]
    gapped = frame([flat(100), (100, 105, 99, 104), (112, 113, 111, 112)])
    result = run_backtest(gapped, preds(gapped, [1, 1, 1]), threshold=0, take_profit=0.1, **FREE)
    assert trade_rows(result) == [(1, 2, "long", 100.0, 112.0, "take_profit")]
    assert result.equity.iloc[-1] == pytest.approx(1.12, abs=1e-12)


def test_short_stop_and_target_are_mirrored():
    candles = frame([flat(100), (100, 101, 99, 100), (101, 106, 100, 104), flat(104)])
    result = run_backtest(
        candles, preds(candles, [-1, -1, 0, 0]), threshold=0, stop_loss=0.05, **FREE
    )
    assert trade_rows(result) == [(1, 2, "short", 100.0, 105.0, "stop_loss")]
    assert result.equity.tolist() == approx([1, 1, 0.95, 0.95])
    dip = frame([flat(100), (100, 101, 99, 100), (99, 100, 89, 90), flat(90)])
    result = run_backtest(dip, preds(dip, [-1, -1, 0, 0]), threshold=0, take_profit=0.1, **FREE)
    assert trade_rows(result) == [(1, 2, "short", 100.0, 90.0, "take_profit")]
    assert result.equity.iloc[-1] == pytest.approx(1.1, abs=1e-12)


def test_signal_exit_at_a_gapped_open_is_a_signal_exit():
    # The signal closes the long at bar 2's open (93), below the 95 stop: same price, reason signal.
    candles = frame([flat(100), (100, 101, 99, 100), (93, 94, 92, 93)])
    result = run_backtest(candles, preds(candles, [1, 0, 0]), threshold=0, stop_loss=0.05, **FREE)
    assert trade_rows(result) == [(1, 2, "long", 100.0, 93.0, "signal")]


# Rule 5: liquidation ---------------------------------------------------------------------------


def test_liquidation_wipes_the_margin_and_nothing_trades_after():
    candles = frame([flat(100), (100, 101, 99, 100), (98, 99, 89, 95), flat(95), flat(96)])
    result = run_backtest(candles, preds(candles, [1] * 5), threshold=0, leverage=10, **FREE)
    # qty 0.1, margin 1: equity 1 + 0.1 * (P - 100) = 0 at P = 90.
    assert trade_rows(result) == [(1, 2, "long", 100.0, 90.0, "liquidation")]
    assert result.trades["pnl"].tolist() == [-1.0]
    assert result.equity.tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert result.returns.tolist() == [0.0, 0.0, -1.0, 0.0, 0.0]


def test_liquidation_price_accounts_for_entry_costs():
    candles = frame([flat(100), (100, 101, 90.05, 95), flat(95)])
    result = run_backtest(
        candles, preds(candles, [1, 1, 1]), threshold=0, leverage=10, fee=0.001, slippage=0.0
    )
    # entry cost 0.001 * 10 = 0.01 -> margin 0.99 -> liquidation at 100 - 0.99 / 0.1 = 90.1.
    assert trade_rows(result) == [(1, 1, "long", 100.0, 90.1, "liquidation")]
    assert result.trades["fees"].tolist() == approx([0.01])  # no exit fee: the margin is gone
    assert result.equity.tolist() == [1.0, 0.0, 0.0]


def test_stop_before_the_liquidation_price_fires_first_and_after_it_does_not():
    candles = frame([flat(100), (100, 101, 99, 100), (98, 99, 85, 95), flat(95)])
    p = preds(candles, [1, 1, 0, 0])
    stopped = run_backtest(candles, p, threshold=0, leverage=10, stop_loss=0.05, **FREE)
    assert trade_rows(stopped) == [(1, 2, "long", 100.0, 95.0, "stop_loss")]
    assert stopped.equity.iloc[-1] == pytest.approx(0.5, abs=1e-12)  # 1 + 0.1 * (95 - 100)
    late_stop = run_backtest(candles, p, threshold=0, leverage=10, stop_loss=0.2, **FREE)
    assert trade_rows(late_stop) == [(1, 2, "long", 100.0, 90.0, "liquidation")]


def test_gap_beyond_the_liquidation_price_leaves_equity_at_zero():
    candles = frame([flat(100), (100, 101, 99, 100), (130, 131, 129, 130), flat(130)])
    result = run_backtest(
        candles, preds(candles, [-1, -1, -1, -1]), threshold=0, leverage=5, **FREE
    )
    # short 0.05 @100, margin 1: liquidation at 120; the bar opens at 130.
    assert trade_rows(result) == [(1, 2, "short", 100.0, 130.0, "liquidation")]
    assert result.equity.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert (result.equity >= 0).all()


def test_funding_that_exhausts_the_margin_liquidates_at_the_close():
    candles = frame([flat(100), (100, 101, 94, 95), flat(95)], freq="8h")
    result = run_backtest(
        candles, preds(candles, [1, 1, 1]), threshold=0, leverage=10, funding_rate=0.08, **FREE
    )
    # at bar 1's close: 1 + 0.1 * (95 - 100) = 0.5, funding 0.08 * 0.1 * 95 = 0.76 -> wiped out.
    assert trade_rows(result) == [(1, 1, "long", 100.0, 95.0, "liquidation")]
    assert result.equity.tolist() == [1.0, 0.0, 0.0]


# Rule 6 and the two entry points ---------------------------------------------------------------


def test_open_position_is_closed_at_the_last_close_with_costs():
    candles = frame([flat(100), (100, 101, 99, 100), (100, 105, 100, 104)])
    result = run_backtest(candles, preds(candles, [1, 1, 1]), threshold=0, fee=0.001, slippage=0)
    (trade,) = result.trades.itertuples()
    assert (trade.reason, trade.exit_price, trade.exit_time) == ("end", 104.0, candles.index[-1])
    assert trade.fees == pytest.approx(0.001 + 0.001 * 1.04, abs=1e-15)
    assert result.positions.iloc[-1] == pytest.approx(0.01)  # held through the last bar
    assert result.equity.iloc[-1] == pytest.approx(1.04 - trade.fees, abs=1e-12)


def test_simulate_returns_matches_run_backtest():
    candles = frame([*LONG_THEN_DIP, (98, 104, 97, 103), (103, 103, 90, 91)])
    p = preds(candles, [1, -1, 1, NAN, -1, 1])
    options = {"threshold": 0.0, "stop_loss": 0.04, "leverage": 3.0, "funding_rate": 0.0003}
    result = run_backtest(candles, p, **options)
    returns, n_trades = simulate_returns(
        *(candles[c].to_numpy() for c in ("open", "high", "low", "close")), p.to_numpy(), **options
    )
    assert n_trades == len(result.trades) >= 3
    np.testing.assert_array_equal(returns, result.returns.to_numpy())


def test_initial_equity_scales_money_not_returns():
    candles = frame(LONG_THEN_DIP)
    p = preds(candles, [1, 1, 1, 1])
    one = run_backtest(candles, p, threshold=0, stop_loss=0.05)
    big = run_backtest(candles, p, threshold=0, stop_loss=0.05, initial_equity=1000.0)
    np.testing.assert_allclose(big.returns, one.returns, atol=1e-15)
    np.testing.assert_allclose(big.trades["pnl"], 1000 * one.trades["pnl"], rtol=1e-12)
    assert big.equity.iloc[0] == 1000.0


def test_empty_and_single_bar_frames():
    for rows in ([], [flat(100)]):
        candles = frame(rows)
        result = run_backtest(candles, preds(candles, [1.0] * len(rows)), threshold=0)
        assert result.trades.empty and list(result.trades.columns)[-1] == "reason"
        assert result.returns.tolist() == [0.0] * len(rows)


def test_real_eth_candles_conserve_money():
    path = DATA / "binance_ETHUSDT_4h.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    candles = pd.read_csv(path, index_col="timestamp", parse_dates=True).iloc[:3000]
    momentum = candles["close"].pct_change(6)
    result = run_backtest(
        candles, momentum, threshold=0.02, stop_loss=0.05, take_profit=0.1, leverage=2.0
    )
    assert len(result.trades) > 50
    net = result.trades["pnl"].sum()
    assert result.equity.iloc[-1] == pytest.approx(1 + net, abs=1e-9)
    assert np.prod(1 + result.returns.to_numpy()) == pytest.approx(1 + net, abs=1e-9)


# Validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"threshold": -0.1}, "threshold must be a number >= 0, got -0.1"),
        ({"threshold": NAN}, "threshold must be a number >= 0, got nan"),
        ({"stop_loss": 1.5}, r"stop_loss must be None or a number in \(0, 1\), got 1.5"),
        ({"stop_loss": 0}, r"stop_loss must be None or a number in \(0, 1\), got 0"),
        ({"take_profit": -0.2}, r"take_profit must be None or a number in \(0, 1\), got -0.2"),
        ({"leverage": 0}, r"leverage must be a number in \(0, 125\], got 0"),
        ({"leverage": 126}, r"leverage must be a number in \(0, 125\], got 126"),
        ({"fee": 0.1}, r"fee must be a number in \[0, 0.1\), got 0.1"),
        ({"slippage": -0.001}, r"slippage must be a number in \[0, 0.1\), got -0.001"),
        ({"allow_short": "yes"}, "allow_short must be a bool, got 'yes'"),
        ({"funding_rate": math.inf}, "funding_rate must be finite, got inf"),
        ({"initial_equity": 0}, "initial_equity must be a number > 0, got 0"),
        ({"timeframe": "4 hours"}, "timeframe must look like"),
    ],
)
def test_bad_options_raise_config_error(options, message):
    candles = frame(LONG_THEN_DIP)
    kwargs = {"threshold": 0.0, **options}
    with pytest.raises(ConfigError, match=message):
        run_backtest(candles, preds(candles, [1, 1, 1, 1]), **kwargs)


def test_bad_options_raise_in_simulate_returns_too():
    arrays = [np.full(3, 100.0)] * 5
    with pytest.raises(ConfigError, match=r"leverage must be a number in \(0, 125\], got 200"):
        simulate_returns(*arrays, threshold=0.0, leverage=200)
    with pytest.raises(ConfigError, match="bar_hours must be a number > 0, got 0"):
        simulate_returns(*arrays, threshold=0.0, bar_hours=0)
    with pytest.raises(DataError, match="high has 2 values but open_ has 3"):
        simulate_returns(arrays[0], np.full(2, 100.0), *arrays[2:], threshold=0.0)


def test_bad_data_raises_data_error():
    candles = frame(LONG_THEN_DIP)
    p = preds(candles, [1, 1, 1, 1])
    with pytest.raises(DataError, match="candles is missing column 'low'"):
        run_backtest(candles.drop(columns="low"), p, threshold=0)
    with pytest.raises(DataError, match="predictions has 3 rows but candles has 4"):
        run_backtest(candles, p.iloc[:3], threshold=0)
    shifted = p.copy()
    shifted.index = shifted.index + pd.Timedelta("1h")
    with pytest.raises(DataError, match="predictions index is not the candles index: row 0"):
        run_backtest(candles, shifted, threshold=0)
    holed = candles.copy()
    holed.iloc[2, holed.columns.get_loc("close")] = NAN
    with pytest.raises(
        DataError,
        match=r"candles row 2 \(2024-01-01 08:00:00\+00:00\): close is nan, must be finite",
    ):
        run_backtest(holed, p, threshold=0)
    inverted = candles.copy()
    inverted.iloc[1, inverted.columns.get_loc("high")] = 90.0
    with pytest.raises(DataError, match=r"row 1 .*: high 90.0 is below max\(open, close\) 100.0"):
        run_backtest(inverted, p, threshold=0)
    with pytest.raises(DataError, match="candles index must be strictly increasing, row 2"):
        run_backtest(
            candles.iloc[[0, 1, 1, 3]], preds(candles.iloc[[0, 1, 1, 3]], [1] * 4), threshold=0
        )


def test_trade_table_is_built_on_first_use_with_categorical_side_and_reason():
    candles = frame([flat(p) for p in (100, 101, 102, 101, 100, 99, 100, 102)])
    signal = preds(candles, [0.01, 0.01, -0.01, -0.01, 0.0, 0.01, 0.01, 0.0])
    result = run_backtest(candles, signal, threshold=0.005, **FREE)
    assert "trades" not in vars(result)  # nothing built until asked
    trades = result.trades
    assert list(trades.columns) == list(TRADE_COLUMNS)
    assert trades["side"].tolist() == ["long", "short", "long"]
    assert isinstance(trades["side"].dtype, pd.CategoricalDtype)
    assert set(trades["reason"].cat.categories) >= {"signal", "end"}
    assert trades["entry_time"].dtype == candles.index.dtype
    assert result.trades is trades and len(result.trade_log) == len(trades) == 3
    assert repr(result).startswith("BacktestResult(bars=8, trades=3,")


def test_backtest_params_are_the_engines_keyword_arguments_checked_once():
    names = [f.name for f in dataclasses.fields(BacktestParams)]
    api = inspect.signature(run_backtest).parameters
    lean = inspect.signature(simulate_returns).parameters
    assert names == [n for n in api if api[n].kind is inspect.Parameter.KEYWORD_ONLY][: len(names)]
    assert set(names) <= set(lean)
    with pytest.raises(ConfigError, match=r"^exit must be None or a number in \[0, threshold=1\]"):
        BacktestParams(threshold=1.0, exit=2.0)
    with pytest.raises(ConfigError, match=r"^stop_loss must be None or a number in \(0, 1\)"):
        BacktestParams(threshold=1.0, stop_loss=1.5)
    candles = frame([flat(p) for p in (100, 101, 102, 101)])
    signal = preds(candles, [1.0, 1.0, -1.0, 0.0])
    params = BacktestParams(threshold=0.5, fee=0.0, slippage=0.0)
    assert run_backtest(candles, signal, **params.kwargs()).returns.tolist() == approx(
        run_backtest(candles, signal, threshold=0.5, **FREE).returns
    )
