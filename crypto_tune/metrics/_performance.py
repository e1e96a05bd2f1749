"""Performance measures for per-bar simple returns of a 24/7 market.

Every function takes 1-D array-likes (NumPy arrays, lists or pandas Series; the index is
ignored) and returns a Python ``float``. Inputs must be finite: a NaN or infinite value raises
:class:`~crypto_tune.exceptions.DataError` naming its position. Degenerate input (no or too few
observations, zero dispersion) returns ``float("nan")``; each docstring states the rule.

Annualisation is 24/7: the caller passes ``periods_per_year`` (``2190.0`` for 4h bars, see
:func:`crypto_tune.timeframes.periods_per_year`). The risk-free rate is 0.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from crypto_tune._checks import check_int, check_real
from crypto_tune.exceptions import DataError

_NAN = float("nan")


def _as_vector(values: ArrayLike, name: str, *, allow_nan: bool = False) -> np.ndarray:
    """``values`` as a 1-D float array; DataError when not 1-D, not numeric or not finite."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric, got {type(values).__name__}: {exc}") from None
    if array.ndim != 1:
        raise DataError(f"{name} must be 1-D, got shape {array.shape}")
    bad = np.isinf(array) if allow_nan else ~np.isfinite(array)
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise DataError(f"{name} must be finite, got {array[position]} at position {position}")
    return array


def _check_periods_per_year(periods_per_year: float) -> float:
    """``periods_per_year`` as a float; ConfigError unless finite and > 0."""
    return check_real(
        "periods_per_year", periods_per_year, low=0, closed="()", text="a finite number > 0"
    )


def _std(values: np.ndarray, ddof: int) -> float:
    """Standard deviation, or NaN when it is zero or undefined (``len <= ddof``)."""
    if values.size <= ddof or np.ptp(values) == 0:
        return _NAN
    std = float(np.std(values, ddof=ddof))
    return std if std > 0 else _NAN  # underflow of tiny deviations counts as zero


def sharpe_ratio(returns: ArrayLike, *, periods_per_year: float, ddof: int = 1) -> float:
    """Annualised Sharpe ratio ``mean / std(ddof) * sqrt(periods_per_year)``, risk-free 0.

    ``returns``: shape ``(n_periods,)``. NaN when fewer than 2 returns or all returns equal
    (zero standard deviation).

    >>> round(sharpe_ratio([0.015, -0.005, 0.015, -0.005, 0.005], periods_per_year=4), 6)
    1.0
    """
    ppy = _check_periods_per_year(periods_per_year)
    ddof = check_int("ddof", ddof, low=0)
    r = _as_vector(returns, "returns")
    if r.size < 2:
        return _NAN
    std = _std(r, ddof)
    if math.isnan(std):
        return _NAN
    return float(r.mean() / std * math.sqrt(ppy))


def sortino_ratio(returns: ArrayLike, *, periods_per_year: float) -> float:
    """Annualised Sortino ratio ``mean / downside_deviation * sqrt(periods_per_year)``.

    The downside deviation is ``sqrt(mean(min(r, 0) ** 2))`` taken over ALL periods (target 0),
    not only the losing ones. ``returns``: shape ``(n_periods,)``. NaN when fewer than 2 returns
    or when no return is negative (downside deviation 0: the ratio is undefined, not infinite).
    """
    ppy = _check_periods_per_year(periods_per_year)
    r = _as_vector(returns, "returns")
    if r.size < 2:
        return _NAN
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    if downside == 0:
        return _NAN
    return float(r.mean() / downside * math.sqrt(ppy))


def _equity(r: np.ndarray) -> np.ndarray:
    """Compounded equity curve, starting at 1 before the first return: shape ``(n + 1,)``."""
    return np.concatenate(([1.0], np.cumprod(1.0 + r)))


def max_drawdown(returns: ArrayLike) -> float:
    """Largest peak-to-trough fall of the compounded equity, as a positive fraction.

    Equity starts at 1 before the first return and compounds ``prod(1 + r)``; ``0.25`` means
    -25% from the running peak, ``0.0`` means equity never fell below a previous peak. Returns
    below -1 can make equity negative and the drawdown exceed 1. ``returns``: shape
    ``(n_periods,)``. NaN when empty.
    """
    r = _as_vector(returns, "returns")
    if r.size == 0:
        return _NAN
    equity = _equity(r)
    peak = np.maximum.accumulate(equity)
    return float(np.max(1.0 - equity / peak))


def total_return(returns: ArrayLike) -> float:
    """Compounded return ``prod(1 + r) - 1``; shape ``(n_periods,)``. NaN when empty."""
    r = _as_vector(returns, "returns")
    if r.size == 0:
        return _NAN
    return float(np.prod(1.0 + r) - 1.0)


def cagr(returns: ArrayLike, *, periods_per_year: float) -> float:
    """Compound annual growth rate ``prod(1 + r) ** (periods_per_year / n) - 1``.

    ``returns``: shape ``(n_periods,)``; ``n / periods_per_year`` is the span in years. NaN when
    empty; ``-1.0`` when the equity ends at or below zero (everything lost).
    """
    ppy = _check_periods_per_year(periods_per_year)
    r = _as_vector(returns, "returns")
    if r.size == 0:
        return _NAN
    if np.any(r <= -1.0):  # equity touched or crossed zero: no logarithm
        growth = float(np.prod(1.0 + r))
        return -1.0 if growth <= 0 else float(growth ** (ppy / r.size) - 1.0)
    with np.errstate(over="ignore"):
        return float(np.expm1(np.sum(np.log1p(r)) * ppy / r.size))


def calmar_ratio(returns: ArrayLike, *, periods_per_year: float) -> float:
    """``cagr / max_drawdown`` over the whole series (not a rolling 36-month window).

    ``returns``: shape ``(n_periods,)``. NaN when empty or when the maximum drawdown is 0.
    """
    mdd = max_drawdown(returns)
    growth = cagr(returns, periods_per_year=periods_per_year)
    if math.isnan(mdd) or mdd == 0:
        return _NAN
    return growth / mdd


def _volatility(returns: ArrayLike, *, periods_per_year: float) -> float:
    """Annualised volatility ``std(ddof=1) * sqrt(periods_per_year)``; NaN under 2 returns."""
    ppy = _check_periods_per_year(periods_per_year)
    r = _as_vector(returns, "returns")
    if r.size < 2:
        return _NAN
    return float(np.std(r, ddof=1) * math.sqrt(ppy))


def win_rate(trade_pnls: ArrayLike) -> float:
    """Share of trades with ``pnl > 0`` (a zero pnl is not a win); NaN when there is no trade.

    ``trade_pnls``: shape ``(n_trades,)``, one profit or return per closed trade.
    """
    pnl = _as_vector(trade_pnls, "trade_pnls")
    if pnl.size == 0:
        return _NAN
    return float(np.mean(pnl > 0))


def profit_factor(trade_pnls: ArrayLike) -> float:
    """Gross profit / gross loss, ``sum(pnl > 0) / -sum(pnl < 0)``.

    ``trade_pnls``: shape ``(n_trades,)``. ``inf`` when some profit and no loss; NaN when there
    is no trade or neither profit nor loss (all pnls 0).
    """
    pnl = _as_vector(trade_pnls, "trade_pnls")
    if pnl.size == 0:
        return _NAN
    gross_profit = float(pnl[pnl > 0].sum())
    gross_loss = float(-pnl[pnl < 0].sum())
    if gross_loss == 0:
        return math.inf if gross_profit > 0 else _NAN
    return gross_profit / gross_loss


def exposure(positions: ArrayLike) -> float:
    """Share of bars with a non-zero position; ``positions``: shape ``(n_bars,)``. NaN if empty."""
    pos = _as_vector(positions, "positions")
    if pos.size == 0:
        return _NAN
    return float(np.mean(pos != 0))


def turnover(positions: ArrayLike, prices: ArrayLike | None = None) -> float:
    """Mean absolute change of position per bar, starting flat (position 0 before bar 0).

    ``positions``: shape ``(n_bars,)``, the position held over each bar. Without ``prices``,
    positions are fractions of equity (1.0 = fully long, -0.5 = half short) and the result is
    the traded fraction of equity per bar: ``[0, 1, 1, -1, 0]`` -> ``(0+1+0+2+1)/5 = 0.8``.
    With ``prices`` (shape ``(n_bars,)``, the fill price of each bar), positions are in units
    of the asset and the result is the traded notional per bar in quote currency,
    ``mean(|Δposition| * price)``. Entering from flat counts; the final exit does not. NaN if
    empty.
    """
    pos = _as_vector(positions, "positions")
    if pos.size == 0:
        return _NAN
    traded = np.abs(np.diff(pos, prepend=0.0))
    if prices is not None:
        px = _as_vector(prices, "prices")
        if px.shape != pos.shape:
            raise DataError(f"prices must have the length of positions ({pos.size}), got {px.size}")
        traded = traded * px
    return float(traded.mean())


def performance_summary(
    returns: ArrayLike,
    *,
    periods_per_year: float,
    trade_pnls: ArrayLike | None = None,
    positions: ArrayLike | None = None,
) -> dict[str, float]:
    """All performance measures of one backtest in one flat dict of floats.

    Keys: ``sharpe``, ``sortino``, ``calmar``, ``max_drawdown``, ``total_return``, ``cagr``,
    ``volatility`` (annualised), ``win_rate``, ``profit_factor``, ``n_trades``, ``exposure``,
    ``turnover``. Trade keys are NaN when ``trade_pnls`` is None (``n_trades`` is then NaN,
    not 0); ``exposure`` and ``turnover`` are NaN when ``positions`` is None. ``positions``
    must have the length of ``returns``; ``turnover`` is in fractions of equity per bar.
    """
    ppy = _check_periods_per_year(periods_per_year)
    r = _as_vector(returns, "returns")
    summary = {
        "sharpe": sharpe_ratio(r, periods_per_year=ppy),
        "sortino": sortino_ratio(r, periods_per_year=ppy),
        "calmar": calmar_ratio(r, periods_per_year=ppy),
        "max_drawdown": max_drawdown(r),
        "total_return": total_return(r),
        "cagr": cagr(r, periods_per_year=ppy),
        "volatility": _volatility(r, periods_per_year=ppy),
        "win_rate": _NAN,
        "profit_factor": _NAN,
        "n_trades": _NAN,
        "exposure": _NAN,
        "turnover": _NAN,
    }
    if trade_pnls is not None:
        pnl = _as_vector(trade_pnls, "trade_pnls")
        summary["win_rate"] = win_rate(pnl)
        summary["profit_factor"] = profit_factor(pnl)
        summary["n_trades"] = float(pnl.size)
    if positions is not None:
        pos = _as_vector(positions, "positions")
        if pos.shape != r.shape:
            raise DataError(f"positions must have the length of returns ({r.size}), got {pos.size}")
        summary["exposure"] = exposure(pos)
        summary["turnover"] = turnover(pos)
    return summary


__all__ = [
    "cagr",
    "calmar_ratio",
    "exposure",
    "max_drawdown",
    "performance_summary",
    "profit_factor",
    "sharpe_ratio",
    "sortino_ratio",
    "total_return",
    "turnover",
    "win_rate",
]
