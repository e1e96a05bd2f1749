"""The holdout as a budget: every look at a study line's holdout with distinct settings counted.

Each ``phase=best`` evaluation of the holdout is recorded in the study storage itself, as a
user attribute of the study ``{study.name}.holdout`` (so workers and machines sharing the
storage share the count): one entry per distinct set of settings that produced an
out-of-sample result (model and strategy parameters after overrides, selection, retraining,
holdout dates, costs). Rerunning the same settings is not a new look; changing anything after
reading the holdout is. After more than one look the holdout has informed the choice and is
no longer out of sample in the strict sense: the verdict and the report say so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

from crypto_tune.config import Settings
from crypto_tune.phases._best_choice import Choice

log = logging.getLogger("crypto_tune.best")
PREFIX = "look."


def look_settings(settings: Settings, choice: Choice) -> dict[str, Any]:
    """What makes one look at the holdout distinct from another."""
    split = settings.split
    return {
        "model": choice.model.params(),
        "strategy": {k: v for k, v in vars(choice.strategy).items()},
        "retrain_months": settings.best.retrain_months,
        "selection": settings.best.selection,
        "holdout": [str(split.holdout_start), str(split.holdout_end)],
        "asset": dataclasses.asdict(settings.asset),
        "regime": settings.regime.name,
    }


def look_key(settings: Settings, choice: Choice) -> str:
    return _digest(look_settings(settings, choice))


def _digest(what: dict[str, Any]) -> str:
    text = json.dumps(what, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def record_look(settings: Settings, choice: Choice) -> dict[str, Any]:
    """Record this best run's look at the holdout (once per distinct settings)."""
    entry = {
        "model_source": choice.model_source,
        "strategy_source": choice.strategy_source,
        "overrides": {**choice.model_overrides, **choice.overrides},
        "retrain_months": settings.best.retrain_months,
    }
    return record_holdout_look(settings, look_settings(settings, choice), entry)


def record_holdout_look(
    settings: Settings, what: dict[str, Any], entry: dict[str, Any]
) -> dict[str, Any]:
    """Record a look at the study line's holdout made with the settings ``what`` (once per
    distinct ``what``; ``entry`` says how, for the record) and return
    ``{"looks": n, "this_look": k, "new": bool, "key": str}``: ``n`` distinct looks so far,
    ``k`` the number of this one (1 = the first look), ``key`` what identifies its settings."""
    from crypto_tune.study import open_study

    study = open_study(settings, "holdout", create=True)
    key = _digest(what)
    attrs = study.user_attrs
    new = f"{PREFIX}{key}" not in attrs
    if new:
        stamped = {"at": datetime.now(UTC).isoformat(timespec="seconds"), **entry}
        study.set_user_attr(f"{PREFIX}{key}", json.loads(json.dumps(stamped, default=str)))
        attrs = study.user_attrs  # re-read: other processes may have looked meanwhile
    looks = sorted(
        (v.get("at", ""), k)
        for k, v in attrs.items()
        if k.startswith(PREFIX) and isinstance(v, dict)
    )
    order = [k for _, k in looks]
    this = order.index(f"{PREFIX}{key}") + 1 if f"{PREFIX}{key}" in order else len(order)
    if len(order) > 1:
        log.warning(
            "holdout looked at %d times with different settings on study line %s (this is look "
            "%d): its figures are no longer strictly out of sample",
            len(order),
            settings.study.name,
            this,
        )
    return {"looks": len(order), "this_look": this, "new": new, "key": key}


__all__ = ["look_key", "look_settings", "record_holdout_look", "record_look"]
