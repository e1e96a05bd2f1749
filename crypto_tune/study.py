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
    """The Optuna study of ``phase`` (default: this run's phase): ``{study.name}.{phase}``.

    ``study.name`` (``{experiment}.{symbol}.{timeframe}.{regime}.{split}.h{horizon}`` unless the
    user names it) is the one home of a study's identity; every phase finds another phase's
    study through it, so an override of ``study.name`` is honoured everywhere.
    """
    return f"{settings.study.name}.{phase or settings.phase.name}"


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
            f"run `{rerun_hint(settings, phase=phase)}` first"
            + (" or set phase.model_source=config" if phase == "model" else "")
        ) from None


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
