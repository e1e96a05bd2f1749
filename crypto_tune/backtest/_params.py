"""The engine's options, checked once: :class:`BacktestParams` (the typed options a strategy hands
the engine), :class:`KernelOptions` (the same, validated and shaped for the kernel) and the checks
of the candles and signal rows."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np

from crypto_tune._checks import Closed, check_real
from crypto_tune.backtest._kernel import HOURS_PER_YEAR, first_bad_row, simulate
from crypto_tune.exceptions import ConfigError, DataError


def _number(
    name: str, value: object, *, low: float, high: float, closed: Closed, text: str
) -> float:
    """``value`` as a float inside the interval ``text``, else a one-line ConfigError."""
    return check_real(name, value, low=low, high=high, closed=closed, text=text)


def check_params(
    *,
    threshold: float,
    stop_loss: float | np.ndarray | None,
    take_profit: float | np.ndarray | None,
    leverage: float | np.ndarray,
    fee: float,
    slippage: float,
    allow_short: bool,
    funding_rate: float | np.ndarray,
    initial_equity: float = 1.0,
    exit: float | None = None,
    borrow_rate: float = 0.0,
    maintenance_margin: float = 0.0,
) -> KernelOptions:
    """Validate the strategy options; return them as kernel arguments.

    Returns :class:`KernelOptions` with ``None`` levels as 0.0, ``exit=None`` as the threshold
    and ``cost_rate = fee + slippage``; an array ``leverage``, ``stop_loss``, ``take_profit`` or
    ``funding_rate`` is returned as given (see :func:`leverage_per_bar`, :func:`level_per_bar`
    and :func:`funding_per_bar`).
    """
    inf = math.inf
    thr = _number("threshold", threshold, low=0, high=inf, closed="[)", text="a number >= 0")
    if exit is None:
        exit_level = thr
    else:
        text = f"None or a number in [0, threshold={thr:g}]"
        exit_level = _number("exit", exit, low=0, high=thr, closed="[]", text=text)
    levels: list[float | np.ndarray] = []
    for name, value in (("stop_loss", stop_loss), ("take_profit", take_profit)):
        if value is None:
            levels.append(0.0)
        elif isinstance(value, np.ndarray):
            levels.append(value)
        else:
            text = "None or a number in (0, 1)"
            levels.append(_number(name, value, low=0, high=1, closed="()", text=text))
    if isinstance(leverage, np.ndarray):
        lev: float | np.ndarray = leverage
    else:
        lev = _number(
            "leverage", leverage, low=0, high=125, closed="(]", text="a number in (0, 125]"
        )
    costs = 0.0
    for name, value in (("fee", fee), ("slippage", slippage)):
        costs += _number(name, value, low=0, high=0.1, closed="[)", text="a number in [0, 0.1)")
    if not isinstance(allow_short, bool | np.bool_):
        shown = allow_short.item() if isinstance(allow_short, np.generic) else allow_short
        raise ConfigError(f"allow_short must be a bool, got {shown!r}")
    if isinstance(funding_rate, np.ndarray):
        rate: float | np.ndarray = funding_rate
    else:
        rate = _number("funding_rate", funding_rate, low=-inf, high=inf, closed="()", text="finite")
    equity = _number(
        "initial_equity", initial_equity, low=0, high=inf, closed="()", text="a number > 0"
    )
    borrow = _number("borrow_rate", borrow_rate, low=0, high=10, closed="[]", text="in [0, 10]")
    maintenance = _number(
        "maintenance_margin", maintenance_margin, low=0, high=1, closed="[)", text="in [0, 1)"
    )
    return KernelOptions(
        thr,
        exit_level,
        levels[0],
        levels[1],
        lev,
        costs,
        bool(allow_short),
        rate,
        equity,
        borrow,
        maintenance,
    )


class KernelOptions(NamedTuple):
    """The checked options in the kernel's terms (:func:`check_params`)."""

    threshold: float
    exit_level: float
    stop_loss: float | np.ndarray
    take_profit: float | np.ndarray
    leverage: float | np.ndarray
    cost_rate: float
    allow_short: bool
    funding_rate: float | np.ndarray  # per 8 h (a number) or due at each bar's close (an array)
    initial_equity: float
    borrow_rate: float  # per year (365 days)
    maintenance_margin: float

    def funding_and_borrow(self, n: int, bar_hours: float) -> tuple[float | np.ndarray, float]:
        """(funding as the kernel takes it, borrow interest per bar) for ``n`` bars of
        ``bar_hours``: a number is prorated (per 8 h, per year), an array is checked."""
        if isinstance(self.funding_rate, np.ndarray):
            funding: float | np.ndarray = funding_per_bar(self.funding_rate, n)
        else:
            funding = self.funding_rate * bar_hours / 8.0
        return funding, self.borrow_rate * bar_hours / HOURS_PER_YEAR

    def run(
        self,
        open_: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        signal: np.ndarray,
        *,
        bar_hours: float,
        records: bool,
    ) -> tuple:
        """The kernel (:func:`simulate`) on checked arrays with these options: the one place
        the options become its arguments (per-bar levels, leverage, funding and borrow)."""
        n = close.shape[0]
        funding, borrow = self.funding_and_borrow(n, bar_hours)
        return simulate(
            open_,
            high,
            low,
            close,
            signal,
            self.threshold,
            self.exit_level,
            level_per_bar("stop_loss", self.stop_loss, n),  # one level per entry bar, or a number
            level_per_bar("take_profit", self.take_profit, n),
            leverage_per_bar(self.leverage, n),
            self.cost_rate,
            self.allow_short,
            funding,
            borrow,
            self.maintenance_margin,
            self.initial_equity,
            records,
        )


@dataclass(frozen=True)
class BacktestParams:
    """The trading rule's options as :func:`run_backtest` and :func:`simulate_returns` take them
    (same names, checked once here by :func:`check_params`, one message format).

    The config builds it (``StrategySettings.backtest_params()``); ``leverage``, ``stop_loss``
    and ``take_profit`` may also be one value per bar (arrays, checked against the bars by the
    engine).
    """

    threshold: float
    exit: float | None = None
    stop_loss: float | np.ndarray | None = None
    take_profit: float | np.ndarray | None = None
    leverage: float | np.ndarray = 1.0
    fee: float = 0.0005
    slippage: float = 0.0002
    allow_short: bool = True
    funding_rate: float | np.ndarray = 0.0
    borrow_rate: float = 0.0
    maintenance_margin: float = 0.0

    def __post_init__(self) -> None:
        check_params(**self.kwargs())

    def kwargs(self) -> dict[str, Any]:
        """The options as keyword arguments of the engine's entry points."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def leverage_per_bar(leverage: float | np.ndarray, n: int) -> np.ndarray:
    """``leverage`` as one float64 per bar: a number is repeated; an array (length ``n``) must
    hold numbers in (0, 125] or NaN (no entry on that bar)."""
    if not isinstance(leverage, np.ndarray):
        return np.full(n, float(leverage))
    try:
        arr = np.ascontiguousarray(leverage, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"leverage must be a number or an array of floats: {exc}") from exc
    if arr.shape != (n,):
        raise DataError(f"leverage has shape {arr.shape}, expected ({n},): one value per bar")
    known = arr[~np.isnan(arr)]
    bad = (known <= 0) | (known > 125) | ~np.isfinite(known)
    if bad.any():
        value = float(known[np.argmax(bad)])
        raise ConfigError(f"leverage must be in (0, 125] or NaN on every bar, got {value!r}")
    return arr


def level_per_bar(name: str, level: float | np.ndarray, n: int) -> float | np.ndarray:
    """A stop-loss or take-profit level as the kernel takes it: a number as given; an array
    (length ``n``, the level of a trade entered on each bar's open) as float64 with NaN and 0
    meaning none, every other value in (0, 1)."""
    if not isinstance(level, np.ndarray):
        return level
    try:
        arr = np.ascontiguousarray(level, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be a number or an array of floats: {exc}") from exc
    if arr.shape != (n,):
        raise DataError(f"{name} has shape {arr.shape}, expected ({n},): one value per bar")
    arr = np.where(np.isnan(arr), 0.0, arr)
    bad = (arr < 0) | (arr >= 1) | ~np.isfinite(arr)
    if bad.any():
        raise ConfigError(f"{name} must be in (0, 1), 0 or NaN on every bar, got {arr[bad][0]!r}")
    return arr


def funding_per_bar(funding: np.ndarray, n: int) -> np.ndarray:
    """Funding rates due at each bar's close (length ``n``, finite; 0 where none is due)."""
    try:
        arr = np.ascontiguousarray(funding, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"funding_rate must be a number or an array of floats: {exc}") from exc
    if arr.shape != (n,):
        raise DataError(f"funding_rate has shape {arr.shape}, expected ({n},): one value per bar")
    if not np.isfinite(arr).all():
        row = int(np.argmax(~np.isfinite(arr)))
        raise DataError(f"funding_rate is {arr[row]!r} on bar {row}, must be finite")
    return arr


def check_rows(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    predictions: np.ndarray,
) -> tuple[int, str]:
    """``(row, problem)`` of the first malformed bar, ``(-1, "")`` when every bar is valid."""
    row, code = first_bad_row(open_, high, low, close, predictions)
    if row < 0:
        return -1, ""
    prices = {
        "open": float(open_[row]),
        "high": float(high[row]),
        "low": float(low[row]),
        "close": float(close[row]),
    }
    if code in (1, 2):
        for name, value in prices.items():
            if code == 1 and not math.isfinite(value):
                return int(row), f"{name} is {value!r}, must be finite"
            if code == 2 and value <= 0.0:
                return int(row), f"{name} is {value!r}, must be > 0"
    if code == 3:
        top = max(prices["open"], prices["close"])
        return int(row), f"high {prices['high']!r} is below max(open, close) {top!r}"
    if code == 4:
        bottom = min(prices["open"], prices["close"])
        return int(row), f"low {prices['low']!r} is above min(open, close) {bottom!r}"
    return int(row), f"prediction is {float(predictions[row])!r}, must be finite or NaN"
