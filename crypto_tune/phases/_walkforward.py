"""``phase=walkforward``: walk-forward optimisation, one command from tuning to a stitched record.

For every window of :func:`crypto_tune.walkforward.walkforward_windows` (``split.train_months``
of training, rolling or anchored with ``split.expanding``, then ``split.test_months`` of test):

1. Phase 1 on the window's tuning folds only: the Optuna study ``{study.name}.wf{k}.model``
   (search space: ``hydra.sweeper.params`` from ``conf/search/model/<model>.yaml``, parsed by
   the Optuna sweeper's own parser) until it holds ``walkforward.model_trials`` complete trials.
2. Phase 2 on the chosen model's out-of-fold predictions of those folds: the study
   ``{study.name}.wf{k}.strategy`` (``conf/search/strategy/<rule>.yaml``) until it holds
   ``walkforward.strategy_trials`` complete trials.
3. Trade the test block: the model refit on the whole training span for the folds' median best
   iteration (:func:`crypto_tune.model.refit_rounds`), the strategy backtested exactly as
   ``phase=best`` does (:func:`crypto_tune.phases._strategy.backtest_segment`).

The test blocks are stitched into one out-of-sample record beside buy-and-hold over the same
bars. A rerun resumes (a study holding its budget is not tuned again); processes given the same
command on one RDB storage share the windows (each tunes until the study holds the budget).
``asset=basket`` runs the basket's own phases in every window: Phase 1 on the members' mean
objective, Phase 2 and the trade on the portfolio.

This module holds the search spaces, the inputs of a window and its studies; one window is
:mod:`crypto_tune.phases._walkforward_window`, the record and its files
:mod:`crypto_tune.phases._walkforward_output`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from crypto_tune.config import ModelSettings, Settings, StrategySettings
from crypto_tune.data import time_index
from crypto_tune.dataset import Dataset, prepare_dataset
from crypto_tune.exceptions import ConfigError, InvalidTrialError
from crypto_tune.phases._strategy import FoldArrays, backtest_folds, score_strategy
from crypto_tune.timeframes import periods_per_year, timeframe_minutes
from crypto_tune.walkforward import Window, walkforward_windows

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

    from crypto_tune.model import OutOfFold
    from crypto_tune.phases._walkforward_window import Member

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

    config = dict(space.sampler)
    if config.get("seed") is not None:
        config["seed"] = int(config["seed"]) + offset
    return instantiate(config)


# ---------------------------------------------------------------------- inputs of a window
def windows_for(settings: Settings, dataset: Dataset) -> list[Window]:
    """The walk-forward windows of ``settings`` on ``dataset``'s bars."""
    split, wf = settings.split, settings.walkforward
    return walkforward_windows(
        time_index(dataset.candles),
        start=wf.start or split.tune_start,
        end=wf.end or split.holdout_end,
        train_months=split.train_months,
        test_months=split.test_months,
        expanding=split.expanding,
        purge=split.purge,
        valid_fraction=split.valid_fraction,
        n_folds=split.n_folds,
        min_train_fraction=split.min_train_fraction,
    )


def walkforward_dataset(settings: Settings) -> Dataset:
    """Candles, features, label and regimes of the asset. The dataset's own folds are never
    scored here (each window has its own), so they are the static ones whatever ``split`` says:
    a walk-forward split whose train window does not fit the tuning period must not stop a
    walk-forward run whose windows fit ``walkforward.start..end``."""
    split = dataclasses.replace(settings.split, name="static")
    return prepare_dataset(dataclasses.replace(settings, split=split))


def window_dataset(dataset: Dataset, window: Window) -> Dataset:
    """``dataset`` whose folds are the window's tuning folds (what both studies score)."""
    return dataclasses.replace(dataset, folds=window.folds)


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
def _complete(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def _study(settings: Settings, name: str, space: SearchSpace, offset: int) -> optuna.Study:
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

    done = failed = 0
    while len(_complete(study)) < budget:
        trial = study.ask(space.distributions)
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
        len(_complete(study)),
        budget,
        tuned,
        time.perf_counter() - started,
        label,
        value,
        number,
    )


def _value(trial: optuna.trial.FrozenTrial) -> float:
    """A complete single-objective trial's value (a study's ``best_trial`` is one)."""
    if trial.value is None:
        raise InvalidTrialError(f"trial {trial.number} has no value")
    return float(trial.value)


def _pinned_model(study: optuna.Study, budget: int) -> tuple[dict[str, Any], int, float]:
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


def window_members(settings: Settings) -> list[tuple[Member, ...]]:
    """Per walk-forward window, its members: the asset, or every symbol of a basket with its
    own dataset and its own window (the same calendar dates; refused if the counts differ)."""
    from crypto_tune.dataset import member_settings
    from crypto_tune.phases._walkforward_window import Member

    per_member = []
    for member in member_settings(settings):
        dataset = walkforward_dataset(member)
        per_member.append((member, dataset, windows_for(member, dataset)))
    counts = {len(windows) for _, _, windows in per_member}
    if len(counts) != 1:
        found = ", ".join(f"{m.asset.symbol} {len(w)}" for m, _, w in per_member)
        raise ConfigError(
            f"asset.symbols: the basket's members give different numbers of walk-forward "
            f"windows ({found}): every member needs data over the whole walk-forward period"
        )
    return [
        tuple(Member(m, d, w[k], window_dataset(d, w[k])) for m, d, w in per_member)
        for k in range(counts.pop())
    ]


# ------------------------------------------------------------------------------ the phase
def preflight_walkforward(settings: Settings) -> None:
    """Before any work: the storage reachable, windows that fit (every member's), both spaces."""
    from crypto_tune.study import check_storage

    check_storage(settings)
    window_members(settings)
    for phase in ("model", "strategy"):
        if not search_space(settings, phase).distributions:
            raise ConfigError(f"phase=walkforward: the {phase} search space is empty")


def run_walkforward(settings: Settings) -> None:
    """Every window: tune, refit, trade; then stitch, compare, print, write and log."""
    import optuna

    from crypto_tune.phases._walkforward_output import (
        log_to_mlflow,
        print_table,
        summarise,
        write_outputs,
    )
    from crypto_tune.phases._walkforward_window import run_window

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per window step instead
    started = time.perf_counter()
    windows = window_members(settings)
    spaces = (search_space(settings, "model"), search_space(settings, "strategy"))
    split, asset = settings.split, settings.asset
    log.info(
        "walk-forward: %d windows, train %d months (%s), test %d months, %d tuning folds each, "
        "budgets %d model / %d strategy trials per window%s",
        len(windows),
        split.train_months,
        "anchored" if split.expanding else "rolling",
        split.test_months,
        split.n_folds,
        settings.walkforward.model_trials,
        settings.walkforward.strategy_trials,
        f"; basket {asset.symbol} ({asset.weights} weights, rebalance {asset.rebalance}, "
        f"target vol {asset.target_vol})"
        if asset.kind == "basket"
        else "",
    )
    results = [run_window(settings, members, spaces, len(windows)) for members in windows]
    datasets = {m.symbol: m.dataset for m in windows[0]}
    document, curves = summarise(settings, datasets, results)
    document["seconds"] = round(time.perf_counter() - started, 1)
    paths = write_outputs(settings, document, curves, results)
    print_table(document, paths["json"])
    log_to_mlflow(settings, document, paths)
