"""Timeframe strings ("1h", "4h", "1d", "15m") as pandas offsets and annualisation factors."""

from __future__ import annotations

import re

import pandas as pd

from crypto_tune.exceptions import ConfigError

_PATTERN = re.compile(r"^(\d+)(m|h|d|w)$")
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 1440, "w": 10080}
MINUTES_PER_YEAR = 365 * 24 * 60  # crypto trades 24/7


def timeframe_minutes(timeframe: str) -> int:
    """Minutes in one bar of ``timeframe``; e.g. ``timeframe_minutes("4h") == 240``."""
    match = _PATTERN.match(str(timeframe).strip().lower())
    if match is None or int(match.group(1)) <= 0:
        raise ConfigError(f"timeframe must look like '15m', '1h', '4h' or '1d', got {timeframe!r}")
    return int(match.group(1)) * _UNIT_MINUTES[match.group(2)]


def timeframe_delta(timeframe: str) -> pd.Timedelta:
    """One bar of ``timeframe`` as a :class:`pandas.Timedelta`."""
    return pd.Timedelta(minutes=timeframe_minutes(timeframe))


def bars_per_day(timeframe: str) -> int:
    """Bars in a 24/7 day, at least one (a weekly bar counts as one a day);
    ``bars_per_day("4h") == 6``."""
    return max(1, round(1440 / timeframe_minutes(timeframe)))


def periods_per_year(timeframe: str) -> float:
    """Bars per year in a 24/7 market; ``periods_per_year("4h") == 2190.0``."""
    return MINUTES_PER_YEAR / timeframe_minutes(timeframe)


__all__ = ["bars_per_day", "periods_per_year", "timeframe_delta", "timeframe_minutes"]
