"""``phase=regimes``: tune regime ``all``, ``calm`` and ``volatile`` in turn, each in its own
study, and the per-regime settings that ``regime=switch`` and its preflight share.

``crypto-tune phase=regimes regime=switch`` tunes, for each regime, the ordinary Phase 1 study
(``{study.name}.model`` of that regime) until it holds ``regime.model_trials`` complete trials,
then its Phase 2 study until ``regime.strategy_trials``. The trials score exactly what
``-m phase=model|strategy regime=R`` scores (same objective, same fingerprint), so either command
builds or resumes the same studies. The switched account is :mod:`crypto_tune.phases._switch`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from crypto_tune.config import Settings, StudySettings
from crypto_tune.dataset import prepare_dataset
from crypto_tune.exceptions import ConfigError
from crypto_tune.phases._phase import Phase

log = logging.getLogger("crypto_tune.switch")
TUNED: tuple[str, ...] = ("all", "calm", "volatile")  # what phase=regimes tunes, in order
SETS: tuple[str, ...] = ("calm", "volatile")  # the switched parameter sets
_SWITCH_ONLY = ("regime.confirm", "regime.model_trials", "regime.strategy_trials")


# ------------------------------------------------------------------------ per-regime settings
def _default_name(settings: Settings, regime: str) -> str:
    s = settings
    return (
        f"{s.experiment_name}.{s.asset.symbol}.{s.asset.timeframe}.{regime}."
        f"{s.split.name}.h{s.label.horizon}"
    )


def regime_settings(settings: Settings, regime: str) -> Settings:
    """``settings`` for the ordinary ``regime`` studies: ``regime.name`` and the study name
    changed, and a command line that reproduces them (``regime=R`` instead of ``regime=switch``).
    A user-given ``study.name=X`` becomes ``X.R``."""
    custom = settings.study.name != _default_name(settings, settings.regime.name)
    name = f"{settings.study.name}.{regime}" if custom else _default_name(settings, regime)
    line = []
    for item in settings.command_line:
        key = item.split("=", 1)[0].lstrip("+~")
        if key in ("regime", "regime.name", *_SWITCH_ONLY):
            continue
        line.append(f"study.name={name}" if key == "study.name" else item)
    line.append(f"regime={regime}")
    return dataclasses.replace(
        settings,
        regime=dataclasses.replace(settings.regime, name=regime),
        study=StudySettings(name=name),
        command_line=tuple(line),
    )


def with_regime_hint(settings: Settings, exc: ConfigError) -> ConfigError:
    from crypto_tune.study import rerun_hint

    command = rerun_hint(settings, phase="regimes")
    return ConfigError(f"{exc} (or every regime at once: `{command}`)")


def preflight_switch(settings: Settings, *, multirun: bool) -> None:
    """regime=switch is for phase=regimes, best and report, on one asset; best needs the
    studies, report the best run."""
    from crypto_tune.study import best_params, check_storage, load_study

    phase = settings.phase.name
    if phase not in ("regimes", "best", "report") or multirun:
        raise ConfigError(
            f"regime=switch is for `crypto-tune phase=regimes regime=switch`, `crypto-tune "
            f"phase=best regime=switch` and `crypto-tune phase=report regime=switch` (no -m); got "
            f"phase={phase}{' with -m' if multirun else ''}: tune one regime with "
            "`-m phase=model regime=calm`"
        )
    if settings.asset.kind == "basket":
        raise ConfigError("regime=switch: asset=basket is not supported; pick one asset")
    if phase == "report":
        from crypto_tune.phases._report_switch import switch_best

        switch_best(settings)
        return
    if phase == "best" and settings.best.from_file is not None:
        raise ConfigError("regime=switch: best.from replay is not supported")
    check_storage(settings)
    prepare_dataset(settings)
    if phase == "regimes":
        from crypto_tune.phases._tuning import search_space

        for name in ("model", "strategy"):
            if not search_space(regime_settings(settings, "calm"), name).distributions:
                raise ConfigError(f"phase=regimes: the {name} search space is empty")
        return
    from crypto_tune.phases._inputs import check_same_data

    for regime in TUNED:
        member = regime_settings(settings, regime)
        for name in ("model", "strategy"):
            try:
                best_params(load_study(member, phase=name))
            except ConfigError as exc:
                raise with_regime_hint(settings, exc) from None
        check_same_data(member, phases=("model", "strategy"))  # another file: two markets mixed


# ------------------------------------------------------------------------- phase=regimes
def _tune_regime(settings: Settings, k: int, regime: str) -> tuple[str, str, float, float]:
    """Phase 1 then Phase 2 of ``regime``'s ordinary studies, each up to its budget."""
    from crypto_tune.evaluation import evaluate_strategy, strategy_context
    from crypto_tune.model import out_of_fold
    from crypto_tune.objectives import MODEL_OBJECTIVES
    from crypto_tune.phases._model import model_fingerprint, score_folds
    from crypto_tune.phases._strategy import check_study_predictions
    from crypto_tune.phases._tuning import (
        log_tuned,
        model_settings,
        optimize,
        search_space,
        strategy_settings,
        tuning_study,
    )
    from crypto_tune.study import check_fingerprint

    budgets = settings.regime.model_trials, settings.regime.strategy_trials
    member = regime_settings(settings, regime)
    dataset = prepare_dataset(member)
    objective = MODEL_OBJECTIVES[member.phase.objective]

    def model_value(params: dict[str, Any]) -> float:
        model = model_settings(member, params)
        oof = out_of_fold(dataset, model, seed=member.seed, cache_dir=member.paths.cache)
        return float(objective(score_folds(dataset, oof, member.regime.name)))

    clock = time.perf_counter()
    space = search_space(member, "model")
    study = tuning_study(member, "model", space, offset=2 * k)
    check_fingerprint(member, model_fingerprint(member), phase="model", record=True)
    tuned = optimize(study, space, model_value, budgets[0])
    log_tuned(
        log,
        f"regime {regime}",
        "model",
        study,
        budget=budgets[0],
        tuned=tuned,
        started=clock,
        label="best",
        value=study.best_value,
        number=study.best_trial.number,
    )
    clock = time.perf_counter()
    s_space = search_space(member, "strategy")
    s_study = tuning_study(member, "strategy", s_space, offset=2 * k + 1)
    context = strategy_context(member)
    check_study_predictions(member, context, record=True)

    def strategy_value(params: dict[str, Any]) -> float:
        trial = dataclasses.replace(member, strategy=strategy_settings(member, params))
        value = evaluate_strategy(trial, context)[0]
        return float(value if isinstance(value, float) else value[0])

    s_tuned = optimize(s_study, s_space, strategy_value, budgets[1])
    log_tuned(
        log,
        f"regime {regime}",
        "strategy",
        s_study,
        budget=budgets[1],
        tuned=s_tuned,
        started=clock,
        label="best",
        value=s_study.best_value,
        number=s_study.best_trial.number,
    )
    return regime, member.study.name, float(study.best_value), float(s_study.best_value)


def run_regimes(settings: Settings) -> None:
    """Phase 1 then Phase 2 for regime all, calm and volatile, each to its budget (resumable)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = [_tune_regime(settings, k, regime) for k, regime in enumerate(TUNED)]
    print(f"{'regime':<10}{'model best':>12}{'strategy best':>15}  study")
    for regime, name, model_best, strategy_best in rows:
        print(f"{regime:<10}{model_best:>12.4f}{strategy_best:>15.4f}  {name}")
    print(f"next: crypto-tune phase=best regime=switch {_rest(settings)}".rstrip())


def _rest(settings: Settings) -> str:
    skip = ("phase", "regime", "regime.name", *_SWITCH_ONLY)
    return " ".join(o for o in settings.command_line if o.split("=", 1)[0].lstrip("+~") not in skip)


def _preflight(settings: Settings, *, multirun: bool) -> None:
    """Reached without regime=switch (the switch's own checks run first otherwise)."""
    raise ConfigError(
        f"phase=regimes tunes every regime: use regime=switch, got regime="
        f"{settings.regime.name} (one regime: -m phase=model regime={settings.regime.name})"
    )


PHASE = Phase(run=run_regimes, preflight=_preflight)

__all__ = [
    "PHASE",
    "SETS",
    "TUNED",
    "preflight_switch",
    "regime_settings",
    "run_regimes",
    "with_regime_hint",
]
