"""MLflow as its users know it, read back through ``mlflow.search_runs`` on the real local store.

One parent run per sweep process, the trials nested under it and open while they compute (real
start, end and duration), the data they were tuned on as an MLflow dataset whose digest is the
project's data fingerprint, and the phase's objective as the metric ``objective``. Also: a plain
``postgresql://`` URL reads the project's studies (SQLAlchemy 2.1 maps it to psycopg 3).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import mlflow
import optuna
import pytest
from conftest import FAST, run_cli
from hydra import compose, initialize_config_dir

from crypto_tune.cli import settings_from_config
from crypto_tune.config import Settings, config_dir, register_resolvers
from crypto_tune.dataset import data_fingerprint, load_asset

warnings.filterwarnings("ignore", module="mlflow")
optuna.logging.set_verbosity(optuna.logging.WARNING)
SLACK_MS = 50  # MLflow stores milliseconds, Optuna microseconds: rounding and clock reads


def _settings(outputs: Path, experiment: str, *overrides: str) -> Settings:
    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir())):
        cfg = compose(
            "config",
            overrides=[
                *FAST,
                f"paths.outputs={outputs}",
                f"experiment_name={experiment}",
                *overrides,
            ],
        )
    return settings_from_config(cfg)


def _only_study(outputs: Path) -> optuna.Study:
    storage = f"sqlite:///{outputs}/optuna.db"
    names = optuna.get_all_study_names(storage=storage)
    assert len(names) == 1, names
    return optuna.load_study(study_name=names[0], storage=storage)


def _runs(outputs: Path, experiment: str) -> list[Any]:
    mlflow.set_tracking_uri(f"sqlite:///{outputs}/mlflow.db")
    return mlflow.search_runs(experiment_names=[experiment], output_format="list")


def _parent_and_trials(runs: list[Any]) -> tuple[Any, list[Any]]:
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1, [r.info.run_name for r in parents]
    parent = parents[0]
    trials = [r for r in runs if r is not parent]
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in trials)
    return parent, trials


def _ms(moment: Any) -> float:
    return moment.timestamp() * 1000


@pytest.fixture(scope="module")
def model_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A real two-trial Phase 1 sweep: (outputs, experiment_name, stdout)."""
    outputs = tmp_path_factory.mktemp("tracking") / "outputs"
    experiment = f"t{uuid.uuid4().hex[:10]}"
    done = run_cli(
        "-m",
        "phase=model",
        *FAST,
        f"paths.outputs={outputs}",
        f"experiment_name={experiment}",
        "hydra.sweeper.n_trials=2",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return outputs, experiment, done.stdout


@pytest.mark.slow
def test_a_sweep_is_one_parent_run_with_its_trials_nested_and_timed(
    model_sweep: tuple[Path, str, str],
) -> None:
    outputs, _, stdout = model_sweep
    study = _only_study(outputs)
    parent, trials = _parent_and_trials(_runs(outputs, study.study_name))
    assert parent.info.status == "FINISHED" and parent.data.tags["kind"] == "sweep-summary"
    assert len(trials) == 2 and all(r.info.status == "FINISHED" for r in trials)

    optuna_trials = {t.number: t for t in study.get_trials()}
    logged = {int(n): float(s) for n, s in re.findall(r"trial (\d+) \|.*\| ([\d.]+)s", stdout)}
    assert set(logged) == {0, 1}
    for run in trials:
        trial = optuna_trials[int(run.data.tags["trial_number"])]
        start, end = run.info.start_time, run.info.end_time
        # open while the trial computed: inside the Optuna trial, inside the parent, and at least
        # as long as the seconds the trial itself logged (rounded to 0.1 s)
        assert _ms(trial.datetime_start) - SLACK_MS <= start < end
        assert end <= _ms(trial.datetime_complete) + SLACK_MS
        assert parent.info.start_time <= start and end <= parent.info.end_time
        assert end - start >= (logged[trial.number] - 0.05) * 1000
        assert end - start > 20  # the trial trains LightGBM on 3 folds: not an after-the-fact log
        # the objective under one name in every trial, plus the objective's own name
        assert run.data.metrics["objective"] == pytest.approx(trial.value)
        assert run.data.metrics["ic"] == pytest.approx(trial.value)  # phase.objective=ic
        assert run.info.run_name == f"trial-{trial.number}"
    assert parent.data.metrics["objective"] == pytest.approx(study.best_value)
    assert parent.data.metrics["n_complete"] == 2
    # the parent holds the fixed configuration and the search space, not unused defaults
    assert "search.model.num_leaves" in parent.data.params
    assert "model.num_leaves" not in parent.data.params
    assert "model.num_leaves" in trials[0].data.params


@pytest.mark.slow
def test_every_run_shows_the_data_it_was_tuned_on(model_sweep: tuple[Path, str, str]) -> None:
    outputs, experiment, _ = model_sweep
    settings = _settings(outputs, experiment)
    candles, _ = load_asset(settings.asset)
    fingerprint = data_fingerprint(candles)
    study = _only_study(outputs)
    runs = _runs(outputs, study.study_name)
    assert len(runs) == 3
    for run in runs:
        (used,) = run.inputs.dataset_inputs
        assert used.dataset.digest == fingerprint
        assert used.dataset.name == "SYNTH/4h"
        assert used.dataset.source_type == "code"  # the synthetic market has no file
        assert '"seed": 7' in used.dataset.source and '"n_bars": 3000' in used.dataset.source
        assert {t.key: t.value for t in used.tags}["mlflow.data.context"] == "tuning"
        assert run.data.tags.get("data_fingerprint", fingerprint) == fingerprint


@pytest.mark.slow
def test_phase2_per_trial_runs_nest_under_their_sweep(model_sweep: tuple[Path, str, str]) -> None:
    outputs, experiment, _ = model_sweep
    done = run_cli(
        "-m",
        "phase=strategy",
        *FAST,
        f"paths.outputs={outputs}",
        f"experiment_name={experiment}",
        "hydra.sweeper.n_trials=3",
        "tracking.per_trial_runs=true",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    mlflow.set_tracking_uri(f"sqlite:///{outputs}/mlflow.db")
    names = [e.name for e in mlflow.search_experiments() if e.name.endswith(".strategy")]
    assert len(names) == 1
    parent, trials = _parent_and_trials(_runs(outputs, names[0]))
    assert len(trials) == 3 and parent.data.metrics["n_complete"] == 3
    for run in trials:
        assert run.info.status == "FINISHED" and run.info.end_time > run.info.start_time
        assert parent.info.start_time <= run.info.start_time
        assert run.info.end_time <= parent.info.end_time
        assert "objective" in run.data.metrics
        assert len(run.inputs.dataset_inputs) == 1
    best = max(r.data.metrics["objective"] for r in trials)
    assert parent.data.metrics["objective"] == pytest.approx(best)


@pytest.mark.slow
def test_an_interrupted_sweep_says_so(outputs: Path, experiment: str) -> None:
    """Ctrl-C: the parent is KILLED (still summarised), the interrupted trial's run too."""
    import signal

    args = ["-m", "phase=model", *FAST, f"paths.outputs={outputs}", f"experiment_name={experiment}"]
    # trials of a second or more, nearly all of it training: the signal lands in trial 2's folds
    slow = ["model.num_boost_round=800", "model.early_stopping_rounds=800"]
    slow += ["model.learning_rate=0.001", "model.num_leaves=31", "model.min_data_in_leaf=20"]
    sweep = subprocess.Popen(
        [sys.executable, "-m", "crypto_tune", *args, *slow, "hydra.sweeper.n_trials=200"],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert sweep.stdout is not None
    for line in sweep.stdout:  # until trial 1 is done (or the process ended)
        if "trial 1 |" in line:
            break
    # Not at once: the line is logged inside trial 1, before its run closes (a signal then kills
    # trial 1), and one landing in MLflow's own calls can leave a run RUNNING. Once trial 2 has
    # reported its first fold, it is training the next ones: the signal lands there.
    study, deadline = _only_study(outputs), time.monotonic() + 300
    while not any(t.number == 2 and t.intermediate_values for t in study.trials):
        assert sweep.poll() is None and time.monotonic() < deadline, "trial 2 reported no fold"
        time.sleep(0.01)
    sweep.send_signal(signal.SIGINT)
    _, err = sweep.communicate(timeout=120)
    assert sweep.returncode == 130, err[-2000:]
    parent, trials = _parent_and_trials(_runs(outputs, _only_study(outputs).study_name))
    assert parent.info.status == "KILLED" and parent.data.metrics["n_complete"] >= 2
    states = sorted(r.info.status for r in trials)
    assert states.count("FINISHED") >= 2 and set(states) <= {"FINISHED", "KILLED"}
    assert all(r.info.end_time <= parent.info.end_time for r in trials)


# ------------------------------------------------------------------ the tracking API in-process
@pytest.fixture
def no_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    from crypto_tune import tracking

    monkeypatch.delenv(tracking.SWEEP_RUN_ENV, raising=False)
    monkeypatch.setattr(tracking, "_SWEEP", None)


def test_a_trial_run_is_open_while_it_computes_and_fails_with_it(
    outputs: Path, experiment: str, no_sweep: None
) -> None:
    from crypto_tune import tracking
    from crypto_tune.study import study_name

    settings = _settings(outputs, experiment)
    name = study_name(settings)
    seen: dict[str, str] = {}

    @tracking.trial_run()
    def trial(settings: Settings, *, fail: bool = False) -> float:
        active = mlflow.active_run()
        assert active is not None  # already open before the work starts
        seen.setdefault("open", active.info.run_id)
        time.sleep(0.3)
        if fail:
            raise RuntimeError("boom")
        with tracking.start_run(settings.tracking, name, run_name="trial-7", tags={"x": 1}) as run:
            assert run is not None
            seen["logged"] = run.run_id  # the open run, not a second one
            run.metrics({"objective": 0.25})
        return 0.25

    parent = tracking.open_sweep_run(settings.tracking, name, run_name="sweep-test")
    assert parent is not None and os.environ[tracking.SWEEP_RUN_ENV] == parent
    assert trial(settings) == 0.25
    with pytest.raises(RuntimeError):
        trial(settings, fail=True)
    with tracking.sweep_run(settings.tracking, name) as run:
        assert run is not None and run.run_id == parent
    assert tracking.SWEEP_RUN_ENV not in os.environ

    runs = {r.info.run_id: r for r in _runs(outputs, name)}
    assert seen["open"] == seen["logged"] and len(runs) == 3
    done = runs[seen["logged"]]
    assert done.info.run_name == "trial-7" and done.data.tags["x"] == "1"
    assert done.info.end_time - done.info.start_time >= 300
    failed = [r for r in runs.values() if r.info.status == "FAILED"]
    assert len(failed) == 1 and failed[0].data.tags["mlflow.parentRunId"] == parent
    assert done.data.tags["mlflow.parentRunId"] == parent
    assert runs[parent].info.status == "FINISHED"
    assert runs[parent].data.metrics["objective"] == 0.25


def test_the_parent_objective_is_the_best_of_its_trials_in_the_study_direction(
    outputs: Path, experiment: str, no_sweep: None
) -> None:
    from crypto_tune import tracking
    from crypto_tune.study import study_name

    settings = _settings(outputs, experiment)
    name = study_name(settings)

    @tracking.trial_run()
    def trial(settings: Settings, value: float) -> float:
        with tracking.start_run(settings.tracking, name) as run:
            assert run is not None
            run.metrics({"objective": value})
        return value

    for direction, expected, workers in (("maximize", 0.3, False), ("minimize", 0.1, True)):
        tracking.open_sweep_run(settings.tracking, name, run_name=direction)
        for value in (0.2, 0.3, 0.1):
            trial(settings, value)
        if workers:  # as if joblib worker processes ran the trials: only their runs tell
            assert tracking._SWEEP is not None
            tracking._SWEEP.values.clear()
        with tracking.sweep_run(settings.tracking, name, direction=direction) as run:
            assert run is not None
            parent = run.run_id
        assert mlflow.get_run(parent).data.metrics["objective"] == expected
    with tracking.sweep_run(settings.tracking, name, direction=None) as run:
        assert run is not None  # no open parent: a run of its own, and no single best
    assert "objective" not in mlflow.get_run(run.run_id).data.metrics


def test_a_stale_parent_id_from_elsewhere_is_ignored(
    outputs: Path, experiment: str, no_sweep: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crypto_tune import tracking

    settings = _settings(outputs, experiment)
    monkeypatch.setenv(tracking.SWEEP_RUN_ENV, uuid.uuid4().hex)
    with tracking.start_run(settings.tracking, f"{experiment}.x", run_name="alone") as run:
        assert run is not None
    (alone,) = _runs(outputs, f"{experiment}.x")
    assert "mlflow.parentRunId" not in alone.data.tags and alone.info.status == "FINISHED"


def test_tracking_disabled_opens_nothing(outputs: Path, experiment: str, no_sweep: None) -> None:
    from crypto_tune import tracking

    settings = _settings(outputs, experiment, "tracking.enabled=false")
    calls = []

    @tracking.trial_run()
    def trial(settings: Settings) -> float:
        calls.append(mlflow.active_run())
        return 1.0

    assert tracking.open_sweep_run(settings.tracking, "x", run_name="s") is None
    assert trial(settings) == 1.0 and calls == [None]
    assert not (outputs / "mlflow.db").exists()


# ------------------------------------------------------------------ plain postgresql:// URLs
@pytest.mark.postgres
@pytest.mark.slow
def test_a_plain_postgresql_url_reads_the_projects_study(
    pg_url: str, outputs: Path, experiment: str
) -> None:
    """SQLAlchemy 2.1 maps postgresql:// to psycopg 3: shipped, so every tool reads the study."""
    import sqlalchemy

    assert pg_url.startswith("postgresql://")  # plain: no +driver
    assert sqlalchemy.make_url(pg_url).get_dialect().driver == "psycopg"
    done = run_cli(
        "-m",
        "phase=model",
        *FAST,
        "storage=postgres",
        f"storage.url={pg_url}",
        f"paths.outputs={outputs}",
        f"experiment_name={experiment}",
        "hydra.sweeper.n_trials=1",
        "tracking.enabled=false",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    names = [n for n in optuna.get_all_study_names(storage=pg_url) if n.startswith(experiment)]
    assert len(names) == 1
    study = optuna.load_study(study_name=names[0], storage=pg_url)
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 1
    # Optuna's own command line, given the same plain URL
    optuna_cli = str(Path(sys.executable).with_name("optuna"))
    listed = subprocess.run(
        [optuna_cli, "studies", "--storage", pg_url, "-f", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert names[0] in listed.stdout
    optuna.delete_study(study_name=names[0], storage=pg_url)


def test_a_page_goes_to_mlflow_loading_plotly_from_the_cdn(tmp_path: Path) -> None:
    """Issue 22, item 8: a page's folder keeps the one plotly.js; its MLflow copy cannot reach
    it, so the copy loads plotly.js from the CDN instead of carrying ~4 MB of it."""
    from crypto_tune.config import TrackingSettings
    from crypto_tune.report import write_report
    from crypto_tune.report._plotlyjs import PLOTLY_JS
    from crypto_tune.tracking import start_run

    page = write_report(f"<html><head>{PLOTLY_JS}</head><body>x</body></html>", tmp_path / "p.html")
    tracking = TrackingSettings(
        uri=f"sqlite:///{tmp_path}/mlflow.db", artifact_location=str(tmp_path / "artifacts")
    )
    with start_run(tracking, f"pages-{uuid.uuid4().hex[:8]}", run_name="page") as run:
        assert run is not None
        run.file(page)
    logged = list((tmp_path / "artifacts").rglob("p.html"))
    assert len(logged) == 1
    text = logged[0].read_text(encoding="utf-8")
    assert '<script src="https://cdn.plot.ly/plotly-' in text and "data-plotlyjs" not in text
    assert logged[0].stat().st_size < 10_000


def test_a_results_tags_say_what_it_ran_on_and_how_it_was_made(tmp_path: Path) -> None:
    from crypto_tune.tracking import code_version, result_tags

    settings = _settings(tmp_path, "tags")
    best = {
        "asset": {"data_fingerprint": "abc123"},
        "robustness": {"verdict": "no evidence of an edge"},
        "how": {"text": "holdout 2024 predicted by the model refit", "settings_key": "k"},
    }
    assert result_tags(settings, "best", best) == {
        "phase": "best",
        "asset": settings.asset.name,
        "code_version": code_version(),
        "data_fingerprint": "abc123",
        "verdict": "no evidence of an edge",
        "how": "holdout 2024 predicted by the model refit",
    }
    walkforward = result_tags(settings, "walkforward", {"asset": best["asset"]})
    assert set(walkforward) == {"phase", "asset", "code_version", "data_fingerprint"}
    universe = _settings(tmp_path, "tags", "asset=universe", "strategy=topk")
    assert result_tags(universe, "walkforward", {"asset": best["asset"]})["kind"] == "universe"
