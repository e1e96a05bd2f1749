"""``phase=report``: one self-contained HTML file of both studies and the best run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from crypto_tune.config import Settings
from crypto_tune.exceptions import ConfigError
from crypto_tune.phases._inputs import check_datasets, check_same_data
from crypto_tune.phases._phase import Phase
from crypto_tune.phases._results import fold_ic_frame, load_best, log_report

log = logging.getLogger("crypto_tune.report")


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
    log_report(settings, path)


def _study_or_none(settings: Settings, phase: str) -> Any:
    from crypto_tune.study import cached_study

    study = cached_study(settings, phase=phase)
    if study is None:
        log.info("no %s study yet: its section is left out", phase)
    return study


def preflight_report(settings: Settings, *, multirun: bool) -> None:
    """The storage reachable, the data readable and the studies' own."""
    check_datasets(settings, storage=True, trades="holdout")
    check_same_data(settings, phases=("model", "strategy"))


PHASE = Phase(run=run_report, preflight=preflight_report)
