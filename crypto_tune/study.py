"""Optuna studies of a run's settings: names, opening, fingerprints, best parameters.

The settings' face of :mod:`crypto_tune.storage` (which takes values, not settings): a phase
reaches its study by :func:`open_study` (or :func:`load_study`), named by :func:`study_name`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import optuna

from crypto_tune import storage
from crypto_tune.config import Settings
from crypto_tune.exceptions import ConfigError

log = logging.getLogger(__name__)


def study_name(settings: Settings, *, phase: str | None = None) -> str:
    """The Optuna study of ``phase`` (default: this run's phase), by the one formula
    :func:`crypto_tune.storage.study_name` (``{study.name}.{phase}``); every phase finds another
    phase's study through it, so an override of ``study.name`` is honoured everywhere."""
    return storage.study_name(settings.study.name, phase or settings.phase.name)


# Overrides that select another phase or its options: left out of the "run this first" hint.
_HINT_SKIP = ("phase", "phase.", "best.", "hydra.", "hydra/", "--")


def rerun_hint(settings: Settings, *, phase: str) -> str:
    """The command that creates the ``phase`` study this run looks for (same overrides)."""
    given = [
        item
        for item in settings.command_line
        if not item.lstrip("+~").startswith(_HINT_SKIP) and item.split("=", 1)[0] != "phase"
    ]
    flag = "-m " if phase in ("model", "strategy") else ""
    return " ".join(["crypto-tune", f"{flag}phase={phase}", *given])


def check_storage(settings: Settings, *, timeout_s: float = 5) -> None:
    """Reach ``storage.url`` once before any work (:func:`crypto_tune.storage.check_storage`): a
    SQLite file's folder must exist unless it lies under ``paths.outputs``."""
    storage.check_storage(settings.storage.url, outputs=settings.paths.root, timeout_s=timeout_s)


def open_study(
    settings: Settings,
    phase: str,
    *,
    create: bool = False,
    directions: Sequence[Literal["minimize", "maximize"]] | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
) -> optuna.Study:
    """The Optuna study of ``phase`` (:func:`study_name`) on ``storage.url``
    (:func:`crypto_tune.storage.open_study`, one storage per process and URL).

    ``create=True`` creates it if absent (``directions``, default one maximised objective) and
    loads it otherwise; without it a missing study is a ConfigError that names the command
    creating it. Memoised per URL and study name unless a ``sampler`` is given.
    """
    name = study_name(settings, phase=phase)
    missing = (
        f"no {phase} study named '{name}' in {storage.StorageURL.parse(settings.storage.url)}: "
        f"run `{rerun_hint(settings, phase=phase)}` first"
        + (" or set phase.model_source=config" if phase == "model" else "")
    )
    return storage.open_study(
        settings.storage.url,
        name,
        create=create,
        directions=directions,
        sampler=sampler,
        missing=missing,
        outputs=settings.paths.root,
    )


def load_study(settings: Settings, *, phase: str) -> optuna.Study:
    """Load the study of ``phase`` for this experiment/asset/timeframe/regime, or say why not."""
    return open_study(settings, phase)


def best_params(study: optuna.Study) -> dict[str, Any]:
    """The best complete trial's parameters, keyed as on the command line (``model.num_leaves``)."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise ConfigError(f"study '{study.study_name}' has no complete trial yet")
    if len(study.directions) > 1:  # a Pareto front: phase=best picks by best.pareto
        return dict(study.best_trials[0].params)
    return dict(study.best_trial.params)


def group_params(params: dict[str, Any], group: str) -> dict[str, Any]:
    """``{"model.num_leaves": 8, "strategy.x": 1}`` -> ``{"num_leaves": 8}`` (group "model")."""
    prefix = f"{group}."
    return {k.removeprefix(prefix): v for k, v in params.items() if k.startswith(prefix)}


def cached_study(settings: Settings, *, phase: str) -> optuna.Study | None:
    """The study of ``phase`` if it exists (memoised per process), else None."""
    try:
        return open_study(settings, phase)
    except ConfigError:
        return None


def tuned_parameters(study: optuna.Study) -> set[str]:
    """Names of the parameters the trials of ``study`` were given (``strategy.stop_loss``...)."""
    names: set[str] = set()
    for trial in study.get_trials(deepcopy=False):
        names.update(trial.params)
    return names


def check_fingerprint(
    settings: Settings, fingerprint: dict[str, Any], *, phase: str, record: bool
) -> None:
    """Refuse to add trials scored on other inputs to the ``phase`` study; record if first.

    A study without a fingerprint (new, or created by an older version) gets this one when
    ``record`` is true (the first trial of a process records it; preflight only compares).
    """
    from crypto_tune.fingerprint import ATTR, differences

    study = cached_study(settings, phase=phase)
    if study is None:
        return
    recorded = study.user_attrs.get(ATTR)
    if recorded is None:
        if record:
            study.set_user_attr(ATTR, fingerprint)
        return
    changed = differences(recorded, fingerprint, tuned=tuned_parameters(study))
    if changed:
        shown = "; ".join(changed[:3]) + (
            f"; and {len(changed) - 3} more" if len(changed) > 3 else ""
        )
        raise ConfigError(
            f"study '{study.study_name}' holds trials scored on other inputs ({shown}): start a "
            f"new study with experiment_name=<new name> (or study.name=<new name>)"
        )


def check_studied_data(
    settings: Settings, current: dict[str, Any], *, phases: tuple[str, ...]
) -> None:
    """Refuse a run that reads other data than its studies were tuned on (a best run or a report
    over another file, or the file edited since): the studies' trials, their verdict and this
    run's backtest would silently mix two markets. ``current``: this run's data inputs
    (:data:`crypto_tune.fingerprint.DATA_KEYS`, a universe's ``label.universe`` too), compared
    with each existing study's recorded fingerprint on the keys it records."""
    from crypto_tune.fingerprint import ATTR, differences

    for phase in phases:
        study = cached_study(settings, phase=phase)
        recorded = None if study is None else study.user_attrs.get(ATTR)
        if study is None or not isinstance(recorded, dict):
            continue
        keys = [k for k in current if k in recorded]
        changed = differences({k: recorded[k] for k in keys}, {k: current[k] for k in keys})
        if changed:
            raise ConfigError(
                f"phase={settings.phase.name}: study '{study.study_name}' was tuned on other data "
                f"than this run reads ({'; '.join(changed[:2])}): give the data it was tuned on, "
                "or tune a new study on these data with experiment_name=<new name>"
            )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return abs(float(a) - float(b)) <= 1e-12 * max(1.0, abs(float(a)))
        except (TypeError, ValueError):
            return False
    return a == b


def running_trial(study: optuna.Study, values: dict[str, Any]) -> optuna.trial.FrozenTrial | None:
    """The RUNNING trial whose parameters equal ``values`` (``{"model.num_leaves": 8, ...}``)."""
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for trial in reversed(running):
        if trial.params and all(_same(v, values.get(k)) for k, v in trial.params.items()):
            return trial
    return None


def best_value(study: optuna.Study) -> float | None:
    """The best value so far, or None before the first complete trial."""
    try:
        return float(study.best_value)
    except ValueError:
        return None
