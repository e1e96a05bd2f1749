"""bench/bench_universe.py without the real candles: the section is skipped with the reason, in
results.json and in results.md (the measures themselves run in `make bench`; the quick smoke test
runs them on three symbols when ../shared/data holds them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import bench_universe
from bench.__main__ import render_universe


def test_the_section_is_skipped_without_the_candles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_universe, "DATA_DIR", tmp_path / "absent")
    result = bench_universe.bench_universe(work_dir=tmp_path / "work", progress=lambda _: None)
    assert set(result) == {"skipped"} and "absent" in result["skipped"]
    assert not (tmp_path / "work").exists()
    assert render_universe(result) == [f"Universe studies (issue 23): skipped: {result['skipped']}"]


def test_a_missing_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_universe, "DATA_DIR", tmp_path)
    (tmp_path / "binance_BTCUSDT_4h.csv").write_text("timestamp,open,high,low,close,volume\n")
    reason = bench_universe.missing_data(("BTCUSDT", "ETHUSDT"), ("4h",))
    assert reason is not None and "binance_ETHUSDT_4h.csv" in reason
    assert "BTCUSDT" not in reason
    assert bench_universe.missing_data(("BTCUSDT",), ("4h",)) is None
