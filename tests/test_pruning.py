"""Phase 1 pruning (issue 24): each fold's score reaches the trial, the pruner stops hopeless
trials, and the sweeper records them PRUNED (crypto_tune/pruning.py, sweeper.py, launcher.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna
import pytest
from conftest import run_cli
from hydra.core.utils import JobReturn, JobStatus

from crypto_tune.cli import preflight
from crypto_tune.dataset import prepare_dataset
from crypto_tune.exceptions import ConfigError
from crypto_tune.memo import clear_memos
from crypto_tune.phases._model import run_model_trial
from crypto_tune.pruning import PRUNERS, make_pruner, sweep_trial, trial_scope
from crypto_tune.sweeper import _tell

State = optuna.trial.TrialState
MODEL = "default.SYNTH.4h.all.static.h1.model"


def _settings(outputs: Path, *overrides: str):
    settings = preflight(
        [
            "phase=model",
            "debug=fast",
            f"paths.outputs={outputs}",
            "tracking.enabled=false",
            *overrides,
        ]
    )
    assert settings is not None
    return settings


def test_every_pruner_name_makes_an_optuna_pruner_and_the_config_checks_the_name(
    tmp_path: Path,
) -> None:
    for name in PRUNERS:
        assert isinstance(make_pruner(name), optuna.pruners.BasePruner)
    assert _settings(tmp_path).phase.pruner == "median"
    with pytest.raises(ConfigError, match=r"phase\.pruner must be one of none, median, wilcoxon"):
        _settings(tmp_path, "phase.pruner=hyperband")


def test_a_trial_reports_each_fold_and_stops_when_its_pruner_says_so(tmp_path: Path) -> None:
    """In process: the trial a job runs as gets one intermediate value per fold; a pruner that
    prunes everything below IC 1 stops it at the first fold, nothing cached."""
    clear_memos()
    settings = _settings(tmp_path, "model.num_boost_round=30")
    n_folds = len(prepare_dataset(settings).folds)
    study = optuna.create_study(direction="maximize")
    keep = study.ask()
    with trial_scope(keep):
        assert sweep_trial() is keep
        value = run_model_trial(settings)
    assert sweep_trial() is None
    study.tell(keep, value)
    assert sorted(study.trials[0].intermediate_values) == list(range(n_folds))

    cached = set((Path(settings.paths.cache) / "predictions").glob("*.parquet"))
    assert cached  # the complete trial's predictions
    clear_memos()
    hopeless = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1.0)
    )
    trial = hopeless.ask()
    other = dataclasses.replace(settings, model=dataclasses.replace(settings.model, num_leaves=5))
    with trial_scope(trial), pytest.raises(optuna.TrialPruned):
        run_model_trial(other)
    assert list(hopeless.trials[0].intermediate_values) == [0]
    assert set((Path(settings.paths.cache) / "predictions").glob("*.parquet")) == cached


def test_the_sweeper_tells_a_pruned_job_pruned_and_a_failed_one_failed() -> None:
    study = optuna.create_study(direction="maximize")
    outcomes = {
        State.PRUNED: optuna.TrialPruned("after fold 0"),
        State.FAIL: ValueError("bad"),
        State.COMPLETE: 0.5,
    }
    for state, result in outcomes.items():
        trial = study.ask()
        trial.report(0.1, 0)
        ret = JobReturn()
        ret.status = JobStatus.COMPLETED if state == State.COMPLETE else JobStatus.FAILED
        ret.return_value = result
        error = _tell(study, trial, ret, 1, False)
        assert (error is None) == (state != State.FAIL)
        assert study.trials[-1].state == state
    assert study.trials[0].value == 0.1  # Optuna keeps a pruned trial's last reported value
    # our launcher hands a pruned job back COMPLETED with its TrialPruned: no error printed
    trial = study.ask()
    ret = JobReturn()
    ret.status = JobStatus.COMPLETED
    ret.return_value = optuna.TrialPruned("after fold 1")
    assert _tell(study, trial, ret, 1, False) is None and study.trials[-1].state == State.PRUNED


@pytest.mark.slow
@pytest.mark.parametrize("pruner", ["median", "none"])
def test_a_sweep_records_fold_scores_and_only_complete_or_pruned_trials(
    outputs: Path, pruner: str
) -> None:
    done = run_cli(
        "-m",
        "phase=model",
        "debug=fast",
        f"paths.outputs={outputs}",
        "tracking.enabled=false",
        f"phase.pruner={pruner}",
        "hydra.sweeper.n_trials=8",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Error executing job" not in done.stdout + done.stderr  # a pruned trial is no error
    study = optuna.load_study(study_name=MODEL, storage=f"sqlite:///{outputs}/optuna.db")
    trials = study.get_trials()
    assert len(trials) == 8
    assert {t.state for t in trials} <= (
        {State.COMPLETE, State.PRUNED} if pruner != "none" else {State.COMPLETE}
    )
    n_folds = max(len(t.intermediate_values) for t in trials)
    for t in trials:
        steps = sorted(t.intermediate_values)
        assert steps == list(range(len(steps)))
        assert len(steps) == n_folds if t.state == State.COMPLETE else len(steps) < n_folds


def test_the_last_fold_is_never_pruned(tmp_path: Path) -> None:
    """A pruner that would stop the trial only at its last fold leaves it COMPLETE: nothing is
    left to save (Optuna's Wilcoxon pruner did so at the fifth of five folds)."""
    clear_memos()
    settings = _settings(tmp_path, "model.num_boost_round=30")
    n_folds = len(prepare_dataset(settings).folds)
    late = optuna.pruners.ThresholdPruner(lower=1.0, n_warmup_steps=n_folds - 1)
    study = optuna.create_study(direction="maximize", pruner=late)
    trial = study.ask()
    with trial_scope(trial):
        value = run_model_trial(settings)
    study.tell(trial, value)
    assert study.trials[0].state == State.COMPLETE
    assert sorted(study.trials[0].intermediate_values) == list(range(n_folds))
