"""``crypto-tune phase=walkforward`` end to end on the synthetic market (tiny budgets): the table,
the JSON contract, the page and MLflow; a rerun that tunes nothing; two workers on PostgreSQL."""

from __future__ import annotations

import itertools
import json
import resource
import subprocess
import sys
from pathlib import Path

import mlflow
import optuna
import pytest
from conftest import ROOT, run_cli

pytestmark = pytest.mark.slow

MODEL_TRIALS, STRATEGY_TRIALS = 2, 12
STEPS = ("model", "strategy", "trade")
ARGS = (
    "phase=walkforward",
    "debug=fast",
    "split=walk_forward",
    "split.train_months=6",
    f"walkforward.model_trials={MODEL_TRIALS}",
    f"walkforward.strategy_trials={STRATEGY_TRIALS}",
)


def _child_cpu_s() -> float:
    """CPU seconds of this process's finished children: the rerun is compared with the first run
    on the work each does (wall time also counts what else the machine runs meanwhile, and the
    first run takes only ~1.5x the rerun's)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _json(outputs: Path) -> dict:
    (path,) = (outputs / "walkforward").glob("*/walkforward.json")
    return json.loads(path.read_text())


def _counts(storage: str, names: list[str]) -> dict[str, int]:
    complete = optuna.trial.TrialState.COMPLETE
    return {
        name: len(
            optuna.load_study(study_name=name, storage=storage).get_trials(states=(complete,))
        )
        for name in names
    }


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, float]:
    outputs = tmp_path_factory.mktemp("wf") / "outputs"
    started = _child_cpu_s()
    done = run_cli(*ARGS, f"paths.outputs={outputs}")
    seconds = _child_cpu_s() - started
    assert done.returncode == 0, done.stderr[-3000:]
    return outputs, done, seconds


def test_walkforward_table_json_page_and_mlflow(first_run) -> None:
    outputs, done, _ = first_run
    doc = _json(outputs)
    windows = doc["windows"]
    assert len(windows) == 4
    for w, nxt in itertools.pairwise(windows):
        assert w["test_end"] < nxt["test_start"]
    for w in windows:
        assert w["train_start"] < w["train_end"] < w["test_start"] <= w["test_end"]
        assert set(w["model_params"]) >= {"learning_rate", "num_leaves"}
        assert set(w["strategy_params"]) == {
            "entry",
            "exit",
            "signal_window",
            "stop_loss",
            "take_profit",
        }
        assert "sharpe" in w["in_sample"]
        assert set(w["out_of_sample"]) >= {"sharpe", "total_return", "n_trades"}
        assert w["trials"]["model_complete"] == MODEL_TRIALS
        assert w["trials"]["strategy_complete"] == STRATEGY_TRIALS
    assert set(doc["stitched"]) >= {"sharpe", "total_return", "max_drawdown", "n_trades", "psr"}
    assert doc["stitched"]["n_trades"] == sum(w["out_of_sample"]["n_trades"] for w in windows)
    assert doc["stitched"]["n_bars"] == sum(w["out_of_sample"]["n_bars"] for w in windows)
    assert set(doc["benchmark"]) >= {"sharpe", "total_return", "max_drawdown"}
    assert "efficiency" in doc
    # the table, one progress line per window step, the summary
    out = done.stdout
    assert "OOS Sharpe" in out and "walk-forward efficiency" in out and "buy & hold" in out
    for w in windows:
        assert f"{w['test_start'][:10]}..{w['test_end'][:10]}" in out
    lines = (done.stdout + done.stderr).splitlines()
    steps = [line for line in lines if any(f" | {s}: " in line for s in STEPS)]
    assert len(steps) == 3 * len(windows), done.stdout[-2000:]
    folder = outputs / "walkforward" / doc["study"]
    page = (folder / "walkforward.html").read_text()
    assert 'id="plot-equity"' in page and 'id="plot-drift"' in page
    import pandas as pd

    curves = pd.read_parquet(folder / "walkforward.curves.parquet")
    assert len(curves) == doc["stitched"]["n_bars"]
    assert (curves["returns"].add(1).prod() - 1) == pytest.approx(doc["stitched"]["total_return"])
    # MLflow: one run with the JSON and the page as artifacts
    mlflow.set_tracking_uri(f"sqlite:///{outputs}/mlflow.db")
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(f"{doc['study']}.walkforward")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {
        "walkforward.json",
        "walkforward.html",
    }
    assert "stitched.sharpe" in run.data.metrics or doc["stitched"]["sharpe"] is None


def test_rerun_resumes_without_tuning(first_run) -> None:
    outputs, _, first_seconds = first_run
    doc = _json(outputs)
    storage = f"sqlite:///{outputs}/optuna.db"
    before = _counts(storage, doc["studies"])
    started = _child_cpu_s()
    done = run_cli(*ARGS, f"paths.outputs={outputs}")
    seconds = _child_cpu_s() - started
    assert done.returncode == 0, done.stderr[-3000:]
    assert _counts(storage, doc["studies"]) == before
    again = _json(outputs)
    assert all(w["trials"]["model_tuned_here"] == 0 for w in again["windows"])
    assert all(w["trials"]["strategy_tuned_here"] == 0 for w in again["windows"])
    assert [w["out_of_sample"] for w in again["windows"]] == [
        w["out_of_sample"] for w in doc["windows"]
    ]
    assert again["stitched"] == doc["stitched"]
    assert seconds < first_seconds, (seconds, first_seconds)


def test_wrong_input_fails_at_start(tmp_path: Path) -> None:
    done = run_cli("-m", "phase=walkforward", "debug=fast", f"paths.outputs={tmp_path}")
    assert done.returncode == 2 and "single run" in done.stderr
    done = run_cli(*ARGS, "walkforward.model_trials=0", f"paths.outputs={tmp_path}")
    assert done.returncode == 2 and "walkforward.model_trials" in done.stderr
    done = run_cli(*ARGS, "split.train_months=30", f"paths.outputs={tmp_path}")
    assert done.returncode == 2 and "train_months" in done.stderr
    assert not (tmp_path / "walkforward").exists()


def test_two_workers_share_the_windows_on_postgres(pg_url: str, tmp_path: Path, experiment: str):
    """Two processes with the same command: every study ends with its budget of complete trials
    (at most one more), none is lost, and both trade the same pinned model in every window."""
    args = [
        *ARGS,
        "storage=postgres",
        f"storage.url={pg_url}",
        f"experiment_name={experiment}",
        "tracking.enabled=false",
        "walkforward.strategy_trials=40",
    ]
    procs, outs = [], []
    for n in range(2):
        outs.append(tmp_path / f"w{n}")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "crypto_tune", *args, f"paths.outputs={outs[-1]}"],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    docs = [_json(o) for o in outs]
    counts = _counts(pg_url, docs[0]["studies"])
    for name, count in counts.items():
        budget = MODEL_TRIALS if name.endswith(".model") else 40
        assert budget <= count <= budget + 1, (name, count)
    tuned = sum(
        w["trials"]["model_tuned_here"] + w["trials"]["strategy_tuned_here"]
        for doc in docs
        for w in doc["windows"]
    )
    assert tuned == sum(counts.values())  # every complete trial was run by one of the two
    for doc in docs:  # and both did their share
        assert sum(w["trials"]["strategy_tuned_here"] for w in doc["windows"]) > 0
    for a, b in zip(docs[0]["windows"], docs[1]["windows"], strict=True):
        assert a["model_params"] == b["model_params"]
