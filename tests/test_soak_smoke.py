"""``python -m bench.soak --quick`` (what ``make soak`` runs at full size) passes its own checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_quick_soak_counts_every_trial(pg_url: str, tmp_path: Path) -> None:
    out = tmp_path / "soak"
    done = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--quick", "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "CRYPTO_TUNE_TEST_PG_URL": pg_url},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    results = json.loads((out / "results.json").read_text())
    assert results["ok"] and all(results["checks"].values()), results["checks"]
    assert results["trials_per_worker"] == 150 and results["exit_codes"] == [0, 0, 0]
    assert results["asked"] == 3 * 150 + results["asked_by_killed_process"]
    assert results["complete"] == results["asked"] - results["failed"] and results["failed"] <= 1
    assert results["running"] == [] and results["trials_per_s_overall"] > 0
    assert "password" not in done.stdout and ":crypto_tune@" not in done.stdout
    assert "trials/s:" in done.stdout and "no trial left RUNNING" in done.stdout
