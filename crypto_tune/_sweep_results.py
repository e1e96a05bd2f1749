"""The sweep's ``optimization_results.yaml``, as the stock sweeper writes it; a sweep in which no
trial completed ends with one line instead (the stock sweeper's ``study.best_trial`` raised)."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf
from optuna.trial import TrialState

from crypto_tune.exceptions import CryptoTuneError, SweepAborted

log = logging.getLogger("crypto_tune.sweeper")


def save_results(study: optuna.Study, n_directions: int, sweep_dir: Path) -> None:
    """Log the best trial (the Pareto front for several objectives) and write it to
    ``sweep_dir/optimization_results.yaml``; :class:`SweepAborted` when no trial completed."""
    results: dict[str, Any]
    states = Counter(t.state for t in study.get_trials(deepcopy=False))
    if not states[TrialState.COMPLETE]:
        raise SweepAborted(
            CryptoTuneError(
                f"no trial of study {study.study_name} completed ({states[TrialState.FAIL]} "
                f"failed, {states[TrialState.PRUNED]} pruned): each failure is in the warnings "
                "above"
            )
        )
    if n_directions < 2:
        best = study.best_trial
        results = {"name": "optuna", "best_params": best.params, "best_value": best.value}
        log.info(f"Best parameters: {best.params}")
        log.info(f"Best value: {best.value}")
    else:
        front = [{"params": t.params, "values": t.values} for t in study.best_trials]
        results = {"name": "optuna", "solutions": front}
        log.info(f"Number of Pareto solutions: {len(front)}")
        for t in study.best_trials:
            log.info(f"    Values: {t.values}, Params: {t.params}")
    OmegaConf.save(OmegaConf.create(results), sweep_dir / "optimization_results.yaml")


__all__ = ["save_results"]
