"""Checks of scalar options, in one message format: ``"<name> must be <requirement>, got <value>"``.

The constraint is data (a lower bound; an interval with open or closed ends), never a hand-rolled
``if``; each check returns the value as a plain ``int`` or ``float`` (a NumPy scalar included) or
raises :class:`~crypto_tune.exceptions.ConfigError`. Bools are refused where a number is asked.

>>> check_int("n_folds", 1, low=2)
Traceback (most recent call last):
...
crypto_tune.exceptions.ConfigError: n_folds must be an int >= 2, got 1
>>> check_real("fee", 0.1, low=0, high=0.1, closed="[)")
Traceback (most recent call last):
...
crypto_tune.exceptions.ConfigError: fee must be a number in [0, 0.1), got 0.1
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Literal, TypeAlias

import numpy as np

from crypto_tune.exceptions import ConfigError

Closed: TypeAlias = Literal["[]", "[)", "(]", "()"]


def shown(value: object) -> object:
    """``value`` as a message shows it: a NumPy scalar as its Python value (``0.5``, not
    ``np.float64(0.5)``)."""
    return value.item() if isinstance(value, np.generic) else value


def check_int(name: str, value: object, *, low: int) -> int:
    """``value`` as an ``int >= low`` (a Python or NumPy integer, never a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ConfigError(f"{name} must be an int >= {low}, got {shown(value)!r}")
    return int(value)


def check_real(
    name: str,
    value: object,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    closed: Closed = "[]",
    text: str | None = None,
    allow_nan: bool = False,
) -> float:
    """``value`` as a finite float in the interval from ``low`` to ``high`` (ends per ``closed``).

    ``text`` is the requirement the message states (default ``"a number in [low, high]"``);
    ``allow_nan`` lets NaN through unchecked (a missing statistic, not a bad option).
    """
    if isinstance(value, Real) and not isinstance(value, bool):
        number = float(value)
        if math.isnan(number) and allow_nan:
            return number
        above = number >= low if closed[0] == "[" else number > low
        below = number <= high if closed[1] == "]" else number < high
        if math.isfinite(number) and above and below:
            return number
    if text is None:
        text = f"a number in {closed[0]}{low}, {high}{closed[1]}"
    raise ConfigError(f"{name} must be {text}, got {shown(value)!r}")


__all__ = ["Closed", "check_int", "check_real", "shown"]
