"""Hydra callbacks: after a sweep, one MLflow run summarising the study (best and top trials)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("crypto_tune.sweep")


class StudySummaryCallback(Callback):
    """``on_multirun_end``: log the study's summary as one MLflow run in its experiment."""

    def __init__(self, top_k: int = 20) -> None:
        self.top_k = top_k

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from crypto_tune.cli import settings_from_config
        from crypto_tune.exceptions import CryptoTuneError

        task_cfg = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
        try:
            settings = settings_from_config(task_cfg)
            sweep_dir = Path(str(config.hydra.sweep.dir))
            log_study_summary(settings, sweep_dir=sweep_dir, top_k=self.top_k)
        except CryptoTuneError as exc:
            log.warning("study summary not logged: %s", exc)


def log_study_summary(settings: Any, *, sweep_dir: Path | None, top_k: int = 20) -> str | None:
    """Log best value/params, counts, the top trials and the optimisation history; return run id."""
    import optuna

    from crypto_tune.tracking import code_version, start_run

    study = optuna.load_study(study_name=settings.study.name, storage=settings.storage.url)
    states = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == states.COMPLETE]
    counts = {
        f"n_{s.name.lower()}": sum(t.state == s for t in trials)
        for s in (states.COMPLETE, states.FAIL, states.RUNNING, states.PRUNED)
    }
    if not complete:
        log.warning("study %s has no complete trial: nothing to summarise", study.study_name)
        return None
    best = study.best_trial
    log.info(
        "study %s: %d trials complete, best %.5f (trial %d) with %s",
        study.study_name,
        len(complete),
        best.value,
        best.number,
        best.params,
    )
    tags = {
        "study": study.study_name,
        "phase": settings.phase.name,
        "kind": "sweep-summary",
        "asset": settings.asset.name,
        "code_version": code_version(),
    }
    with start_run(settings.tracking, study.study_name, run_name="sweep-summary", tags=tags) as run:
        if run is None:
            return None
        run.params({f"best.{k}": v for k, v in best.params.items()})
        run.metrics(
            {
                "best_value": float(best.value),
                "best_trial": float(best.number),
                **{k: float(v) for k, v in counts.items()},
            }
        )
        frame = study.trials_dataframe(attrs=("number", "value", "params", "state", "duration"))
        frame = frame[frame["state"] == "COMPLETE"].sort_values("value", ascending=False)
        run.frame(frame.head(top_k).set_index("number"), "top_trials.csv")
        if sweep_dir is not None and (sweep_dir / "optimization_results.yaml").exists():
            run.file(sweep_dir / "optimization_results.yaml")
        if len(complete) >= 2:
            from optuna.visualization import plot_optimization_history

            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp, "optimization_history.html")
                plot_optimization_history(study).write_html(path, include_plotlyjs=True)
                run.file(path)
        return run.run_id
