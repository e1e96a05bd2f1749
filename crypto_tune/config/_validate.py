"""The checks every settings group makes: a value in range, one of the choices, a date;
each failure one :class:`~crypto_tune.exceptions.ConfigError` naming the key and the value."""

from __future__ import annotations

import typing
from typing import Any

import pandas as pd

from crypto_tune.exceptions import ConfigError

if typing.TYPE_CHECKING:
    pass


def _fail(key: str, requirement: str, value: Any) -> typing.NoReturn:
    raise ConfigError(f"{key} must be {requirement}, got {value!r}")


def _check_range(
    key: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    ok = True
    if low is not None:
        ok &= value > low if low_open else value >= low
    if high is not None:
        ok &= value < high if high_open else value <= high
    if not ok:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        _fail(key, f"in {left}{lo}, {hi}{right}", value)


def _check_choice(key: str, value: str, choices: typing.Iterable[str]) -> None:
    choices = tuple(choices)
    if value not in choices:
        _fail(key, f"one of {', '.join(choices)}", value)


def _check_date(key: str, value: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        _fail(key, "an ISO date like 2021-01-01", value)
    if pd.isna(stamp):
        _fail(key, "an ISO date like 2021-01-01", value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
