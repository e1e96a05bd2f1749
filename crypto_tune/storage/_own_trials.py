"""The RUNNING trials a sweep worker created, kept in memory as written, so that reading them
back costs no query.

Optuna reads a running trial back from the database at each step of an ask-and-tell trial:
``study.ask`` builds the :class:`optuna.Trial` from a fresh read of the trial it has just created,
and ``study.tell`` reads it again before recording its end. Each read is six queries (the trial,
then its parameters, values, user and system attributes and intermediate values) for what this
process wrote itself a moment before: ~2 ms a read on SQLite, two reads a Phase 2 trial.

A worker is the only writer of a RUNNING trial it created: other workers only read it, or fail
it as stale once its heartbeats stop (and :class:`~crypto_tune.storage.WorkerStorage` shows a
trial failed that way to its owner as RUNNING anyway, so that its tell is recorded as usual).
So :class:`OwnTrials` keeps each trial the worker creates as Optuna returned it, applies to it
each later write of the worker once the database has accepted it (the value as the database
gives it back: a distribution through its JSON, an attribute through ``json``), and serves reads
of it (a copy) until it is finished. Every write still goes to the database as before; a write
that fails, and any write not mirrored here (an intermediate value, the trial's state), drops the
trial, whose reads then go to the database again.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any, Literal

from optuna.distributions import BaseDistribution, distribution_to_json, json_to_distribution
from optuna.trial import FrozenTrial, TrialState


class OwnTrials:
    """RUNNING trials created by this process, as written (see the module)."""

    def __init__(self) -> None:
        self._trials: dict[int, FrozenTrial] = {}

    def __contains__(self, trial_id: object) -> bool:
        return trial_id in self._trials

    def created(self, trial: FrozenTrial) -> None:
        """Keep ``trial`` (as ``_create_new_trial`` returned it) when it is RUNNING."""
        if trial.state == TrialState.RUNNING:
            self._trials[trial._trial_id] = copy.deepcopy(trial)

    def get(self, trial_id: int) -> FrozenTrial | None:
        """A copy of the kept trial, or None when it is not kept."""
        trial = self._trials.get(trial_id)
        return None if trial is None else copy.deepcopy(trial)

    def forget(self, trial_id: int) -> None:
        self._trials.pop(trial_id, None)

    def param(
        self, trial_id: int, name: str, internal: float, distribution: BaseDistribution
    ) -> None:
        """A parameter the database accepted, as a read would give it back. A parameter set
        twice (never by Optuna's trials) drops the trial: the database ignores the second write."""
        trial = self._trials.get(trial_id)
        if trial is None:
            return
        if name in trial.params:
            self.forget(trial_id)
            return
        stored = json_to_distribution(distribution_to_json(distribution))
        trial.params[name] = stored.to_external_repr(internal)
        trial.distributions[name] = stored

    def attr(self, trial_id: int, kind: Literal["user", "system"], key: str, value: Any) -> None:
        """A user or system attribute the database accepted, as a read would give it back."""
        trial = self._trials.get(trial_id)
        if trial is None:
            return
        attrs = trial.user_attrs if kind == "user" else trial.system_attrs
        attrs[key] = json.loads(json.dumps(value))


class KeepOwnTrials:
    """Mixed into a worker's RDBStorage ahead of :class:`~crypto_tune.storage.WorkerMixin`:
    the RUNNING trials it creates (``_written.created``, called by its ``_create_new_trial``) are
    read back from ``_written`` (see the module); each write goes to the database first (retried
    through outages), then to the kept trial."""

    _written: OwnTrials
    _retrying: Callable[[Callable[[], Any]], Any]

    def get_trial(self, trial_id: int) -> FrozenTrial:
        kept = self._written.get(trial_id)
        if kept is not None:
            return kept
        trial: FrozenTrial = super().get_trial(trial_id)  # type: ignore[misc]
        return trial

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Any = None) -> bool:
        self._written.forget(trial_id)  # finished (or a WAITING trial picked up: never kept)
        done: bool = super().set_trial_state_values(trial_id, state, values)  # type: ignore[misc]
        return done

    def _set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
        previous_distribution: BaseDistribution | None,
    ) -> None:
        base = super()._set_trial_param  # type: ignore[misc]
        args = (trial_id, param_name, param_value_internal, distribution, previous_distribution)
        self._write(trial_id, lambda: base(*args))
        self._written.param(trial_id, param_name, param_value_internal, distribution)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        base = super().set_trial_user_attr  # type: ignore[misc]
        self._write(trial_id, lambda: base(trial_id, key, value))
        self._written.attr(trial_id, "user", key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        base = super().set_trial_system_attr  # type: ignore[misc]
        self._write(trial_id, lambda: base(trial_id, key, value))
        self._written.attr(trial_id, "system", key, value)

    def set_trial_intermediate_value(self, trial_id: int, step: int, value: float) -> None:
        self._written.forget(trial_id)  # not mirrored: read from the database from now on
        base = super().set_trial_intermediate_value  # type: ignore[misc]
        self._retrying(lambda: base(trial_id, step, value))

    def _write(self, trial_id: int, write: Callable[[], Any]) -> None:
        """``write()``, retried through outages; a trial whose write failed is no longer kept
        (its state in the database is not known here)."""
        try:
            self._retrying(write)
        except BaseException:
            self._written.forget(trial_id)
            raise


__all__ = ["KeepOwnTrials", "OwnTrials"]
