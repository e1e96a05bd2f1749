"""A sweep worker's knobs (heartbeat, grace, retries, outage tolerance) and the database
arguments of a storage that keeps heartbeats.

Knobs, from the environment (seconds; integers): ``CRYPTO_TUNE_HEARTBEAT`` (10),
``CRYPTO_TUNE_GRACE`` (60), ``CRYPTO_TUNE_RETRIES`` (0) and ``CRYPTO_TUNE_DB_WAIT`` (120).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from crypto_tune.exceptions import ConfigError
from crypto_tune.storage._url import StorageURL

ENV = {
    "heartbeat": "CRYPTO_TUNE_HEARTBEAT",
    "grace": "CRYPTO_TUNE_GRACE",
    "retries": "CRYPTO_TUNE_RETRIES",
    "db_wait": "CRYPTO_TUNE_DB_WAIT",
}


@dataclass(frozen=True)
class WorkerOptions:
    """Heartbeat interval, grace period, retries of a stale trial, outage tolerance (seconds)."""

    heartbeat: int = 10
    grace: int = 60
    retries: int = 0
    db_wait: int = 120


def worker_options(environ: Mapping[str, str] | None = None) -> WorkerOptions:
    """Options from the environment; a bad value raises ConfigError naming the variable."""
    environ = dict(os.environ if environ is None else environ)
    values: dict[str, int] = {}
    for field_name, variable in ENV.items():
        raw = environ.get(variable)
        if raw is None or raw == "":
            continue
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(
                f"{variable} must be an integer number of seconds, got {raw!r}"
            ) from None
        low = 0 if field_name == "retries" else 1
        if value < low:
            raise ConfigError(f"{variable} must be >= {low}, got {value}")
        values[field_name] = value
    options = WorkerOptions(**values)
    if options.grace <= options.heartbeat:
        raise ConfigError(
            f"{ENV['grace']} ({options.grace}) must exceed {ENV['heartbeat']} ({options.heartbeat})"
        )
    return options


def heartbeat_rdb_kwargs(url: StorageURL, options: WorkerOptions) -> dict[str, Any]:
    """The RDBStorage arguments of a database storage that keeps heartbeats: connections checked
    before use (a connect timeout on PostgreSQL), the heartbeat interval, the grace period and,
    with retries, Optuna's retry callback (a worker's own storage and the gRPC proxy's)."""
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.scheme == "postgresql":
        engine_kwargs["connect_args"] = {"connect_timeout": 10}
    with warnings.catch_warnings():  # "experimental" since Optuna 2.8
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        callback = (
            optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=options.retries)
            if options.retries > 0
            else None
        )
    return {
        "engine_kwargs": engine_kwargs,
        "heartbeat_interval": options.heartbeat,
        "grace_period": options.grace,
        "heartbeat_stale_trial_callback": callback,
    }


__all__ = ["ENV", "WorkerOptions", "heartbeat_rdb_kwargs", "worker_options"]
