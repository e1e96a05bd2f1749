"""The objective a best run scores with: the one its strategy was tuned on.

A study records the objective(s) its trials measured in its fingerprint (``strategy.objective``).
``phase=best`` explains and judges the chosen parameters on those, not on whatever the config
would default to: a Pareto study tuned on ``[sharpe, max_drawdown]`` is judged on Sharpe.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from crypto_tune.config import Settings

log = logging.getLogger("crypto_tune.best")

ATTR_KEY = "strategy.objective"  # the key of the objective in a Phase 2 study's fingerprint


def with_studied_objective(settings: Settings) -> Settings:
    """``settings`` scoring with the objective(s) the chosen strategy was tuned on: the Phase 2
    study's (its fingerprint's ``strategy.objective``), or a replayed ``best.from`` file's,
    unless ``strategy.objective`` is given on the command line. A best run of a study tuned on
    ``[sharpe, max_drawdown]`` thus explains and judges Sharpe, not the default objective."""
    if any(
        item.split("=", 1)[0].lstrip("+") == "strategy.objective" for item in settings.command_line
    ):
        return settings
    if settings.best.from_file:
        document = json.loads(Path(str(settings.best.from_file)).read_text())
        recorded = ((document.get("strategy") or {}).get("objective") or {}).get("objectives")
        where = f"the file {settings.best.from_file}"
    else:
        from crypto_tune.fingerprint import ATTR
        from crypto_tune.study import cached_study

        study = cached_study(settings, phase="strategy")
        recorded = None if study is None else (study.user_attrs.get(ATTR) or {}).get(ATTR_KEY)
        where = f"study '{study.study_name}'" if study is not None else ""
    if not recorded:
        return settings
    names = (recorded,) if isinstance(recorded, str) else tuple(str(n) for n in recorded)
    if names == settings.strategy.objectives:
        return settings
    objective: str | tuple[str, ...] = names[0] if len(names) == 1 else names
    log.info(
        "strategy.objective=%s: the objective %s was tuned on",
        ",".join(names),
        where,
    )
    strategy = dataclasses.replace(settings.strategy, objective=objective)
    strategy.validate("strategy")
    return dataclasses.replace(settings, strategy=strategy)


__all__ = ["with_studied_objective"]
