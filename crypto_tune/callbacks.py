"""Hydra callbacks: the sweep's MLflow parent run, open for the whole sweep, with its summary.

``on_multirun_start`` opens one parent run per sweep process in the study's experiment (the
trials nest under it, see :mod:`crypto_tune.tracking`); ``on_multirun_end`` logs the study's
summary (best and top trials, counts, optimisation history) into it and closes it.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("crypto_tune.sweep")


def _task_settings(config: DictConfig) -> Any:
    from crypto_tune.cli import settings_from_config

    task_cfg = OmegaConf.masked_copy(config, [str(k) for k in config if k != "hydra"])
    return settings_from_config(task_cfg)


class StudySummaryCallback(Callback):
    """The sweep's parent run: opened when the sweep starts, summarised and closed at its end."""

    def __init__(self, top_k: int = 20) -> None:
        self.top_k = top_k

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from crypto_tune.exceptions import CryptoTuneError

        try:
            settings = _task_settings(config)
            open_sweep(settings, space=search_space(config))
        except CryptoTuneError as exc:
            log.warning("sweep run not opened: %s", exc)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from crypto_tune.exceptions import CryptoTuneError

        # Hydra calls this from a `finally`: an interrupted or stopped sweep is still summarised,
        # and its parent run says how it ended.
        error = sys.exc_info()[1]
        status = "FINISHED"
        if isinstance(error, KeyboardInterrupt):
            status = "KILLED"
        elif error is not None and not (isinstance(error, SystemExit) and not error.code):
            status = "FAILED"
        try:
            settings = _task_settings(config)
            sweep_dir = Path(str(config.hydra.sweep.dir))
            log_study_summary(settings, sweep_dir=sweep_dir, top_k=self.top_k, status=status)
        except CryptoTuneError as exc:
            log.warning("study summary not logged: %s", exc)


def search_space(config: DictConfig) -> dict[str, str]:
    """The sweep's search space as the sweeper sees it: ``hydra.sweeper.params``, with the
    command line winning (a sweep override replaces a space, a plain value fixes the key)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = OmegaConf.to_container(config.hydra.sweeper.get("params") or {}, resolve=True)
    assert isinstance(params, dict)
    space = {str(k): str(v) for k, v in params.items()}
    overrides = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
    for override in overrides:
        key = override.key_or_group
        if override.is_sweep_override():
            space[key] = (override.input_line or "").split("=", 1)[-1]
        else:
            space.pop(key, None)
    return space


def open_sweep(settings: Any, *, space: dict[str, str]) -> str | None:
    """Open this process's parent run: the fixed configuration as params (the swept keys as
    ``search.<key>`` = their search space, not their unused defaults); return its id."""
    from crypto_tune.study import study_name
    from crypto_tune.tracking import code_version, datasets, open_sweep_run, settings_params

    name = study_name(settings)
    params = {k: v for k, v in settings_params(settings).items() if k not in space}
    params.update({f"search.{k}": v for k, v in space.items()})
    tags = {
        "study": name,
        "phase": settings.phase.name,
        "asset": settings.asset.name,
        "code_version": code_version(),
    }
    return open_sweep_run(
        settings.tracking,
        name,
        run_name=f"sweep-{settings.phase.name}",
        tags=tags,
        params=params,
        inputs=datasets(settings) if settings.tracking.enabled else None,
    )


def log_study_summary(
    settings: Any, *, sweep_dir: Path | None, top_k: int = 20, status: str = "FINISHED"
) -> str | None:
    """Log best value/params, counts, the top trials and the optimisation history into the
    sweep's parent run (a new run outside a sweep), closed with ``status``; return the run id.

    A two-objective study has no single best: its Pareto front is logged instead
    (``n_pareto``, ``pareto_front.csv``).
    """
    import optuna

    from crypto_tune.study import open_study, study_name
    from crypto_tune.tracking import code_version, sweep_run

    name = study_name(settings)
    study = open_study(settings, settings.phase.name)
    states = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == states.COMPLETE]
    counts = {
        f"n_{s.name.lower()}": sum(t.state == s for t in trials)
        for s in (states.COMPLETE, states.FAIL, states.RUNNING, states.PRUNED)
    }
    multi = len(study.directions) > 1
    direction = None if multi else study.direction.name.lower()
    tags = {
        "study": study.study_name,
        "phase": settings.phase.name,
        "kind": "sweep-summary",
        "asset": settings.asset.name,
        "code_version": code_version(),
        "direction": ",".join(d.name.lower() for d in study.directions),
    }
    with sweep_run(settings.tracking, name, tags=tags, status=status, direction=direction) as run:
        numbers = {k: float(v) for k, v in counts.items()}
        if not complete:
            log.warning("study %s has no complete trial: nothing to summarise", study.study_name)
            if run is not None:
                run.metrics(numbers)
            return None
        frame = study.trials_dataframe(attrs=("number", "value", "params", "state", "duration"))
        frame = frame[frame["state"] == "COMPLETE"]
        if multi:
            front = study.best_trials
            log.info(
                "study %s: %d trials complete, %d on the Pareto front",
                study.study_name,
                len(complete),
                len(front),
            )
            if run is None:
                return None
            run.metrics({**numbers, "n_pareto": float(len(front))})
            pareto = frame[frame["number"].isin([t.number for t in front])]
            run.frame(pareto.set_index("number"), "pareto_front.csv")
        else:
            best = study.best_trial
            log.info(
                "study %s: %d trials complete, best %.5f (trial %d, parameters above)",
                study.study_name,
                len(complete),
                study.best_value,
                best.number,
            )
            if run is None:
                return None
            run.params({f"best.{k}": v for k, v in best.params.items()})
            best_numbers = {"best_value": float(study.best_value), "best_trial": float(best.number)}
            run.metrics({**best_numbers, **numbers})
            frame = frame.sort_values("value", ascending=direction == "minimize")
            run.frame(frame.head(top_k).set_index("number"), "top_trials.csv")
        if sweep_dir is not None and (sweep_dir / "optimization_results.yaml").exists():
            run.file(sweep_dir / "optimization_results.yaml")
        if len(complete) >= 2 and not multi:
            from optuna.visualization import plot_optimization_history

            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp, "optimization_history.html")
                figure = plot_optimization_history(study)  # plotly.js from the CDN: ~4 MB less
                figure.write_html(path, include_plotlyjs="cdn")
                run.file(path)
        return run.run_id
