"""`run_backtest`: pandas in, :class:`BacktestResult` out, around the shared numba kernel."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crypto_tune.backtest._kernel import (
    COST_COLUMNS,
    REASONS,
    T_ENTRY,
    T_ENTRY_PRICE,
    T_EXIT,
    T_EXIT_PRICE,
    T_FEES,
    T_PNL,
    T_QUANTITY,
    T_REASON,
    T_SIDE,
)
from crypto_tune.backtest._params import check_params, check_rows
from crypto_tune.data import time_index
from crypto_tune.exceptions import DataError
from crypto_tune.timeframes import timeframe_minutes

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
SIDES: tuple[str, ...] = ("long", "short")
# Built once: a dtype made per call re-parses its categories (string arrays under pandas 3).
_SIDE_DTYPE = pd.CategoricalDtype(list(SIDES))
_REASON_DTYPE = pd.CategoricalDtype(list(REASONS))
# The costs frame's columns, built once: an Index made from strings per call was ~40 us of a
# ~0.5 ms run_backtest on 12,000 bars (pandas 3 stores them as Arrow strings).
_COST_INDEX = pd.Index(list(COST_COLUMNS))
# Candles of at most this many columns (OHLCV), numpy numbers only, are read in one to_numpy
# (see _price_arrays): a frame held in several blocks is copied whole, and from 6 such columns on
# that copy is slower than reading the four price columns one by one.
_WHOLE_READ_MAX_COLUMNS = 5
TRADE_COLUMNS: tuple[str, ...] = (
    "entry_time",
    "exit_time",
    "side",
    "entry_price",
    "exit_price",
    "quantity",
    "pnl",
    "fees",
    "reason",
)


@dataclass(frozen=True)
class TradeLog:
    """The kernel's trade tables (integer and float columns) and the bars they index."""

    index: pd.DatetimeIndex
    ints: np.ndarray
    floats: np.ndarray

    def __len__(self) -> int:
        return len(self.ints)

    def frame(self) -> pd.DataFrame:
        """One row per round trip, columns :data:`TRADE_COLUMNS` (side, reason: categoricals)."""
        ints, floats = self.ints, self.floats
        side = (ints[:, T_SIDE] != 1).astype(np.int8)
        return pd.DataFrame(
            {
                "entry_time": self.index.array.take(ints[:, T_ENTRY]),
                "exit_time": self.index.array.take(ints[:, T_EXIT]),
                "side": pd.Categorical.from_codes(side, dtype=_SIDE_DTYPE),
                "entry_price": floats[:, T_ENTRY_PRICE],
                "exit_price": floats[:, T_EXIT_PRICE],
                "quantity": floats[:, T_QUANTITY],
                "pnl": floats[:, T_PNL],
                "fees": floats[:, T_FEES],
                "reason": pd.Categorical.from_codes(ints[:, T_REASON], dtype=_REASON_DTYPE),
            },  # in TRADE_COLUMNS order; no `columns=` and no copy: twice as fast
            copy=False,
        )


@dataclass(frozen=True)
class BarLog:
    """The kernel's per-bar arrays and the bars they index: built into pandas objects on first
    use (a Series costs ~20 us, the costs frame ~10 us: most callers read the returns only)."""

    index: pd.DatetimeIndex
    returns: np.ndarray
    equity: np.ndarray
    positions: np.ndarray
    costs: np.ndarray


@dataclass(frozen=True, repr=False, eq=False)
class BacktestResult:
    """Outcome of :func:`run_backtest`, every series on the candles' index.

    ``returns``: simple per-bar returns of equity; ``equity``: equity at each bar's close;
    ``positions``: signed quantity held at each close (the last bar shows the position the
    "end" exit closes); ``trades``: one row per round trip, ``pnl`` net of fees and funding;
    ``signal``: what the rule traded on (set by callers that transform predictions);
    ``costs``: money paid on each bar, columns :data:`COST_COLUMNS` (trading = fee + slippage,
    funding (negative: received), borrow). Each is built on first use from the kernel's arrays
    (``bar_log``, ``trade_log``), without a copy, and kept.
    """

    bar_log: BarLog
    trade_log: TradeLog
    signal: pd.Series | None = None

    @functools.cached_property
    def returns(self) -> pd.Series:
        return pd.Series(self.bar_log.returns, index=self.bar_log.index, name="returns", copy=False)

    @functools.cached_property
    def equity(self) -> pd.Series:
        return pd.Series(self.bar_log.equity, index=self.bar_log.index, name="equity", copy=False)

    @functools.cached_property
    def positions(self) -> pd.Series:
        log = self.bar_log
        return pd.Series(log.positions, index=log.index, name="position", copy=False)

    @functools.cached_property
    def costs(self) -> pd.DataFrame:
        log = self.bar_log
        return pd.DataFrame(log.costs, index=log.index, columns=_COST_INDEX, copy=False)

    @functools.cached_property
    def trades(self) -> pd.DataFrame:
        """One row per round trip (:data:`TRADE_COLUMNS`); ``side`` and ``reason`` categorical."""
        return self.trade_log.frame()

    @property
    def final_equity(self) -> float:
        """Equity after the last bar (NaN when there are no bars)."""
        equity = self.bar_log.equity
        return float(equity[-1]) if len(equity) else math.nan

    def __repr__(self) -> str:
        return (
            f"BacktestResult(bars={len(self.bar_log.returns)}, trades={len(self.trade_log)}, "
            f"final_equity={self.final_equity:.6g})"
        )


def _bar_hours(index: pd.DatetimeIndex, timeframe: str | None) -> float:
    """Hours per bar from ``timeframe``, else from the index's most common spacing."""
    if timeframe is not None:
        return timeframe_minutes(timeframe) / 60.0
    if len(index) < 2:
        return 1.0  # no position is ever held over a bar close: funding cannot apply
    steps, counts = np.unique(np.diff(index.asi8), return_counts=True)
    step = pd.Timedelta(int(steps[np.argmax(counts)]), unit=index.unit)
    return step.total_seconds() / 3600.0


def _float_array(column: pd.Series) -> np.ndarray:
    """``column`` as contiguous float64, missing values NaN; a float64 column without a copy
    (``na_value`` alone copies and fills: ~15 us per 12,000-bar column)."""
    if column.dtype == np.float64:
        return np.ascontiguousarray(column.to_numpy())
    return np.ascontiguousarray(column.to_numpy(dtype=np.float64, na_value=np.nan))


def _price_arrays(candles: pd.DataFrame) -> list[np.ndarray]:
    """The :data:`PRICE_COLUMNS` of ``candles`` (checked present) as :func:`_float_array` makes
    them, the same float64 values either way. A narrow frame of numpy numbers only (loaded
    candles: OHLCV; an int or float32 column too) is read whole, once: ``to_numpy`` is a view of
    its block (or one float64 copy when its columns are held in several blocks or have other
    dtypes), where ``candles[column]`` builds a Series per column (~9 us each). Anything else
    (text or dates, whose ``to_numpy`` would box every value: ~1 ms on 12,000 bars; nullable
    columns, a repeated price label, wider frames) reads the columns one by one."""
    columns = candles.columns
    if len(columns) <= _WHOLE_READ_MAX_COLUMNS:
        locs = [columns.get_loc(name) for name in PRICE_COLUMNS]
        if all(isinstance(loc, int) for loc in locs) and all(
            isinstance(dtype, np.dtype) and dtype.kind in "fiu" for dtype in candles.dtypes
        ):
            values = candles.to_numpy()
            return [np.ascontiguousarray(values[:, loc], dtype=np.float64) for loc in locs]
    return [_float_array(candles[column]) for column in PRICE_COLUMNS]


def _check_frames(candles: pd.DataFrame, predictions: pd.Series) -> None:
    """Raise DataError unless candles and predictions have the documented shape."""
    if not isinstance(candles, pd.DataFrame):
        raise DataError(f"candles must be a pandas DataFrame, got {type(candles).__name__}")
    for column in PRICE_COLUMNS:
        if column not in candles.columns:
            raise DataError(
                f"candles is missing column {column!r} (columns: {list(candles.columns)})"
            )
    if not candles.columns.is_unique:  # a repeated price label: which column is the price?
        for column in PRICE_COLUMNS:
            if not isinstance(candles.columns.get_loc(column), int):
                raise DataError(f"candles has column {column!r} more than once")
    index = candles.index
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(f"candles index must be a DatetimeIndex, got {type(index).__name__}")
    if len(index) > 1 and not (index.is_monotonic_increasing and index.is_unique):
        steps = np.diff(index.asi8)
        row = int(np.argmax(steps <= 0)) + 1
        raise DataError(
            f"candles index must be strictly increasing, row {row} is {index[row]} "
            f"after {index[row - 1]}"
        )
    if not isinstance(predictions, pd.Series):
        raise DataError(f"predictions must be a pandas Series, got {type(predictions).__name__}")
    if len(predictions) != len(candles):
        raise DataError(f"predictions has {len(predictions)} rows but candles has {len(candles)}")
    if not predictions.index.equals(index):
        differs = np.flatnonzero(np.asarray(predictions.index != index))
        row = int(differs[0]) if len(differs) else 0
        raise DataError(
            f"predictions index is not the candles index: row {row} is "
            f"{predictions.index[row]!r}, candles has {index[row]!r}"
        )


def run_backtest(
    candles: pd.DataFrame,
    predictions: pd.Series,
    *,
    threshold: float,
    exit: float | None = None,
    stop_loss: float | np.ndarray | None = None,
    take_profit: float | np.ndarray | None = None,
    leverage: float | np.ndarray | pd.Series = 1.0,
    fee: float = 0.0005,
    slippage: float = 0.0002,
    allow_short: bool = True,
    funding_rate: float | np.ndarray | pd.Series = 0.0,
    borrow_rate: float = 0.0,
    maintenance_margin: float = 0.0,
    initial_equity: float = 1.0,
    timeframe: str | None = None,
) -> BacktestResult:
    """Trade ``predictions`` (forward-return forecasts) over ``candles``.

    ``predictions[t]`` (any signal: a forecast, or a z-score from
    :func:`crypto_tune.backtest.zscore_signal`) sets the side held from bar ``t + 1``'s open:
    long above ``threshold``, short below ``-threshold`` (when ``allow_short``), flat otherwise
    or on NaN; an open long is kept while the signal stays above ``exit`` (a short while below
    ``-exit``; ``exit`` in ``[0, threshold]``, None: ``threshold``). Quantity is
    ``leverage * equity / entry price``, fixed until the side changes; ``leverage`` is a number
    or one value per bar (a Series on the candles' index or an array; NaN: no entry that bar).
    ``stop_loss`` and ``take_profit`` are fractions of the entry price checked on each bar's
    high/low; an isolated margin equal to the equity at entry is liquidated when equity would
    reach the maintenance margin (``maintenance_margin`` of the notional; 0: equity 0).
    ``fee`` and ``slippage`` are charged per side on traded notional; ``funding_rate`` is paid on
    the notional at each close (longs pay a positive rate): a number per 8 hours prorated over
    the bars, or one rate per bar due at that bar's close (a Series on the candles' index or an
    array: :func:`crypto_tune.markets.funding_schedule` puts the rates at their 8-hour
    timestamps). ``borrow_rate`` (per year) is paid at each close on what a short borrows
    (``quantity * close``) or a long above 1x borrows (``quantity * close - equity``).
    ``timeframe`` (e.g. "4h") only prorates funding and borrow; None infers it from the index's
    most common spacing.

    >>> result = run_backtest(candles, preds, threshold=0.002, stop_loss=0.05)  # doctest: +SKIP
    >>> result.trades[["entry_time", "side", "pnl", "reason"]]  # doctest: +SKIP
    """
    if isinstance(leverage, pd.Series):
        leverage = leverage.to_numpy(dtype=np.float64, na_value=np.nan)
    elif not isinstance(leverage, int | float) and np.ndim(leverage) == 1:
        leverage = np.asarray(leverage, dtype=np.float64)
    if isinstance(funding_rate, pd.Series):
        funding_rate = funding_rate.to_numpy(dtype=np.float64, na_value=np.nan)
    options = check_params(
        threshold=threshold,
        exit=exit,
        stop_loss=stop_loss,
        take_profit=take_profit,
        leverage=leverage,
        fee=fee,
        slippage=slippage,
        allow_short=allow_short,
        funding_rate=funding_rate,
        initial_equity=initial_equity,
        borrow_rate=borrow_rate,
        maintenance_margin=maintenance_margin,
    )
    _check_frames(candles, predictions)
    hours = _bar_hours(time_index(candles), timeframe)
    index = time_index(candles)
    try:
        prices = _price_arrays(candles)
        pred = _float_array(predictions)
    except (TypeError, ValueError) as exc:
        raise DataError(f"candles and predictions must hold numbers: {exc}") from exc
    opens, highs, lows, closes = prices
    row, problem = check_rows(opens, highs, lows, closes, pred)
    if row >= 0:
        raise DataError(f"candles row {row} ({index[row]}): {problem}")

    returns, equity, positions, _, t_int, t_flt, bar_costs = options.run(
        opens, highs, lows, closes, pred, bar_hours=hours, records=True
    )
    # The kernel's arrays are this call's own: wrapped without a copy, when first read.
    return BacktestResult(
        bar_log=BarLog(index, returns, equity, positions, bar_costs),
        trade_log=TradeLog(index, t_int, t_flt),
    )
