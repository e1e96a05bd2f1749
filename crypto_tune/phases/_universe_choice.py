"""Which portfolio a universe's best run trades, and where it came from, as on a single asset
(:mod:`crypto_tune.phases._best_choice`): the Phase 2 study's best trial (for a two-objective
study, the Pareto-front trial ``best.pareto`` picks), or a universe's ``workflow.best.json``
replayed with ``best.from`` (its ``strategy.tuned`` and ``strategy.overrides``, the file checked
against this run's panel by :func:`~crypto_tune.phases._best_choice.load_replay`); then the
``strategy.*`` and ``universe.*`` values given on the command line, which win over both (manual
overrides: the portfolio is then no longer the trial's). Also how the run is described (``how``)
and counted as a look at the holdout.

Overrides are keyed as on the command line (``universe.top_k``, ``strategy.fee``), as the
trials' parameters are. The verdict's family stays the study's trials either way; the chosen
trial is left out of it by number only when the portfolio is that trial's (:attr:`trial_id`).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import optuna

from crypto_tune.config import Settings, with_market_costs
from crypto_tune.config._universe import check_shorting
from crypto_tune.phases._best_choice import (
    OVERRIDE_GROUPS,
    _chosen_trial,
    command_line_overrides,
    load_replay,
)
from crypto_tune.phases._universe_verdict import with_trial

log = logging.getLogger("crypto_tune.best")

# The groups of a universe's portfolio: what a trial tunes and an override may set.
PORTFOLIO_GROUPS = ("strategy", "universe")


@dataclasses.dataclass(frozen=True)
class UniverseChoice:
    """The settings the best run trades (the chosen parameters, the overrides on top, checked)
    and where they came from."""

    settings: Settings
    tuned: dict[str, Any]  # the trial's or the replayed file's parameters (``universe.top_k``)
    overrides: dict[str, Any]  # a replayed file's overrides, then the command line's
    source: str  # ``study:<name>#<number>`` or ``file:<path>``
    study: optuna.Study  # the Phase 2 study: the verdict's family (a replay's too)
    trial_number: int | None  # the trial chosen (None on replay)

    @property
    def trial_id(self) -> int | None:
        """The chosen trial's number when the portfolio is that trial's (None with manual
        overrides or on replay), as :attr:`crypto_tune.phases._best_choice.Choice.trial_id`."""
        return None if self.overrides else self.trial_number


def manual_overrides(settings: Settings) -> dict[str, Any]:
    """The ``strategy.*`` and ``universe.*`` values given on this run's command line."""
    return {
        f"{group}.{key}": value
        for group in PORTFOLIO_GROUPS
        for key, value in command_line_overrides(settings, group).items()
    }


def _known(params: dict[str, Any], file: str) -> dict[str, Any]:
    """The replayed parameters this version has (JSON lists back to tuples)."""
    fields = {g: {f.name for f in dataclasses.fields(OVERRIDE_GROUPS[g])} for g in PORTFOLIO_GROUPS}
    out, dropped = {}, []
    for key, value in params.items():
        group, _, name = key.partition(".")
        if name in fields.get(group, ()):
            out[key] = tuple(value) if isinstance(value, list) else value
        else:
            dropped.append(key)
    if dropped:
        log.warning("best.from: %s: ignored parameters this version has not: %s", file, dropped)
    return out


def choose_universe(settings: Settings) -> UniverseChoice:
    """The portfolio of the best run: the study's trial or the replayed file's parameters,
    the command line's ``strategy.*``/``universe.*`` on top; the result checked as a config."""
    from crypto_tune.study import load_study

    study = load_study(settings, phase="strategy")
    overrides = manual_overrides(settings)
    number = None
    if settings.best.from_file:
        file = str(settings.best.from_file)
        replayed = load_replay(settings)["strategy"]
        tuned = _known(replayed["tuned"], file)
        overrides = {**_known(replayed.get("overrides") or {}, file), **overrides}
        source = f"file:{file}"
    else:
        trial = _chosen_trial(study, settings.best.pareto)
        tuned, number = dict(trial.params), trial.number
        source = f"study:{study.study_name}#{number}"
        if len(study.directions) > 1:
            source += (
                f" (Pareto front of {len(study.best_trials)}, best.pareto={settings.best.pareto})"
            )
    chosen = with_trial(settings, {**tuned, **overrides})  # checks universe.*
    chosen.strategy.validate("strategy")
    chosen = with_market_costs(chosen)  # a replayed fee or shorting: the costs resolved again
    costs = chosen.strategy.costs
    check_shorting(chosen.universe, allow_short=costs.allow_short, market=chosen.asset.market)
    if overrides:
        log.info("manual overrides over %s: %s", source, overrides)
    return UniverseChoice(chosen, tuned, overrides, source, study, number)


def record_universe_look(choice: UniverseChoice, model_source: str) -> dict[str, Any]:
    """Count this look at the study line's holdout (:mod:`crypto_tune.phases._best_looks`)."""
    from crypto_tune.phases._best_looks import record_holdout_look

    settings = choice.settings
    split = settings.split
    what: dict[str, Any] = {
        "kind": "universe",
        "strategy": choice.tuned,
        "model": model_source,
        "universe": dataclasses.asdict(settings.universe),
        "holdout": [str(split.holdout_start), str(split.holdout_end)],
    }
    if choice.overrides:  # without, the key of the runs made before overrides were honoured
        what["overrides"] = choice.overrides
    entry = {
        "kind": "universe",
        "strategy": choice.tuned,
        "overrides": choice.overrides,
        "strategy_source": choice.source,
    }
    return record_holdout_look(settings, what, entry)


def describe_universe_how(
    choice: UniverseChoice, looks: dict[str, Any], model_source: str
) -> dict[str, Any]:
    """How the universe's result was made (the ``how`` of the document, with a ``text``)."""
    from crypto_tune.phases._best_how import holdout_model_text

    settings = choice.settings
    split = settings.split
    n, this = looks["looks"], looks["this_look"]
    look = (
        "first look at this holdout"
        if n <= 1
        else f"holdout look {this} of {n} with different settings: not out of sample"
    )
    overrides = (
        "overrides " + ", ".join(f"{k}={v}" for k, v in choice.overrides.items())
        if choice.overrides
        else "no overrides"
    )
    text = (
        f"holdout {split.holdout_start}..{split.holdout_end} predicted by "
        f"{holdout_model_text(0)} (one model over the pooled panel); model {model_source}; "
        f"portfolio {choice.source} (objective {settings.strategy.objective}); {overrides}; "
        f"{look}"
    )
    return {
        "holdout_looks": n,
        "holdout_look": this,
        "settings_key": looks["key"],
        "strategy_source": choice.source,
        "overrides": choice.overrides,
        "text": text,
    }


__all__ = [
    "PORTFOLIO_GROUPS",
    "UniverseChoice",
    "choose_universe",
    "describe_universe_how",
    "manual_overrides",
    "record_universe_look",
]
