"""Causal, scale-free trading signals and risk-based position sizes (pure NumPy/numba).

``zscore_signal`` standardises a model's predictions against their own trailing history, so a
rule tuned on one model's predictions transfers to another model of a different scale (the fold
models of Phase 2, the holdout refit, the walk-forward refits): ``z(a * p + b) == z(p)`` for any
``a > 0``. ``realised_volatility`` and ``vol_target_leverage`` size a position from the market's
recent volatility, known at the entry bar's open.

Warm-up rule (documented contract): the history of a signal never crosses a model boundary. Each
model's predictions are standardised on their own trailing window; ``segments`` marks where a new
model starts, and the first ``min_periods`` bars of every segment carry no signal (NaN: flat).
``min_periods`` defaults to ``min(window, SIGNAL_MIN_PERIODS)``: 50 bars, about 8 days of 4h
bars, estimate the scale to about 10% (the standard error of a standard deviation from ``n``
draws is ``1/sqrt(2n)``); later bars use up to ``window`` bars of history.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from crypto_tune.exceptions import ConfigError, DataError

SIGNAL_MIN_PERIODS = 50


@numba.njit(cache=True)
def _zscore_kernel(values, window, min_periods, starts):  # pragma: no cover - compiled
    n = values.shape[0]
    out = np.full(n, np.nan)
    segment_start = 0
    k = 0
    for t in range(n):
        while k < starts.shape[0] and starts[k] <= t:
            segment_start = starts[k]
            k += 1
        x = values[t]
        if not np.isfinite(x):
            continue
        lo = max(segment_start, t - window + 1)
        count = 0
        total = 0.0
        for j in range(lo, t + 1):
            v = values[j]
            if np.isfinite(v):
                count += 1
                total += v
        if count < min_periods or count < 2:
            continue
        mean = total / count
        ss = 0.0
        for j in range(lo, t + 1):
            v = values[j]
            if np.isfinite(v):
                ss += (v - mean) * (v - mean)
        std = math.sqrt(ss / (count - 1))
        if std > 0.0 and std > 1e-12 * abs(mean):
            out[t] = (x - mean) / std
    return out


def _int_at_least(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def zscore_signal(
    predictions: np.ndarray,
    window: int,
    *,
    min_periods: int | None = None,
    segments: np.ndarray | None = None,
) -> np.ndarray:
    """``(p[t] - mean) / std`` over the finite predictions of bars ``t - window + 1 .. t``.

    Strictly causal: bar ``t`` uses predictions up to ``t`` only (its own included).
    ``segments`` (same length, one id per model) restarts the history where the id changes.
    NaN where the prediction is NaN, where fewer than ``min_periods`` finite predictions of the
    current segment are available, or where they do not vary. Returns a new float64 array.
    """
    values = np.ascontiguousarray(predictions, dtype=np.float64)
    if values.ndim != 1:
        raise DataError(f"predictions must be 1-D, got shape {values.shape}")
    window = _int_at_least("signal_window", window, 2)
    low = min(window, SIGNAL_MIN_PERIODS) if min_periods is None else min_periods
    low = _int_at_least("min_periods", low, 2)
    if segments is None:
        starts = np.zeros(1, dtype=np.int64)
    else:
        ids = np.asarray(segments)
        if ids.shape != values.shape:
            raise DataError(f"segments has shape {ids.shape}, predictions {values.shape}")
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]).astype(np.int64)
    return _zscore_kernel(values, window, low, starts)


@numba.njit(cache=True)
def _volatility_kernel(close, window, scale):  # pragma: no cover - compiled
    n = close.shape[0]
    out = np.full(n, np.nan)
    for i in range(window + 1, n):
        total = 0.0
        for j in range(i - window, i):
            total += math.log(close[j] / close[j - 1])
        mean = total / window
        ss = 0.0
        for j in range(i - window, i):
            d = math.log(close[j] / close[j - 1]) - mean
            ss += d * d
        out[i] = math.sqrt(ss / (window - 1)) * scale
    return out


def realised_volatility(close: np.ndarray, window: int, *, periods_per_year: float) -> np.ndarray:
    """Annualised volatility known at each bar's OPEN: bar ``i`` uses closes up to ``i - 1``.

    The sample standard deviation (ddof 1) of the last ``window`` close-to-close log returns
    ending at ``close[i - 1]``, times ``sqrt(periods_per_year)``; NaN for the first
    ``window + 1`` bars (not enough history).
    """
    values = np.ascontiguousarray(close, dtype=np.float64)
    if values.ndim != 1:
        raise DataError(f"close must be 1-D, got shape {values.shape}")
    if not np.all(values > 0) or not np.all(np.isfinite(values)):
        raise DataError("close must be finite and > 0")
    window = _int_at_least("vol_window", window, 2)
    if not math.isfinite(periods_per_year) or periods_per_year <= 0:
        raise ConfigError(f"periods_per_year must be > 0, got {periods_per_year!r}")
    return _volatility_kernel(values, window, math.sqrt(periods_per_year))


def vol_target_leverage(
    volatility: np.ndarray, *, target_vol: float, max_leverage: float
) -> np.ndarray:
    """Per-bar leverage ``min(max_leverage, target_vol / volatility)``; NaN where the volatility
    is unknown (no entry), ``max_leverage`` where it is 0."""
    vol = np.asarray(volatility, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(vol > 0, target_vol / vol, np.inf)
    return np.where(np.isfinite(vol), np.minimum(raw, max_leverage), np.nan)


__all__ = [
    "SIGNAL_MIN_PERIODS",
    "realised_volatility",
    "vol_target_leverage",
    "zscore_signal",
]
