"""Crash-safe sweep workers: trial heartbeats, stale-trial recovery, database outages.

The Optuna sweeper drives Optuna by ask-and-tell, and Optuna's own heartbeat only runs inside
``study.optimize``: a worker killed with SIGKILL (OOM killer, a machine lost overnight) would
leave its trial RUNNING forever. :func:`install` (called by ``crypto-tune -m``) makes every study
storage this process opens (:func:`crypto_tune.study.open_storage`, and Optuna given a URL string,
as the sweeper does) the process's one :class:`WorkerStorage` for that URL, or for a
``grpc://`` URL its twin through the gRPC storage proxy (:mod:`crypto_tune.proxy`, same rules,
the proxy recording heartbeats and failing stale trials on the workers' behalf):

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
from collections.abc import Callable, Collection, Iterator
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
    """True when ``exc`` (or its cause) says the database connection went away (PostgreSQL), the
    database is busy (SQLite), or a gRPC storage proxy or its database is unreachable: an error
    worth retrying."""
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
        if type(current).__module__.startswith("grpc") and callable(getattr(current, "code", None)):
            code = getattr(current.code(), "name", "")  # type: ignore[attr-defined]
            if code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
                return True
            # The proxy's own database went away: the servicer raised the driver's error.
            details = str(getattr(current, "details", lambda: "")() or "")
            return code == "UNKNOWN" and (
                "OperationalError" in details or "InterfaceError" in details
            )
        current = current.__cause__ or current.__context__
    return False


def _reason(exc: BaseException) -> str:
    """The driver's first line for a database error, passwords masked."""
    cause = getattr(exc, "orig", None) or exc.__cause__ or exc
    cause = getattr(cause, "orig", None) or cause
    if callable(getattr(cause, "details", None)):  # a gRPC error: its details, not its repr
        cause = cause.details() or cause  # type: ignore[union-attr]
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return mask_secrets(first)[:200]


def stale_message(number: int, *, grace: int, retries: int) -> str:
    """The one line logged for a trial failed because its worker stopped heartbeating."""
    again = " and enqueued again" if retries else ""
    return (
        f"trial {number}: its worker sent no heartbeat for {grace} s (killed or cut off): "
        f"marked FAIL{again}"
    )


def fail_stale(
    storage: RDBStorage, study_id: int, *, spare: Collection[int] = ()
) -> list[FrozenTrial]:
    """Mark FAIL the RUNNING trials of ``study_id`` whose heartbeat in ``storage`` is older than
    its grace period, except the trials in ``spare`` (the caller's own); run the storage's stale
    trial callback on each (a retry when configured); return the failed trials.

    The one stale-trial sweep, used by :class:`WorkerStorage` and by the gRPC storage proxy
    (:mod:`crypto_tune.proxy`) on behalf of its clients."""
    failed = []
    for trial_id in RDBStorage._get_stale_trial_ids(storage, study_id):
        if trial_id in spare:
            continue
        try:
            if RDBStorage.set_trial_state_values(storage, trial_id, state=TrialState.FAIL):
                failed.append(RDBStorage.get_trial(storage, trial_id))
        except UpdateFinishedTrialError:
            pass  # another worker was faster
    callback = storage.get_heartbeat_stale_trial_callback()
    if failed and callback is not None:
        name = RDBStorage.get_study_name_from_id(storage, study_id)
        study = optuna.Study(study_name=name, storage=storage)
        for trial in failed:
            callback(study, trial)
    return failed


def heartbeat_rdb_kwargs(url: str, options: WorkerOptions) -> dict[str, Any]:
    """The RDBStorage arguments of a database storage that keeps heartbeats: connections checked
    before use (a connect timeout on PostgreSQL), the heartbeat interval, the grace period and,
    with retries, Optuna's retry callback (a worker's own storage and the gRPC proxy's)."""
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
    return {
        "engine_kwargs": engine_kwargs,
        "heartbeat_interval": options.heartbeat,
        "grace_period": options.grace,
        "heartbeat_stale_trial_callback": callback,
    }


class WorkerMixin:
    """What a sweep worker adds to a study storage (see the module docstring): it heartbeats the
    trials this process runs, fails other workers' stale ones and rides out outages.

    Mixed into a storage class (``class WorkerStorage(WorkerMixin, RDBStorage)``); the storage
    provides :meth:`_record_heartbeats` and :meth:`fail_stale_trials`."""

    options: WorkerOptions
    _where: str  # the storage URL, masked, for messages

    def _setup_worker(self, options: WorkerOptions, where: str) -> None:
        self.options = options
        self._where = mask_secrets(where)
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

    def __repr__(self) -> str:  # the sweeper logs "Storage: ..."
        return self._where

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
                if not _connection_lost(exc, self._where):
                    raise
                if threading.current_thread() is not threading.main_thread():
                    raise
                message = (
                    f"the study database {self._where} has been unreachable for "
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
    def _first_trial_in(self, study_id: int) -> None:
        """Before this process's first trial in a study: recover what dead workers left RUNNING."""
        if study_id not in self._swept:
            self._swept.add(study_id)
            self._studies[study_id] = self.get_study_name_from_id(study_id)  # type: ignore[attr-defined]
            self.fail_stale_trials(study_id)

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Any = None) -> bool:
        base = super().set_trial_state_values  # type: ignore[misc]
        try:
            done = bool(self._retrying(lambda: base(trial_id, state, values)))
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
        base = super().get_trial  # type: ignore[misc]
        trial: FrozenTrial = self._retrying(lambda: base(trial_id))
        if trial_id in self._own and trial.state == TrialState.FAIL:
            # Another worker judged this live trial stale (this process could not reach the
            # database for longer than the grace period): let the sweeper tell it as usual;
            # set_trial_state_values then drops the result with a warning.
            trial.state = TrialState.RUNNING
        return trial

    def _finished_elsewhere(self, trial_id: int, state: TrialState, values: Any) -> bool:
        """A tell of an own trial that is already finished: our own earlier attempt (retried
        after a lost connection) or another worker that failed it as stale."""
        stored: FrozenTrial = super().get_trial(trial_id)  # type: ignore[misc]
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
    def _record_heartbeats(self, trial_ids: list[int]) -> None:
        raise NotImplementedError

    def fail_stale_trials(self, study_id: int) -> list[int]:
        """Mark FAIL the RUNNING trials of other workers whose heartbeat is older than the grace
        period (re-enqueue them when retries are configured); their numbers."""
        raise NotImplementedError

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
                if own:
                    self._record_heartbeats(own)
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


class WorkerStorage(WorkerMixin, RDBStorage):
    """An RDBStorage that heartbeats this process's trials, fails other workers' stale ones and
    rides out database outages (see the module docstring)."""

    def __init__(self, url: str, options: WorkerOptions) -> None:
        self._setup_worker(options, url)
        with warnings.catch_warnings():  # heartbeat_interval is "experimental" in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._retrying(
                lambda: RDBStorage.__init__(self, url, **heartbeat_rdb_kwargs(url, options))
            )

    def _create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> Any:
        self._first_trial_in(study_id)
        trial = self._retrying(lambda: RDBStorage._create_new_trial(self, study_id, template_trial))
        if trial.state == TrialState.RUNNING:
            self._adopt(trial._trial_id)
        return trial

    def _record_heartbeats(self, trial_ids: list[int]) -> None:
        for trial_id in trial_ids:
            self.record_heartbeat(trial_id)

    def fail_stale_trials(self, study_id: int) -> list[int]:
        with self._lock:
            own = set(self._own)
        numbers = []
        for trial in fail_stale(self, study_id, spare=own):
            numbers.append(trial.number)
            log.warning(
                stale_message(trial.number, grace=self.options.grace, retries=self.options.retries)
            )
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


def retry_outages(cls: type[WorkerMixin], base: type, names: Collection[str] = _RETRIED) -> None:
    """Route the storage operations ``names`` of ``base`` through :meth:`WorkerMixin._retrying`
    (``cls`` is ``WorkerMixin`` mixed into ``base``; what ``cls`` overrides is left alone)."""

    def wrap(name: str) -> Callable[..., Any]:
        method = getattr(base, name)

        def call(self: WorkerMixin, *args: Any, **kwargs: Any) -> Any:
            return self._retrying(lambda: method(self, *args, **kwargs))

        call.__name__ = name
        call.__doc__ = method.__doc__
        return call

    for name in names:
        if hasattr(base, name) and name not in cls.__dict__ and name not in WorkerMixin.__dict__:
            setattr(cls, name, wrap(name))


retry_outages(WorkerStorage, RDBStorage)

_OPTIONS: WorkerOptions | None = None
_ORIGINAL: Callable[..., Any] | None = None
_STUDY_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "grpc")


def active_options() -> WorkerOptions | None:
    """The worker options when :func:`install` made this process a sweep worker, else None."""
    return _OPTIONS


def install(options: WorkerOptions | None = None) -> None:
    """Make every study storage this process opens from a URL string (the sweeper's, the
    phases') the process's one worker storage for that URL
    (:func:`crypto_tune.study.open_storage`). Idempotent; for ``crypto-tune -m`` processes."""
    global _ORIGINAL, _OPTIONS
    import optuna.storages as storages
    from optuna.storages._cached_storage import _CachedStorage

    if _ORIGINAL is not None:
        return
    _OPTIONS = options or worker_options()
    # study.ask warns that heartbeats are meant for study.optimize: here they are kept for asked
    # trials on purpose.
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    _ORIGINAL = original = storages.get_storage

    def get_storage(storage: Any) -> Any:
        if isinstance(storage, str) and storage.split(":", 1)[0].split("+")[0] in _STUDY_SCHEMES:
            from crypto_tune.study import open_storage

            opened = open_storage(storage)
            return _CachedStorage(opened) if isinstance(opened, RDBStorage) else opened
        return original(storage)

    storages.get_storage = get_storage


@contextlib.contextmanager
def installed(options: WorkerOptions | None = None) -> Iterator[None]:
    """:func:`install` for the duration of a ``with`` block (tests)."""
    import optuna.storages as storages

    from crypto_tune.study import forget_storages

    global _ORIGINAL, _OPTIONS
    install(options)
    try:
        yield
    finally:
        if _ORIGINAL is not None:
            storages.get_storage = _ORIGINAL
            _ORIGINAL = None
        _OPTIONS = None
        forget_storages()


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
    "WorkerMixin",
    "WorkerOptions",
    "WorkerStorage",
    "active_options",
    "disk_fault",
    "fail_stale",
    "heartbeat_rdb_kwargs",
    "install",
    "stale_message",
    "unwritable",
    "worker_options",
]
