"""``phase=report``: one self-contained HTML file of both studies and the best run."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from crypto_tune.config import Settings
from crypto_tune.exceptions import ConfigError

log = logging.getLogger("crypto_tune.report")


def load_best(settings: Settings) -> tuple[dict[str, Any] | None, Path | None]:
    """The workflow.best.json of this run (``best.from`` or ``paths.best``), if there is one."""
    path = Path(settings.best.from_file or Path(settings.paths.best) / "workflow.best.json")
    if not path.is_file():
        return None, None
    try:
        return json.loads(path.read_text()), path
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None


def best_curves(best: dict[str, Any], path: Path) -> dict[str, pd.Series] | None:
    """In- and out-of-sample per-bar returns saved beside a workflow.best.json."""
    name = best.get("files", {}).get("curves")
    curves = path.with_name(name) if name else None
    if curves is None or not curves.is_file():
        return None
    frame = pd.read_parquet(curves)["returns"]
    return {segment: frame.xs(segment) for segment in frame.index.get_level_values(0).unique()}


def fold_ic_frame(best: dict[str, Any]) -> pd.DataFrame | None:
    """IC per fold from a workflow.best.json (one row per fold)."""
    folds = best.get("metrics", {}).get("model", {}).get("folds")
    if not folds:
        return None
    frame = pd.DataFrame(folds)
    frame.insert(0, "fold", range(len(frame)))
    return frame


def run_report(settings: Settings) -> None:
    """Build the HTML report, write it under ``paths.reports`` and log it to MLflow."""
    from crypto_tune.report import build_report, write_report
    from crypto_tune.study import check_storage, study_name

    check_storage(settings.storage.url)
    studies = {phase: _study_or_none(settings, phase) for phase in ("model", "strategy")}
    best, best_path = load_best(settings)
    if best is None and not any(studies.values()):
        raise ConfigError(
            f"nothing to report for {study_name(settings, phase='<phase>')}: run "
            f"`crypto-tune -m phase=model asset={settings.asset.name}` (and phase=strategy, "
            "phase=best) first"
        )
    base = ".".join(study_name(settings, phase="x").split(".")[:-1])
    html = build_report(
        title=f"crypto-tune: {base}",
        model_study=studies["model"],
        strategy_study=studies["strategy"],
        best=best,
        equity=best_curves(best, best_path) if best and best_path else None,
        fold_ic=fold_ic_frame(best) if best else None,
    )
    path = write_report(html, Path(settings.paths.reports) / f"{base}.html")
    print(f"wrote {path}")
    _log(settings, path)


def _study_or_none(settings: Settings, phase: str) -> Any:
    from crypto_tune.study import cached_study

    study = cached_study(settings, phase=phase)
    if study is None:
        log.info("no %s study yet: its section is left out", phase)
    return study


def _log(settings: Settings, path: Path) -> None:
    from crypto_tune.study import study_name
    from crypto_tune.tracking import code_version, start_run

    tags = {"phase": "report", "asset": settings.asset.name, "code_version": code_version()}
    with start_run(
        settings.tracking, study_name(settings, phase="report"), run_name="report", tags=tags
    ) as run:
        if run is not None:
            run.file(path)
