"""The one way to open a study storage and a study.

:func:`open_storage` keeps one storage per process and URL: in a sweep worker (the CLI called
:func:`enable_workers` for ``crypto-tune -m``) the worker storage that heartbeats this process's
trials and rides out outages (:class:`~crypto_tune.storage.WorkerStorage`, or its gRPC twin for
``grpc://``), else an RDBStorage whose database was reached once (:func:`check_storage`) and
whose connections are checked before use, or a plain gRPC proxy client. The sweeper is handed
the same object (:mod:`crypto_tune.sweeper`): Optuna itself is never patched.

A SQLite storage runs in write-ahead-log mode with ``synchronous=NORMAL`` (:func:`fast_sqlite`):
a commit no longer waits for the disk (an fsync at checkpoints only), which took Optuna's
per-trial writes from 59-95 ms to 14 ms on this machine (bare ask-and-tell, 5 parameters). A
crash of the process loses nothing; a power cut or OS crash may lose the last trials' commits
(they run again). WAL needs the file on a local disk (not NFS), as SQLite's locking does anyway.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import optuna
from optuna.storages import BaseStorage

from crypto_tune._made import wrote
from crypto_tune.exceptions import ConfigError
from crypto_tune.storage._check import check_database, check_sqlite_folder
from crypto_tune.storage._options import WorkerOptions
from crypto_tune.storage._proxy import ProxyWorkerStorage, check_proxy, client
from crypto_tune.storage._schema import tables_made_one_at_a_time
from crypto_tune.storage._url import StorageURL
from crypto_tune.storage._workers import WorkerStorage

_WORKERS: list[WorkerOptions] = []  # the worker options of this process (at most one)
# One storage per process and URL (and worker options): one engine, one heartbeat thread.
_STORAGES: dict[tuple[str, WorkerOptions | None], BaseStorage] = {}
# Studies opened by open_study without their own sampler, per storage (as above) and study name.
_STUDIES: dict[tuple[str, WorkerOptions | None, str], optuna.Study] = {}


def enable_workers(options: WorkerOptions) -> None:
    """Make this process a sweep worker: from now on :func:`open_storage` opens worker storages
    with ``options`` (heartbeats, stale-trial recovery, outages; the CLI, for ``-m``)."""
    # study.ask warns that heartbeats are meant for study.optimize: here they are kept for asked
    # trials on purpose.
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    _WORKERS[:] = [options]


def active_options() -> WorkerOptions | None:
    """The worker options when this process is a sweep worker (:func:`enable_workers`)."""
    return _WORKERS[0] if _WORKERS else None


@contextlib.contextmanager
def workers_enabled(options: WorkerOptions) -> Iterator[None]:
    """:func:`enable_workers` for the duration of a ``with`` block (tests); the storages opened
    inside are forgotten at its end."""
    enable_workers(options)
    try:
        yield
    finally:
        _WORKERS.clear()
        forget_storages()


def check_storage(
    url: StorageURL | str, *, outputs: Path | str | None = None, timeout_s: float = 5
) -> None:
    """Reach the study storage once; ConfigError or StorageError naming ``storage.url`` (password
    masked) if that fails.

    SQLite: the file's folder must exist, or lie under ``outputs`` (``paths.outputs``, created).
    PostgreSQL: a login is attempted; nothing is written. ``grpc://host:port``: the proxy must
    answer within ``timeout_s``.
    """
    url = StorageURL.parse(url)
    if url.is_sqlite:
        check_sqlite_folder(url, outputs=outputs)
    elif url.is_grpc:
        check_proxy(url, timeout_s=timeout_s)
    else:
        check_database(url, timeout_s=timeout_s)


def open_storage(url: StorageURL | str, *, outputs: Path | str | None = None) -> BaseStorage:
    """The process's one study storage for ``url`` (see the module); ``outputs`` as in
    :func:`check_storage`."""
    url = StorageURL.parse(url)
    options = active_options()
    key = (url.url, options)
    if key not in _STORAGES:
        if url.is_sqlite:
            check_sqlite_folder(url, outputs=outputs)
        if url.is_grpc:
            _STORAGES[key] = ProxyWorkerStorage(url, options) if options else client(url)
        elif options is not None:
            _STORAGES[key] = WorkerStorage(url, options)
        else:
            if not url.is_sqlite:
                check_database(url)
            existed = url.sqlite_path is None or url.sqlite_path.exists()
            with tables_made_one_at_a_time(url):
                _STORAGES[key] = optuna.storages.RDBStorage(
                    url.url, engine_kwargs={"pool_pre_ping": True}
                )
            if url.sqlite_path is not None:  # a refused run's checks remove a new, unused file
                wrote(url.sqlite_path, existed=existed, remove=remove_if_unused)
        opened = _STORAGES[key]
        if url.is_sqlite and isinstance(opened, optuna.storages.RDBStorage):
            fast_sqlite(opened)
    return _STORAGES[key]


def fast_sqlite(storage: optuna.storages.RDBStorage) -> None:
    """Every connection of ``storage`` (a SQLite file) in WAL mode with ``synchronous=NORMAL``
    (see the module); a file another process holds locked keeps its mode (nothing fails)."""
    import sqlite3

    import sqlalchemy as sa

    def pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.OperationalError:  # locked by another process just now: its default mode
            pass
        finally:
            cursor.close()

    sa.event.listen(storage.engine, "connect", pragmas)
    storage.engine.dispose()  # the connections Optuna opened to set the schema up: new ones


def remove_if_unused(path: Path) -> None:
    """Remove the SQLite study file ``path`` (and its ``-wal``, ``-shm``) if it holds no study,
    after closing this process's connections to it: a refused run removes the file it made,
    never one another process has put a study in meanwhile."""
    import sqlite3

    for key, opened in list(_STORAGES.items()):
        if isinstance(opened, optuna.storages.RDBStorage) and key[0].startswith("sqlite:"):
            opened.engine.dispose()
            del _STORAGES[key]
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            if db.execute("SELECT count(*) FROM studies").fetchone()[0]:
                return
    except sqlite3.Error:
        return
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        name.unlink(missing_ok=True)


def forget_storages() -> None:
    """Drop the memoised storages and studies (tests)."""
    _STORAGES.clear()
    _STUDIES.clear()


def open_study(
    url: StorageURL | str,
    name: str,
    *,
    create: bool = False,
    directions: Sequence[Literal["minimize", "maximize"]] | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    missing: str | None = None,
    outputs: Path | str | None = None,
) -> optuna.Study:
    """The Optuna study ``name`` on :func:`open_storage`.

    ``create=True`` creates it if absent (``directions``, default one maximised objective) and
    loads it otherwise; without it a missing study is a ConfigError (its message ``missing``, e.g.
    what to run first). Memoised per URL and study name unless a ``sampler`` is given (a study that
    samples gets its own object).
    """
    url = StorageURL.parse(url)
    key = (url.url, active_options(), name)
    if sampler is None and key in _STUDIES:
        return _STUDIES[key]
    storage = open_storage(url, outputs=outputs)
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
            raise ConfigError(missing or f"no study named '{name}' in {url}") from None
    if sampler is None:
        _STUDIES[key] = study
    return study


__all__ = [
    "active_options",
    "check_storage",
    "enable_workers",
    "forget_storages",
    "open_storage",
    "open_study",
    "workers_enabled",
]
