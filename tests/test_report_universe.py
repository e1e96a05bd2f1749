"""The universe page's time arithmetic (crypto_tune/report/_universe.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crypto_tune.report._universe import _trading, bars_per_day_of


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize(("freq", "expected"), [("1h", 24), ("4h", 6), ("1D", 1)])
def test_bars_per_day_whatever_the_time_unit(unit: str, freq: str, expected: int) -> None:
    index = pd.date_range("2024-01-01", periods=50, freq=freq, tz="UTC").as_unit(unit)
    assert bars_per_day_of(index) == expected


def test_turnover_per_day_is_a_30_day_mean_on_a_csv_index() -> None:
    """One unit of turnover a 4h bar is 6 a day, flat once 30 days are in the window (the page
    drew a line rising to 50 a day: the index read back in microseconds made 6,000 bars a day)."""
    index = pd.date_range("2024-01-01", periods=6 * 90, freq="4h", tz="UTC").as_unit("us")
    curves = pd.DataFrame(
        {"turnover": 1.0, "long": 0.5, "short": 0.5}, index=index, dtype=np.float64
    )
    trace = _trading(curves, bars_per_day_of(index)).data[0]
    settled = np.asarray(trace.y)[6 * 30 - 1 :]
    np.testing.assert_allclose(settled, 6.0)
