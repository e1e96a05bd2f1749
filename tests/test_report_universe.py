"""The universe page's time arithmetic (crypto_tune/report/_universe.py, bars per day from
crypto_tune.timeframes)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crypto_tune.report._universe import _trading
from crypto_tune.timeframes import bars_per_day


def test_turnover_per_day_is_a_30_day_mean_on_a_csv_index() -> None:
    """One unit of turnover a 4h bar is 6 a day, flat once 30 days are in the window (the page
    drew a line rising to 50 a day: the index read back in microseconds made 6,000 bars a day)."""
    index = pd.date_range("2024-01-01", periods=6 * 90, freq="4h", tz="UTC").as_unit("us")
    curves = pd.DataFrame(
        {"turnover": 1.0, "long": 0.5, "short": 0.5}, index=index, dtype=np.float64
    )
    trace = _trading(curves, bars_per_day("4h")).data[0]
    settled = np.asarray(trace.y)[6 * 30 - 1 :]
    np.testing.assert_allclose(settled, 6.0)
