"""Verdict calibration: the binomial intervals, the rule choice, and `python -m calibrate`."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from calibrate.__main__ import main as calibrate_main
from calibrate.__main__ import run_all
from calibrate.plan import NULL_KINDS, default_cost_per_side, markets, oracle_sharpes, points
from crypto_tune.calibration import (
    binomial_interval,
    candidate_rules,
    choose_rule,
    held_out_rates,
    rates,
    score_rule,
    sign_rule_sharpe,
)
from crypto_tune.data import synthetic_market
from crypto_tune.exceptions import ConfigError
from crypto_tune.robustness import TESTS, VERDICT_RULE

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


def test_clopper_pearson_upper_bound_is_the_exact_one() -> None:
    # no false positive in n: the upper bound solves (1 - p)^n = 0.025
    for n in (20, 60):
        low, high = binomial_interval(0, n, method="exact")
        assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-6)
    # 3 of 60: P(X <= 3 | p = high) = 0.025 (scipy's binomial cdf as the reference)
    from scipy.stats import binom

    low, high = binomial_interval(3, 60, method="exact")
    assert binom.cdf(3, 60, high) == pytest.approx(0.025, abs=1e-6)
    assert binom.sf(2, 60, low) == pytest.approx(0.025, abs=1e-6)
    assert high > binomial_interval(3, 60)[1]  # more conservative than Wilson
    assert rates([_market(0.0)] * 60, ("dsr",))[0]["clopper_pearson"][1] == pytest.approx(
        0.0596, abs=1e-4
    )


def test_held_out_rule_is_chosen_on_one_parity_and_scored_on_the_other() -> None:
    records = []
    for seed in range(40):
        # spa passes every null of odd seed: chosen on the even seeds (no false positive there,
        # most power), it is scored on the odd ones and shows its false positives there
        records.append(
            {**_market(0.0, spa=seed % 2 == 1, dsr=seed < 2), "seed": seed, "kind": "flat"}
        )
    for seed in range(100, 120):
        records.append({**_market(0.1, spa=True, dsr=seed % 4 == 0), "seed": seed})
    held = held_out_rates(records)
    assert held["rules"]["even"] == ["spa"]
    null_row = held["rows"][0]
    assert null_row["planted_ic"] == 0 and null_row["n"] == 40
    # odd nulls judged by spa (20 false positives); even nulls by the rule chosen on the odd
    # seeds, where spa fails the 5% cap
    assert held["rules"]["odd"] != ["spa"]
    assert null_row["significant"] >= 20
    assert {j["kind"] for j in held["judged"] if j["planted_ic"] == 0} == {"flat"}
    # only the listed strengths are used to choose
    only = held_out_rates(records, power_strengths=[])
    assert all(r["planted_ic"] in (0.0, 0.1) for r in only["rows"])


def test_sign_rule_sharpe_before_and_after_costs() -> None:
    market = synthetic_market(seed=21, planted_ic=0.1)
    close, expected = market.candles["close"].to_numpy(), market.expected_return.to_numpy()
    gross = sign_rule_sharpe(expected, close, cost_per_side=0.0, periods_per_year=2191.5)
    net = sign_rule_sharpe(expected, close, cost_per_side=0.0007, periods_per_year=2191.5)
    assert 1.5 < gross < 6.0 and net < gross
    more = sign_rule_sharpe(expected, close, cost_per_side=0.005, periods_per_year=2191.5)
    assert more < 0 < net
    # no signal: flat, Sharpe 0; a null market's sign is noise
    flat = synthetic_market(seed=21)
    zero = flat.expected_return.to_numpy()
    assert (
        sign_rule_sharpe(
            zero, flat.candles["close"].to_numpy(), cost_per_side=0.0, periods_per_year=1.0
        )
        == 0.0
    )
    with pytest.raises(ConfigError, match="cost_per_side must be a real >= 0"):
        sign_rule_sharpe(expected, close, cost_per_side=-1.0, periods_per_year=1.0)
    with pytest.raises(ConfigError, match="one length >= 3"):
        sign_rule_sharpe(expected[:5], close, cost_per_side=0.0, periods_per_year=1.0)


def test_oracle_sharpes_of_a_planned_market_and_the_default_cost() -> None:
    assert default_cost_per_side() == pytest.approx(0.0007)  # perp taker 5 bp + slippage 2 bp
    plan = markets(0, 1, [0.1], [0.6])
    found = oracle_sharpes(
        plan[0], {"n_bars": 3000, "start": "2021-01-01", "timeframe": "4h"}, 0.0007
    )
    assert found["gross"] > found["net"] and found["true_ic"] == pytest.approx(0.1, abs=0.02)


def test_operating_points_read_the_defaults_from_conf() -> None:
    found = points()
    assert (found["default"].model_trials, found["default"].strategy_trials) == (30, 500)
    assert found["default"].overrides == ()
    assert (found["case_study"].model_trials, found["case_study"].strategy_trials) == (20, 1000)
    assert found["fast"].overrides == ("debug=fast",)


def test_plan_interleaves_groups_cycles_kinds_and_keeps_names() -> None:
    plan = markets(60, 15)
    assert len(plan) == 60 + 5 * 15 and len({m["name"] for m in plan}) == len(plan)
    first = plan[:9]  # 4 nulls then one market of each strength
    assert [m["planted_ic"] for m in first] == [0.0] * 4 + [0.02, 0.03, 0.05, 0.1, 0.15]
    nulls = [m for m in plan if m["planted_ic"] == 0]
    assert Counter(m["kind"] for m in nulls) == {kind: 12 for kind in NULL_KINDS}
    assert [m["kind"] for m in nulls[:5]] == list(NULL_KINDS)
    assert nulls[1]["options"] == {"annual_drift": 0.6}
    assert Counter(m["seed"] % 2 for m in nulls) == {0: 30, 1: 30}
    assert all(m["kind"] == "flat" for m in plan if m["planted_ic"] > 0)
    # a smaller plan names its markets as the bigger one does (a bigger rerun reuses them)
    assert {m["name"] for m in markets(8, 2)} <= {m["name"] for m in plan}
    with pytest.raises(ValueError, match="kinds must be among"):
        markets(2, 1, kinds=["sideways"])


def _fake_record(market: Mapping[str, Any]) -> dict[str, Any]:
    significant = market["planted_ic"] >= 0.1
    return {
        **market,
        **_market(market["planted_ic"], haircut_bhy=significant, spa=significant),
        "name": market["name"],
        "verdict": "fake",
        "significant": significant,
        "seconds": 1.0,
        "commit": "abc",
        "dirty": False,
    }


class _Runner:
    """Writes a record per market like calibrate.market; SIGTERMs the run at call ``stop_at``."""

    def __init__(self, out: Path, stop_at: int | None = None) -> None:
        self.out, self.stop_at = out, stop_at
        self.calls: list[str] = []

    def __call__(self, market: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(market["name"])
        if len(self.calls) == self.stop_at:
            signal.raise_signal(signal.SIGTERM)  # as `kill` would, mid-market
        record = _fake_record(market)
        (self.out / "markets" / f"{market['name']}.json").write_text(json.dumps(record))
        return record


def test_a_stopped_run_keeps_its_markets_and_the_same_command_continues(tmp_path: Path) -> None:
    out = tmp_path / "cal"
    argv = [
        "--point",
        "fast",
        "--out",
        str(out),
        "--null",
        "6",
        "--planted",
        "2",
        "--strengths",
        "0.1",
        "--vols",
        "0.5",
    ]
    first = _Runner(out, stop_at=4)
    assert calibrate_main(argv, runner=first) == 130
    assert len(first.calls) == 4 and len(list((out / "markets").glob("*.json"))) == 3
    partial = json.loads((out / "results.json").read_text())
    assert partial["done"] == 3 and not partial["meta"]["completed"]
    assert "STOPPED" in (out / "results.md").read_text()
    again = _Runner(out)
    assert calibrate_main(argv, runner=again) == 0
    assert again.calls[0] == first.calls[-1] and len(again.calls) == 8 - 3
    assert not set(again.calls) & set(first.calls[:3])
    results = json.loads((out / "results.json").read_text())
    assert results["done"] == 8 and results["meta"]["completed"]
    assert results["current_rule"] == list(VERDICT_RULE)
    table = (out / "results.md").read_text()
    assert "Clopper-Pearson" in table and "null: bull" in table and "IC 0.1 (power)" in table
    assert (out / results["figure"]).is_file()
    # a third run has nothing left to do; --report-only rewrites the results alone
    third = _Runner(out)
    assert calibrate_main(argv, runner=third) == 0 and third.calls == []
    assert calibrate_main([*argv, "--report-only"], runner=third) == 0


def test_a_failed_market_has_no_record_and_is_tried_again(tmp_path: Path) -> None:
    out = tmp_path / "cal"
    plan = markets(2, 0, [], [0.5])

    def failing(market: Mapping[str, Any]) -> dict[str, Any]:
        return {**market, "error": "Traceback\nImportError: half-made change"}

    records, completed = run_all(plan, out, failing, seconds_guess=1.0, bar=True)
    assert not completed and records[0]["error"].endswith("half-made change")
    assert not list((out / "markets").glob("*.json"))
    runner = _Runner(out)
    records, completed = run_all(plan, out, runner, seconds_guess=1.0, bar=False)
    assert completed and len(runner.calls) == 2 and all("error" not in r for r in records)


def test_progress_lines_carry_the_eta(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = markets(3, 0, [], [0.5])
    run_all(plan, tmp_path, _Runner(tmp_path), seconds_guess=1.0, bar=False)
    lines = [line for line in capsys.readouterr().out.splitlines() if "ETA" in line]
    assert len(lines) == 3 and lines[0].startswith("[calibrate] 1/3 flat-ic0-vol0.5-s1000")
    assert np.all(["UTC)" in line for line in lines])


@pytest.mark.slow
def test_calibrate_command_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "calibrate"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "calibrate",
            "--point",
            "fast",
            "--out",
            str(out),
            "--null",
            "2",
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
    assert len(results["markets"]) == 3
    for market in results["markets"]:
        assert set(market["tests"]) == set(TESTS)
        assert {"planted_ic", "annual_vol", "seed", "verdict", "significant", "kind"} <= set(market)
        assert market["robustness"]["verdict"] == market["verdict"]
        assert "family" in market and "inputs" not in market["robustness"]
    assert [m["kind"] for m in results["markets"]] == ["flat", "bull", "flat"]
    assert {r["planted_ic"] for r in results["rates"]["current"]} == {0.0, 0.2}
    table = (out / "results.md").read_text()
    assert "| markets | planned | done |" in table and "Clopper-Pearson" in table
    assert (out / results["figure"]).is_file()
    assert not (out / "work").exists() or not any((out / "work").iterdir())


def test_a_log_line_never_fails_on_a_market_without_trades() -> None:
    from calibrate.__main__ import _describe

    record = {**_fake_record(markets(1, 0, [], [0.5])[0]), "in_sample_sharpe": None}
    record["tests"]["haircut_bhy"]["value"] = None
    assert "in-sample Sharpe None" in _describe(record, record)


def test_a_failed_market_keeps_the_reason_from_its_logs(tmp_path) -> None:
    """A failed sweep prints only Hydra's "Error executing job" lines; the reason is in the
    run's log, which the next attempt deletes: the error file keeps it first."""
    from calibrate.__main__ import _failure_text

    log = tmp_path / "work" / "multiruns" / "x" / "crypto-tune.log"
    log.parent.mkdir(parents=True)
    log.write_text("[INFO] trial 3\n[ERROR] - trial 4 failed: DataError: disk full\n")
    output = "Error executing job with overrides: ['a=1']\n" * 200
    text = _failure_text(output, tmp_path / "work")
    assert text.splitlines()[0] == "crypto-tune.log: [ERROR] - trial 4 failed: DataError: disk full"
    assert text.endswith(output[-3000:])
