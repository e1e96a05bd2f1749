"""Crash-safe sweep workers: trial heartbeats, stale-trial recovery, database outages.

The Optuna sweeper drives Optuna by ask-and-tell, and Optuna's own heartbeat only runs inside
``study.optimize``: a worker killed with SIGKILL (OOM killer, a machine lost overnight) would
leave its trial RUNNING forever. :func:`install` (called by ``crypto-tune -m``) makes every study
storage this process opens from a URL a :class:`WorkerStorage`:

* **Heartbeats.** Every trial this process starts (``study.ask``, including a WAITING retry it
  picks up) is registered; a daemon thread records its heartbeat every ``heartbeat`` seconds until
  the trial is told. The first heartbeat is recorded at once when the trial is created.
* **Stale trials.** Before this process's first trial in a study, and then every ``heartbeat``
  seconds, RUNNING trials of *other* workers whose heartbeat is older than ``grace`` seconds are
  marked FAIL (and re-enqueued as WAITING trials when ``retries`` > 0, Optuna's
  ``RetryHeartbeatStaleTrialCallback``). The periodic sweep runs only after this process's own
  heartbeats have succeeded for ``grace`` seconds in a row, so that after a database outage every
  live worker can refresh its heartbeats before anyone judges them.
* **Outages.** Connections are checked before use (``pool_pre_ping``); an operation that fails
  because the database went away (a restart, a network cut) is retried with back-off for up to
  ``db_wait`` seconds, then the sweep stops with one line (exit 2) and the same command resumes.
  Optuna writes a trial's state and values in one transaction, so a COMPLETE trial always holds
  its value.

Knobs, from the environment (seconds; integers): ``CRYPTO_TUNE_HEARTBEAT`` (10),
``CRYPTO_TUNE_GRACE`` (60), ``CRYPTO_TUNE_RETRIES`` (0) and ``CRYPTO_TUNE_DB_WAIT`` (120).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from crypto_tune.exceptions import ConfigError, StorageError
from crypto_tune.logs import mask_secrets

log = logging.getLogger("crypto_tune")
T = TypeVar("T")
ENV = {
    "heartbeat": "CRYPTO_TUNE_HEARTBEAT",
    "grace": "CRYPTO_TUNE_GRACE",
    "retries": "CRYPTO_TUNE_RETRIES",
    "db_wait": "CRYPTO_TUNE_DB_WAIT",
}


@dataclass(frozen=True)
class WorkerOptions:
    """Heartbeat interval, grace period, retries of a stale trial, outage tolerance."""

    heartbeat: int = 10
    grace: int = 60
    retries: int = 0
    db_wait: int = 120


def worker_options(environ: dict[str, str] | None = None) -> WorkerOptions:
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


def _connection_lost(exc: BaseException, url: str) -> bool:
    """True when ``exc`` (or its cause) says the database connection went away (PostgreSQL), or
    the database is busy (SQLite): an error worth retrying."""
    import sqlalchemy.exc as sa

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa.OperationalError | sa.InterfaceError):
            if url.startswith("sqlite"):
                return "locked" in str(current) or "busy" in str(current)
            return True
        current = current.__cause__ or current.__context__
    return False


def _reason(exc: BaseException) -> str:
    """The driver's first line for a database error, passwords masked."""
    cause = getattr(exc, "orig", None) or exc.__cause__ or exc
    cause = getattr(cause, "orig", None) or cause
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return mask_secrets(first)[:200]


class WorkerStorage(RDBStorage):
    """An RDBStorage that heartbeats this process's trials, fails other workers' stale ones and
    rides out database outages (see the module docstring)."""

    def __init__(self, url: str, options: WorkerOptions) -> None:
        engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if url.startswith("postgres"):
            engine_kwargs["connect_args"] = {"connect_timeout": 10}
        with warnings.catch_warnings():  # "experimental" since Optuna 2.8
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            callback = (
                optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=options.retries)
                if options.retries > 0
                else None
            )
        self.options = options
        self._own: set[int] = set()
        self._studies: dict[int, str] = {}
        self._swept: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._healthy_since = time.monotonic()
        self._last_sweep = 0.0
        self._outage_since: float | None = None
        self._gave_up = False
        with warnings.catch_warnings():  # heartbeat_interval is "experimental" in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._retrying(
                lambda: RDBStorage.__init__(
                    self,
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=options.heartbeat,
                    grace_period=options.grace,
                    heartbeat_stale_trial_callback=callback,
                )
            )

    def __repr__(self) -> str:  # the sweeper logs "Storage: ..."
        return mask_secrets(str(self.url))

    # ----------------------------------------------------------------------- outages
    def _retrying(self, call: Callable[[], T]) -> T:
        """``call()``, retried while the database is unreachable for up to ``db_wait`` seconds.

        In the main thread a lasting outage stops the sweep with one line (exit 2); in the
        heartbeat thread the error is raised (the thread logs it and tries again later)."""
        delay, start = 0.5, time.monotonic()
        while True:
            try:
                result = call()
            except Exception as exc:
                if not _connection_lost(exc, str(self.url)):
                    raise
                if threading.current_thread() is not threading.main_thread():
                    raise
                message = (
                    f"the study database {mask_secrets(str(self.url))} has been unreachable for "
                    f"{self.options.db_wait} s ({_reason(exc)}): complete trials are kept; run "
                    "the same command again to resume"
                )
                if self._gave_up:  # stopping already (Hydra's end-of-sweep callbacks): no wait
                    raise StorageError(message) from None
                if time.monotonic() - start >= self.options.db_wait:
                    from crypto_tune.cli import fail

                    self._gave_up = True
                    fail(message)
                reason = _reason(exc)
                if self._outage_since is None:
                    self._outage_since = time.monotonic()
                    log.warning(
                        "study database unreachable (%s); retrying for up to %d s",
                        reason,
                        self.options.db_wait,
                    )
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if self._outage_since is not None:
                log.warning(
                    "study database reachable again after %.0f s",
                    time.monotonic() - self._outage_since,
                )
                self._outage_since = None
            return result

    # ------------------------------------------------------------------ trial ownership
    def _create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> Any:
        if study_id not in self._swept:  # at start: recover what dead workers left RUNNING
            self._swept.add(study_id)
            self._studies[study_id] = self.get_study_name_from_id(study_id)
            self.fail_stale_trials(study_id)
        trial = self._retrying(lambda: RDBStorage._create_new_trial(self, study_id, template_trial))
        if trial.state == TrialState.RUNNING:
            self._adopt(trial._trial_id)
        return trial

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Any = None) -> bool:
        try:
            done = self._retrying(
                lambda: RDBStorage.set_trial_state_values(self, trial_id, state, values)
            )
        except UpdateFinishedTrialError:
            if trial_id not in self._own:
                raise
            done = self._finished_elsewhere(trial_id, state, values)
        if state == TrialState.RUNNING and done:
            self._adopt(trial_id)  # a WAITING trial (e.g. a retry) this process picked up
        elif state.is_finished():
            with self._lock:
                self._own.discard(trial_id)
        return done

    def get_trial(self, trial_id: int) -> FrozenTrial:
        trial = self._retrying(lambda: RDBStorage.get_trial(self, trial_id))
        if trial_id in self._own and trial.state == TrialState.FAIL:
            # Another worker judged this live trial stale (this process could not reach the
            # database for longer than the grace period): let the sweeper tell it as usual;
            # set_trial_state_values then drops the result with a warning.
            trial.state = TrialState.RUNNING
        return trial

    def _finished_elsewhere(self, trial_id: int, state: TrialState, values: Any) -> bool:
        """A tell of an own trial that is already finished: our own earlier attempt (retried
        after a lost connection) or another worker that failed it as stale."""
        stored = RDBStorage.get_trial(self, trial_id)
        if stored.state == state and (values is None or stored.values == list(values)):
            return True
        log.warning(
            "trial %d was marked %s by another worker (no heartbeat for %d s): its result is "
            "dropped%s",
            stored.number,
            stored.state.name,
            self.options.grace,
            " and a retry was enqueued" if self.options.retries else "",
        )
        return False

    def _adopt(self, trial_id: int) -> None:
        with self._lock:
            self._own.add(trial_id)
        self._ensure_thread()
        self._wake.set()

    # -------------------------------------------------------------------- heartbeats
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._beat, name="crypto-tune-heartbeat", daemon=True
            )
            self._thread.start()

    def _beat(self) -> None:
        """Record the own trials' heartbeats every interval; fail other workers' stale trials."""
        while True:
            self._wake.wait(timeout=self.options.heartbeat)
            self._wake.clear()
            with self._lock:
                own = sorted(self._own)
            try:
                for trial_id in own:
                    self.record_heartbeat(trial_id)
            except Exception as exc:
                self._healthy_since = time.monotonic()
                log.warning("heartbeat failed (%s); retrying", _reason(exc))
                continue
            now = time.monotonic()
            calm = now - self._healthy_since >= self.options.grace
            if calm and now - self._last_sweep >= self.options.heartbeat:
                self._last_sweep = now
                for study_id in list(self._studies):
                    with contextlib.suppress(Exception):  # next round
                        self.fail_stale_trials(study_id)

    def fail_stale_trials(self, study_id: int) -> list[int]:
        """Mark FAIL the RUNNING trials of other workers whose heartbeat is older than the grace
        period (re-enqueue them when retries are configured); their numbers."""
        with self._lock:
            own = set(self._own)
        failed = []
        for trial_id in RDBStorage._get_stale_trial_ids(self, study_id):
            if trial_id in own:
                continue
            try:
                if RDBStorage.set_trial_state_values(self, trial_id, state=TrialState.FAIL):
                    failed.append(trial_id)
            except UpdateFinishedTrialError:
                pass  # another worker was faster
        if not failed:
            return []
        study = optuna.Study(study_name=self._studies[study_id], storage=self)
        numbers = []
        for trial_id in failed:
            trial = RDBStorage.get_trial(self, trial_id)
            numbers.append(trial.number)
            log.warning(
                "trial %d: its worker sent no heartbeat for %d s (killed or cut off): marked "
                "FAIL%s",
                trial.number,
                self.options.grace,
                " and enqueued again" if self.options.retries else "",
            )
            callback = self.get_heartbeat_stale_trial_callback()
            if callback is not None:
                callback(study, trial)
        return numbers


# Every other storage operation the sweeper, Optuna's cache and the phases use rides out outages.
_RETRIED = (
    "create_new_study",
    "delete_study",
    "set_study_user_attr",
    "set_study_system_attr",
    "get_study_id_from_name",
    "get_study_name_from_id",
    "get_study_directions",
    "get_study_user_attrs",
    "get_study_system_attrs",
    "get_all_studies",
    "_set_trial_param",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
    "get_trial_id_from_study_id_trial_number",
    "_get_trials",
    "get_all_trials",
    "get_n_trials",
    "_get_best_trial_id",
    "get_best_trial",
)


def _retried(name: str) -> Callable[..., Any]:
    method = getattr(RDBStorage, name)

    def call(self: WorkerStorage, *args: Any, **kwargs: Any) -> Any:
        return self._retrying(lambda: method(self, *args, **kwargs))

    call.__name__ = name
    call.__doc__ = method.__doc__
    return call


for _name in _RETRIED:
    if hasattr(RDBStorage, _name):
        setattr(WorkerStorage, _name, _retried(_name))

_STORAGES: dict[str, WorkerStorage] = {}
_ORIGINAL: Callable[..., Any] | None = None


def worker_storage(url: str, options: WorkerOptions | None = None) -> WorkerStorage:
    """The process's one :class:`WorkerStorage` for ``url`` (one engine, one heartbeat thread)."""
    if url not in _STORAGES:
        _STORAGES[url] = WorkerStorage(url, options or worker_options())
    return _STORAGES[url]


def install(options: WorkerOptions | None = None) -> None:
    """Make every RDB storage this process opens from a URL string (the sweeper's, the phases')
    a shared :class:`WorkerStorage`. Idempotent; for ``crypto-tune -m`` processes."""
    global _ORIGINAL
    import optuna.storages as storages
    from optuna.storages._cached_storage import _CachedStorage

    if _ORIGINAL is not None:
        return
    options = options or worker_options()
    # study.ask warns that heartbeats are meant for study.optimize: here they are kept for asked
    # trials on purpose.
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    _ORIGINAL = original = storages.get_storage

    def get_storage(storage: Any) -> Any:
        if isinstance(storage, str) and storage.split(":", 1)[0].split("+")[0] in (
            "sqlite",
            "postgresql",
            "postgres",
            "mysql",
        ):
            return _CachedStorage(worker_storage(storage, options))
        return original(storage)

    storages.get_storage = get_storage


@contextlib.contextmanager
def installed(options: WorkerOptions | None = None) -> Iterator[None]:
    """:func:`install` for the duration of a ``with`` block (tests)."""
    import optuna.storages as storages

    global _ORIGINAL
    install(options)
    try:
        yield
    finally:
        if _ORIGINAL is not None:
            storages.get_storage = _ORIGINAL
            _ORIGINAL = None
        _STORAGES.clear()


# ----------------------------------------------------------------------------- disk faults
_DISK_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EFBIG: "file too large",
}
_DISK_TEXTS = {os.strerror(code).lower(): text for code, text in _DISK_ERRNOS.items()}


def disk_fault(exc: BaseException) -> str | None:
    """One line for an OSError that means "cannot write here" (full disk, quota, read-only,
    permissions), naming the file when known; None for any other error.

    pyarrow reports a full disk as an OSError without errno ("... No space left on device"),
    so the message is read too."""
    if not isinstance(exc, OSError):
        return None
    reason = _DISK_ERRNOS.get(exc.errno or -1)
    if reason is None:
        lowered = str(exc).lower()
        reason = next((text for key, text in _DISK_TEXTS.items() if key in lowered), None)
    if reason is None:
        return None
    where = f" {exc.filename}" if exc.filename else ""
    return (
        f"cannot write{where}: {reason}; nothing half-written is kept (free space or fix the "
        "permissions of paths.outputs / paths.cache, then run the same command again)"
    )


def unwritable(settings: Any) -> str | None:
    """The first folder the run will write to that is not writable, as one line, or None.

    Checked before any work (preflight) and without writing anything: the nearest existing
    ancestor of each folder must be a writable directory (a read-only mount fails even for
    root)."""
    from pathlib import Path

    folders = [("paths.outputs", settings.paths.root), ("paths.cache", settings.paths.cache)]
    urls = (("storage.url", settings.storage.url), ("tracking.uri", settings.tracking.uri))
    for key, url in urls:
        if str(url).startswith("sqlite:///"):
            folders.append((key, str(Path(str(url).removeprefix("sqlite:///")).parent)))
    for key, folder in folders:
        path = Path(folder).absolute()
        while not path.exists() and path != path.parent:
            path = path.parent
        if not path.is_dir():
            return f"{key}: {path} is not a folder"
        if not os.access(path, os.W_OK | os.X_OK):
            try:
                read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
            except OSError:
                read_only = False
            why = "is on a read-only file system" if read_only else "is not writable"
            return f"{key}: {path} {why} (choose another folder with paths.outputs=DIR)"
    return None


__all__ = [
    "WorkerOptions",
    "WorkerStorage",
    "disk_fault",
    "install",
    "unwritable",
    "worker_options",
    "worker_storage",
]
