"""The RUNNING trials a sweep worker created, kept in memory as written, so that reading them
back costs no query.

Optuna reads a running trial back from the database at each step of an ask-and-tell trial:
``study.ask`` builds the :class:`optuna.Trial` from a fresh read of the trial it has just created,
and ``study.tell`` reads it again before recording its end; a Phase 1 trial's pruning check
(``trial.should_prune`` after each fold) reads the study's unfinished trials, this one among
them. Each read is six queries (the trial, then its parameters, values, user and system
attributes and intermediate values) for what this process wrote itself a moment before: ~2 ms a
read on SQLite, two reads a Phase 2 trial, one a Phase 1 fold.

A worker is the only writer of a RUNNING trial it created: other workers only read it, or fail
it as stale once its heartbeats stop (and :class:`~crypto_tune.storage.WorkerStorage` shows a
trial failed that way to its owner as RUNNING anyway, so that its tell is recorded as usual).
So :class:`OwnTrials` keeps each trial the worker creates as Optuna returned it, applies to it
each later write of the worker once the database has accepted it (the value as the database
gives it back: a distribution through its JSON, an attribute through ``json``, a value through
its stored form, an intermediate value too), and serves reads of it (a copy). Every write still
goes to the database as before (the parameters the sweeper suggests for a trial, inside
``parameters_together``, go together, in one transaction, once all are suggested); a write that
fails drops the trial, whose reads then go to the database again.

Optuna's storage cache (``_CachedStorage``) also reads, before each trial's suggestions, every
trial that is new or was unfinished at its last read (``_get_trials``): in a sweep, the trial
just told and the trial just created, each a full read of seven queries. A worker first asks
the database which trials match (one query: their ids, states and completion times); when they
are all its own, RUNNING as kept or finished as it told them, it serves them from memory (the
completion time from that query), else it makes the full read as before: another worker's
trials are always read from the database.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Container, Iterator, Sequence
from typing import Any, Literal

from optuna.distributions import (
    BaseDistribution,
    check_distribution_compatibility,
    distribution_to_json,
    json_to_distribution,
)
from optuna.trial import FrozenTrial, TrialState


class OwnTrials:
    """The trials created by this process, as written (see the module): RUNNING ones, and told
    ones until a read has served them."""

    _MAX_ENDED = 256  # told trials kept for the next read (it serves them at once)

    def __init__(self) -> None:
        self._trials: dict[int, FrozenTrial] = {}
        self._ended: OrderedDict[int, FrozenTrial] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, trial_id: object) -> bool:
        return trial_id in self._trials

    def __bool__(self) -> bool:
        return bool(self._trials or self._ended)

    def created(self, trial: FrozenTrial) -> None:
        """Keep ``trial`` (as ``_create_new_trial`` returned it) when it is RUNNING."""
        if trial.state == TrialState.RUNNING:
            with self._lock:
                self._trials[trial._trial_id] = copy.deepcopy(trial)

    def get(self, trial_id: int) -> FrozenTrial | None:
        """A copy of the kept RUNNING trial, or None when it is not kept."""
        with self._lock:
            trial = self._trials.get(trial_id)
            return None if trial is None else copy.deepcopy(trial)

    def forget(self, trial_id: int) -> None:
        with self._lock:
            self._trials.pop(trial_id, None)
            self._ended.pop(trial_id, None)

    def ended(self, trial_id: int, state: TrialState, values: Sequence[float] | None) -> None:
        """The database accepted the trial's end: keep it told (its completion time comes with
        the read that serves it)."""
        from optuna.storages._rdb.models import TrialValueModel

        with self._lock:
            trial = self._trials.pop(trial_id, None)
            if trial is None:
                return
            trial.state = state
            trial.values = None
            if values is not None:  # as the database gives a value back (infinities included)
                stored = [TrialValueModel.value_to_stored_repr(v) for v in values]
                trial.values = [TrialValueModel.stored_repr_to_value(*s) for s in stored]
            self._ended[trial_id] = trial
            while len(self._ended) > self._MAX_ENDED:
                self._ended.popitem(last=False)

    def serve(self, rows: Sequence[tuple[int, TrialState, dt.datetime | None]]) -> list | None:
        """Copies of the trials of ``rows`` (trial id, state and completion time in the
        database, in id order) when every one is kept in that state, else None."""
        with self._lock:
            served: list[FrozenTrial] = []
            for trial_id, state, completed in rows:
                running = self._trials.get(trial_id)
                told = self._ended.get(trial_id)
                if running is not None and state == TrialState.RUNNING:
                    served.append(copy.deepcopy(running))
                elif told is not None and state == told.state and completed is not None:
                    trial = copy.deepcopy(told)
                    trial.datetime_complete = completed
                    served.append(trial)
                else:
                    return None
            for trial in served:  # a told trial is read once: the cache keeps it from now on
                self._ended.pop(trial._trial_id, None)
            return served

    def param(
        self, trial_id: int, name: str, internal: float, distribution: BaseDistribution
    ) -> None:
        """A parameter the database accepted, as a read would give it back. A parameter set
        twice (never by Optuna's trials) drops the trial: the database ignores the second write."""
        stored = json_to_distribution(distribution_to_json(distribution))
        with self._lock:
            trial = self._trials.get(trial_id)
            if trial is None:
                return
            if name in trial.params:
                del self._trials[trial_id]
                return
            trial.params[name] = stored.to_external_repr(internal)
            trial.distributions[name] = stored

    def intermediate(self, trial_id: int, step: int, value: float) -> None:
        """An intermediate value the database accepted, as a read would give it back (a step
        written again replaces its value there too)."""
        from optuna.storages._rdb.models import TrialIntermediateValueModel as Stored

        kept = float(
            Stored.stored_repr_to_intermediate_value(
                *Stored.intermediate_value_to_stored_repr(value)
            )
        )
        with self._lock:
            trial = self._trials.get(trial_id)
            if trial is not None:
                trial.intermediate_values[step] = kept

    def attr(self, trial_id: int, kind: Literal["user", "system"], key: str, value: Any) -> None:
        """A user or system attribute the database accepted, as a read would give it back."""
        stored = json.loads(json.dumps(value))
        with self._lock:
            trial = self._trials.get(trial_id)
            if trial is None:
                return
            attrs = trial.user_attrs if kind == "user" else trial.system_attrs
            attrs[key] = stored


class KeepOwnTrials:
    """Mixed into a worker's RDBStorage ahead of :class:`~crypto_tune.storage.WorkerMixin`:
    the RUNNING trials it creates (``_written.created``, called by its ``_create_new_trial``) are
    read back from ``_written`` (see the module); each write goes to the database first (retried
    through outages), then to the kept trial."""

    _written: OwnTrials
    _retrying: Callable[[Callable[[], Any]], Any]
    # (thread, parameters kept until written together) while parameters_together is open
    _params_together: tuple[int, list[tuple[Any, ...]]] | None = None

    def get_trial(self, trial_id: int) -> FrozenTrial:
        kept = self._written.get(trial_id)
        if kept is not None:
            return kept
        trial: FrozenTrial = super().get_trial(trial_id)  # type: ignore[misc]
        return trial

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Any = None) -> bool:
        try:
            done: bool = super().set_trial_state_values(trial_id, state, values)  # type: ignore[misc]
        except BaseException:
            self._written.forget(trial_id)
            raise
        if done and state.is_finished():
            self._written.ended(trial_id, state, values)
        else:  # not recorded (another worker failed it), or a WAITING trial picked up: not kept
            self._written.forget(trial_id)
        return done

    def _get_trials(
        self,
        study_id: int,
        states: Container[TrialState] | None,
        included_trial_ids: set[int],
        trial_id_greater_than: int,
    ) -> list[FrozenTrial]:
        """Optuna's cache's read of new and unfinished trials: served from memory when every
        matching trial is this process's own (see the module), else read in full."""
        base = super()._get_trials  # type: ignore[misc]
        args = (study_id, states, included_trial_ids, trial_id_greater_than)
        if states is None and trial_id_greater_than > -1 and self._written:
            engine = self.engine  # type: ignore[attr-defined]
            rows = self._retrying(
                lambda: _matching(engine, study_id, included_trial_ids, trial_id_greater_than)
            )
            served = self._written.serve(rows) if rows else None
            if served is not None:
                return served
        trials: list[FrozenTrial] = self._retrying(lambda: base(*args))
        return trials

    def _set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
        previous_distribution: BaseDistribution | None,
    ) -> None:
        args = (trial_id, param_name, param_value_internal, distribution, previous_distribution)
        pending = self._pending_params()
        # Kept for later only when Optuna's check can run now, as before: against the study's
        # distribution Optuna's cache passes (none for a process's first trial: written now).
        if pending is not None and trial_id in self._written and previous_distribution is not None:
            check_distribution_compatibility(previous_distribution, distribution)
            pending.append(args)
        else:
            base = super()._set_trial_param  # type: ignore[misc]
            self._write(trial_id, lambda: base(*args))
        self._written.param(trial_id, param_name, param_value_internal, distribution)

    def _pending_params(self) -> list[tuple[Any, ...]] | None:
        """The parameters kept by this thread's :meth:`parameters_together`, if it is open."""
        together = self._params_together
        return together[1] if together and together[0] == threading.get_ident() else None

    @contextlib.contextmanager
    def parameters_together(self) -> Iterator[None]:
        """Within it, this thread's parameters of this process's RUNNING trials are kept (and
        served to reads) and written when it ends, each trial's in one transaction, with
        Optuna's own checks and rows: one commit instead of one per parameter (a Phase 2 trial
        sets five). A write that fails raises there, and the trial is no longer kept."""
        if self._params_together is not None:  # open (here: the outer one writes; elsewhere:
            yield  # another thread's, whose parameters are not this one's)
            return
        pending: list[tuple[Any, ...]] = []
        self._params_together = (threading.get_ident(), pending)
        try:
            yield
        finally:
            self._params_together = None
            self._write_params(pending)

    def _write_params(self, pending: list[tuple[Any, ...]]) -> None:
        from optuna.storages._rdb.storage import _create_scoped_session

        by_trial: dict[int, list[tuple[Any, ...]]] = {}
        for args in pending:
            by_trial.setdefault(args[0], []).append(args)
        for trial_id, params in by_trial.items():

            def write(params: list[tuple[Any, ...]] = params) -> None:
                scoped = self.scoped_session  # type: ignore[attr-defined]
                with _create_scoped_session(scoped, True) as session:
                    for args in params:
                        self._set_trial_param_without_commit(session, *args)  # type: ignore[attr-defined]

            self._write(trial_id, write)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        base = super().set_trial_user_attr  # type: ignore[misc]
        self._write(trial_id, lambda: base(trial_id, key, value))
        self._written.attr(trial_id, "user", key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        base = super().set_trial_system_attr  # type: ignore[misc]
        self._write(trial_id, lambda: base(trial_id, key, value))
        self._written.attr(trial_id, "system", key, value)

    def set_trial_intermediate_value(self, trial_id: int, step: int, value: float) -> None:
        base = super().set_trial_intermediate_value  # type: ignore[misc]
        self._write(trial_id, lambda: base(trial_id, step, value))
        self._written.intermediate(trial_id, step, value)

    def _write(self, trial_id: int, write: Callable[[], Any]) -> None:
        """``write()``, retried through outages; a trial whose write failed is no longer kept
        (its state in the database is not known here)."""
        try:
            self._retrying(write)
        except BaseException:
            self._written.forget(trial_id)
            raise


def parameters_together(storage: object) -> contextlib.AbstractContextManager[None]:
    """``storage``'s :meth:`KeepOwnTrials.parameters_together` (through Optuna's cache, when
    it wraps one): a trial's parameters written in one transaction; with any other storage,
    nothing changes."""
    backend = getattr(storage, "_backend", storage)
    if isinstance(backend, KeepOwnTrials):
        return backend.parameters_together()
    return contextlib.nullcontext()


def _matching(
    engine: Any, study_id: int, included_trial_ids: set[int], trial_id_greater_than: int
) -> list[tuple[int, TrialState, dt.datetime | None]]:
    """(trial id, state, completion time) of the trials RDBStorage._get_trials would read with
    these arguments (the same filter), in id order; empty when the query cannot run here (too
    many ids for the database: the full read has its own fallback)."""
    import sqlalchemy as sa
    from optuna.storages._rdb import models

    c = models.TrialModel.__table__.c
    included = {i for i in included_trial_ids if i <= trial_id_greater_than}
    query = sa.select(c.trial_id, c.state, c.datetime_complete).where(c.study_id == study_id)
    if included:
        query = query.where(sa.or_(c.trial_id.in_(included), c.trial_id > trial_id_greater_than))
    else:
        query = query.where(c.trial_id > trial_id_greater_than)
    try:
        with engine.connect() as connection:
            rows = connection.execute(query.order_by(c.trial_id)).all()
    except sa.exc.OperationalError as exc:
        if "too many" in str(exc).lower():
            return []
        raise
    return [(int(r[0]), TrialState(r[1]), r[2]) for r in rows]


def first_heartbeat(engine: Any, trial_id: int) -> None:
    """Record the first heartbeat of a trial just created, in this thread: the row Optuna's
    ``record_heartbeat`` inserts (the database's current time), one statement instead of a
    handover to the heartbeat thread and its ORM session (~1.5 ms of the interpreter a Phase 2
    trial, contending with the trial); a trial that already has one keeps it."""
    import sqlalchemy as sa
    from optuna.storages._rdb import models

    try:
        with engine.begin() as connection:
            connection.execute(
                models.TrialHeartbeatModel.__table__.insert().values(trial_id=trial_id)
            )
    except sa.exc.IntegrityError:
        pass


__all__ = ["KeepOwnTrials", "OwnTrials", "first_heartbeat"]
