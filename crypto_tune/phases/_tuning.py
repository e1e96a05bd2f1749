"""Tuning a study in-process (ask and tell), as the sweeps would: the search space of a phase
as the Optuna sweeper parses it, the study and its sampler, the objectives of a Phase 1 model
and a Phase 2 rule, the budgeted loop and its progress line. Walk-forward windows and the
per-regime studies tune through it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from crypto_tune.config import ModelSettings, Settings, StrategySettings
from crypto_tune.dataset import Dataset
from crypto_tune.evaluation import FoldArrays, backtest_folds, score_strategy
from crypto_tune.exceptions import ConfigError, InvalidTrialError
from crypto_tune.timeframes import periods_per_year, timeframe_minutes

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

    from crypto_tune.model import OutOfFold

log = logging.getLogger("crypto_tune.walkforward")
# The model a window's Phase 2 trades, pinned on its Phase 1 study by the first process that
# saw the budget complete: workers sharing a window never tune two strategies on two models.
PIN_ATTR = "crypto_tune.walkforward.model"
Direction: TypeAlias = Literal["minimize", "maximize"]


# --------------------------------------------------------------------------- search spaces
@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """One sweep's search space as the Optuna sweeper builds it, and the sampler it uses."""

    distributions: dict[str, BaseDistribution]
    fixed: dict[str, Any]
    sampler: dict[str, Any]
    direction: Direction


def _compose(settings: Settings, phase: str) -> Any:
    """The full config (``hydra`` included) of this run's command line with ``phase=...``."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from crypto_tune.config import config_dir, register_resolvers

    overrides = [o for o in settings.command_line if o.split("=", 1)[0].lstrip("+~") != "phase"]
    overrides.append(f"phase={phase}")
    register_resolvers()
    if GlobalHydra.instance().is_initialized():  # inside the crypto-tune app
        return compose("config", overrides=overrides, return_hydra_config=True)
    with initialize_config_dir(config_dir=str(config_dir())):
        return compose("config", overrides=overrides, return_hydra_config=True)


def search_space(settings: Settings, phase: str) -> SearchSpace:
    """The ``phase`` sweep's space: its ``hydra.sweeper.params`` in the composed config, parsed
    by the Optuna sweeper's own parser. Keys fixed on the command line are not searched."""
    from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides
    from omegaconf import OmegaConf

    full = _compose(settings, phase)
    params = OmegaConf.to_container(full.hydra.sweeper.params or {}, resolve=False)
    assert isinstance(params, dict)
    lines = [f"{key!s}={value}" for key, value in params.items()]
    try:
        distributions, fixed, _ = create_params_from_overrides(lines)
    except Exception as exc:  # the sweeper's own errors, as one line
        raise ConfigError(
            f"phase={phase} search space: {str(exc).strip().splitlines()[0]}"
        ) from None
    given = {o.split("=", 1)[0].lstrip("+") for o in settings.command_line}
    for key in given & set(distributions):
        del distributions[key]
    sampler = OmegaConf.to_container(full.hydra.sweeper.sampler, resolve=True)
    assert isinstance(sampler, dict)
    return SearchSpace(
        distributions=dict(distributions),
        fixed=dict(fixed),
        sampler={str(k): v for k, v in sampler.items()},
        direction=_direction(phase, full.hydra.sweeper.direction),
    )


def _direction(phase: str, value: object) -> Direction:
    """The sweep's one direction; a walk-forward window tunes a single objective."""
    text = str(value)
    if text == "minimize":
        return "minimize"
    if text == "maximize":
        return "maximize"
    raise ConfigError(
        f"phase={phase}: hydra.sweeper.direction must be minimize or maximize, got {text}"
    )


def _sampler(space: SearchSpace, offset: int) -> optuna.samplers.BaseSampler:
    """The sweep's sampler; a fixed seed moves by ``offset`` (each study draws its own)."""
    from hydra.utils import instantiate

    from crypto_tune.samplers import SAMPLER_TARGETS

    config = dict(space.sampler)
    if config.get("seed") is not None:
        config["seed"] = int(config["seed"]) + offset
    return instantiate(config, _execution_whitelist_=SAMPLER_TARGETS)


def model_settings(settings: Settings, params: dict[str, Any]) -> ModelSettings:
    """``settings.model`` with the trial's ``model.*`` values, validated."""
    from crypto_tune.study import group_params

    model = dataclasses.replace(settings.model, **group_params(params, "model"))
    model.validate("model")
    return model


def strategy_settings(settings: Settings, params: dict[str, Any]) -> StrategySettings:
    """``settings.strategy`` with the trial's ``strategy.*`` values, validated."""
    from crypto_tune.study import group_params

    strategy = dataclasses.replace(settings.strategy, **group_params(params, "strategy"))
    strategy.validate("strategy")
    return strategy


def model_objective(
    settings: Settings, data: Dataset, model: ModelSettings
) -> tuple[float, OutOfFold]:
    """Phase 1's objective of ``model`` on ``data``'s folds, and its out-of-fold predictions."""
    from crypto_tune.model import out_of_fold
    from crypto_tune.objectives import MODEL_OBJECTIVES
    from crypto_tune.phases._model import score_folds

    oof = out_of_fold(data, model, seed=settings.seed, cache_dir=settings.paths.cache)
    summary = score_folds(data, oof, settings.regime.name)
    return float(MODEL_OBJECTIVES[settings.phase.objective](summary)), oof


def strategy_objective(
    settings: Settings, arrays: tuple[FoldArrays, ...], strategy: StrategySettings
) -> float:
    """Phase 2's objective of ``strategy`` on the fold arrays (exactly as a Phase 2 trial)."""
    tf = settings.asset.timeframe
    returns, trades = backtest_folds(arrays, strategy, bar_hours=timeframe_minutes(tf) / 60.0)
    return score_strategy(strategy, returns, trades, ppy=periods_per_year(tf))


# ------------------------------------------------------------------------------- studies
def complete_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def tuning_study(settings: Settings, name: str, space: SearchSpace, offset: int) -> optuna.Study:
    from crypto_tune.study import open_study

    # `{study.name}.{name}`: name is the window's phase, e.g. "wf3.model"
    return open_study(
        settings, name, create=True, directions=[space.direction], sampler=_sampler(space, offset)
    )


def optimize(
    study: optuna.Study,
    space: SearchSpace,
    objective: Callable[[dict[str, Any]], float],
    budget: int,
) -> int:
    """Ask/tell until ``study`` holds ``budget`` complete trials (counting other workers');
    returns how many this process completed. A trial whose values fail validation is FAIL; an
    interrupted one is FAIL and the interrupt goes on."""
    import optuna

    from crypto_tune.samplers import start_from

    done = failed = 0
    while len(complete_trials(study)) < budget:
        trial = study.ask()  # then its parameters, as ask(distributions) suggests them
        if done + failed == 0:  # this process's first trial: a resume or another worker
            start_from(study.sampler, trial.number)
        for name, distribution in space.distributions.items():
            trial._suggest(name, distribution)
        params = {**trial.params, **space.fixed}
        try:
            value = float(objective(params))
            if not math.isfinite(value):
                raise InvalidTrialError(f"the objective is {value}")
        except (ConfigError, InvalidTrialError) as exc:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            failed += 1
            log.warning("%s trial %d failed: %s", study.study_name, trial.number, exc)
            if failed >= 5 and failed > done:
                raise ConfigError(
                    f"{study.study_name}: {failed} of {failed + done} trials failed; last: {exc}"
                ) from None
            continue
        except BaseException:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        study.tell(trial, value)
        done += 1
    return done


def tune_window_study(
    settings: Settings,
    window: int,
    phase: Literal["model", "strategy"],
    space: SearchSpace,
    fingerprint: dict[str, object],
    objective: Callable[[dict[str, Any]], float],
    budget: int,
) -> tuple[optuna.Study, int]:
    """Open (or resume) the study ``{study.name}.wf{window}.{phase}``, check and record what it
    measures, tune it to ``budget`` complete trials; returns it and the trials tuned here. The
    one sequence every walk-forward window runs twice (single asset, basket and universe)."""
    from crypto_tune.study import check_fingerprint

    name = f"wf{window}.{phase}"
    offset = 2 * window + (phase == "strategy")  # a sampler seed of its own per study
    study = tuning_study(settings, name, space, offset=offset)
    check_fingerprint(settings, fingerprint, phase=name, record=True)
    return study, optimize(study, space, objective, budget)


def log_tuned(
    logger: logging.Logger,
    head: str,
    phase: str,
    study: optuna.Study,
    *,
    budget: int,
    tuned: int,
    started: float,
    label: str,
    value: float,
    number: int,
) -> None:
    """One progress line for a tuned study: complete/budget, trials tuned here, time, best."""
    logger.info(
        "%s | %s: %d/%d complete (%d tuned here, %.1fs), %s %.4f (trial %d)",
        head,
        phase,
        len(complete_trials(study)),
        budget,
        tuned,
        time.perf_counter() - started,
        label,
        value,
        number,
    )


def trial_value(trial: optuna.trial.FrozenTrial) -> float:
    """A complete single-objective trial's value (a study's ``best_trial`` is one)."""
    if trial.value is None:
        raise InvalidTrialError(f"trial {trial.number} has no value")
    return float(trial.value)


def pinned_model(study: optuna.Study, budget: int) -> tuple[dict[str, Any], int, float]:
    """(params, trial number, value) of the model Phase 2 trades in this window (see PIN_ATTR)."""
    pin = study.user_attrs.get(PIN_ATTR)
    if not (isinstance(pin, dict) and pin.get("budget") == budget):
        best = study.best_trial
        study.set_user_attr(
            PIN_ATTR,
            {"params": best.params, "trial": best.number, "value": best.value, "budget": budget},
        )
        pin = study.user_attrs[PIN_ATTR]
    return dict(pin["params"]), int(pin["trial"]), float(pin["value"])


__all__ = [
    "PIN_ATTR",
    "SearchSpace",
    "complete_trials",
    "log_tuned",
    "model_objective",
    "model_settings",
    "optimize",
    "pinned_model",
    "search_space",
    "strategy_objective",
    "strategy_settings",
    "trial_value",
    "tuning_study",
]
