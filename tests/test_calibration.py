"""Verdict calibration: the binomial intervals, the rule choice, and `python -m calibrate`."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crypto_tune.calibration import (
    binomial_interval,
    candidate_rules,
    choose_rule,
    rates,
    score_rule,
)
from crypto_tune.exceptions import ConfigError
from crypto_tune.robustness import TESTS

ROOT = Path(__file__).resolve().parents[1]


def _market(ic: float, **passed: bool) -> dict:
    tests = {
        name: {"value": 0.0, "threshold": 0.0, "passed": passed.get(name, False)} for name in TESTS
    }
    return {"planted_ic": ic, "n_trades": 10, "tests": tests}


def test_binomial_intervals_match_known_values() -> None:
    low, high = binomial_interval(0, 20, method="exact")
    assert low == 0.0 and high == pytest.approx(0.1684, abs=1e-4)  # 1 - 0.025 ** (1/20)
    low, high = binomial_interval(5, 10)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)  # Wilson
    assert all(math.isnan(x) for x in binomial_interval(0, 0))
    with pytest.raises(ConfigError):
        binomial_interval(1, 2, method="normal")


def test_rates_per_strength_and_no_trades_is_never_significant() -> None:
    records = [_market(0.0, dsr=True), _market(0.0), _market(0.2, dsr=True), _market(0.2)]
    records.append({**_market(0.2, dsr=True), "n_trades": 0})
    rows = rates(records, ("dsr",))
    assert [(r["planted_ic"], r["significant"], r["n"]) for r in rows] == [(0, 1, 2), (0.2, 1, 3)]
    assert rows[0]["kind"].startswith("null")


def test_choose_rule_keeps_false_positives_down_and_maximises_power() -> None:
    nulls = [_market(0.0, dsr=i < 3, spa=False, pbo=True) for i in range(20)]
    planted = [_market(0.1, dsr=True, spa=i < 6, pbo=True) for i in range(10)]
    chosen, ranking = choose_rule(nulls + planted)
    # dsr alone: 15% false positives, inadmissible; spa alone: 0 of 20, 6 of 10 found
    assert chosen["rule"] == ["spa"] and chosen["fpr"] == 0 and chosen["detections"] == 6
    assert all(s["fpr"] <= 0.05 for s in ranking)
    assert score_rule(nulls + planted, ("dsr",))["false_positives"] == 3
    with pytest.raises(ConfigError):
        choose_rule(planted)
    assert all(
        {"dsr", "spa", "reality_check", "haircut", "haircut_bhy"} & set(r)
        for r in candidate_rules()
    )


@pytest.mark.slow
def test_calibrate_command_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "calibrate"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "calibrate",
            "--out",
            str(out),
            "--null",
            "1",
            "--planted",
            "1",
            "--strengths",
            "0.2",
            "--vols",
            "0.5",
            "--model-trials",
            "2",
            "--strategy-trials",
            "12",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    results = json.loads((out / "results.json").read_text())
    assert results["errors"] == [], done.stdout[-3000:] + done.stderr[-3000:]
    assert len(results["markets"]) == 2
    for market in results["markets"]:
        assert set(market["tests"]) == set(TESTS)
        assert {"planted_ic", "annual_vol", "seed", "verdict", "significant"} <= set(market)
    assert {r["planted_ic"] for rows in results["rates"].values() for r in rows} == {0.0, 0.2}
    table = (out / "results.md").read_text()
    assert "| planted IC |" in table and "95% Wilson" in table
    assert (out / results["figure"]).is_file()
    assert not (out / "work").exists() or not any((out / "work").iterdir())
