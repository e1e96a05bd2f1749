"""crypto_tune.sweeper: fixed overrides recorded once per study, otherwise the stock sweeper.

Real sweeps through ``crypto-tune -m`` on the synthetic market; the stock sweeper runs by setting
``hydra.sweeper._target_`` back to the plugin's class.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import optuna
import pytest
import yaml
from conftest import FAST, run_cli

from crypto_tune.storage import database_url
from crypto_tune.sweeper import FIXED_ATTR, fixed_overrides

pytestmark = pytest.mark.slow

State = optuna.trial.TrialState
STOCK = "hydra.sweeper._target_=hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
STRATEGY = "SYNTH.4h.all.static.h1.strategy"


def _sweep(outputs: Path, experiment: str, *extra: str, n: int = 4, env: dict | None = None):
    args = [
        "-m",
        "phase=strategy",
        *FAST,
        "phase.model_source=config",
        "tracking.enabled=false",
        f"paths.outputs={outputs}",
        f"experiment_name={experiment}",
        f"hydra.sweeper.n_trials={n}",
        *extra,
    ]
    return run_cli(*args, env=env)


def _study(outputs: Path, experiment: str, url: str | None = None) -> optuna.Study:
    storage = database_url(url) if url else f"sqlite:///{outputs}/optuna.db"
    return optuna.load_study(study_name=f"{experiment}.{STRATEGY}", storage=storage)


def _results(outputs: Path, experiment: str) -> list[dict]:
    """Every optimization_results.yaml of the study's sweeps, oldest first."""
    folder = outputs / "multiruns" / f"{experiment}.{STRATEGY}"
    return [
        yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*/optimization_results.yaml"))
    ]


def _ok(done) -> None:
    assert done.returncode == 0, done.stderr[-3000:]


def test_fixed_overrides_are_stored_once_on_the_study(outputs: Path, experiment: str) -> None:
    _ok(_sweep(outputs, experiment, "best.top_k=17"))
    study = _study(outputs, experiment)
    expected = {
        "phase": "strategy",
        "debug": "fast",
        "phase.model_source": "config",
        "tracking.enabled": "False",
        "paths.outputs": str(outputs),
        "experiment_name": experiment,
        "best.top_k": "17",
    }
    assert study.user_attrs[FIXED_ATTR] == expected
    trials = study.get_trials()
    assert [t.state for t in trials] == [State.COMPLETE] * 4
    assert all(t.user_attrs == {} for t in trials)  # nothing written per trial
    assert all(fixed_overrides(study, t) == expected for t in trials)


@pytest.mark.parametrize(
    "objective", [[], ["strategy.objective=[sharpe,max_drawdown]"]], ids=["one", "two"]
)
def test_same_trials_and_results_as_the_stock_sweeper_and_a_resume_proposes_anew(
    objective: list[str], outputs: Path, experiment: str
) -> None:
    ours, stock = f"{experiment}a", f"{experiment}b"
    for _ in range(2):  # a sweep, then the same command again: the study resumes
        _ok(_sweep(outputs, ours, *objective))
        _ok(_sweep(outputs, stock, *objective, STOCK))

    def seen(study: optuna.Study) -> list[tuple]:
        return [(t.number, t.state, t.params, t.values) for t in study.get_trials()]

    mine, theirs = _study(outputs, ours), _study(outputs, stock)
    assert len(mine.trials) == 8 and len(mine.directions) == (2 if objective else 1)
    assert seen(mine)[:4] == seen(theirs)[:4]
    assert _results(outputs, ours)[0] == _results(outputs, stock)[0]
    assert len(_results(outputs, ours)) == 2
    # The resume: the stock sweeper's process, seeded as the first, proposes the first's start-up
    # parameters again; ours proposes new ones (crypto_tune.samplers.start_from).
    params = [t.params for t in theirs.trials]
    assert params[4:] == params[:4]
    params = [t.params for t in mine.trials]
    assert not any(p in params[:4] for p in params[4:])
    if objective:
        assert "solutions" in _results(outputs, ours)[-1]
    # The same fixed overrides: on the study here, on every trial with the stock sweeper.
    recorded = mine.user_attrs[FIXED_ATTR]
    for trial in theirs.trials:
        assert {**trial.user_attrs, "experiment_name": ours} == recorded
    assert all(t.user_attrs == {} for t in mine.trials)


def test_a_worker_with_other_fixed_values_records_them_on_its_trials(
    outputs: Path, experiment: str
) -> None:
    """Values that do not change the score (here best.top_k) may differ between workers; the
    study keeps the first worker's, the other worker's trials carry their own."""
    _ok(_sweep(outputs, experiment, "best.top_k=17", n=2))
    _ok(_sweep(outputs, experiment, "best.top_k=18", n=3))
    _ok(_sweep(outputs, experiment, "best.top_k=17", n=1))
    study = _study(outputs, experiment)
    assert study.user_attrs[FIXED_ATTR]["best.top_k"] == "17"
    given = [fixed_overrides(study, t)["best.top_k"] for t in study.get_trials()]
    assert given == ["17", "17", "18", "18", "18", "17"]
    assert [FIXED_ATTR in t.user_attrs for t in study.trials] == [False] * 2 + [True] * 3 + [False]


def test_changed_scoring_settings_are_refused_before_any_trial(
    outputs: Path, experiment: str
) -> None:
    """A fixed value that changes what a trial scores cannot join the study: the fingerprint
    refuses the process, so the study's fixed overrides stay true for all its trials."""
    _ok(_sweep(outputs, experiment, n=2))
    before = _study(outputs, experiment).user_attrs[FIXED_ATTR]
    done = _sweep(outputs, experiment, "strategy.fee=0.001", n=2)
    assert done.returncode == 2
    assert "holds trials scored on other inputs" in done.stderr and "strategy.fee" in done.stderr
    study = _study(outputs, experiment)
    assert len(study.trials) == 2 and study.user_attrs[FIXED_ATTR] == before


def test_a_seeded_sweep_records_the_trials_of_a_bare_optuna_loop(
    outputs: Path, experiment: str
) -> None:
    """What the sweep's machinery (launcher, sweeper, worker storage) adds changes no result: a
    seeded sweep through ``crypto-tune -m`` holds, trial by trial, the parameters and values of
    a plain ask-and-tell loop with Optuna's own TPESampler, configured as the sweep's sampler
    (seed 42), over the same search space and objective; so the same best value and parameters.
    The sweep's sampler is the default, :class:`crypto_tune.samplers.IncrementalTPESampler`."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from crypto_tune.cli import preflight
    from crypto_tune.config import config_dir
    from crypto_tune.evaluation import evaluate_strategy, strategy_context
    from crypto_tune.phases._tuning import search_space

    n = 14  # past TPE's 10 random startup trials
    _ok(_sweep(outputs, experiment, n=n))
    swept = _study(outputs, experiment)
    given = [
        "phase=strategy",
        *FAST,
        "phase.model_source=config",
        "tracking.enabled=false",
        f"paths.outputs={outputs}",
        f"experiment_name={experiment}",
    ]
    settings = preflight(["-m", *given])
    assert settings is not None
    with initialize_config_dir(config_dir=str(config_dir())):
        sampler_cfg = compose("config", overrides=given, return_hydra_config=True).hydra.sweeper
    assert sampler_cfg.sampler._target_ == "crypto_tune.samplers.IncrementalTPESampler"
    plain = OmegaConf.create(OmegaConf.to_container(sampler_cfg.sampler, resolve=True))
    plain._target_ = "optuna.samplers.TPESampler"
    bare = optuna.create_study(
        sampler=instantiate(plain, _execution_whitelist_=("optuna.samplers.*",)),
        direction="maximize",
    )
    context = strategy_context(settings)
    space = search_space(settings, "strategy").distributions
    for _ in range(n):
        trial = bare.ask(fixed_distributions=space)
        tuned = {k.removeprefix("strategy."): v for k, v in trial.params.items()}
        strategy = dataclasses.replace(settings.strategy, **tuned)
        bare.tell(
            trial, evaluate_strategy(dataclasses.replace(settings, strategy=strategy), context)[0]
        )

    def seen(study: optuna.Study) -> list[tuple]:
        return [(t.number, t.state, t.params, t.values) for t in study.get_trials()]

    assert seen(swept) == seen(bare)
    assert (swept.best_value, swept.best_params) == (bare.best_value, bare.best_params)


HEARTBEAT, GRACE = 1, 2


@pytest.mark.parametrize(
    ("sweeper", "storage"),
    [
        ("ours", "sqlite"),
        pytest.param("ours", "postgres", marks=pytest.mark.postgres),
        ("stock", "sqlite"),
    ],
)
def test_a_trial_whose_worker_died_before_its_first_heartbeat_is_failed(
    sweeper: str, storage: str, outputs: Path, experiment: str, request: pytest.FixtureRequest
) -> None:
    """A RUNNING trial without any heartbeat (its worker killed between creating it and its
    first heartbeat) is given one by the next sweep and failed a grace period later; the stock
    sweeper leaves it RUNNING for ever."""
    env = {"CRYPTO_TUNE_HEARTBEAT": str(HEARTBEAT), "CRYPTO_TUNE_GRACE": str(GRACE)}
    extra = [] if sweeper == "ours" else [STOCK]
    url = None
    if storage == "postgres":
        url = request.getfixturevalue("pg_url")
        extra += ["storage=postgres", f"storage.url={url}"]
    _ok(_sweep(outputs, experiment, *extra, n=1, env=env))
    orphan = _study(outputs, experiment, url).ask()  # a plain storage: no heartbeat, ever
    time.sleep(HEARTBEAT + 0.5)
    _ok(_sweep(outputs, experiment, *extra, n=1, env=env))  # gives it its first heartbeat
    time.sleep(GRACE + 1)
    _ok(_sweep(outputs, experiment, *extra, n=1, env=env))  # fails it: stale
    study = _study(outputs, experiment, url)
    state = study.trials[orphan.number].state
    assert state == (State.FAIL if sweeper == "ours" else State.RUNNING)
    assert sum(t.state == State.COMPLETE for t in study.trials) == 3
    if url:
        optuna.delete_study(study_name=study.study_name, storage=database_url(url))
