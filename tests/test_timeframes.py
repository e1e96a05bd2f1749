"""crypto_tune.timeframes: bar lengths and annualisation."""

from __future__ import annotations

import pandas as pd
import pytest

from crypto_tune.exceptions import ConfigError
from crypto_tune.timeframes import (
    bars_per_day,
    periods_per_year,
    timeframe_delta,
    timeframe_minutes,
)


@pytest.mark.parametrize(
    ("timeframe", "minutes"), [("15m", 15), ("1h", 60), ("4H", 240), (" 1d ", 1440), ("1w", 10080)]
)
def test_timeframe_minutes(timeframe: str, minutes: int) -> None:
    assert timeframe_minutes(timeframe) == minutes
    assert timeframe_delta(timeframe) == pd.Timedelta(minutes=minutes)


def test_periods_per_year_is_a_24_7_year() -> None:
    assert periods_per_year("4h") == 2190.0 and periods_per_year("1h") == 8760.0
    assert periods_per_year("1d") == 365.0


@pytest.mark.parametrize("timeframe", ["0h", "4x", "h", "1.5h", "-1h", ""])
def test_bad_timeframes_are_one_line_naming_the_value(timeframe: str) -> None:
    with pytest.raises(ConfigError, match=r"^timeframe must look like") as info:
        timeframe_minutes(timeframe)
    assert repr(timeframe) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("timeframe", "expected"), [("15m", 96), ("1h", 24), ("4h", 6), ("1d", 1), ("1w", 1)]
)
def test_bars_per_day_of_a_timeframe(timeframe: str, expected: int) -> None:
    assert bars_per_day(timeframe) == expected
