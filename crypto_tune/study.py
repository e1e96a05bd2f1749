"""Optuna study storage: URLs (masked for display), reachability, names and best parameters."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import optuna

from crypto_tune.config import Settings
from crypto_tune.exceptions import ConfigError, StorageError
from crypto_tune.logs import mask_secrets

log = logging.getLogger(__name__)


def study_name(settings: Settings, *, phase: str | None = None) -> str:
    """``{experiment}.{asset}.{timeframe}.{regime}.{phase}`` (the config's ``study.name``)."""
    if phase is None:
        return settings.study.name
    parts = [
        settings.experiment_name,
        settings.asset.name,
        settings.asset.timeframe,
        settings.regime.name,
        phase,
    ]
    return ".".join(parts)


def check_storage(url: str, *, timeout_s: int = 5) -> None:
    """Connect to the study database once; raise StorageError (password masked) if it fails.

    SQLite: the file's folder is created. PostgreSQL: a login is attempted; nothing is written.
    """
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return
    import sqlalchemy

    connect_args = {"connect_timeout": timeout_s} if url.startswith("postgres") else {}
    try:
        engine = sqlalchemy.create_engine(url, connect_args=connect_args)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # any driver error: report one masked line
        reason = " ".join(str(getattr(exc, "orig", exc) or exc).split())
        raise StorageError(
            f"storage.url {mask_secrets(url)} is unreachable: {mask_secrets(reason)[:300]}"
        ) from None


def rdb_storage(url: str) -> optuna.storages.RDBStorage:
    """An RDBStorage with a connection check (pool_pre_ping) for long sweeps."""
    check_storage(url)
    return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})


def load_study(settings: Settings, *, phase: str) -> optuna.Study:
    """Load the study of ``phase`` for this experiment/asset/timeframe/regime, or say why not."""
    name = study_name(settings, phase=phase)
    storage = rdb_storage(settings.storage.url)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise ConfigError(
            f"no {phase} study named '{name}' in {mask_secrets(settings.storage.url)}: "
            f"run `crypto-tune -m phase={phase} asset={settings.asset.name}` first"
            + (" or set phase.model_source=config" if phase == "model" else "")
        ) from None


def best_params(study: optuna.Study) -> dict[str, Any]:
    """The best complete trial's parameters, keyed as on the command line (``model.num_leaves``)."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise ConfigError(f"study '{study.study_name}' has no complete trial yet")
    return dict(study.best_trial.params)


def group_params(params: dict[str, Any], group: str) -> dict[str, Any]:
    """``{"model.num_leaves": 8, "strategy.x": 1}`` -> ``{"num_leaves": 8}`` (group "model")."""
    prefix = f"{group}."
    return {k.removeprefix(prefix): v for k, v in params.items() if k.startswith(prefix)}


_STUDIES: dict[tuple[str, str], optuna.Study] = {}


def cached_study(settings: Settings, *, phase: str) -> optuna.Study | None:
    """The study of ``phase`` if it exists (memoised per process), else None."""
    key = (settings.storage.url, study_name(settings, phase=phase))
    if key not in _STUDIES:
        try:
            _STUDIES[key] = optuna.load_study(study_name=key[1], storage=settings.storage.url)
        except KeyError:
            return None
    return _STUDIES[key]


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
