"""``phase=report regime=switch``: the regime-switch page from ``phase=best regime=switch``'s
``workflow.best.json`` and its curves, under ``paths.reports/<study.name>.html``, logged to
MLflow as the other reports are (:mod:`crypto_tune.report._switch` draws it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crypto_tune.config import Settings
from crypto_tune.exceptions import ConfigError


def switch_best(settings: Settings) -> tuple[dict[str, Any], Path]:
    """The regime-switch best run of this study (``best.from`` or its folder), or say which
    command makes it."""
    from crypto_tune.phases._results import load_best
    from crypto_tune.study import rerun_hint

    best, path = load_best(settings)
    if best is None or path is None:
        raise ConfigError(
            f"nothing to report for {settings.study.name}: run "
            f"`{rerun_hint(settings, phase='best')}` first"
        )
    if best.get("regime") != "switch" or "regime_switch" not in best:
        raise ConfigError(f"{path} is not a regime=switch best run (regime {best.get('regime')})")
    if not (best.get("files") or {}).get("curves"):
        hint = rerun_hint(settings, phase="best")
        raise ConfigError(f"{path} names no curves file: run `{hint}` again")
    return best, path


def run_switch_report(settings: Settings) -> None:
    """Write the regime-switch page and log it to MLflow."""
    from crypto_tune.phases._results import log_report
    from crypto_tune.report._switch import read_curves, switch_page

    best, path = switch_best(settings)
    curves = read_curves(path.with_name(best["files"]["curves"]))
    out = switch_page(best, curves, Path(settings.paths.reports) / f"{settings.study.name}.html")
    print(f"wrote {out}")
    log_report(settings, out)


__all__ = ["run_switch_report", "switch_best"]
