"""phase=best: the IS/OOS table, the JSON contract, overrides, replay, and an honest verdict."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from conftest import best_dir, run_cli

pytestmark = pytest.mark.slow


def _tune(outputs: Path, *extra: str, strategy_trials: int = 150) -> None:
    common = [f"paths.outputs={outputs}", *extra]
    done = run_cli(
        "-m", "phase=model", "hydra.sweeper.n_trials=3", "tracking.enabled=false", *common
    )
    assert done.returncode == 0, done.stderr[-3000:]
    done = run_cli(
        "-m",
        "phase=strategy",
        f"hydra.sweeper.n_trials={strategy_trials}",
        "tracking.enabled=false",
        *common,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> Path:
    """A tuned synthetic market with a planted signal (IC 0.2), shared by the tests below."""
    outputs = tmp_path_factory.mktemp("best") / "outputs"
    _tune(outputs, "asset.synthetic.planted_ic=0.2")
    return outputs


def _best(outputs: Path, *extra: str):
    done = run_cli(
        "phase=best", f"paths.outputs={outputs}", "asset.synthetic.planted_ic=0.2", *extra
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_best_writes_the_json_contract_and_logs_to_mlflow(tuned: Path) -> None:
    done = _best(tuned)
    path = best_dir(tuned) / "workflow.best.json"
    assert f"wrote {path}" in done.stdout
    assert (
        "in-sample" in done.stdout and "out-of-sample" in done.stdout and "verdict:" in done.stdout
    )
    doc = json.loads(path.read_text())
    assert doc["asset"]["files"] == {"SYNTH": "synthetic(seed=7, planted_ic=0.2)"}
    assert set(doc["model"]["params"]) >= {"learning_rate", "num_leaves"}
    assert set(doc["strategy"]["params"]) >= {"threshold", "stop_loss", "take_profit", "leverage"}
    assert doc["strategy"]["overrides"] == {}
    assert set(doc["metrics"]["model"]) >= {"ic", "rank_ic", "icir"}
    for segment in ("in_sample", "out_of_sample"):
        assert set(doc["metrics"][segment]) >= {
            "sharpe",
            "sortino",
            "max_drawdown",
            "win_rate",
            "total_return",
            "n_trades",
        }
        assert 0 <= doc["metrics"][segment]["max_drawdown"] <= 1
    rob = doc["robustness"]
    assert set(rob) >= {"n_trials", "psr", "dsr", "pbo", "verdict", "significant"}
    assert rob["n_trials"] == 150 and isinstance(rob["significant"], bool)
    assert rob["family"]["model_trials"] == 3 and rob["family"]["strategy_trials"] == 150
    assert rob["family"]["holdout_looks"] >= 1 and rob["family"]["tests"] >= 1
    assert ("edge significant" in rob["verdict"]) == rob["significant"]
    assert rob["significant"], rob["verdict"]  # a planted IC of 0.2 is a real edge

    mlflow.set_tracking_uri(f"sqlite:///{tuned}/mlflow.db")
    runs = mlflow.search_runs(
        experiment_names=["default.SYNTH.4h.all.static.h1.best"], output_format="list"
    )
    assert runs and "out_of_sample.sharpe" in runs[0].data.metrics
    names = {a.path for a in mlflow.artifacts.list_artifacts(run_id=runs[0].info.run_id)}
    assert {"workflow.best.json", "workflow.best.model.txt"} <= names


def test_overrides_are_applied_recorded_and_replayable(tuned: Path) -> None:
    if not (tuned / "best").is_dir():  # run alone: the earlier result overwrite=false keeps
        _best(tuned)
    done = _best(tuned, "strategy.leverage=1", "strategy.stop_loss=0.05", "best.overwrite=false")
    files = sorted(best_dir(tuned).glob("workflow.best*.json"))
    assert len(files) >= 2, "overwrite=false keeps the earlier file"
    newest = max(files, key=lambda p: p.stat().st_mtime)
    assert f"wrote {newest}" in done.stdout and "(override)" in done.stdout
    doc = json.loads(newest.read_text())
    # leverage=1 is the value the study traded: repeated, no override (stop_loss is tuned)
    assert doc["strategy"]["overrides"] == {"stop_loss": 0.05}
    assert doc["strategy"]["params"]["leverage"] == 1.0
    assert doc["strategy"]["params"]["stop_loss"] == 0.05

    replay = _best(tuned, f"best.from={newest}", "best.overwrite=false")
    again = max(best_dir(tuned).glob("workflow.best*.json"), key=lambda p: p.stat().st_mtime)
    assert f"wrote {again}" in replay.stdout and again != newest
    redo = json.loads(again.read_text())
    assert redo["strategy"]["params"] == doc["strategy"]["params"]
    assert redo["model"]["params"] == doc["model"]["params"]
    assert redo["metrics"]["in_sample"] == doc["metrics"]["in_sample"]
    assert redo["metrics"]["out_of_sample"] == doc["metrics"]["out_of_sample"]
    assert redo["robustness"]["dsr"] == pytest.approx(doc["robustness"]["dsr"])


def test_robust_selection_reports_its_choice(tuned: Path) -> None:
    done = _best(tuned, "best.selection=robust", "best.overwrite=false")
    newest = max(best_dir(tuned).glob("workflow.best*.json"), key=lambda p: p.stat().st_mtime)
    doc = json.loads(newest.read_text())
    assert doc["strategy"]["selection"] == "robust" and "(robust)" in doc["strategy"]["source"]
    assert "selection=robust" in done.stdout


def test_null_market_is_not_significant(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    _tune(outputs, "asset.synthetic.planted_ic=0.0")
    done = run_cli(
        "phase=best",
        f"paths.outputs={outputs}",
        "asset.synthetic.planted_ic=0.0",
        "tracking.enabled=false",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads((best_dir(outputs) / "workflow.best.json").read_text())
    assert doc["robustness"]["significant"] is False
    assert "edge not significant" in doc["robustness"]["verdict"]
    assert "verdict: edge not significant" in done.stdout
    # the best run's own page, without MLflow too
    page = (best_dir(outputs) / "workflow.best.html").read_text()
    assert "edge not significant" in page


def test_best_without_studies_says_what_to_run(tmp_path: Path) -> None:
    done = run_cli("phase=best", f"paths.outputs={tmp_path}")
    assert done.returncode == 2
    assert f"run `crypto-tune -m phase=model paths.outputs={tmp_path}` first" in done.stderr


def test_report_reads_both_studies_and_the_best_run(tuned: Path) -> None:
    _best(tuned)
    done = run_cli("phase=report", f"paths.outputs={tuned}", "asset.synthetic.planted_ic=0.2")
    assert done.returncode == 0, done.stderr[-3000:]
    path = tuned / "reports" / "default.SYNTH.4h.all.static.h1.html"
    assert f"wrote {path}" in done.stdout
    html = path.read_text()
    for name in ("Phase 1", "Phase 2", "edge significant", "<script"):
        assert name in html
    assert '<script src="http' not in html
    mlflow.set_tracking_uri(f"sqlite:///{tuned}/mlflow.db")
    runs = mlflow.search_runs(
        experiment_names=["default.SYNTH.4h.all.static.h1.report"], output_format="list"
    )
    names = {a.path for a in mlflow.artifacts.list_artifacts(run_id=runs[0].info.run_id)}
    assert path.name in names


def test_walk_forward_holdout_retrains_on_the_past_only(tmp_path: Path) -> None:
    import numpy as np

    from crypto_tune.cli import preflight
    from crypto_tune.dataset import prepare_dataset
    from crypto_tune.phases._best_runs import holdout_refits

    settings = preflight(["phase=inspect", f"paths.outputs={tmp_path}", "best.retrain_months=3"])
    dataset = prepare_dataset(settings)
    folds = holdout_refits(settings, dataset.candles.index)
    holdout = dataset.holdout.test_idx
    tested = np.concatenate([f.test_idx for f in folds if f.test_idx[0] >= holdout[0]])
    assert np.array_equal(tested, holdout)  # every holdout bar predicted exactly once
    in_holdout = [f for f in folds if f.test_idx[0] >= holdout[0]]
    assert len(in_holdout) == 4  # 2024 in quarters
    for fold in in_holdout:
        assert fold.train_idx.max() + fold.purge < fold.test_idx.min()
        assert fold.valid_idx.max() + fold.purge < fold.test_idx.min()
        assert fold.train_idx.min() == 0  # expanding from the start of the tuning period


def test_best_with_walk_forward_holdout(tuned: Path) -> None:
    done = _best(tuned, "best.retrain_months=3", "best.overwrite=false")
    assert "retrained every 3 month(s)" in done.stdout
    newest = max(best_dir(tuned).glob("workflow.best*.json"), key=lambda p: p.stat().st_mtime)
    doc = json.loads(newest.read_text())
    assert doc["strategy"]["holdout_retrain_months"] == 3
    assert doc["metrics"]["out_of_sample"]["n_trades"] > 0


def test_every_look_at_the_holdout_is_counted_on_the_study_line(tuned: Path) -> None:
    """Three best runs with different settings on one study line: the holdout has been looked
    at three times or more (the other tests of this module looked too); rerunning the same
    settings is not a new look. The family counts both phases' trials."""
    for leverage in ("1.1", "1.2", "1.3"):
        _best(tuned, f"strategy.leverage={leverage}", "best.overwrite=false")
    newest = max(best_dir(tuned).glob("workflow.best*.json"), key=lambda p: p.stat().st_mtime)
    doc = json.loads(newest.read_text())
    family = doc["robustness"]["family"]
    assert family["model_trials"] == 3 and family["strategy_trials"] == 150
    assert all(isinstance(family[k], int) for k in ("model_trials", "strategy_trials"))
    looks = family["holdout_looks"]
    assert isinstance(looks, int) and looks >= 3
    assert f"holdout looked at {looks} times" in doc["robustness"]["verdict"]
    assert "out-of-sample Sharpe" not in doc["robustness"]["verdict"]
    _best(tuned, "strategy.leverage=1.3", "best.overwrite=false")  # the same look again
    again = max(best_dir(tuned).glob("workflow.best*.json"), key=lambda p: p.stat().st_mtime)
    assert json.loads(again.read_text())["robustness"]["family"]["holdout_looks"] == looks


def test_a_retrained_holdout_says_so_and_keeps_the_refit_result(tuned: Path) -> None:
    """Issue 22.1: `best.retrain_months=3` after a plain best run said nowhere that its holdout
    was retrained, and overwrote the single-refit result."""
    _best(tuned)
    plain = json.loads((best_dir(tuned) / "workflow.best.json").read_text())
    assert plain["how"]["holdout_model"] == "refit"
    done = _best(tuned, "best.retrain_months=3")
    assert "how: holdout" in done.stdout and "retrained every 3 month(s)" in done.stdout
    doc = json.loads((best_dir(tuned) / "workflow.best.json").read_text())
    assert doc["how"]["holdout_model"] == "retrained" and doc["how"]["retrain_months"] == 3
    page = (best_dir(tuned) / "workflow.best.html").read_text()
    assert "How this was made" in page and "retrained every 3 month(s)" in page
    kept = [
        json.loads(p.read_text())
        for p in best_dir(tuned).glob("workflow.best.2*.json")
        if (json.loads(p.read_text()).get("how") or {}).get("settings_key")
        == plain["how"]["settings_key"]
    ]
    assert kept and kept[-1]["metrics"] == plain["metrics"]  # the refit result is still there
    for name in (kept[-1]["files"]["curves"], kept[-1]["files"]["trades"]):
        assert name.startswith("workflow.best.2") and (best_dir(tuned) / name).is_file()


@pytest.mark.parametrize("phase", ["best", "report"])
def test_other_data_than_the_studies_were_tuned_on_is_refused(tuned: Path, phase: str) -> None:
    """The same study name over another market (here the synthetic market without its planted
    signal; a user's other file, or the same file edited): before, the best run refit the tuned
    model on it and judged it with the studies' trials, exit 0."""
    done = run_cli(f"phase={phase}", f"paths.outputs={tuned}", "asset.synthetic.planted_ic=0.1")
    assert done.returncode == 2, done.stdout[-2000:]
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(
        f"crypto-tune: error: phase={phase}: study 'default.SYNTH.4h.all.static.h1.model' was "
        "tuned on other data than this run reads (data "
    ), line
    assert "experiment_name=<new name>" in line


def test_a_holdout_cut_short_by_the_data_says_so(tmp_path: Path) -> None:
    """A file ending a week into the holdout: before, the result named the whole configured
    holdout and its out-of-sample figures read as if they covered it."""
    from crypto_tune.data import synthetic_market

    candles = synthetic_market(seed=3, n_bars=3000, planted_ic=0.1).candles
    path = tmp_path / "short.csv"
    short = candles[candles.index < "2022-01-08"]  # debug=fast: holdout 2022-01-01..2022-05-15
    short.rename_axis("timestamp").reset_index().to_csv(path, index=False)
    outputs = tmp_path / "outputs"
    args = ["asset=csv", f"asset.path={path}", "asset.symbol=SHORT", "debug=fast"]
    args += [f"paths.outputs={outputs}", "tracking.enabled=false"]
    for phase, trials in (("model", 2), ("strategy", 20)):
        done = run_cli("-m", f"phase={phase}", f"hydra.sweeper.n_trials={trials}", *args)
        assert done.returncode == 0, done.stderr[-3000:]
    done = run_cli("phase=best", *args)
    assert done.returncode == 0, done.stderr[-3000:]
    said = " (data 2022-01-01 00:00..2022-01-07 20:00 only: 42 bars, 5% of the period)"
    assert f"holdout 2022-01-01..2022-05-15{said}\n" in done.stdout
    assert "holds data from 2022-01-01 00:00 to 2022-01-07 20:00 only" in done.stdout + done.stderr
    document = json.loads((best_dir(outputs) / "workflow.best.json").read_text())
    assert document["periods"]["holdout_data"] == {
        "first": "2022-01-01 00:00",
        "last": "2022-01-07 20:00",
        "bars": 42,
        "share": 0.0519,
        "short": True,
    }
    assert said in document["how"]["text"]
    assert document["asset"]["files"] == {"SHORT": str(path)}  # absolute, as the run read it


def test_a_best_run_trades_the_fixed_settings_its_study_traded(tmp_path: Path) -> None:
    """A fixed (untuned) strategy setting the Phase 2 sweep ran with: a best run without it
    traded the config's value under "no overrides" and was judged by the study's trials."""
    outputs = tmp_path / "outputs"
    _tune(outputs, "strategy.slippage=0.0005", strategy_trials=20)
    common = ["phase=best", f"paths.outputs={outputs}", "tracking.enabled=false"]

    refused = run_cli(*common)
    assert refused.returncode == 2
    assert "traded other fixed settings than this run (strategy.slippage 0.0005 -> 0.0002)" in (
        refused.stderr
    )
    assert "repeat strategy.slippage=0.0005 on the command line" in refused.stderr

    same = run_cli(*common, "strategy.slippage=0.0005")
    assert same.returncode == 0, same.stderr[-3000:]
    assert "no overrides" in same.stdout and "(override)" not in same.stdout

    other = run_cli(*common, "strategy.slippage=0.001", "best.overwrite=false")
    assert other.returncode == 0, other.stderr[-3000:]
    assert "overrides strategy.slippage=0.001" in other.stdout
