"""The sweep's optimization_results.yaml, and the one line of a sweep in which no trial
completed (the stock sweeper raised Optuna's 'Record does not exist' traceback there)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from crypto_tune._sweep_results import save_results
from crypto_tune.exceptions import SweepAborted

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(states: list[TrialState], *, directions: int = 1) -> optuna.Study:
    study = optuna.create_study(study_name="s", directions=["maximize"] * directions)
    for i, state in enumerate(states):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 10)})
        values = [float(i)] * directions if state == TrialState.COMPLETE else None
        study.tell(trial, values, state=state)
    return study


def test_no_completed_trial_is_one_line_naming_the_study(tmp_path: Path) -> None:
    study = _study([TrialState.FAIL, TrialState.FAIL, TrialState.PRUNED])
    with pytest.raises(SweepAborted) as raised:
        save_results(study, 1, tmp_path)
    message = str(raised.value.error)
    assert message.startswith("no trial of study s completed (2 failed, 1 pruned)")
    assert "\n" not in message
    assert not (tmp_path / "optimization_results.yaml").exists()
    with pytest.raises(SweepAborted):  # nor with two objectives
        save_results(_study([TrialState.FAIL], directions=2), 2, tmp_path)


def test_the_best_trial_or_the_front_is_written(tmp_path: Path) -> None:
    save_results(_study([TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]), 1, tmp_path)
    results = OmegaConf.load(tmp_path / "optimization_results.yaml")
    assert results.best_value == 2.0 and set(results.best_params) == {"x"}
    save_results(_study([TrialState.COMPLETE, TrialState.COMPLETE], directions=2), 2, tmp_path)
    front = OmegaConf.load(tmp_path / "optimization_results.yaml").solutions
    assert [list(s["values"]) for s in front] == [[1.0, 1.0]]
