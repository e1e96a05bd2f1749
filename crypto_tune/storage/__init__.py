"""The door to the Optuna study storage: one parsed URL, one way to open a storage or a study.

* :class:`StorageURL`: ``storage.url`` parsed once (scheme, driver, the masked form every log,
  report and MLflow record shows); :func:`study_name`: the one formula of a phase's study name.
* :func:`open_storage` / :func:`open_study`: one storage per process and URL; in a sweep worker
  (:func:`enable_workers`, set by the CLI for ``-m``) a :class:`WorkerStorage` (heartbeats,
  stale-trial recovery, database outages; the trials it writes read back from memory:
  ``_own_trials.py``) or, for ``grpc://``, a :class:`ProxyWorkerStorage`
  through the gRPC storage proxy (:func:`serve`, ``python -m crypto_tune.proxy``). The sweeper
  (:mod:`crypto_tune.sweeper`) is handed the opened storage; Optuna is never patched.
* Errors are the project's (:class:`~crypto_tune.exceptions.ConfigError`,
  :class:`~crypto_tune.exceptions.StorageError`): only the CLI turns them into one line.

This package imports nothing from ``crypto_tune.cli``, ``crypto_tune.phases`` or
``crypto_tune.config``: it takes values (URLs, names, options), not settings.
"""

from __future__ import annotations

from crypto_tune.storage._check import check_database, check_sqlite_folder
from crypto_tune.storage._open import (
    active_options,
    check_storage,
    enable_workers,
    forget_storages,
    open_storage,
    open_study,
    workers_enabled,
)
from crypto_tune.storage._options import ENV, WorkerOptions, worker_options
from crypto_tune.storage._own_trials import parameters_together
from crypto_tune.storage._proxy import (
    DEFAULT_PORT,
    ProxyWorkerStorage,
    check_proxy,
    client,
    proxy_storage,
    serve,
)
from crypto_tune.storage._url import StorageURL, database_url, study_name
from crypto_tune.storage._workers import WorkerStorage, fail_stale

__all__ = [
    "DEFAULT_PORT",
    "ENV",
    "ProxyWorkerStorage",
    "StorageURL",
    "WorkerOptions",
    "WorkerStorage",
    "active_options",
    "check_database",
    "check_proxy",
    "check_sqlite_folder",
    "check_storage",
    "client",
    "database_url",
    "enable_workers",
    "fail_stale",
    "forget_storages",
    "open_storage",
    "open_study",
    "parameters_together",
    "proxy_storage",
    "serve",
    "study_name",
    "worker_options",
    "workers_enabled",
]
