"""Optuna's TPE, proposing from the finished trials kept in arrays between proposals.

Optuna's :class:`~optuna.samplers.TPESampler` re-reads every finished trial for every parameter
it proposes: independent TPE splits all the trials into good and bad ones, and converts each
trial's parameter to its internal value, once per parameter of every new trial. Once a Phase 2
study holds 3,000 trials that is ~50 ms a proposal, most of a sweep's time (docs/benchmarks.md).

:class:`IncrementalTPESampler` keeps each finished trial's value and internal parameter values in
arrays, adds only the trials finished since its last proposal, and splits them once per number
of finished trials (not once per parameter), with NumPy's stable sort where Optuna sorts a list:
the proposals are Optuna's own, bit for bit (``tests/test_samplers.py`` runs both side by side).
Where the arrays cannot give Optuna's split (pruned or infeasible trials, ``constant_liar``,
constraints, several objectives), it proposes through Optuna's own code. It is the sweeps'
default (``conf/hydra/sweeper/sampler/incremental_tpe.yaml``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.samplers._lazy_random_state import LazyRandomState
from optuna.samplers._tpe.sampler import default_gamma
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.study import Study

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# What a sampler config may instantiate (Hydra's execution whitelist): this module's samplers,
# Optuna's, and the Optuna plugin's factories (NSGA-II, NSGA-III).
SAMPLER_TARGETS = (
    "crypto_tune.samplers.*",
    "optuna.samplers.*",
    "hydra_plugins.hydra_optuna_sweeper.*",
)


@dataclass
class _Column:
    """One parameter's internal values over the finished trials (NaN where a trial lacks it)."""

    values: np.ndarray
    present: np.ndarray


@dataclass
class _FinishedTrials:
    """A study's finished trials as arrays, in the order they were first seen."""

    storage: object  # held, so that its id is never another storage's
    study_id: int
    row_of: dict[int, int] = field(default_factory=dict)
    numbers: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)
    supported: bool = True
    # the rows in the order of the storage's trial list, and the split of that list
    order: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    split: tuple[int, np.ndarray, np.ndarray] | None = None
    columns: dict[tuple[str, BaseDistribution], _Column] = field(default_factory=dict)

    def add(self, trials: list[FrozenTrial]) -> None:
        """Take in the trials not seen yet; note when one needs Optuna's own split."""
        for trial in trials:
            if trial.number in self.row_of:
                continue
            if trial.state != TrialState.COMPLETE or trial.constraints or trial.value is None:
                self.supported = False
            self.row_of[trial.number] = len(self.numbers)
            self.numbers.append(trial.number)
            self.values.append(float(trial.value) if trial.value is not None else np.nan)
            self.params.append(trial.params)
        self.order = np.fromiter(
            (self.row_of[t.number] for t in trials), dtype=np.int64, count=len(trials)
        )
        self.split = None

    def column(self, name: str, distribution: BaseDistribution) -> _Column:
        """``name``'s internal values (``distribution.to_internal_repr``) on every row."""
        key = (name, distribution)
        column = self.columns.get(key)
        start = 0 if column is None else len(column.values)
        if column is not None and start == len(self.numbers):
            return column
        new = [p.get(name, _ABSENT) for p in self.params[start:]]
        values = np.array(
            [np.nan if v is _ABSENT else distribution.to_internal_repr(v) for v in new],
            dtype=np.float64,
        )
        present = np.array([v is not _ABSENT for v in new], dtype=bool)
        if column is not None:
            values = np.concatenate([column.values, values])
            present = np.concatenate([column.present, present])
        column = self.columns[key] = _Column(values, present)
        return column


_ABSENT = object()


def start_from(sampler: optuna.samplers.BaseSampler, number: int) -> None:
    """A sweep process's sampler, once its first trial is asked (``number``): unchanged for
    the study's first trial (a fresh study proposes as its seed says), reseeded otherwise, so
    that a resumed study or a second worker does not propose again the start-up parameters of
    the process that began the study (every process has the config's seed; Optuna reseeds only
    its own ``n_jobs`` threads). The suggestions of the trial come after this call."""
    if number == 0:
        return
    if isinstance(sampler, IncrementalTPESampler):
        sampler.reseed_from(number)
    else:
        sampler.reseed_rng()


def instantiate_own_sampler(config: Any) -> optuna.samplers.BaseSampler | None:
    """The sampler of a sampler config whose ``_target_`` is this package's (the default,
    :class:`IncrementalTPESampler`); None for any other, which the Optuna sweeper's own
    constructor instantiates (its execution whitelist is the plugin's and Optuna's only)."""
    from hydra.utils import instantiate
    from omegaconf import DictConfig

    target = config.get("_target_") if isinstance(config, DictConfig | dict) else None
    if not isinstance(target, str) or not target.startswith("crypto_tune."):
        return None
    sampler: optuna.samplers.BaseSampler = instantiate(
        config, _execution_whitelist_=SAMPLER_TARGETS
    )
    return sampler


class IncrementalTPESampler(optuna.samplers.TPESampler):
    """:class:`optuna.samplers.TPESampler` with the same proposals, made from arrays of the
    finished trials kept between proposals (module docstring). Same arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seed: int | None = kwargs.get("seed")
        self._finished: _FinishedTrials | None = None
        self._arrays_lock = threading.Lock()  # Optuna's optimize(n_jobs=...) shares a sampler

    def reseed_from(self, number: int) -> None:
        """Seed the proposals of a process whose first trial is ``number`` from ``(seed,
        number)``: the same stream for the same resume, another one than the process that began
        the study (see :func:`start_from`). Unseeded: :meth:`reseed_rng`, Optuna's own."""
        if self._seed is None:
            self.reseed_rng()
            return
        derived = int(np.random.SeedSequence([self._seed, number]).generate_state(1)[0])
        # TPESampler's two generators, as its constructor makes them from ``seed``
        self._rng = LazyRandomState(derived)
        self._random_sampler = optuna.samplers.RandomSampler(seed=derived)

    def _sample(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        with self._arrays_lock:
            finished = self._finished_trials(study)
            if finished is not None:
                below, above = self._split(study, finished)
                observed_below = _observations(finished, search_space, below)
                observed_above = _observations(finished, search_space, above)
        if finished is None:
            return super()._sample(study, trial, search_space)
        mpe_below = self._parzen_estimator_cls(
            observed_below, search_space, self._parzen_estimator_parameters
        )
        mpe_above = self._parzen_estimator_cls(
            observed_above, search_space, self._parzen_estimator_parameters
        )
        samples_below = mpe_below.sample(self._rng.rng, self._n_ei_candidates)
        acq_func_vals = self._compute_acquisition_func(samples_below, mpe_below, mpe_above)
        ret = optuna.samplers.TPESampler._compare(samples_below, acq_func_vals)
        for param_name, dist in search_space.items():
            ret[param_name] = dist.to_external_repr(ret[param_name])
        return ret

    def _finished_trials(self, study: Study) -> _FinishedTrials | None:
        """The study's finished trials as arrays, or None where Optuna's own code must split."""
        if self._constant_liar or self._constraints_func is not None:
            return None
        if study._is_multi_objective():
            return None
        trials = study._get_trials(deepcopy=False, states=_FINISHED, use_cache=True)
        finished = self._finished
        if (
            finished is None
            or finished.storage is not study._storage
            or finished.study_id != study._study_id
            or len(finished.numbers) > len(trials)
        ):
            finished = self._finished = _FinishedTrials(study._storage, study._study_id)
        # Finished trials stay finished: a list as long as the rows held is the same trials.
        if len(trials) != len(finished.numbers):
            finished.add(trials)
        return finished if finished.supported else None

    def _split(self, study: Study, finished: _FinishedTrials) -> tuple[np.ndarray, np.ndarray]:
        """Optuna's split of the complete trials into the best ``gamma(n)`` and the rest (sorted
        by value, ties in the storage's order), each as rows in trial-number order."""
        n = len(finished.order)
        if finished.split is not None and finished.split[0] == n:
            return finished.split[1], finished.split[2]
        if self._gamma is None:
            self._gamma = default_gamma
        n_below = min(self._gamma(n), n)
        values = np.asarray(finished.values, dtype=np.float64)[finished.order]
        if study.direction == StudyDirection.MAXIMIZE:
            values = -values
        ranked = finished.order[np.argsort(values, kind="stable")]
        numbers = np.asarray(finished.numbers, dtype=np.int64)
        below, above = ranked[:n_below], ranked[n_below:]
        below = below[np.argsort(numbers[below], kind="stable")]
        above = above[np.argsort(numbers[above], kind="stable")]
        finished.split = (n, below, above)
        return below, above


def _observations(
    finished: _FinishedTrials, search_space: dict[str, BaseDistribution], rows: np.ndarray
) -> dict[str, np.ndarray]:
    """Optuna's ``_get_internal_repr`` of these rows: the trials holding every parameter."""
    columns = {name: finished.column(name, d) for name, d in search_space.items()}
    keep = np.ones(len(rows), dtype=bool)
    for column in columns.values():
        keep &= column.present[rows]
    kept = rows[keep]
    observations: dict[str, np.ndarray] = {}
    for name, column in columns.items():
        values = column.values[kept]
        if isinstance(search_space[name], CategoricalDistribution) and len(values):
            values = values.astype(np.int64)  # Optuna's categorical internal values are ints
        observations[name] = values
    return observations


__all__ = ["SAMPLER_TARGETS", "IncrementalTPESampler", "instantiate_own_sampler", "start_from"]
