"""Optuna studies: names, the one way to open a storage and a study, fingerprints, best parameters.

:func:`open_storage` (one storage per process and URL) and :func:`open_study` are how every
module reaches a study; the URL is normalised by :func:`crypto_tune.storage_url.database_url`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import optuna
from optuna.storages import BaseStorage

from crypto_tune import reliability
from crypto_tune.config import Settings
from crypto_tune.exceptions import ConfigError, StorageError
from crypto_tune.logs import mask_secrets
from crypto_tune.reliability import WorkerOptions
from crypto_tune.storage_url import database_url, is_grpc

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
    ``grpc://host:port``: the proxy must answer within ``timeout_s``.
    """
    url = database_url(url)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return
    if is_grpc(url):
        from crypto_tune.proxy import check_proxy

        check_proxy(url, timeout_s=timeout_s)
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


# One storage per process and URL (and worker options): one engine, one heartbeat thread.
_STORAGES: dict[tuple[str, WorkerOptions | None], BaseStorage] = {}
# Studies opened by open_study without their own sampler, per storage (as above) and study name.
_STUDIES: dict[tuple[str, WorkerOptions | None, str], optuna.Study] = {}


def open_storage(url: str) -> BaseStorage:
    """The process's one study storage for ``url`` (normalised by :func:`database_url`).

    In a sweep worker (:func:`crypto_tune.reliability.install`) it is the worker storage that
    heartbeats this process's trials and rides out outages
    (:class:`~crypto_tune.reliability.WorkerStorage`, or its gRPC twin for ``grpc://``); else
    an RDBStorage whose database was reached once (:func:`check_storage`) and whose connections
    are checked before use (``pool_pre_ping``), or a plain gRPC proxy client.
    """
    url = database_url(url)
    options = reliability.active_options()
    key = (url, options)
    if key not in _STORAGES:
        if is_grpc(url):
            from crypto_tune import proxy

            _STORAGES[key] = (
                proxy.ProxyWorkerStorage(url, options) if options else proxy.client(url)
            )
        elif options is not None:
            _STORAGES[key] = reliability.WorkerStorage(url, options)
        else:
            check_storage(url)
            _STORAGES[key] = optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    return _STORAGES[key]


def forget_storages() -> None:
    """Drop the memoised storages and studies (tests; after :func:`reliability.installed`)."""
    _STORAGES.clear()
    _STUDIES.clear()


def open_study(
    settings: Settings,
    phase: str,
    *,
    create: bool = False,
    directions: Sequence[Literal["minimize", "maximize"]] | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
) -> optuna.Study:
    """The Optuna study of ``phase`` (:func:`study_name`) on :func:`open_storage`.

    ``create=True`` creates it if absent (``directions``, default one maximised objective) and
    loads it otherwise; without it a missing study is a ConfigError that names the command
    creating it. Memoised per URL and study name unless a ``sampler`` is given (a study that
    samples gets its own object).
    """
    name = study_name(settings, phase=phase)
    url = database_url(settings.storage.url)
    key = (url, reliability.active_options(), name)
    if sampler is None and key in _STUDIES:
        return _STUDIES[key]
    storage = open_storage(url)
    if create:
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            sampler=sampler,
            directions=list(directions or ["maximize"]),
            load_if_exists=True,
        )
    else:
        try:
            study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
        except KeyError:
            raise ConfigError(
                f"no {phase} study named '{name}' in {mask_secrets(url)}: "
                f"run `{rerun_hint(settings, phase=phase)}` first"
                + (" or set phase.model_source=config" if phase == "model" else "")
            ) from None
    if sampler is None:
        _STUDIES[key] = study
    return study


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
