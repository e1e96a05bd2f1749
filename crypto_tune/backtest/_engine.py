"""The lean entry point of the engine for optimisation loops (:func:`simulate_returns`: arrays
in, per-bar returns and a trade count out); :func:`run_backtest` (``_result.py``) is the full one.
The rules are the kernel's (``_kernel.py``), the options' checks ``_params.py``'s."""

from __future__ import annotations

import math

import numpy as np

from crypto_tune.backtest._params import _number, check_params, check_rows
from crypto_tune.exceptions import DataError


def simulate_returns(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    predictions: np.ndarray,
    *,
    threshold: float,
    exit: float | None = None,
    stop_loss: float | np.ndarray | None = None,
    take_profit: float | np.ndarray | None = None,
    leverage: float | np.ndarray = 1.0,
    fee: float = 0.0005,
    slippage: float = 0.0002,
    allow_short: bool = True,
    funding_rate: float | np.ndarray = 0.0,
    borrow_rate: float = 0.0,
    maintenance_margin: float = 0.0,
    bar_hours: float = 4.0,
) -> tuple[np.ndarray, int]:
    """Per-bar simple returns of equity and the number of trades (those closed by the end too).

    The lean entry point for optimisation loops: 1-D float arrays in, no pandas, no trade list;
    the rules are those of :func:`run_backtest` (``predictions`` is the signal the entry
    ``threshold`` and the ``exit`` level apply to; ``leverage``, ``stop_loss`` and
    ``take_profit`` a number or one value per bar, read at an entry on that bar's open).
    ``funding_rate`` is a number per 8 hours, prorated by ``bar_hours``, or the rate due at each
    bar's close (an array, e.g. :func:`crypto_tune.markets.funding_schedule`); ``borrow_rate`` is
    per year on the borrowed value; ``maintenance_margin`` the liquidation level.

    >>> r, n = simulate_returns(o, h, l, c, pred, threshold=0.001, leverage=2.0)  # doctest: +SKIP
    """
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
        borrow_rate=borrow_rate,
        maintenance_margin=maintenance_margin,
    )
    hours = _number("bar_hours", bar_hours, low=0, high=math.inf, closed="()", text="a number > 0")
    arrays: list[np.ndarray] = []
    for name, values in (
        ("open_", open_),
        ("high", high),
        ("low", low),
        ("close", close),
        ("predictions", predictions),
    ):
        try:
            arr = np.ascontiguousarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            kind = type(values).__name__
            raise DataError(f"{name} must be a 1-D array of floats, got {kind}") from exc
        if arr.ndim != 1:
            raise DataError(f"{name} must be a 1-D array of floats, got shape {arr.shape}")
        if arrays and arr.shape[0] != arrays[0].shape[0]:
            raise DataError(f"{name} has {arr.shape[0]} values but open_ has {arrays[0].shape[0]}")
        arrays.append(arr)
    o, h, lo, c, pred = arrays
    row, problem = check_rows(o, h, lo, c, pred)
    if row >= 0:
        raise DataError(f"bar {row}: {problem}")
    returns, _, _, n_trades, _, _, _ = options.run(
        o, h, lo, c, pred, bar_hours=hours, records=False
    )
    return returns, int(n_trades)
