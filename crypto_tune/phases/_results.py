"""Where a study line's results live and how they are read back: the best run's folder and
file, its per-fold IC, and the MLflow run of a report page (one home for the phases that write
them and the phases that read them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from crypto_tune.config import Settings
from crypto_tune.exceptions import ConfigError


def best_folder(settings: Settings) -> Path:
    """``paths.best/<study.name>``: each study's best run has a folder of its own."""
    return Path(settings.paths.best) / settings.study.name


def load_best(settings: Settings) -> tuple[dict[str, Any] | None, Path | None]:
    """This study's workflow.best.json (``best.from``, or ``paths.best/<study.name>/``), if any.

    A file made for another study is refused: a report shows one study's results only.
    """
    given = settings.best.from_file
    path = Path(given) if given else best_folder(settings) / "workflow.best.json"
    if not path.is_file():
        if given:
            raise ConfigError(f"best.from: no such file: {path}")
        return None, None
    try:
        best = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if best.get("study") not in (None, settings.study.name):
        raise ConfigError(
            f"best.from: {path} belongs to study '{best['study']}', not to this report's "
            f"'{settings.study.name}': give the same overrides as its best run"
        )
    return best, path


def fold_ic_frame(best: dict[str, Any]) -> pd.DataFrame | None:
    """IC per fold from a workflow.best.json (one row per fold)."""
    folds = best.get("metrics", {}).get("model", {}).get("folds")
    if not folds:
        return None
    frame = pd.DataFrame(folds)
    frame.insert(0, "fold", range(len(frame)))
    return frame


def log_report(settings: Settings, path: Path) -> None:
    from crypto_tune.study import study_name
    from crypto_tune.tracking import code_version, start_run

    tags = {"phase": "report", "asset": settings.asset.name, "code_version": code_version()}
    with start_run(
        settings.tracking, study_name(settings, phase="report"), run_name="report", tags=tags
    ) as run:
        if run is not None:
            run.file(path)


__all__ = ["best_folder", "fold_ic_frame", "load_best", "log_report"]
