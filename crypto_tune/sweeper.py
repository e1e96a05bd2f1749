"""The Optuna sweeper, handed the opened study storage, with the sweep's fixed overrides recorded
once per study.

The stock sweeper gives Optuna the ``storage`` URL string. :class:`CryptoTuneSweeper` opens it
first, the one way every module opens a storage (:func:`crypto_tune.storage.open_storage`: in a
``crypto-tune -m`` worker the storage that keeps heartbeats, recovers stale trials and rides out
database outages), and hands Optuna that object: nothing in Optuna is patched. A project error
raised outside any trial (the database gone for longer than ``CRYPTO_TUNE_DB_WAIT``) leaves the
sweep as :class:`~crypto_tune.exceptions.SweepAborted`, which the CLI prints as one line.

The stock sweeper (hydra-optuna-sweeper 1.4) writes every fixed command-line override
(``asset=eth``, ``paths.outputs=...``) as a user attribute of every trial: one storage write per
override per trial, about a fifth of a Phase 2 trial. :class:`CryptoTuneSweeper`
(``hydra.sweeper._target_`` in ``conf/hydra/sweeper/crypto_tune.yaml``) is the stock sweeper
with that one change (and its default sampler, below):
it asks, suggests, launches and tells exactly as the stock one does (same trials, same overrides
handed to the launcher, same ``optimization_results.yaml``), and records the fixed overrides as
follows (:func:`fixed_overrides` reads them back for any trial):

* the first process to sweep a study stores them once, as the study user attribute
  ``crypto_tune.fixed_overrides`` (:data:`FIXED_ATTR`); a later process with the same fixed
  overrides (a resumed sweep, another worker) writes nothing;
* a process whose fixed overrides differ from the study's (another outputs folder, another
  machine's paths, another ``best.*``) stores its own on each of its trials, as one attribute
  per trial, so every trial's provenance stays exact. Inputs that change what a trial scores
  cannot differ: the study fingerprint (:func:`crypto_tune.study.check_fingerprint`) refuses such
  a process before its first trial;
* passwords in values (``storage.url=postgresql://user:pw@...``) are masked.

Its default sampler, :class:`crypto_tune.samplers.IncrementalTPESampler` (Optuna's TPE, the same
proposals, faster on large studies), is a target of this package, which the stock constructor
does not instantiate (its execution whitelist is the plugin's and Optuna's): this one does.

It prunes: the study is created with the pruner of ``phase.pruner``
(:func:`crypto_tune.pruning.make_pruner`; pruners are not stored in a study, so each worker and
each resumed sweep brings its own), our launcher runs each job as its live trial
(:meth:`crypto_tune.launcher.CryptoTuneLauncher.launch_trials`, reached in the job by
:func:`crypto_tune.pruning.sweep_trial`), and a job that raises :class:`optuna.TrialPruned` is
told PRUNED where the stock sweeper would tell FAIL. The loop is the stock one otherwise (same
asks, suggestions, launches, tells, failure rate and ``optimization_results.yaml``); another
launcher runs its jobs without a trial, so nothing is pruned there.

It also closes the gap of a worker killed between creating a trial and recording its first
heartbeat (:mod:`crypto_tune.storage`): such a trial has no heartbeat, so the stale-trial rule
never saw it and it stayed RUNNING. A worker records a trial's first heartbeat as soon as it
creates it; so when the sweeper starts, and then every heartbeat interval, it gives a heartbeat to
each other worker's RUNNING trial that still has none a heartbeat interval after its start. That
trial is then treated like any killed trial: failed (and retried when ``CRYPTO_TUNE_RETRIES`` > 0)
once the grace period has passed. A live worker's trial is not harmed: its owner beats anyway.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import optuna
from hydra.core.utils import JobReturn
from hydra_plugins.hydra_optuna_sweeper._impl import (
    OptunaSweeperImpl,
    create_params_from_overrides,
)
from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution
from optuna.study._tell import _tell_with_warning
from optuna.trial import FrozenTrial, Trial, TrialState

from crypto_tune._sweep_results import save_results
from crypto_tune.exceptions import CryptoTuneError, SweepAborted
from crypto_tune.launcher import CryptoTuneLauncher
from crypto_tune.logs import mask_secrets
from crypto_tune.pruning import make_pruner
from crypto_tune.samplers import instantiate_own_sampler, start_from
from crypto_tune.storage import WorkerStorage, open_storage, parameters_together

log = logging.getLogger(__name__)

FIXED_ATTR = "crypto_tune.fixed_overrides"


def fixed_overrides(study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
    """The fixed command-line overrides ``trial`` ran with (``{"asset": "eth", ...}``).

    A trial's own record wins (a process whose fixed overrides differed from the study's);
    trials of the stock sweeper carry them as separate user attributes; every other trial ran
    with the study's.
    """
    own = trial.user_attrs
    if FIXED_ATTR in own:
        return dict(own[FIXED_ATTR])
    if own:
        return dict(own)
    return dict(study.user_attrs.get(FIXED_ATTR, {}))


def _masked(fixed_params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: mask_secrets(v) if isinstance(v, str) else v for k, v in fixed_params.items()}


class CryptoTuneSweeperImpl(OptunaSweeperImpl):
    """The stock implementation, handed the opened storage; fixed overrides recorded once per
    study (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recorded_for: str | None = None  # the study whose fixed overrides are settled
        self._per_trial: dict[str, Any] | None = None  # set when they differ from the study's
        self._last_heal = -float("inf")

    def sweep(self, arguments: list[str]) -> None:
        try:
            if isinstance(self.storage, str):  # the URL of conf/: Optuna gets the opened storage
                root = None if self.config is None else OmegaConf.select(self.config, "paths.root")
                self.storage = open_storage(self.storage, outputs=root)
            self._sweep(arguments)
        except CryptoTuneError as exc:
            raise SweepAborted(exc) from exc

    def _pruner(self) -> optuna.pruners.BasePruner:
        name = None if self.config is None else OmegaConf.select(self.config, "phase.pruner")
        return make_pruner(str(name) if name is not None else "none")

    def _sweep(self, arguments: list[str]) -> None:
        """The stock sweep loop, with the study's pruner, each job run as its trial, and a
        pruned job told PRUNED (see the module)."""
        assert self.config is not None and self.launcher is not None
        self._process_searchspace_config()
        params_conf = self._parse_sweeper_params_config()
        params_conf.extend(arguments)
        is_grid = (
            isinstance(self.sampler, functools.partial)
            and self.sampler.func == optuna.samplers.GridSampler
        )
        distributions, fixed_params, fixed_overrides = create_params_from_overrides(params_conf)
        if is_grid:
            grid = {n: self._to_grid_sampler_choices(d) for n, d in distributions.items()}
            self.sampler = self.sampler(grid)
            n_grid = 1
            for choices in grid.values():
                n_grid *= len(choices)
            self.n_trials = min(self.n_trials, n_grid)
            log.info(f"Updating num of trials to {self.n_trials} due to using GridSampler.")
        for name in fixed_params:  # fixed parameters leave Optuna's search space
            distributions.pop(name, None)
        directions = self._get_directions()
        study = optuna.create_study(
            study_name=self.study_name,
            storage=self.storage,
            sampler=self.sampler,
            pruner=self._pruner(),
            directions=cast(list[Literal["minimize", "maximize"]], directions),
            load_if_exists=True,
        )
        log.info(f"Study name: {study.study_name}")
        log.info(f"Storage: {self.storage}")
        log.info(f"Sampler: {type(self.sampler).__name__}")
        log.info(f"Directions: {directions}")
        to_go = self.n_trials
        while to_go > 0:
            batch = min(to_go, self.n_jobs)
            trials = [study.ask() for _ in range(batch)]
            if to_go == self.n_trials:  # this process's first trial: a resume or another worker
                start_from(study.sampler, trials[0].number)
            overrides = self._configure_trials(trials, distributions, fixed_params, fixed_overrides)
            if isinstance(self.launcher, CryptoTuneLauncher):
                returns = self.launcher.launch_trials(overrides, self.job_idx, trials)
            else:
                returns = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
            self.job_idx += len(returns)
            failures = [
                e
                for trial, ret in zip(trials, returns, strict=True)
                if (e := _tell(study, trial, ret, len(directions), is_grid)) is not None
            ]
            if len(failures) / len(returns) > self.max_failure_rate:
                log.error(
                    f"Failed {failures} times out of {len(returns)} "
                    f"with max_failure_rate={self.max_failure_rate}."
                )
                for ret in returns:
                    ret.return_value  # noqa: B018  Hydra's JobReturn raises the job's error
            to_go -= batch
        self._save_results(study, directions)

    def _save_results(self, study: optuna.Study, directions: list[str]) -> None:
        """``optimization_results.yaml`` in the sweep's folder, as the stock sweeper writes it."""
        assert self.config is not None
        save_results(study, len(directions), Path(str(self.config.hydra.sweep.dir)))

    def _configure_trials(
        self,
        trials: list[Trial],
        search_space_distributions: dict[str, BaseDistribution],
        fixed_params: dict[str, Any],
        fixed_overrides: list[str],
    ) -> Sequence[Sequence[str]]:
        if trials:
            study = trials[0].study
            if self._recorded_for != study.study_name:
                self._record_fixed(study, _masked(fixed_params))
            self._heal_orphans(trials[0])
        overrides = []
        for trial in trials:
            with parameters_together(trial.storage):  # one write for the trial's parameters
                for param_name, distribution in search_space_distributions.items():
                    trial._suggest(param_name, distribution)
            if self._per_trial is not None:
                trial.set_user_attr(FIXED_ATTR, self._per_trial)
            taken = set(fixed_params)
            if self.custom_search_space_extender:
                assert self.config is not None  # set by setup(), as in the stock sweeper
                self.custom_search_space_extender(self.config, trial)
                taken |= set(trial.user_attrs)
            # The stock sweeper's check (its fixed values are user attributes there).
            overlap = trial.params.keys() & taken
            if overlap:
                raise ValueError(
                    "Overlapping fixed parameters and search space parameters found!"
                    f"Overlapping parameters: {list(overlap)}"
                )
            params = dict(trial.params)
            params.update(fixed_params)
            overrides.append(
                tuple(f"{name}={val}" for name, val in params.items()) + tuple(fixed_overrides)
            )
        return overrides

    def _record_fixed(self, study: optuna.Study, fixed: dict[str, Any]) -> None:
        """Store ``fixed`` on the study if it holds none; fall back to one attribute per trial
        when the study's differ (re-read after writing: another process may have been first)."""
        recorded = study.user_attrs.get(FIXED_ATTR)
        if recorded is None:
            study.set_user_attr(FIXED_ATTR, fixed)
            recorded = study.user_attrs.get(FIXED_ATTR)
        self._per_trial = None if recorded == fixed else fixed
        if self._per_trial is not None:
            log.info(
                "fixed overrides differ from those recorded on study %s: recorded on each "
                "trial of this process",
                study.study_name,
            )
        self._recorded_for = study.study_name

    def _heal_orphans(self, trial: Trial) -> None:
        """Give a heartbeat to other workers' RUNNING trials that have none (see the module);
        at the first trial, then at most once per heartbeat interval."""
        backend = getattr(trial.storage, "_backend", trial.storage)
        if not isinstance(backend, WorkerStorage):
            return  # no heartbeats kept in this process (not a `crypto-tune -m` worker)
        now = time.monotonic()
        if now - self._last_heal < backend.options.heartbeat:
            return
        self._last_heal = now
        try:
            orphans = _without_heartbeat(
                backend, trial.study.study_name, older_than_s=backend.options.heartbeat
            )
            for trial_id in orphans:
                backend.record_heartbeat(trial_id)
        except Exception as exc:  # best effort: the next interval tries again
            log.debug("orphan check skipped: %s", mask_secrets(str(exc)))
            return
        if orphans:
            log.warning(
                "%d running trial(s) without a heartbeat (their worker died before its first "
                "beat): failed after the grace period unless their worker is alive",
                len(orphans),
            )


def _record(
    study: optuna.Study, trial: Trial, state: TrialState, values: list[float] | None = None
) -> None:
    """``study.tell(trial, values, state)`` without its last step: ``Study.tell`` ends by reading
    the told trial back from the storage to return a copy (six queries, ~2 ms a Phase 2 trial on
    SQLite), which the sweeper never uses. The same checks and writes otherwise: Optuna's own
    function, the one its ``optimize`` loop tells with."""
    _tell_with_warning(study=study, trial=trial, value_or_values=values, state=state)


def _tell(
    study: optuna.Study, trial: Trial, ret: JobReturn, n_directions: int, is_grid: bool
) -> Exception | None:
    """Tell ``study`` how ``trial``'s job ended (COMPLETE, PRUNED or FAIL, as the stock sweeper
    does, PRUNED added); the failure, or None."""
    try:
        try:  # our launcher returns a pruned job's TrialPruned; Hydra's raises it
            returned = ret.return_value  # raises the job's exception
        except optuna.TrialPruned:
            returned = optuna.TrialPruned()
        if isinstance(returned, optuna.TrialPruned):
            _record(study, trial, TrialState.PRUNED)
            return None
        try:
            values = [float(returned)] if n_directions == 1 else [float(v) for v in returned]
        except (ValueError, TypeError):
            raise ValueError(f"Return value must be float-castable. Got '{returned}'.") from None
        if len(values) != n_directions:
            raise ValueError(
                "The number of the values and the number of the objectives are mismatched. "
                f"Expect {n_directions}, but actually {len(values)}."
            )
        try:
            _record(study, trial, TrialState.COMPLETE, values)
        except RuntimeError as exc:  # the grid is exhausted: the stock sweeper ignores this
            if not (is_grid and "`Study.stop` is supposed to be invoked" in str(exc)):
                raise
    except Exception as exc:
        _record(study, trial, TrialState.FAIL)
        log.warning(f"Failed experiment: {exc}")
        return exc
    return None


def _without_heartbeat(storage: WorkerStorage, study_name: str, *, older_than_s: int) -> list[int]:
    """Ids of the study's RUNNING trials started more than ``older_than_s`` seconds ago (by this
    machine's clock) that have no heartbeat row."""
    import sqlalchemy as sa
    from optuna.storages._rdb import models

    study_id = storage.get_study_id_from_name(study_name)
    cutoff = dt.datetime.now() - dt.timedelta(seconds=older_than_s)
    trials, beats = models.TrialModel.__table__.c, models.TrialHeartbeatModel.__table__.c
    query = (
        sa.select(trials.trial_id)
        .select_from(
            models.TrialModel.__table__.outerjoin(
                models.TrialHeartbeatModel.__table__, beats.trial_id == trials.trial_id
            )
        )
        .where(
            trials.study_id == study_id,
            trials.state == TrialState.RUNNING,
            trials.datetime_start < cutoff,
            beats.trial_heartbeat_id.is_(None),
        )
    )
    with storage.engine.connect() as connection:
        return [int(i) for i in connection.execute(query).scalars()]


class CryptoTuneSweeper(OptunaSweeper):
    """``hydra.sweeper._target_: crypto_tune.sweeper.CryptoTuneSweeper``: the Optuna sweeper,
    same configuration, fixed overrides recorded once per study (see the module)."""

    def __init__(
        self,
        sampler: Any,
        direction: Any,
        storage: Any | None,
        study_name: str | None,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        custom_search_space: str | None,
        params: DictConfig | None,
    ) -> None:
        own = instantiate_own_sampler(sampler)
        super().__init__(
            None if own is not None else sampler,  # the stock constructor instantiates Optuna's
            direction,
            storage,
            study_name,
            n_trials,
            n_jobs,
            max_failure_rate,
            custom_search_space,
            params,
        )
        stock = self.sweeper  # holds the sampler the stock constructor instantiated
        self.sweeper = CryptoTuneSweeperImpl(
            own if own is not None else stock.sampler,
            direction,
            storage,
            study_name,
            n_trials,
            n_jobs,
            max_failure_rate,
            custom_search_space,
            params,
        )


__all__ = ["FIXED_ATTR", "CryptoTuneSweeper", "fixed_overrides"]
