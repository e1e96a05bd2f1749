"""Local-time stamps: a clock change named in the refusal of repeated or crowded naive stamps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crypto_tune.data import load_candles
from crypto_tune.data._local_time import daylight_saving_hint, written_without_offset
from crypto_tune.exceptions import DataError

HEADER = "timestamp,open,high,low,close,volume"


def local_csv(tmp_path: Path, zone: str, *, hours: int, start: str, fmt: str) -> Path:
    """Bars every ``hours`` h from ``start`` (UTC) written as naive wall-clock times in ``zone``."""
    utc = pd.date_range(start, periods=24 * 4 // hours, freq=f"{hours}h", tz="UTC")
    price = 100.0 + np.arange(len(utc))
    wall = utc.tz_convert(zone).tz_localize(None).strftime(fmt)
    lines = [HEADER] + [
        f"{t},{p},{p + 1},{p - 1},{p + 0.5},10" for t, p in zip(wall, price, strict=True)
    ]
    path = tmp_path / f"{hours}h.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("zone", "start"),
    [("Europe/Berlin", "2021-10-30T00:00:00Z"), ("America/New_York", "2021-11-06T00:00:00Z")],
)
def test_hourly_local_stamps_over_the_autumn_change_name_daylight_saving(tmp_path, zone, start):
    path = local_csv(tmp_path, zone, hours=1, start=start, fmt="%Y-%m-%d %H:%M:%S")
    with pytest.raises(DataError, match=r"duplicate timestamp .*daylight-saving.*UTC") as info:
        load_candles(path)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_four_hour_local_stamps_closer_than_a_bar_name_daylight_saving(tmp_path):
    path = local_csv(tmp_path, "Europe/Berlin", hours=4, start="2021-10-29", fmt="%Y-%m-%dT%H:%M")
    with pytest.raises(DataError, match=r"closer than the data's 4h .*daylight-saving.*Z\)"):
        load_candles(path)


def test_stamps_with_an_offset_or_outside_clock_change_months_get_no_hint():
    october = pd.Timestamp("2021-10-31 02:00", tz="UTC")
    assert daylight_saving_hint(pd.Series(["2021-10-31T02:00:00Z"]), october) == ""
    assert daylight_saving_hint(pd.Series(["2021-10-31 02:00+02:00"]), october) == ""
    assert daylight_saving_hint(pd.Series([1635645600000]), october) == ""
    january = pd.Timestamp("2021-01-10 02:00", tz="UTC")
    assert daylight_saving_hint(pd.Series(["2021-01-10 02:00"]), january) == ""
    assert "daylight-saving" in daylight_saving_hint(pd.Series(["2021-10-31 02:00"]), october)


def test_written_without_offset_reads_the_time_column_as_written():
    assert written_without_offset(pd.Series(["2021-03-28 02:00:00", "2021-03-28 03:00:00"]))
    assert written_without_offset(pd.DatetimeIndex(["2021-03-28 02:00"]))
    assert not written_without_offset(pd.DatetimeIndex(["2021-03-28 02:00"], tz="UTC"))
    assert not written_without_offset(pd.Series(["2021-03-28T02:00:00.000Z"]))
    assert not written_without_offset(pd.Series(["2021-03-28 02:00 UTC"]))
    assert not written_without_offset(pd.Series(["1616896800", "1616900400"]))


def test_a_genuine_duplicate_in_a_utc_file_keeps_the_plain_message(tmp_path):
    rows = ["2021-10-31T01:00:00Z,1,2,0.5,1.5,1", "2021-10-31T01:00:00Z,2,3,1.5,2.5,1"]
    path = tmp_path / "dup.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    with pytest.raises(DataError, match=r"duplicate timestamp") as info:
        load_candles(path)
    assert "daylight" not in str(info.value)
