"""The locked final holdout: no phase sees it; phase=final opens it once per study line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import best_dir, run_cli

from crypto_tune.cli import preflight
from crypto_tune.data import CandleReport, bar_statistics
from crypto_tune.dataset import lock_final, prepare_dataset
from crypto_tune.memo import clear_memos

FINAL = [
    "debug=fast",
    "split.holdout_end=2022-03-31",
    "split.final_start=2022-04-01",
    "split.final_end=2022-05-15",
    "tracking.enabled=false",
]


def test_no_phase_but_final_sees_the_final_holdout(tmp_path: Path) -> None:
    clear_memos()
    common = [f"paths.outputs={tmp_path}", *FINAL]
    locked = prepare_dataset(preflight(["phase=inspect", *common]))
    opened = prepare_dataset(preflight(["phase=final", *common]))
    start = pd.Timestamp("2022-04-01", tz="UTC")
    assert locked.candles.index[-1] < start <= opened.candles.index[-1]
    assert locked.report.end < start
    # the past is the same whether or not the future exists (features causal, labels purged)
    shared = locked.candles.index
    pd.testing.assert_frame_equal(locked.features, opened.features.loc[shared])
    horizon = 1
    np.testing.assert_array_equal(
        locked.label.to_numpy()[:-horizon], opened.label.loc[shared].to_numpy()[:-horizon]
    )
    assert np.isnan(locked.label.to_numpy()[-1])  # its label would need a final-holdout price
    assert locked.data_fingerprint != opened.data_fingerprint


def test_the_locked_report_says_nothing_of_the_final_holdouts_bars(tmp_path: Path) -> None:
    clear_memos()
    common = [f"paths.outputs={tmp_path}", *FINAL]
    settings = preflight(["phase=inspect", *common])
    candles = prepare_dataset(preflight(["phase=final", *common])).candles.copy()
    start = pd.Timestamp("2022-04-01", tz="UTC")
    inside = candles.index[candles.index >= start][5:12]
    candles.loc[inside[0], "high"] = 50 * candles.loc[inside[0], "close"]  # a bad wick
    candles.loc[inside[1:], ["open", "high", "low", "close"]] = 1.0  # a halt
    candles.loc[inside[1:], "volume"] = 0.0
    whole = CandleReport("x", "4h", n_duplicates_dropped=0, gaps=(), **bar_statistics(candles))
    assert whole.flat_run == 6 and whole.zero_volume_bars >= 6 and whole.largest_move > 40

    kept, report = lock_final(candles, whole, settings)
    assert kept.index[-1] < start
    for field, value in bar_statistics(kept).items():
        assert getattr(report, field) == value, field
    assert report.largest_move < 40 and report.flat_run < 6
    assert report.largest_move_at is None or report.largest_move_at < start


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["split.final_start=2022-04-01"], "go together"),
        (["split.final_start=2022-03-01", "split.final_end=2022-05-01"], "must be after"),
        (["split.final_start=2022-04-20", "split.final_end=2022-04-10"], "must not be before"),
    ],
)
def test_final_dates_are_checked(tmp_path: Path, extra: list[str], message: str) -> None:
    done = run_cli(
        "phase=inspect",
        "debug=fast",
        "split.holdout_end=2022-03-31",
        f"paths.outputs={tmp_path}",
        *extra,
    )
    assert done.returncode == 2 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_final_opens_once_per_study_line(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    common = [f"paths.outputs={outputs}", *FINAL]
    for phase, trials in (("model", 3), ("strategy", 40)):
        done = run_cli("-m", f"phase={phase}", f"hydra.sweeper.n_trials={trials}", *common)
        assert done.returncode == 0, done.stderr[-3000:]
    done = run_cli("phase=final", *common)
    assert done.returncode == 2 and "run `crypto-tune phase=best`" in done.stderr
    assert run_cli("phase=best", *common).returncode == 0

    first = run_cli("phase=final", *common)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "== final holdout 2022-04-01..2022-05-15" in first.stdout
    record = json.loads((best_dir(outputs) / "final.json").read_text())
    assert record["period"] == ["2022-04-01", "2022-05-15"] and record["metrics"]
    again = run_cli("phase=final", *common)  # the same settings: the recorded result
    assert again.returncode == 0 and record["at"] in again.stdout
    assert run_cli("phase=best", "strategy.leverage=1.1", *common).returncode == 0
    other = run_cli("phase=final", *common)
    assert other.returncode == 2 and "it opens once" in other.stderr
