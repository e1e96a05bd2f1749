"""crypto_tune.samplers: IncrementalTPESampler proposes what Optuna's TPESampler proposes, trial
for trial, from its arrays where they apply and through Optuna's own code where they do not."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from crypto_tune.samplers import IncrementalTPESampler, start_from

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _objective(trial: optuna.Trial) -> float:
    """Floats (one on a log scale, one with a step), an int with a step, a categorical, and a
    parameter only some trials have (a dynamic search space); values rounded, so ties."""
    x = trial.suggest_float("x", 1.0, 3.0)
    y = trial.suggest_float("y", 1e-3, 1.0, log=True)
    q = trial.suggest_float("q", 0.0, 1.0, step=0.1)
    k = trial.suggest_int("k", 1, 19, step=3)
    w = trial.suggest_categorical("w", [42, 90, 180, "none"])
    z = trial.suggest_float("z", 0.0, 1.0) if w == 90 else 0.5
    value = -((x - 2.2) ** 2) - np.log(y) ** 2 / 10 + (w == 180) * 0.3 + k / 20 + z - q
    return round(float(value), 1)


def _proposals(
    sampler: optuna.samplers.BaseSampler,
    n: int,
    direction: str = "maximize",
    objective: Callable[[optuna.Trial], float] = _objective,
) -> list[dict]:
    study = optuna.create_study(direction=direction, sampler=sampler)
    study.optimize(objective, n_trials=n)
    return [t.params for t in study.trials]


@pytest.mark.parametrize("multivariate", [False, True])
@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_the_same_proposals_as_optunas_tpe(multivariate: bool, direction: str) -> None:
    kwargs = {"seed": 3, "multivariate": multivariate, "constant_liar": False}
    ours = IncrementalTPESampler(**kwargs)
    assert _proposals(ours, 120, direction) == _proposals(
        optuna.samplers.TPESampler(**kwargs), 120, direction
    )
    # ... from its own arrays, not through Optuna's code
    assert ours._finished is not None and ours._finished.supported
    assert len(ours._finished.numbers) == 119


def test_the_same_proposals_when_trials_finish_out_of_order_and_others_add_trials() -> None:
    """As with workers: trials finish in another order than they were asked, and trials another
    process finished appear between two proposals."""
    space = {
        "a": FloatDistribution(0.0, 1.0),
        "b": IntDistribution(1, 50),
        "c": CategoricalDistribution(["p", "q", "r"]),
    }

    def run(sampler: optuna.samplers.BaseSampler) -> list[dict]:
        study = optuna.create_study(direction="maximize", sampler=sampler)
        rng = np.random.default_rng(0)
        waiting: list[optuna.Trial] = []
        for step in range(150):
            waiting.append(study.ask(space))
            if step % 7 == 3:  # another process's trial
                params = {"a": float(rng.uniform()), "b": int(rng.integers(1, 51)), "c": "q"}
                study.add_trial(
                    optuna.trial.create_trial(
                        params=params, distributions=space, value=float(rng.normal())
                    )
                )
            if len(waiting) == 3:  # the newest first
                for trial in reversed(waiting):
                    study.tell(trial, round(trial.params["a"] * trial.params["b"], 0))
                waiting = []
        return [t.params for t in study.trials]

    ours = IncrementalTPESampler(seed=1, constant_liar=False)
    assert run(ours) == run(optuna.samplers.TPESampler(seed=1, constant_liar=False))
    assert ours._finished is not None and ours._finished.supported


def _pruned(trial: optuna.Trial) -> float:
    value = _objective(trial)
    if trial.number % 5 == 4:
        trial.report(value, 0)
        raise optuna.TrialPruned
    return value


def _constrained(trial: optuna.Trial) -> float:
    value = _objective(trial)
    trial.set_constraint("x_below_2", trial.params["x"] - 2.0)
    return value


@pytest.mark.parametrize(
    ("kwargs", "objective"),
    [
        ({"constant_liar": False}, _pruned),  # pruned trials: Optuna ranks them by their steps
        ({"constant_liar": True}, _objective),  # running trials count: Optuna's own code
        ({"constant_liar": False}, _constrained),  # infeasible trials: ranked by their excess
    ],
    ids=["pruned", "constant_liar", "constraints"],
)
def test_optunas_own_code_where_the_arrays_do_not_apply(
    kwargs: dict, objective: Callable[[optuna.Trial], float]
) -> None:
    ours = IncrementalTPESampler(seed=5, **kwargs)
    theirs = optuna.samplers.TPESampler(seed=5, **kwargs)
    assert _proposals(ours, 60, objective=objective) == _proposals(theirs, 60, objective=objective)
    assert ours._finished is None or not ours._finished.supported


def test_several_objectives_go_through_optunas_own_code() -> None:
    def two(trial: optuna.Trial) -> tuple[float, float]:
        x, y = trial.suggest_float("x", 0, 1), trial.suggest_float("y", 0, 1)
        return x + y, x * y

    def run(sampler: optuna.samplers.BaseSampler) -> list[dict]:
        study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
        study.optimize(two, n_trials=40)
        return [t.params for t in study.trials]

    ours = IncrementalTPESampler(seed=2, constant_liar=False)
    assert run(ours) == run(optuna.samplers.TPESampler(seed=2, constant_liar=False))
    assert ours._finished is None


def test_a_sampler_used_on_a_second_study_keeps_none_of_the_first() -> None:
    ours = IncrementalTPESampler(seed=4, constant_liar=False)
    theirs = optuna.samplers.TPESampler(seed=4, constant_liar=False)
    first = _proposals(ours, 30)
    second = _proposals(ours, 40)
    assert [first, second] == [_proposals(theirs, 30), _proposals(theirs, 40)]
    assert ours._finished is not None and len(ours._finished.numbers) == 39


def test_threads_sharing_the_sampler_complete_every_trial() -> None:
    """Optuna's ``optimize(n_jobs=2)`` asks from two threads with one sampler: its arrays are
    read and extended under a lock (the proposals then depend on the threads' timing, as with
    Optuna's own sampler)."""
    sampler = IncrementalTPESampler(seed=6, constant_liar=False, n_startup_trials=5)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(_objective, n_trials=80, n_jobs=2)
    states = {t.state for t in study.trials}
    assert states == {optuna.trial.TrialState.COMPLETE} and len(study.trials) == 80
    assert sampler._finished is not None and sampler._finished.supported


def _process(study: optuna.Study, sampler: optuna.samplers.BaseSampler, n: int) -> list[dict]:
    """``n`` trials of one sweep process on ``study`` (a new process: a new sampler), as the
    sweeper runs them: ask, :func:`start_from` on its first trial, then the suggestions."""
    study.sampler = sampler
    params = []
    for i in range(n):
        trial = study.ask()
        if i == 0:
            start_from(sampler, trial.number)
        study.tell(trial, _objective(trial))
        params.append(trial.params)
    return params


@pytest.mark.parametrize("seed", [3, None])
def test_a_resumed_study_or_a_second_worker_proposes_new_start_up_parameters(
    seed: int | None,
) -> None:
    """Every process has the config's seed: without reseeding, a resume re-proposed the first
    process's start-up trials (TPE's random start-up), and so did a second worker."""
    study = optuna.create_study(direction="maximize")
    first = _process(study, IncrementalTPESampler(seed=seed), 3)
    resumed = _process(study, IncrementalTPESampler(seed=seed), 3)
    assert not any(p in first for p in resumed)
    if seed is not None:  # a fresh study is its seed's, as before; a resume is reproducible
        fresh = optuna.create_study(direction="maximize")
        assert _process(fresh, IncrementalTPESampler(seed=seed), 3) == first
        again = optuna.create_study(direction="maximize")
        _process(again, IncrementalTPESampler(seed=seed), 3)
        assert _process(again, IncrementalTPESampler(seed=seed), 3) == resumed
    # a second worker on the same study: its first trial is the study's second
    shared = optuna.create_study(direction="maximize")
    a, b = IncrementalTPESampler(seed=seed), IncrementalTPESampler(seed=seed)
    first_a = shared.ask()
    first_b = shared.ask()
    for sampler, trial in ((a, first_a), (b, first_b)):
        shared.sampler = sampler
        start_from(sampler, trial.number)
        trial.suggest_float("x", 1.0, 3.0)
    assert first_a.params != first_b.params
    # another sampler than ours: Optuna's own reseed
    other = optuna.samplers.RandomSampler(seed=3)
    resumed_random = _process(study, other, 2)
    assert not any(p in first for p in resumed_random)
