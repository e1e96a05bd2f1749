"""Causal volatility regimes: is the current volatility high relative to its own recent past?"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crypto_tune.exceptions import ConfigError, DataError

REGIMES: tuple[str, ...] = ("all", "calm", "volatile")
LABELS: tuple[str, ...] = ("calm", "volatile", "unknown")


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def volatility_regime(
    candles: pd.DataFrame,
    *,
    window: int = 30,
    lookback: int = 500,
    quantile: float = 0.5,
    min_periods: int | None = None,
) -> pd.Series:
    """Label each bar "calm", "volatile" or "unknown" (warm-up), as a categorical named "regime".

    ``vol[t]`` is the std of 1-bar log-returns over the ``window`` bars ending at ``t``; the bar is
    "volatile" when ``vol[t]`` is above the ``quantile`` of ``vol`` over the last ``lookback`` bars
    up to and including ``t`` (at least ``min_periods`` of them, default ``lookback``), else "calm".
    Uses bars ``<= t`` only.
    """
    window = _check_int("window", window, 2)
    lookback = _check_int("lookback", lookback, 1)
    if (
        isinstance(quantile, bool)
        or not isinstance(quantile, int | float | np.floating)
        or not 0.0 < float(quantile) < 1.0
    ):
        raise ConfigError(f"quantile must be a float in (0, 1), got {quantile!r}")
    if min_periods is None:
        min_periods = lookback
    elif _check_int("min_periods", min_periods, 1) > lookback:
        raise ConfigError(f"min_periods must be <= lookback={lookback}, got {min_periods!r}")
    if not isinstance(candles, pd.DataFrame) or "close" not in candles.columns:
        raise DataError("candles must be a DataFrame with a 'close' column")
    close = candles["close"].astype(np.float64)
    values = close.to_numpy()
    bad = ~(values > 0) & ~np.isnan(values)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"candles column 'close' must be > 0: row {row} has {float(values[row])!r}")

    vol = pd.Series(np.log(values), index=close.index).diff().rolling(window).std()
    threshold = vol.rolling(lookback, min_periods=int(min_periods)).quantile(float(quantile))
    known = vol.notna() & threshold.notna()
    labels = np.where(vol > threshold, "volatile", "calm")
    labels = np.where(known, labels, "unknown")
    return pd.Series(
        pd.Categorical(labels, categories=list(LABELS)), index=candles.index, name="regime"
    )


def regime_mask(labels: pd.Series, regime: str) -> pd.Series:
    """Boolean mask of the bars in ``regime`` ("all" selects every bar, "unknown" ones included)."""
    if regime not in REGIMES:
        raise ConfigError(f"regime must be one of {list(REGIMES)}, got {regime!r}")
    if not isinstance(labels, pd.Series):
        raise DataError(f"labels must be a pandas Series, got {type(labels).__name__}")
    if regime == "all":
        return pd.Series(True, index=labels.index, name=regime)
    return (labels.astype(object) == regime).astype(bool).rename(regime)
