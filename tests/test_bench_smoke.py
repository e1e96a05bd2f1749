"""``python -m bench --quick`` runs every benchmark end to end and writes the documented results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

TOP_KEYS = {
    "quick",
    "meta",
    "data",
    "errors",
    "commands",
    "total_s",
    "engine",
    "api",
    "phase1",
    "phase1_study",
    "phase1_markets",
    "cache",
    "sweep",
    "sweep_5y",
    "sampler_ab",
    "samplers",
    "samplers_long",
    "workers",
    "universe",
    "walkforward",
    "sweep_profile",
}
META_KEYS = {"date", "cpu", "cores", "git_commit", "git_dirty", "versions", "python"}
ENGINE_KEYS = {"fast_s", "reference_s", "speedup", "n_bars"}
PHASE1_KEYS = {
    "s_per_trial",
    "lgb_s_per_trial",
    "share_outside_lgb",
    "meets_target",
    "breakdown_ms_per_trial",
    "n_folds",
    "n_trials",
    "trials",
}
CACHE_KEYS = {"warm_ms_per_trial", "retrain_ms_per_trial", "ratio", "time_cut"}
TIMING_KEYS = {"wall_s", "to_first_trial_s", "ms_per_trial", "loop_ms_per_trial", "trials_per_s"}
SPLIT_KEYS = {"hydra_sweeper_launcher", "optuna_sampler_storage", "crypto_tune_task"}


@pytest.mark.slow
def test_quick_bench_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=900,  # a hang guard, not a speed limit: every section runs on a loaded machine
        check=False,
    )
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    results = json.loads((out / "results.json").read_text())
    assert set(results) >= TOP_KEYS
    assert results["quick"] is True and results["errors"] == {}
    assert set(results["meta"]) >= META_KEYS
    assert set(results["engine"]) >= ENGINE_KEYS and results["engine"]["n_bars"] == 2000
    api = results["api"]
    assert api["n_bars"] == 2000 and api["speedup"] > 0 and api["speedup_with_trades"] > 0
    assert set(results["phase1"]) >= PHASE1_KEYS and results["phase1"]["n_trials"] == 2
    assert len(results["phase1"]["trials"]) == 2
    assert set(results["cache"]) >= CACHE_KEYS
    study = results["phase1_study"]  # issue 24: the default against one thread unpruned
    assert list(study["runs"]) == [study["default"], study["baseline"]]
    assert all(
        r["complete"] + r["pruned"] == 4 and r["best_ic"] == r["best_ic"]
        for r in study["runs"].values()
    )
    markets = results["phase1_markets"]  # the default pruner against none, market by market
    (one,) = markets["studies"]
    assert one["market"] == "synthetic" and one["seed"] == 0
    assert one["default_best_ic"] == one["default_best_ic"] and one["unpruned_s"] > 0
    assert markets["within"] == int(one["ic_within"])
    assert api["kernel_s"] > 0 and api["wrapping_vs_kernel"] == pytest.approx(
        (api["api_beside_kernel_s"] - api["kernel_s"]) / api["kernel_s"]
    )
    samplers = results["samplers"]["samplers"]
    assert set(samplers) | set(results["samplers"]["skipped"]) == {
        "tpe",
        "tpe-multivariate",
        "cmaes",
        "qmc",
    }
    assert all(r["trials_per_s"] > 0 and r["best_at_trials"] for r in samplers.values())
    assert set(results["samplers_long"]["samplers"]) == {"tpe", "tpe-multivariate"}
    assert results["samplers_long"]["sweep_sampler"]["multivariate"] is False  # the default TPE

    assert results["sweep"]["kernel"]["trials_per_s"] > 0  # the kernel's own limit
    runs = results["sweep"]["runs"]
    storages = {run["storage"] for run in runs}
    assert "sqlite" in storages
    # PostgreSQL is either measured or skipped with the reason.
    assert "postgres" in storages or results["sweep"]["postgres"]["skipped"]
    for run in runs:
        assert run["n_trials"] == 30
        assert set(run["sweep"]) >= TIMING_KEYS and set(run["bare"]) >= TIMING_KEYS
        assert {"sweep_over_bare", "meets_target"} <= set(run)
        # The bare loop samples exactly what the sweep sampled (same sampler, same seed).
        assert run["same_first_20_params"] is True

    # The five-year market's sweep (the quick run: on the quick market, SQLite, 30 trials).
    five = results["sweep_5y"]
    assert five["market"] == results["data"]["overrides"]
    assert [(r["storage"], r["n_trials"]) for r in five["runs"]] == [("sqlite", 30)]
    assert five["kernel"]["trials_per_s"] > 0 and five["runs"][0]["same_first_20_params"]

    # The default sampler against Optuna's TPE: the same trials, each sweep timed.
    ab = results["sampler_ab"]
    assert ab["n_trials"] == 30 and ab["same_trials"] is True
    assert len(ab["runs"]) == 2 and all(set(r) >= TIMING_KEYS for r in ab["runs"].values())

    # Phase 1 workers on PostgreSQL: measured or skipped with the reason.
    workers = results["workers"]
    if "skipped" not in workers:
        assert set(workers["runs"]) == {"workers=1", "workers=2", "joblib n_jobs=2"}
        assert workers["n_trials"] == 4
        for run in workers["runs"].values():
            assert run["trials_per_s"] > 0 and run["mean_trial_s"] > 0

    # Universe studies (issue 23): measured on three real 4h symbols, or skipped with the reason.
    universe = results["universe"]
    if "skipped" not in universe:
        phase1, phase2 = universe["phase1"], universe["phase2"]
        assert len(phase1["singles"]) == 3 and phase1["universe_s"] > 0
        assert phase1["ratio"] == pytest.approx(phase1["universe_s"] / phase1["single_s"])
        later = phase1["later_universe_s"] / phase1["later_single_s"]
        assert phase1["later_ratio"] == pytest.approx(later)
        equal = phase1["equal_rounds"]  # the same trials at equal boosting rounds
        assert equal["rounds"] == 20
        assert equal["ratio"] == pytest.approx(equal["universe_s"] / equal["single_s"])
        assert "at equal work (20 boosting rounds" in (out / "results.md").read_text()
        drawn = phase1["drawn"]  # a parameter set drawn from each search space
        (one,) = drawn["sets"]
        # corresponding draws of both spaces: the panel's feature_fraction is the single's, halved
        assert set(one["params"]) == set(one["single_params"]) >= {"model.learning_rate"}
        half = one["single_params"]["model.feature_fraction"] / 2
        assert one["params"]["model.feature_fraction"] == pytest.approx(half)
        assert one["params"]["model.num_leaves"] == one["single_params"]["model.num_leaves"]
        assert drawn["ratio"] == pytest.approx(drawn["universe_s"] / drawn["single_s"])
        assert "as it draws them (1 parameter set of" in (out / "results.md").read_text()
        assert phase2["n_trials"] == 30 and phase2["kernel_ms_median"] > 0
        assert phase2["model_source"].startswith("study:")
        assert "Universe studies (issue 23)" in (out / "results.md").read_text()
    else:
        assert "Universe studies (issue 23): skipped" in (out / "results.md").read_text()

    # Walk-forward (issue 24): the whole command, timed, its windows read from walkforward.json.
    walkforward = results["walkforward"]
    assert walkforward["windows"] >= 1 and walkforward["seconds"] > 0
    assert walkforward["budgets"] == {"model_trials": 4, "strategy_trials": 40}  # debug=fast
    assert "Walk-forward (issue 24)" in (out / "results.md").read_text()

    profile = results["sweep_profile"]
    assert profile["n_trials"] == 30 and set(profile["split"]) == SPLIT_KEYS
    assert sum(part["share"] for part in profile["split"].values()) == pytest.approx(1.0)

    table = (out / "results.md").read_text()
    assert table in done.stdout  # printed as well as written
    for heading in (
        "| engine |",
        "| api |",
        "| phase1 |",
        "| cache |",
        "| synthetic | 0 |",
        "the wrapping (pandas in and out, checks) against the kernel",
        "| sqlite | 30 |",
        "hydra_sweeper_launcher",
        "crypto-tune -m phase=strategy",
    ):
        assert heading in table
