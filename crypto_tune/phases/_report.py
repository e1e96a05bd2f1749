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
    """This study's workflow.best.json (``best.from``, or ``paths.best/<study.name>/``), if any.

    A file made for another study is refused: a report shows one study's results only.
    """
    from crypto_tune.phases._best_output import best_folder

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


def run_report(settings: Settings) -> None:
    """Build the HTML report, write it under ``paths.reports`` and log it to MLflow."""
    if settings.regime.name == "switch":  # the regime-switch page
        from crypto_tune.phases._report_switch import run_switch_report

        return run_switch_report(settings)
    from crypto_tune.report import build_report, read_best_files, write_report
    from crypto_tune.study import check_storage, rerun_hint

    check_storage(settings)
    studies = {phase: _study_or_none(settings, phase) for phase in ("model", "strategy")}
    best, best_path = load_best(settings)
    if best is None and not any(studies.values()):
        raise ConfigError(
            f"nothing to report for {settings.study.name}: run "
            f"`{rerun_hint(settings, phase='model')}` (and phase=strategy, phase=best) first"
        )
    base = settings.study.name
    files = read_best_files(best, best_path) if best and best_path else None
    html = build_report(
        title=f"crypto-tune: {base}",
        model_study=studies["model"],
        strategy_study=studies["strategy"],
        best=best,
        equity=files.equity if files else None,
        fold_ic=fold_ic_frame(best) if best else None,
        benchmark=files.benchmark if files else None,
        trades=files.trades if files else None,
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
