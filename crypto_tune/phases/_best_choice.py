"""Which parameters the best run uses, and where they came from: the best Phase 1 model and
Phase 2 strategy trials of their studies (for a two-objective study, the Pareto-front trial
``best.pareto`` picks), or a replayed ``workflow.best.json`` given as ``best.from`` (checked
against this run's data), then the manual ``model.*``/``strategy.*`` overrides of the command
line; with ``best.selection=robust``, the top trial whose parameter neighbourhood scores best.
Also the study facts the robustness tests reuse: the search bounds and the PBO configurations.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from crypto_tune.config import ModelSettings, Settings, StrategySettings, with_market_costs
from crypto_tune.config._universe import UniverseSettings
from crypto_tune.dataset import prepare_dataset
from crypto_tune.evaluation import resolve_model
from crypto_tune.exceptions import ConfigError
from crypto_tune.phases._best_evaluator import Evaluator
from crypto_tune.phases._study_settings import beyond_study, check_study_settings
from crypto_tune.robustness import Bound, pareto_choice, pbo_picks, select_robust

log = logging.getLogger("crypto_tune.best")


# The groups whose ``group.key=value`` on the command line of phase=best win over the chosen
# trial's (a universe's portfolio rule is ``universe.*`` beside ``strategy.*``).
OVERRIDE_GROUPS: dict[str, type] = {
    "model": ModelSettings,
    "strategy": StrategySettings,
    "universe": UniverseSettings,
}


def command_line_overrides(settings: Settings, group: str) -> dict[str, Any]:
    """Values given as ``group.key=value`` on this run's command line (manual overrides) of the
    ``group`` (a key of :data:`OVERRIDE_GROUPS`), keyed by field name."""
    fields = {f.name for f in dataclasses.fields(OVERRIDE_GROUPS[group])}
    current = getattr(settings, group)
    found = {}
    for item in settings.command_line:
        key = item.split("=", 1)[0].lstrip("+")
        if key.startswith(f"{group}.") and key.split(".", 1)[1] in fields:
            name = key.split(".", 1)[1]
            found[name] = getattr(current, name)
    return found


# What a replayed file must hold, by the kind of run (a universe's document has no model
# parameters: its model is this run's, from the Phase 1 study or the config).
_REPLAY_ENTRIES = {
    "universe": (("strategy", "tuned"), ("asset", "data_fingerprint"), ("asset", "symbols")),
    "single": (("model", "params"), ("strategy", "params")),
}


def load_replay(settings: Settings) -> dict[str, Any]:
    """The ``best.from`` file, checked: it exists, it is a workflow.best.json of this kind of
    run (a universe's, ``kind: universe``, for ``asset=universe``), and it was made on the data
    this run reads (a replay on other candles would silently mix two results)."""
    file = Path(str(settings.best.from_file))
    if not file.is_file():
        raise ConfigError(f"best.from: no such file: {file}")
    universe = settings.asset.kind == "universe"
    try:
        data = json.loads(file.read_text())
        made_for = "universe" if data.get("kind") == "universe" else "single"
        if made_for != ("universe" if universe else "single"):
            raise ConfigError(
                f"best.from: {file} is "
                f"{'a universe' if made_for == 'universe' else 'not a universe'}'s "
                f"workflow.best.json, this run is{'' if universe else ' not'} asset=universe"
            )
        for group, key in _REPLAY_ENTRIES[made_for]:
            data[group][key]
    except KeyError as exc:
        raise ConfigError(
            f"best.from: {file} is not a workflow.best.json (it has no '{exc.args[0]}' entry)"
        ) from None
    except (ValueError, TypeError, AttributeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"best.from: {file} is not a workflow.best.json ({reason})") from None
    changed = _universe_changes(settings, data) if universe else _data_changes(settings, data)
    if changed:
        raise ConfigError(
            f"best.from: {file} was made on other inputs than this run's ({changed}): "
            f"replay it with the overrides it was made with: {data.get('command', '?')}"
        )
    return data


def _data_changes(settings: Settings, data: dict[str, Any]) -> str | None:
    """The first data input (:data:`crypto_tune.fingerprint.DATA_KEYS`) on which a single
    asset's or a basket's ``data`` differs from this run's, if any."""
    recorded = data.get("fingerprint")
    if not recorded:
        return None
    from crypto_tune.dataset import member_settings
    from crypto_tune.fingerprint import DATA_KEYS, data_fingerprint, differences

    datasets = [prepare_dataset(m) for m in member_settings(settings)]
    current = data_fingerprint(settings, datasets)
    changed = differences({k: recorded.get(k) for k in DATA_KEYS}, current)
    return changed[0] if changed else None


def _universe_changes(settings: Settings, data: dict[str, Any]) -> str | None:
    """How a universe's ``data`` differs from this run's panel: its symbols, or the candles
    they read (``asset.data_fingerprint``); None when it is the same."""
    from crypto_tune.universe._dataset import prepare_universe

    dataset = prepare_universe(settings)
    asset = data["asset"]
    here = list(dataset.panel.symbols)
    if list(asset["symbols"]) != here:
        return f"asset.symbols {list(asset['symbols'])} in the file, {here} here"
    if asset["data_fingerprint"] != dataset.data_fingerprint:
        return (
            f"asset.data_fingerprint {asset['data_fingerprint']} in the file, "
            f"{dataset.data_fingerprint} here"
        )
    return None


@dataclasses.dataclass
class Choice:
    """The parameters of the best run and where they came from."""

    model: ModelSettings
    model_source: str
    strategy: StrategySettings
    strategy_source: str
    tuned: dict[str, Any]
    overrides: dict[str, Any]
    model_overrides: dict[str, Any]
    replay: dict[str, Any] | None
    study: Any | None  # the Phase 2 study the parameters came from (None on replay)
    trial_number: int | None = None  # the Phase 2 trial chosen (None on replay)
    model_study: Any | None = None  # the Phase 1 study the model came from (None: config, replay)

    @property
    def trial_id(self) -> str | None:
        """``strategy#<number>`` of the chosen Phase 2 trial, when the strategy is that trial's
        (None with manual strategy overrides or on replay)."""
        if self.trial_number is None or self.overrides:
            return None
        return f"strategy#{self.trial_number}"


def _bounds_from_study(study: Any) -> dict[str, Bound]:
    from optuna.distributions import FloatDistribution, IntDistribution

    bounds = {}
    for name, dist in _chosen_trial(study).distributions.items():
        if isinstance(dist, FloatDistribution | IntDistribution) and name.startswith("strategy."):
            bounds[name.removeprefix("strategy.")] = Bound(dist.low, dist.high, dist.log)
    return bounds


def _replayed_model(settings: Settings, document: dict[str, Any], file: str) -> ModelSettings:
    """The model a replayed file traded (its ``model.params``; one this version has not is
    refused in one line, a parameter it has not is dropped with a warning)."""
    params = (document.get("model") or {}).get("params")
    if not isinstance(params, dict):
        raise ConfigError(
            f"best.from: {file} has no model.params (a universe's file written before its best "
            "run recorded its model); run phase=best again to write a file that can be replayed"
        )
    fields = {f.name for f in dataclasses.fields(ModelSettings)}
    dropped = sorted(set(params) - fields)
    if dropped:
        log.warning(
            "best.from: %s: ignored model parameters this version has not: %s", file, dropped
        )
    known: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in params.items() if k in fields
    }
    return dataclasses.replace(settings.model, **known)


def choose_model(
    settings: Settings, replay: dict[str, Any] | None
) -> tuple[ModelSettings, str, dict[str, Any]]:
    """(model, where it came from, the command line's ``model.*``) of a best run: the replayed
    file's model or the resolved one (:func:`crypto_tune.evaluation.resolve_model`: the Phase 1
    study's best or the config's), the command line's on top, checked."""
    if replay is not None:
        file = str(settings.best.from_file)
        model, source = _replayed_model(settings, replay, file), f"file:{file}"
    else:
        model, source = resolve_model(settings)
    model_overrides = command_line_overrides(settings, "model")
    model = dataclasses.replace(model, **model_overrides)
    model.validate("model")
    return model, source, model_overrides


def _choose(settings: Settings, evaluator_for: Any) -> Choice:
    replay = load_replay(settings) if settings.best.from_file else None
    model, model_source, model_overrides = choose_model(settings, replay)
    model_study = None
    if model_source.startswith("study:"):
        from crypto_tune.study import cached_study

        model_study = cached_study(settings, phase="model")

    overrides = command_line_overrides(settings, "strategy")
    study = None
    number = None
    if replay is not None:
        known = {f.name for f in dataclasses.fields(StrategySettings)}
        tuned = {k: v for k, v in replay["strategy"]["params"].items() if k in known}
        source = f"file:{settings.best.from_file}"
        overrides = {**replay["strategy"].get("overrides", {}), **overrides}
    else:
        from crypto_tune.study import group_params, load_study

        study = load_study(settings, phase="strategy")
        trial = _chosen_trial(study, settings.best.pareto)
        tuned = group_params(trial.params, "strategy")
        # a setting repeated as the study ran it is no override
        kept = beyond_study({f"strategy.{k}": v for k, v in overrides.items()}, study, trial.params)
        overrides = {k.removeprefix("strategy."): v for k, v in kept.items()}
        number = trial.number
        source = f"study:{study.study_name}#{trial.number}"
        if len(study.directions) > 1:
            source += (
                f" (Pareto front of {len(study.best_trials)}, best.pareto={settings.best.pareto})"
            )
        if settings.best.selection == "robust":
            tuned, source, number = _robust_choice(
                settings, study, evaluator_for(model), tuned, source
            )
    strategy = dataclasses.replace(settings.strategy, **{**tuned, **overrides})
    strategy.validate("strategy")
    # a replayed fee, shorting or order type: the market's costs resolved again (issue 21)
    strategy = with_market_costs(dataclasses.replace(settings, strategy=strategy)).strategy
    if study is not None:
        check_fixed_settings(settings, strategy, study)
    return Choice(
        model,
        model_source,
        strategy,
        source,
        tuned,
        overrides,
        model_overrides,
        replay,
        study,
        number,
        model_study,
    )


def check_fixed_settings(settings: Settings, strategy: StrategySettings, study: Any) -> None:
    """Refuse a best run that trades other fixed (untuned) strategy settings, costs or basket
    weights than the Phase 2 study's trials, unless given on the command line (overrides)."""
    from crypto_tune.fingerprint import study_fingerprint

    every = study_fingerprint(
        dataclasses.replace(settings, strategy=strategy), [], phase="strategy"
    )
    current = {k: v for k, v in every.items() if k.startswith(("strategy.", "costs.", "asset."))}
    given = {f"strategy.{k}" for k in command_line_overrides(settings, "strategy")}
    check_study_settings(study, current, given=given)


def _chosen_trial(study: Any, rule: str = "utopia") -> Any:
    """The best trial; for a two-objective study, the Pareto-front trial ``best.pareto`` picks
    (:func:`crypto_tune.robustness.pareto_choice`)."""
    if len(study.directions) == 1:
        return study.best_trial
    front = study.best_trials
    directions = [d.name.lower() for d in study.directions]
    return front[pareto_choice(np.array([t.values for t in front]), directions, rule)]


def _rank_key(study: Any) -> Any:
    """Sort key, best first: the (first) objective in its direction."""
    sign = -1.0 if study.directions[0].name.lower() == "maximize" else 1.0
    return lambda t: sign * (t.values[0] if t.values else math.nan)


def _top_trials(study: Any, k: int) -> list[Any]:
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return sorted(complete, key=_rank_key(study))[:k]


def _pbo_configs(study: Any, complete: list[Any], k: int) -> list[dict[str, Any]]:
    """``k`` trials spread evenly over the better half of ``complete`` by the study's ranking
    (best included): the search PBO judges.

    CSCV asks whether picking the in-sample best among the configurations tried beats their
    out-of-sample median; the top trials alone are near-copies of each other, whose ranking is
    noise, so the set spans the better half from best to median (:func:`robustness.pbo_picks`).
    """
    from crypto_tune.study import group_params

    ranked = sorted(complete, key=_rank_key(study))
    return [group_params(ranked[i].params, "strategy") for i in pbo_picks(len(ranked), k)]


def _robust_choice(
    settings: Settings, study: Any, evaluator: Evaluator, tuned: dict, source: str
) -> tuple[dict, str, int]:
    from crypto_tune.study import group_params

    top = _top_trials(study, settings.best.top_k)
    candidates = [group_params(t.params, "strategy") for t in top]
    index, hoods = select_robust(
        candidates, evaluator.score, _bounds_from_study(study), seed=settings.seed
    )
    log.info(
        "selection=robust: trial %d (neighbourhood mean %.3f) over the peak trial %d (%.3f)",
        top[index].number,
        hoods[index].mean,
        top[0].number,
        hoods[0].mean,
    )
    number = top[index].number
    return candidates[index], f"study:{study.study_name}#{number} (robust)", number
