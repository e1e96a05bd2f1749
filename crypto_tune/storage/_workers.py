"""Crash-safe sweep workers: trial heartbeats, stale-trial recovery, database outages.

The Optuna sweeper drives Optuna by ask-and-tell, and Optuna's own heartbeat only runs inside
``study.optimize``: a worker killed with SIGKILL (OOM killer, a machine lost overnight) would
leave its trial RUNNING forever. In a sweep worker (``crypto-tune -m``, :func:`enable_workers`)
:func:`~crypto_tune.storage.open_storage` opens a :class:`WorkerStorage` (or for ``grpc://`` its
twin through the gRPC storage proxy, :class:`~crypto_tune.storage.ProxyWorkerStorage`, the proxy
recording heartbeats and failing stale trials on the workers' behalf), and the sweeper is handed
that storage (:mod:`crypto_tune.sweeper`):

* **Heartbeats.** Every trial this process starts (``study.ask``, including a WAITING retry it
  picks up) is registered; a daemon thread records its heartbeat every ``heartbeat`` seconds until
  the trial is told. The first heartbeat is recorded at once: with a trial it creates, by the
  creating thread (one insert), for a picked-up trial by the daemon thread.
* **Stale trials.** Before this process's first trial in a study, and then every ``heartbeat``
  seconds, RUNNING trials of *other* workers whose heartbeat is older than ``grace`` seconds are
  marked FAIL (and re-enqueued as WAITING trials when ``retries`` > 0, Optuna's
  ``RetryHeartbeatStaleTrialCallback``). The periodic sweep runs only after this process's own
  heartbeats have succeeded for ``grace`` seconds in a row, so that after a database outage every
  live worker can refresh its heartbeats before anyone judges them.
* **Outages.** Connections are checked before use (``pool_pre_ping``); an operation that fails
  because the database went away (a restart, a network cut) is retried with back-off for up to
  ``db_wait`` seconds, then a StorageError says so (the CLI prints it as one line, exit 2) and the
  same command resumes. Optuna writes a trial's state and values in one transaction, so a
  COMPLETE trial always holds its value.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import warnings
from collections.abc import Callable, Collection
from typing import Any, TypeVar

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from crypto_tune.exceptions import CryptoTuneError, StorageError
from crypto_tune.logs import mask_secrets
from crypto_tune.storage._options import WorkerOptions, heartbeat_rdb_kwargs
from crypto_tune.storage._own_trials import KeepOwnTrials, OwnTrials, first_heartbeat
from crypto_tune.storage._schema import tables_made_one_at_a_time
from crypto_tune.storage._url import StorageURL

log = logging.getLogger("crypto_tune")
T = TypeVar("T")


def connection_lost(exc: BaseException, url: StorageURL) -> bool:
    """True when ``exc`` (or its cause) says the database connection went away (PostgreSQL), the
    database is busy (SQLite), or a gRPC storage proxy or its database is unreachable: an error
    worth retrying. The project's own errors (an outage already given up on) are not."""
    import sqlalchemy.exc as sa

    if isinstance(exc, CryptoTuneError):
        return False
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa.OperationalError | sa.InterfaceError):
            if url.is_sqlite:
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


def reason(exc: BaseException) -> str:
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

    The one stale-trial sweep, used by :class:`WorkerStorage` and by the gRPC storage proxy on
    behalf of its clients."""
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


class WorkerMixin:
    """What a sweep worker adds to a study storage (see the module docstring): it heartbeats the
    trials this process runs, fails other workers' stale ones and rides out outages.

    Mixed into a storage class (``class WorkerStorage(WorkerMixin, RDBStorage)``); the storage
    provides :meth:`_record_heartbeats` and :meth:`fail_stale_trials`, and
    :func:`retry_outages` routes its other operations through :meth:`_retrying`."""

    options: WorkerOptions
    location: StorageURL

    def _setup_worker(self, options: WorkerOptions, url: StorageURL) -> None:
        self.options = options
        self.location = url
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
        return self.location.masked

    # ----------------------------------------------------------------------- outages
    def _retrying(self, call: Callable[[], T]) -> T:
        """``call()``, retried while the database is unreachable for up to ``db_wait`` seconds.

        In the main thread a lasting outage raises StorageError (the CLI's one line, exit 2); in
        the heartbeat thread the error is raised at once (the thread logs it and tries again)."""
        delay, start = 0.5, time.monotonic()
        while True:
            try:
                result = call()
            except Exception as exc:
                if not connection_lost(exc, self.location):
                    raise
                if threading.current_thread() is not threading.main_thread():
                    raise
                message = (
                    f"the study database {self.location} has been unreachable for "
                    f"{self.options.db_wait} s ({reason(exc)}): complete trials are kept; run "
                    "the same command again to resume"
                )
                if self._gave_up or time.monotonic() - start >= self.options.db_wait:
                    self._gave_up = True  # stopping: later calls (end-of-sweep) do not wait
                    raise StorageError(message) from None
                if self._outage_since is None:
                    self._outage_since = time.monotonic()
                    log.warning(
                        "study database unreachable (%s); retrying for up to %d s",
                        reason(exc),
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

    def _adopt(self, trial_id: int, *, beat: bool = True) -> None:
        """Heartbeat ``trial_id`` from now on (its first beat at once unless ``beat`` is false:
        the caller recorded it)."""
        with self._lock:
            self._own.add(trial_id)
        self._ensure_thread()
        if beat:
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
                log.warning("heartbeat failed (%s); retrying", reason(exc))
                continue
            now = time.monotonic()
            calm = now - self._healthy_since >= self.options.grace
            if calm and now - self._last_sweep >= self.options.heartbeat:
                self._last_sweep = now
                for study_id in list(self._studies):
                    with contextlib.suppress(Exception):  # next round
                        self.fail_stale_trials(study_id)


# Every other storage operation the sweeper, Optuna's cache and the phases use rides out outages:
# the one list for both worker storages (a name the storage class lacks is skipped).
RETRIED = (
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
    "set_trial_param",
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


def retry_outages(cls: type[WorkerMixin], base: type) -> None:
    """Route the storage operations :data:`RETRIED` of ``base`` through
    :meth:`WorkerMixin._retrying` (``cls`` is ``WorkerMixin`` mixed into ``base``; what ``cls``
    or its mixins define is left alone: they retry themselves). Called once per class, at its
    definition."""

    def wrap(name: str) -> Callable[..., Any]:
        method = getattr(base, name)

        def call(self: WorkerMixin, *args: Any, **kwargs: Any) -> Any:
            return self._retrying(lambda: method(self, *args, **kwargs))

        call.__name__ = name
        call.__doc__ = method.__doc__
        return call

    for name in RETRIED:
        if hasattr(base, name) and getattr(cls, name) is getattr(base, name):
            setattr(cls, name, wrap(name))


class WorkerStorage(KeepOwnTrials, WorkerMixin, RDBStorage):
    """An RDBStorage that heartbeats this process's trials, fails other workers' stale ones and
    rides out database outages (see the module docstring); the RUNNING trials it creates are read
    back from memory (:class:`~crypto_tune.storage._own_trials.KeepOwnTrials`)."""

    def __init__(self, url: StorageURL | str, options: WorkerOptions) -> None:
        url = StorageURL.parse(url)
        self._setup_worker(options, url)
        self._written = OwnTrials()  # the RUNNING trials created here, read without a query
        with warnings.catch_warnings():  # heartbeat_interval is "experimental" in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._retrying(lambda: self._open_tables(url, options))

    def _open_tables(self, url: StorageURL, options: WorkerOptions) -> None:
        with tables_made_one_at_a_time(url):  # workers started together on a new database
            RDBStorage.__init__(self, url.url, **heartbeat_rdb_kwargs(url, options))

    def _create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> Any:
        self._first_trial_in(study_id)
        trial = self._retrying(lambda: RDBStorage._create_new_trial(self, study_id, template_trial))
        if trial.state == TrialState.RUNNING:
            self._retrying(lambda: first_heartbeat(self.engine, trial._trial_id))
            self._adopt(trial._trial_id, beat=False)
            if template_trial is None:
                self._written.created(trial)
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


retry_outages(WorkerStorage, RDBStorage)

__all__ = [
    "RETRIED",
    "WorkerMixin",
    "WorkerStorage",
    "connection_lost",
    "fail_stale",
    "reason",
    "retry_outages",
    "stale_message",
]
