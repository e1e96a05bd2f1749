"""Which model and portfolio a universe's best run trades, and where they came from, as on a
single asset (:mod:`crypto_tune.phases._best_choice`): the Phase 1 study's best model (or
``phase.model_source=config``'s) and the Phase 2 study's best trial (for a two-objective study,
the Pareto-front trial ``best.pareto`` picks), or a universe's ``workflow.best.json`` replayed
with ``best.from`` (its ``model.params``, ``strategy.tuned`` and ``strategy.overrides``, the file
checked against this run's panel by :func:`~crypto_tune.phases._best_choice.load_replay`); then
the ``model.*``, ``strategy.*`` and ``universe.*`` values given on the command line, which win
over both (manual overrides: the portfolio is then no longer the trial's). Also how the run is
described (``how``) and counted as a look at the holdout.

Overrides are keyed as on the command line (``universe.top_k``, ``strategy.fee``), as the
trials' parameters are. The verdict's family stays the study's trials either way; the chosen
trial is left out of it by number only when the portfolio is that trial's (:attr:`trial_id`).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import optuna

from crypto_tune.config import ModelSettings, Settings, with_market_costs
from crypto_tune.config._universe import check_shorting
from crypto_tune.phases._best_choice import (
    OVERRIDE_GROUPS,
    _chosen_trial,
    choose_model,
    command_line_overrides,
    load_replay,
)
from crypto_tune.phases._best_how import holdout_model_text, keyed, look_text, overrides_text
from crypto_tune.phases._study_settings import beyond_study, check_study_settings
from crypto_tune.phases._universe_strategy import portfolio_settings
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
    model: ModelSettings  # the model whose predictions the portfolio trades, overrides applied
    model_source: str  # ``study:<name>#<number>``, ``config`` or ``file:<path>``
    model_overrides: dict[str, Any]  # the command line's ``model.*`` (keyed ``num_leaves``)
    # a replay: the file's own model source (``study:<name>#<number>``), which keys its holdout
    # look as the run that wrote the file keyed it; None: ``model_source``
    model_origin: str | None = None

    @property
    def trial_id(self) -> int | None:
        """The chosen trial's number when the portfolio is that trial's (None with manual
        overrides or on replay), as :attr:`crypto_tune.phases._best_choice.Choice.trial_id`."""
        return None if self.overrides or self.model_overrides else self.trial_number

    @property
    def look_model(self) -> str:
        """The model source that keys this run's holdout look: a replay's file's own."""
        return self.model_origin or self.model_source


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
    """The model and portfolio of the best run: the studies' or the replayed file's, the
    command line's ``model.*``/``strategy.*``/``universe.*`` on top; checked as a config."""
    from crypto_tune.study import load_study

    study = load_study(settings, phase="strategy")
    overrides = manual_overrides(settings)
    number = None
    replay = load_replay(settings) if settings.best.from_file else None
    model, model_source, model_overrides = choose_model(settings, replay)
    if replay is not None:
        file = str(settings.best.from_file)
        replayed = replay["strategy"]
        tuned = _known(replayed["tuned"], file)
        overrides = {**_known(replayed.get("overrides") or {}, file), **overrides}
        source = f"file:{file}"
    else:
        trial = _chosen_trial(study, settings.best.pareto)
        tuned, number = dict(trial.params), trial.number
        overrides = beyond_study(overrides, study, tuned)
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
    if replay is None:  # the fixed settings the study's trials traded, or said as overrides
        check_study_settings(study, portfolio_settings(chosen), given=manual_overrides(settings))
    if overrides:
        log.info("manual overrides over %s: %s", source, overrides)
    if model_overrides:
        log.info("manual model overrides over %s: %s", model_source, model_overrides)
    origin = None
    if replay is not None:  # the file's model as it was, when nothing changes it here
        recorded = replay.get("model") or {}
        if recorded.get("source") and not recorded.get("overrides") and not model_overrides:
            origin = str(recorded["source"])
    return UniverseChoice(
        chosen,
        tuned,
        overrides,
        source,
        study,
        number,
        model,
        model_source,
        model_overrides,
        origin,
    )


def record_universe_look(choice: UniverseChoice) -> dict[str, Any]:
    """Count this look at the study line's holdout (:mod:`crypto_tune.phases._best_looks`)."""
    from crypto_tune.phases._best_looks import record_holdout_look

    settings = choice.settings
    split = settings.split
    retrain = int(settings.best.retrain_months)
    what: dict[str, Any] = {
        "kind": "universe",
        "strategy": choice.tuned,
        "model": choice.look_model,
        "universe": dataclasses.asdict(settings.universe),
        "holdout": [str(split.holdout_start), str(split.holdout_end)],
    }
    # Each key only when set: without, the key of the runs made before it was honoured.
    if choice.overrides:
        what["overrides"] = choice.overrides
    if choice.model_overrides:
        what["model_overrides"] = choice.model_overrides
    if retrain:
        what["retrain_months"] = retrain
    if not choice.look_model.startswith("study:"):
        # the config's model or a file's: its source alone does not say which parameters
        what["model_params"] = choice.model.params()
    entry = {
        "kind": "universe",
        "strategy": choice.tuned,
        "overrides": {**keyed("model", choice.model_overrides), **choice.overrides},
        "strategy_source": choice.source,
        "model_source": choice.model_source,
        "retrain_months": retrain,
    }
    return record_holdout_look(settings, what, entry)


def describe_universe_how(
    choice: UniverseChoice, looks: dict[str, Any], coverage: dict[str, Any] | None = None
) -> dict[str, Any]:
    """How the universe's result was made (the ``how`` of the document, with a ``text``), with
    the keys of a single asset's (:func:`crypto_tune.phases._best_how.describe_how`)."""
    from crypto_tune.splits import coverage_text

    settings = choice.settings
    split = settings.split
    retrain = int(settings.best.retrain_months)
    n, this = looks["looks"], looks["this_look"]
    overrides = {**keyed("model", choice.model_overrides), **choice.overrides}
    text = (
        f"holdout {split.holdout_start}..{split.holdout_end}"
        f"{coverage_text(coverage) if coverage else ''} predicted by "
        f"{holdout_model_text(retrain)} (one model over the pooled panel); "
        f"model {choice.model_source}; portfolio {choice.source} "
        f"(objective {settings.strategy.objective}); {overrides_text(overrides)}; "
        f"{look_text(n, this)}"
    )
    return {
        "holdout": [str(split.holdout_start), str(split.holdout_end)],
        "holdout_model": "retrained" if retrain > 0 else "refit",
        "retrain_months": retrain,
        "model_source": choice.model_source,
        "holdout_looks": n,
        "holdout_look": this,
        "settings_key": looks["key"],
        "strategy_source": choice.source,
        "selection": settings.best.selection,
        "objective": list(settings.strategy.objectives),
        "overrides": overrides,
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
