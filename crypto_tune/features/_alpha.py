"""Alpha158-style causal features computed from one candle series.

Every column at row ``t`` uses bars ``<= t`` only (rolling windows end at ``t``), is a ratio or a
return (never a raw price), and is NaN during its warm-up and wherever a denominator vanishes
(no invented fill values, no ``inf``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from crypto_tune.exceptions import ConfigError, DataError

DEFAULT_WINDOWS: tuple[int, ...] = (5, 10, 20, 30, 60)
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
CANDLE_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")

# Log-returns over these short lags are always computed (windows add longer ones).
_LAGS: tuple[int, ...] = (1, 2, 3)
# Bar-level features (no window), in output order after the short-lag returns.
_BAR_FEATURES: tuple[str, ...] = ("range", "kmid", "kup", "klow", "ksft", "clv", "vchg")
# Per-window feature families, in output order; each yields the column "<family>_<window>".
_WINDOW_FAMILIES: tuple[str, ...] = (
    "vol",  # rolling std of 1-bar log-returns
    "volvol",  # std / mean of the rolling volatility itself (vol-of-vol)
    "range_mean",  # mean (high - low) / close
    "ma_gap",  # close / mean(close) - 1
    "max_gap",  # close / max(high) - 1
    "min_gap",  # close / min(low) - 1
    "rsv",  # position of close in the window's [min low, max high] range
    "up_share",  # share of bars with a positive return
    "rsi",  # sum of gains / sum of absolute moves
    "skew",  # skewness of 1-bar log-returns
    "kurt",  # excess kurtosis of 1-bar log-returns
    "corr_rv",  # correlation of the return with the log volume change
    "vratio",  # log(1 + volume / mean(volume)), finite at zero volume
    "vstd",  # std(volume) / mean(volume)
)
# Rolling sums/variances of returns below this are treated as zero (float residue, not signal).
_TINY = 1e-12


def _check_windows(windows: Sequence[int]) -> tuple[int, ...]:
    """Return ``windows`` as a tuple of ints, raising ConfigError when any is not an int >= 2."""
    if isinstance(windows, str | bytes) or not isinstance(windows, Sequence) or not windows:
        raise ConfigError(f"windows must be a non-empty sequence of ints >= 2, got {windows!r}")
    checked: list[int] = []
    for window in windows:
        if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 2:
            raise ConfigError(f"windows must contain only ints >= 2, got {window!r}")
        checked.append(int(window))
    if len(set(checked)) != len(checked):
        raise ConfigError(f"windows must not repeat a value, got {list(checked)}")
    return tuple(checked)


def _return_lags(windows: tuple[int, ...]) -> list[int]:
    return [*_LAGS, *(w for w in windows if w not in _LAGS)]


def check_candles(candles: pd.DataFrame, columns: Sequence[str] = CANDLE_COLUMNS) -> None:
    """Raise DataError unless ``candles`` is a time-sorted frame with positive numeric columns."""
    if not isinstance(candles, pd.DataFrame):
        raise DataError(f"candles must be a pandas DataFrame, got {type(candles).__name__}")
    missing = [c for c in columns if c not in candles.columns]
    if missing:
        raise DataError(
            f"candles are missing column(s) {missing}; have {[str(c) for c in candles.columns]}"
        )
    if not isinstance(candles.index, pd.DatetimeIndex):
        raise DataError(
            "candles must have a DatetimeIndex of bar open times, "
            f"got {type(candles.index).__name__}"
        )
    if not candles.index.is_monotonic_increasing or not candles.index.is_unique:
        raise DataError("candles index must be strictly increasing (sorted, no duplicate bars)")
    for column in columns:
        values = candles[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            raise DataError(f"candles column {column!r} must be numeric, got dtype {values.dtype}")
        arr = values.to_numpy(dtype=np.float64)
        bad = ~(arr >= 0) if column == "volume" else ~(arr > 0)
        bad &= ~np.isnan(arr)  # NaN is missing data and propagates; inf or <= 0 is corrupt
        if bad.any():
            row = int(np.argmax(bad))
            rule = ">= 0" if column == "volume" else "> 0"
            raise DataError(
                f"candles column {column!r} must be finite and {rule}: "
                f"row {row} ({candles.index[row]}) has {float(arr[row])!r}"
            )


def feature_names(*, windows: Sequence[int] = DEFAULT_WINDOWS) -> list[str]:
    """Column names of :func:`compute_features`, in order.

    Example: ``len(feature_names()) == 85`` for the default windows ``(5, 10, 20, 30, 60)``.
    """
    checked = _check_windows(windows)
    names = [f"ret_{lag}" for lag in _return_lags(checked)]
    names += list(_BAR_FEATURES)
    names += [f"{family}_{w}" for family in _WINDOW_FAMILIES for w in checked]
    return names


def _div(num: pd.Series, den: pd.Series, *, tiny: float = 0.0) -> pd.Series:
    """``num / den`` with NaN wherever ``|den| <= tiny`` (guards against zero and float residue)."""
    return num / den.where(den.abs() > tiny)


def _log(values: pd.Series) -> pd.Series:
    """Natural log, kept a Series (NumPy's ufunc on a Series returns one; its stubs say ndarray)."""
    return pd.Series(np.log(values), index=values.index)


def compute_features(
    candles: pd.DataFrame, *, windows: Sequence[int] = DEFAULT_WINDOWS
) -> pd.DataFrame:
    """Causal, stationary features of ``candles`` (float64, same index, see :func:`feature_names`).

    Row ``t`` uses bars ``<= t`` only, so ``compute_features(candles[:T])`` equals the first ``T``
    rows of ``compute_features(candles)``. Warm-up rows are NaN. Windows must be ints >= 2.
    """
    checked = _check_windows(windows)
    check_candles(candles)
    open_, high, low, close, volume = (
        candles[c].astype(np.float64) for c in ("open", "high", "low", "close", "volume")
    )
    log_close = _log(close)
    ret = log_close.diff()
    abs_ret = ret.abs()
    up = (ret > 0).astype(np.float64).where(ret.notna())
    gain = ret.clip(lower=0.0)
    # Log volume change; NaN next to a zero-volume bar (missing, not an invented value).
    log_volume = _log(volume.where(volume > 0))
    vchg = log_volume.diff()
    bar_range = (high - low) / close

    cols: dict[str, pd.Series] = {}
    for lag in _return_lags(checked):
        cols[f"ret_{lag}"] = log_close.diff(lag)
    body_top = pd.Series(np.maximum(open_, close), index=candles.index)
    body_bottom = pd.Series(np.minimum(open_, close), index=candles.index)
    cols["range"] = bar_range
    cols["kmid"] = (close - open_) / open_
    cols["kup"] = (high - body_top) / open_
    cols["klow"] = (body_bottom - low) / open_
    cols["ksft"] = (2.0 * close - high - low) / open_
    cols["clv"] = _div(close - low, high - low)
    cols["vchg"] = vchg

    per_window: dict[str, dict[int, pd.Series]] = {family: {} for family in _WINDOW_FAMILIES}
    for w in checked:
        vol = ret.rolling(w).std()
        per_window["vol"][w] = vol
        per_window["volvol"][w] = _div(vol.rolling(w).std(), vol.rolling(w).mean(), tiny=_TINY)
        per_window["range_mean"][w] = bar_range.rolling(w).mean()
        per_window["ma_gap"][w] = close / close.rolling(w).mean() - 1.0
        max_high = high.rolling(w).max()
        min_low = low.rolling(w).min()
        per_window["max_gap"][w] = close / max_high - 1.0
        per_window["min_gap"][w] = close / min_low - 1.0
        per_window["rsv"][w] = _div(close - min_low, max_high - min_low)
        per_window["up_share"][w] = up.rolling(w).mean()
        per_window["rsi"][w] = _div(
            gain.rolling(w).sum(), abs_ret.rolling(w).sum(), tiny=_TINY
        ).clip(0.0, 1.0)
        quiet = ~(vol > _TINY)  # a (near-)constant return window has no shape
        per_window["skew"][w] = ret.rolling(w).skew().mask(quiet)
        per_window["kurt"][w] = ret.rolling(w).kurt().mask(quiet)
        flat_volume = ~(vchg.rolling(w).std() > _TINY)
        per_window["corr_rv"][w] = ret.rolling(w).corr(vchg).mask(quiet | flat_volume)
        mean_volume = volume.rolling(w).mean()
        per_window["vratio"][w] = np.log1p(_div(volume, mean_volume))
        per_window["vstd"][w] = _div(volume.rolling(w).std(), mean_volume)
    for family in _WINDOW_FAMILIES:
        for w in checked:
            cols[f"{family}_{w}"] = per_window[family][w]

    frame = pd.DataFrame(cols, index=candles.index, dtype=np.float64)
    # Belt and braces: any inf left by an unguarded edge case becomes missing, never a value.
    values = frame.to_numpy()
    if not np.isfinite(values[~np.isnan(values)]).all():
        frame = frame.replace([np.inf, -np.inf], np.nan)
    return frame


def warm_up_bars(features: pd.DataFrame) -> int:
    """Bars before every feature that is ever defined is defined at once (the first bar with the
    most defined features when no bar has them all); columns missing on every bar (e.g. the
    volume features of a market without volume) do not count: :func:`empty_features`.

    >>> warm_up_bars(pd.DataFrame({"a": [np.nan, 1.0, 2.0], "b": [np.nan] * 3}))
    1
    """
    defined = features.notna().to_numpy()
    if defined.size == 0:
        return 0
    counts = defined[:, defined.any(axis=0)].sum(axis=1)
    return int(np.argmax(counts == counts.max()))


def empty_features(features: pd.DataFrame) -> list[str]:
    """Names of the feature columns missing (NaN) on every bar."""
    return [str(name) for name in features.columns[features.isna().all(axis=0).to_numpy()]]
