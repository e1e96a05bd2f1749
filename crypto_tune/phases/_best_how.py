"""How a best run's result was made, in one place: which holdout, predicted by what (one refit
or retrained), which parameters from where, which overrides and objective, which look at the
holdout. The JSON (``how``), the terminal, the report and MLflow all read this description.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from crypto_tune.config import Settings
from crypto_tune.phases._best_choice import Choice

log = logging.getLogger("crypto_tune.best")


def holdout_model_text(retrain_months: int) -> str:
    if retrain_months > 0:
        return (
            f"a model retrained every {retrain_months} month(s) on everything before "
            "(expanding window, same purge)"
        )
    return "one refit on the whole tuning period"


def holdout_coverage(settings: Settings, times: pd.DatetimeIndex) -> dict[str, Any]:
    """What the bars ``times`` cover of the holdout (:func:`crypto_tune.splits.period_coverage`);
    a file ending early cuts the holdout short: its figures are over the bars it holds, and the
    run warns and says so."""
    from crypto_tune.splits import period_coverage
    from crypto_tune.timeframes import timeframe_delta

    split = settings.split
    coverage = period_coverage(
        times, split.holdout_start, split.holdout_end, timeframe_delta(settings.asset.timeframe)
    )
    if coverage["short"]:
        log.warning(
            "the holdout %s..%s holds data from %s to %s only (%d bars, %.0f%% of the period): "
            "its out-of-sample figures are over those bars",
            split.holdout_start,
            split.holdout_end,
            coverage["first"],
            coverage["last"],
            coverage["bars"],
            100 * coverage["share"],
        )
    return coverage


def keyed(group: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` of one config group keyed as on the command line (``model.num_leaves``)."""
    return {f"{group}.{k}": v for k, v in overrides.items()}


def look_text(n_looks: int, this: int) -> str:
    """Which look at the holdout a result is, for the ``how`` line: the first, or look ``this``
    of ``n_looks`` distinct ones (no longer out of sample)."""
    if n_looks <= 1:
        return "first look at this holdout"
    return f"holdout look {this} of {n_looks} with different settings: not out of sample"


def overrides_text(overrides: dict[str, Any]) -> str:
    """The manual overrides, keyed as on the command line, for the ``how`` line."""
    if not overrides:
        return "no overrides"
    return "overrides " + ", ".join(f"{k}={v}" for k, v in overrides.items())


def describe_how(
    settings: Settings,
    choice: Choice,
    looks: dict[str, Any],
    coverage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``how`` section of ``workflow.best.json`` (with a one-line ``text``); ``coverage``:
    what the data cover of the holdout (:func:`crypto_tune.splits.period_coverage`), said when
    short."""
    from crypto_tune.splits import coverage_text

    split = settings.split
    retrain = int(settings.best.retrain_months)
    overrides = {
        **keyed("model", choice.model_overrides),
        **keyed("strategy", choice.overrides),
    }
    holdout = [str(split.holdout_start), str(split.holdout_end)]
    n_looks, this = int(looks.get("looks", 1)), int(looks.get("this_look", 1))
    parts = [
        f"holdout {holdout[0]}..{holdout[1]}{coverage_text(coverage) if coverage else ''} "
        f"predicted by {holdout_model_text(retrain)}",
        f"model {choice.model_source}",
        f"strategy {choice.strategy_source} (selection {settings.best.selection}, "
        f"objective {' + '.join(settings.strategy.objectives)})",
        overrides_text(overrides),
        look_text(n_looks, this),
    ]
    return {
        "holdout": holdout,
        "holdout_model": "retrained" if retrain > 0 else "refit",
        "retrain_months": retrain,
        "model_source": choice.model_source,
        "strategy_source": choice.strategy_source,
        "selection": settings.best.selection,
        "objective": list(settings.strategy.objectives),
        "overrides": overrides,
        "holdout_look": this,
        "holdout_looks": n_looks,
        "settings_key": looks.get("key"),
        "text": "; ".join(parts),
    }


__all__ = ["describe_how", "holdout_coverage", "holdout_model_text"]
