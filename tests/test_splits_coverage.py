"""What a period's data cover of it (crypto_tune/splits/_coverage.py)."""

from __future__ import annotations

import pandas as pd

from crypto_tune.splits import coverage_text, period_coverage

BAR = pd.Timedelta("4h")


def _bars(start: str, end: str) -> pd.DatetimeIndex:
    return pd.date_range(start, end, freq="4h", tz="UTC")


def test_data_covering_the_period_are_not_short() -> None:
    full = period_coverage(_bars("2024-01-01", "2024-12-31 20:00"), "2024-01-01", "2024-12-31", BAR)
    assert full == {
        "first": "2024-01-01 00:00",
        "last": "2024-12-31 20:00",
        "bars": 366 * 6,
        "share": 1.0,
        "short": False,
    }
    assert coverage_text(full) == ""
    # one bar missing at either end is the calendar's rounding, not a short holdout
    nearly = period_coverage(
        _bars("2024-01-01 04:00", "2024-12-31 16:00"), "2024-01-01", "2024-12-31", BAR
    )
    assert not nearly["short"]


def test_a_gap_lowers_the_share_but_is_not_short() -> None:
    times = _bars("2024-01-01", "2024-01-31 20:00")
    gapped = period_coverage(times[:60].append(times[120:]), "2024-01-01", "2024-01-31", BAR)
    assert gapped["bars"] == 126 and gapped["share"] == round(126 / 186, 4)
    assert not gapped["short"]


def test_data_ending_early_or_starting_late_are_short() -> None:
    early = period_coverage(
        _bars("2024-01-01", "2024-01-07 20:00"), "2024-01-01", "2024-01-31", BAR
    )
    assert early["short"] and early["last"] == "2024-01-07 20:00" and early["bars"] == 42
    assert coverage_text(early) == (
        " (data 2024-01-01 00:00..2024-01-07 20:00 only: 42 bars, 23% of the period)"
    )
    late = period_coverage(_bars("2024-01-20", "2024-01-31 20:00"), "2024-01-01", "2024-01-31", BAR)
    assert late["short"] and late["first"] == "2024-01-20 00:00"


def test_no_data_in_the_period() -> None:
    empty = period_coverage(pd.DatetimeIndex([], tz="UTC"), "2024-01-01", "2024-01-31", BAR)
    assert empty == {"first": None, "last": None, "bars": 0, "share": 0.0, "short": True}
    assert coverage_text(empty) == " (no data in the period)"


def test_naive_times_are_read_as_utc() -> None:
    naive = pd.date_range("2024-01-01", "2024-01-31 20:00", freq="4h")
    assert period_coverage(naive, "2024-01-01", "2024-01-31", BAR)["share"] == 1.0
