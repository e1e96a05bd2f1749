"""run_backtest reads a narrow candles frame of numpy numbers in one ``to_numpy`` and any other
frame column by column (``_price_arrays``): the same results, bit for bit, and the same errors.
Its outputs are built on first use from the kernel's arrays."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from crypto_tune.backtest import run_backtest
from crypto_tune.backtest._result import (
    _WHOLE_READ_MAX_COLUMNS,
    PRICE_COLUMNS,
    _float_array,
    _price_arrays,
)
from crypto_tune.exceptions import DataError

OPTIONS = {
    "threshold": 0.004,
    "exit": 0.001,
    "stop_loss": 0.03,
    "take_profit": 0.06,
    "leverage": 3.0,
    "funding_rate": 0.0001,
    "borrow_rate": 0.05,
    "timeframe": "4h",
}


def market(n: int = 500, seed: int = 11) -> tuple[pd.DataFrame, pd.Series]:
    """A random walk (open, high, low, close, volume: one float64 block) and noisy forecasts
    with NaN (no view) on some bars."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))
    open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0.0, 0.002, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.01, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.01, n)))
    index = pd.date_range("2022-01-01", periods=n, freq="4h", tz="UTC")
    columns = {"open": open_, "high": high, "low": low, "close": close}
    candles = pd.DataFrame({**columns, "volume": rng.random(n)}, index=index)
    predictions = rng.normal(0.0, 0.008, n)
    predictions[rng.random(n) < 0.1] = np.nan
    return candles, pd.Series(predictions, index=index)


def one_block(candles: pd.DataFrame) -> pd.DataFrame:
    return candles


def from_2d_array(candles: pd.DataFrame) -> pd.DataFrame:
    # one block made from a row-major array: each column is a strided view
    return pd.DataFrame(candles.to_numpy().copy(), index=candles.index, columns=candles.columns)


def reordered(candles: pd.DataFrame) -> pd.DataFrame:
    return candles[["close", "volume", "low", "open", "high"]]


def several_blocks(candles: pd.DataFrame) -> pd.DataFrame:
    frame = candles[["open", "high", "low", "close"]].copy()
    frame["volume"] = candles["volume"].to_numpy().copy()  # a second block
    return frame


def prices_only(candles: pd.DataFrame) -> pd.DataFrame:
    return candles.drop(columns="volume")


def int_volume(candles: pd.DataFrame) -> pd.DataFrame:
    return candles.astype({"volume": np.int64})  # another numpy dtype: read whole, as float64


def float32_close(candles: pd.DataFrame) -> pd.DataFrame:
    return candles.astype({"close": np.float32})  # a price column not float64


def uint64_volume(candles: pd.DataFrame) -> pd.DataFrame:
    return candles.assign(volume=np.arange(len(candles), dtype=np.uint64) + 2**63)


def all_float32(candles: pd.DataFrame) -> pd.DataFrame:
    return candles.astype(np.float32)  # to_numpy keeps float32: each price converted


WHOLE_READ = [
    all_float32,
    one_block,
    from_2d_array,
    reordered,
    several_blocks,
    prices_only,
    int_volume,
    float32_close,
    uint64_volume,
]


def column_by_column(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a text column: its prices are read one column at a time (the reading
    ``run_backtest`` did for every frame before the whole-frame read)."""
    return frame.assign(note="x")


def assert_identical(got, want) -> None:
    for name in ("returns", "equity", "positions"):
        a, b = getattr(got, name), getattr(want, name)
        pd.testing.assert_series_equal(a, b, check_exact=True)
        assert a.to_numpy().tobytes() == b.to_numpy().tobytes()
    pd.testing.assert_frame_equal(got.costs, want.costs, check_exact=True)
    assert got.costs.to_numpy().tobytes() == want.costs.to_numpy().tobytes()
    pd.testing.assert_frame_equal(got.trades, want.trades, check_exact=True)
    assert len(got.trades) > 10


@pytest.mark.parametrize("make", WHOLE_READ, ids=lambda f: f.__name__)
def test_a_whole_frame_read_gives_the_same_arrays_and_results_bit_for_bit(make):
    candles, predictions = market()
    frame = make(candles)
    arrays = _price_arrays(frame)
    for column, array in zip(PRICE_COLUMNS, arrays, strict=True):
        want = _float_array(frame[column])
        assert array.dtype == np.float64 and array.flags.c_contiguous
        assert array.tobytes() == want.tobytes()
    got = run_backtest(frame, predictions, **OPTIONS)
    assert_identical(got, run_backtest(column_by_column(frame), predictions, **OPTIONS))


def test_a_one_block_float_frame_is_read_without_a_copy():
    candles, _ = market()
    block = candles.to_numpy()
    assert all(np.shares_memory(a, block) for a in _price_arrays(candles))


@pytest.mark.parametrize(
    "make",
    [
        lambda c: c.astype({"open": "Float64"}),  # a nullable float column
        lambda c: c.assign(volume=pd.array(np.arange(len(c)), dtype="Int64")),  # nullable ints
        lambda c: c.assign(volume=c["volume"] > 0.5),  # booleans
        lambda c: c.assign(volume=c.index),  # dates
        lambda c: c.assign(**{f"x{i}": 1.0 for i in range(_WHOLE_READ_MAX_COLUMNS)}),  # wide
        lambda c: c.assign(volume="BTCUSDT"),  # text
    ],
    ids=["nullable-open", "nullable-volume", "bool-volume", "date-volume", "wide", "text"],
)
def test_other_frames_are_read_column_by_column_as_before(make):
    candles, predictions = market()
    frame = make(candles)
    arrays = _price_arrays(frame)
    for column, array in zip(PRICE_COLUMNS, arrays, strict=True):
        assert array.tobytes() == _float_array(frame[column]).tobytes()
    got = run_backtest(frame, predictions, **OPTIONS)
    assert_identical(got, run_backtest(column_by_column(frame), predictions, **OPTIONS))


@pytest.mark.parametrize("make", WHOLE_READ, ids=lambda f: f.__name__)
def test_a_bad_price_gives_the_same_error_either_way(make):
    candles, predictions = market(n=20)
    candles.iloc[7, candles.columns.get_loc("close")] = np.nan
    candles.iloc[3, candles.columns.get_loc("low")] = candles["low"].iloc[3] * 0.5
    candles.iloc[3, candles.columns.get_loc("high")] = candles["low"].iloc[3] * 0.9
    frame = make(candles)
    messages = []
    for variant in (frame, column_by_column(frame)):
        with pytest.raises(DataError, match=r"^candles row 3 \(2022-01-01 12:00:00\+00:00\): high"):
            run_backtest(variant, predictions, **OPTIONS)
        with pytest.raises(DataError) as caught:
            run_backtest(variant.iloc[5:], predictions.iloc[5:], **OPTIONS)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert messages[0] == "candles row 2 (2022-01-02 04:00:00+00:00): close is nan, must be finite"


@pytest.mark.parametrize("repeated", ["close", "open"])
def test_a_repeated_price_label_is_one_data_error(repeated):
    """Two columns named ``close``: which is the price? One line naming it (it was pandas'
    AttributeError from deep inside)."""
    candles, predictions = market(n=20)
    frame = pd.concat([candles, candles[[repeated]]], axis=1)
    with pytest.raises(DataError, match=f"^candles has column '{repeated}' more than once$"):
        run_backtest(frame, predictions, **OPTIONS)
    with pytest.raises(DataError, match="more than once"):
        run_backtest(column_by_column(frame), predictions, **OPTIONS)


def test_the_outputs_are_built_on_first_use_from_the_kernels_arrays_without_a_copy():
    candles, predictions = market()
    result = run_backtest(candles, predictions, **OPTIONS)
    assert not {"returns", "equity", "positions", "costs", "trades"} & set(vars(result))
    log = result.bar_log
    for name, array in (
        ("returns", log.returns),
        ("equity", log.equity),
        ("positions", log.positions),
        ("costs", log.costs),
    ):
        built = getattr(result, name)
        assert built is getattr(result, name)  # built once, then kept
        assert np.shares_memory(built.to_numpy(), array)
        assert built.index is log.index
    assert result.returns.name == "returns" and result.positions.name == "position"
    assert list(result.costs.columns) == ["trading", "funding", "borrow"]
    assert result.final_equity == result.equity.iloc[-1]
    traded = dataclasses.replace(result, signal=predictions)  # how callers attach the signal
    assert_identical(traded, result)
    assert traded.signal is predictions and result.signal is None
