"""``phase=report asset=universe strategy=topk``: the universe's best run as one HTML page."""

from __future__ import annotations

import logging
from pathlib import Path

from crypto_tune.config import Settings
from crypto_tune.exceptions import ConfigError
from crypto_tune.phases._results import load_best, log_report

log = logging.getLogger("crypto_tune.report")


def run_universe_report(settings: Settings) -> None:
    """Build the page from ``workflow.best.json`` (or ``best.from``) and its curves; write it under
    ``paths.reports`` and log it to MLflow."""
    from crypto_tune.phases._universe_best import curves_path
    from crypto_tune.report import write_report
    from crypto_tune.report._universe import read_curves, universe_page
    from crypto_tune.study import rerun_hint

    best, path = load_best(settings)
    if best is None or path is None or best.get("kind") != "universe":
        raise ConfigError(
            f"nothing to report for {settings.study.name}: run "
            f"`{rerun_hint(settings, phase='best')}` first"
        )
    curves = curves_path(path)
    if not curves.is_file():
        raise ConfigError(f"{curves}: missing; run `{rerun_hint(settings, phase='best')}`")
    html = universe_page(best, read_curves(curves), title=f"crypto-tune: {settings.study.name}")
    written = write_report(html, Path(settings.paths.reports) / f"{settings.study.name}.html")
    print(f"wrote {written}")
    log_report(settings, written)


__all__ = ["run_universe_report"]
