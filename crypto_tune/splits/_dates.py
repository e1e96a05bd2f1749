"""A period's bounds as UTC nanoseconds, as every split reads its dates.

Dates are ISO strings or Timestamps read as UTC (naive means UTC). A start includes bars from that
instant on. An end at midnight (e.g. ``"2023-12-31"``) includes that whole day; an end with a time
of day includes bars up to and including that instant.
"""

from __future__ import annotations

import pandas as pd

from crypto_tune.exceptions import ConfigError

_DAY_NS = 86_400 * 10**9


def _utc_timestamp(name: str, value: object) -> pd.Timestamp:
    """``value`` as a UTC Timestamp (naive values are read as UTC); ``name`` is the setting
    named by the error when it is not a date."""
    try:
        ts = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be an ISO date or a Timestamp, got {value!r}") from exc
    if ts is pd.NaT or pd.isna(ts):
        raise ConfigError(f"{name} must be an ISO date or a Timestamp, got {value!r}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def start_ns(name: str, value: object) -> int:
    """A period's first instant (inclusive) in UTC nanoseconds.

    >>> start_ns("tune_start", "2024-01-01") == pd.Timestamp("2024-01-01", tz="UTC").value
    True
    """
    return int(_utc_timestamp(name, value).as_unit("ns").value)


def end_exclusive_ns(name: str, value: object) -> int:
    """A period's exclusive end in UTC nanoseconds: the next midnight for a date, just after the
    instant otherwise.

    >>> end_exclusive_ns("tune_end", "2023-12-31") == start_ns("x", "2024-01-01")
    True
    >>> end_exclusive_ns("tune_end", "2023-12-31 12:00") - start_ns("x", "2023-12-31 12:00")
    1
    """
    ts = _utc_timestamp(name, value)
    ns = int(ts.as_unit("ns").value)
    return ns + _DAY_NS if ts == ts.normalize() else ns + 1
