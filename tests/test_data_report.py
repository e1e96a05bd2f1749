"""The data health report: bars without volume and runs of one price (a halt) are shown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from crypto_tune.data import load_candles
from crypto_tune.data._report import FLAT_RUN_REPORTED, flat_bars, zero_volume_bars


def walk(n: int = 60, *, seed: int = 1) -> pd.DataFrame:
    """A seeded random walk of 4h bars, none of them flat."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]]
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.002,
            "low": np.minimum(open_, close) * 0.998,
            "close": close,
            "volume": rng.uniform(1.0, 2.0, n),
        },
        index=pd.date_range("2021-01-01", periods=n, freq="4h", tz="UTC", name="timestamp"),
    )


def halted(candles: pd.DataFrame, start: int, bars: int) -> pd.DataFrame:
    """``candles`` with ``bars`` bars from ``start`` on the previous close and no volume."""
    out = candles.copy()
    price = out["close"].iloc[start - 1]
    out.iloc[start : start + bars, :4] = price
    out.iloc[start : start + bars, 4] = 0.0
    return out


def test_flat_bars_counts_bars_and_the_longest_run_on_one_price() -> None:
    candles = walk()
    assert flat_bars(candles) == (0, 0, None)
    stopped = halted(halted(candles, 10, 3), 30, 8)
    assert flat_bars(stopped) == (11, 8, candles.index[30])
    assert zero_volume_bars(stopped) == 11
    pegged = stopped.copy()  # two flat bars side by side on different prices are two runs
    pegged.iloc[31, :4] = pegged.iloc[30, 0] * 1.01
    assert flat_bars(pegged)[:2] == (11, 6)  # bars 30 | 31 | 32-37


def test_a_halt_and_zero_volume_show_in_the_report(tmp_path: Path) -> None:
    path = tmp_path / "halt.csv"
    halted(walk(), 20, FLAT_RUN_REPORTED + 4).to_csv(path)
    _, report = load_candles(path)
    lines = report.lines()
    assert "volume:     0 on 10 bar(s)" in lines
    assert (
        "flat bars:  10 with open = high = low = close, longest run 10 bars on one price from "
        "2021-01-04T08:00:00Z (a halt?)" in lines
    )
    silent = tmp_path / "silent.csv"
    walk().assign(volume=0.0).to_csv(silent)
    assert "volume:     0 on 60 bar(s) (every bar: the volume features are missing)" in (
        load_candles(silent)[1].lines()
    )


def test_a_healthy_file_reports_neither(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    walk().to_csv(path)
    lines = load_candles(path)[1].lines()
    assert not any(line.startswith(("volume:", "flat bars:")) for line in lines)
