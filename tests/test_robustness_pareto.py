"""Choosing from a Pareto front (best.pareto) and the two-objective sweep end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest
from conftest import FAST, best_dir, run_cli

from crypto_tune.exceptions import ConfigError
from crypto_tune.robustness import pareto_choice

FRONT = np.array([[2.0, 0.50], [1.5, 0.20], [1.0, 0.10], [0.2, 0.05]])  # sharpe up, drawdown down


def test_utopia_picks_the_balanced_trial() -> None:
    assert pareto_choice(FRONT, ["maximize", "minimize"]) == 1


def test_first_picks_the_best_first_objective() -> None:
    assert pareto_choice(FRONT, ["maximize", "minimize"], "first") == 0
    assert pareto_choice(FRONT[:, ::-1], ["minimize", "maximize"], "first") == 3


def test_pareto_choice_is_scale_free() -> None:
    scaled = FRONT * np.array([100.0, 0.01])
    assert pareto_choice(scaled, ["maximize", "minimize"]) == pareto_choice(
        FRONT, ["maximize", "minimize"]
    )


def test_pareto_choice_rejects_bad_input() -> None:
    with pytest.raises(ConfigError, match="values must be"):
        pareto_choice(np.zeros((3, 3)), ["maximize", "minimize"])
    with pytest.raises(ConfigError, match=r"best\.pareto"):
        pareto_choice(FRONT, ["maximize", "minimize"], "nope")


@pytest.mark.slow
def test_two_objective_sweep_writes_a_front_that_best_reads(outputs: Path) -> None:
    common = [
        *FAST,
        f"paths.outputs={outputs}",
        "phase.model_source=config",
        "tracking.enabled=false",
        "hparams_search=strategy_pareto",  # the objectives and NSGA-II in one preset
    ]
    done = run_cli("-m", "phase=strategy", "hydra.sweeper.n_trials=25", *common)
    assert done.returncode == 0, done.stderr[-3000:]
    study = optuna.load_study(
        study_name="default.SYNTH.4h.all.static.h1.strategy",
        storage=f"sqlite:///{outputs}/optuna.db",
    )
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    front = study.best_trials
    assert front
    done = run_cli("phase=best", *common)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads((best_dir(outputs) / "workflow.best.json").read_text())
    assert "Pareto front" in doc["strategy"]["source"]
    number = int(doc["strategy"]["source"].split("#")[1].split()[0])
    assert number in {t.number for t in front}
    assert doc["strategy"]["objective"]["objectives"] == ["sharpe", "max_drawdown"]


@pytest.mark.slow
def test_best_of_a_pareto_study_scores_the_study_objectives_without_the_preset(
    outputs: Path,
) -> None:
    """Issue 22, item 4: `phase=best experiment_name=pareto` (no hparams_search) used to explain
    and judge the default objective (psr) and blame "the parameters differ" for the gap."""
    common = [*FAST, f"paths.outputs={outputs}", "phase.model_source=config"]
    common += ["tracking.enabled=false", "experiment_name=pareto"]
    done = run_cli(
        "-m",
        "phase=strategy",
        "hydra.sweeper.n_trials=20",
        "hparams_search=strategy_pareto",
        *common,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    done = run_cli("phase=best", *common)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads((best_dir(outputs) / "workflow.best.json").read_text())
    objective = doc["strategy"]["objective"]
    assert objective["name"] == "sharpe"
    assert objective["objectives"] == ["sharpe", "max_drawdown"]
    assert objective["value"] == pytest.approx(objective["study_value"], rel=1e-6)
    assert "the study recorded" not in objective["note"]
