"""Phase 1 on PostgreSQL: asynchronous workers beside Hydra's joblib batch mode.

``bench_workers`` runs the same Phase 1 trials three ways on one PostgreSQL study each:

* ``workers=1``: one ``crypto-tune -m phase=model storage=postgres`` process;
* ``workers=2``: two such processes started together on one study (``make workers N=2``), each
  with half the trials;
* ``joblib``: one process with ``hydra/launcher=joblib hydra.sweeper.n_jobs=2`` (the sweeper
  asks two trials, the launcher runs them in two processes, the next batch waits for both).

The same work in each: ``n_trials`` parameter sets are drawn once from the sweep's own search
space (``hydra.sweeper.params`` parsed by the sweeper's parser; Optuna's ``RandomSampler``, seed
42) and enqueued in each fresh study, and the sweeps' asks take them in order. Each run has its
own prediction cache (no run reads another's predictions; the features are built once, in this
process, and copied into each) and MLflow is off.

Throughput: trials/s = n / (last completion - first trial start), both read from the study
storage, so process start-up (imports, data, features) is left out; the wall time of the whole
command is reported too.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_TWO_OVER_ONE = 1.7  # two workers on 2 cores vs one
Progress = Callable[[str], None]


def _space(overrides: Sequence[str]) -> tuple[dict[str, Any], str, str]:
    """(search space distributions, storage URL, study name) of the composed Phase 1 sweep."""
    from hydra import compose, initialize_config_dir
    from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides
    from omegaconf import OmegaConf

    from crypto_tune.config import config_dir, register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir())):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    params = OmegaConf.to_container(sweeper.params, resolve=True) or {}
    assert isinstance(params, dict)
    # As the sweeper reads hydra.sweeper.params (OptunaSweeperImpl._parse_sweeper_params_config).
    space, _, _ = create_params_from_overrides(["=".join(map(str, kv)) for kv in params.items()])
    return space, str(sweeper.storage), str(sweeper.study_name)


def draw_params(space: dict[str, Any], n: int, *, seed: int = 42) -> list[dict[str, Any]]:
    """``n`` parameter sets drawn from ``space`` by Optuna's RandomSampler (in memory)."""
    import optuna

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    drawn = []
    for _ in range(n):
        trial = study.ask(fixed_distributions=space)
        drawn.append(dict(trial.params))
        study.tell(trial, 0.0)
    return drawn


def _enqueue(storage: str, study_name: str, drawn: list[dict[str, Any]]) -> None:
    import optuna

    study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize")
    for params in drawn:
        study.enqueue_trial(params)


def _study_times(storage: str, study_name: str, n: int) -> dict[str, float]:
    """Throughput of a finished study; all ``n`` trials must be COMPLETE."""
    import optuna

    trials = optuna.load_study(study_name=study_name, storage=storage).get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(trials) != n or len(complete) != n:
        states = sorted({t.state.name for t in trials})
        raise RuntimeError(
            f"study {study_name}: {len(complete)} of {len(trials)} trials complete ({states}), "
            f"expected {n}"
        )
    starts = [t.datetime_start for t in complete if t.datetime_start is not None]
    ends = [t.datetime_complete for t in complete if t.datetime_complete is not None]
    window = (max(ends) - min(starts)).total_seconds()
    durations = [
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in complete
        if t.datetime_complete is not None and t.datetime_start is not None
    ]
    return {
        "window_s": window,
        "trials_per_s": n / window,
        "mean_trial_s": sum(durations) / len(durations),
    }


def _run(commands: list[list[str]], logs: list[Path]) -> float:
    """Start every command at once, wait for all; return the wall seconds. Raises on failure."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = dt.datetime.now()
    procs = []
    for command, log in zip(commands, logs, strict=True):
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w", encoding="utf-8") as out:
            procs.append(
                subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
            )
    codes = [p.wait() for p in procs]
    wall = (dt.datetime.now() - started).total_seconds()
    for code, log in zip(codes, logs, strict=True):
        if code != 0:
            tail = log.read_text(encoding="utf-8").strip().splitlines()[-3:]
            raise RuntimeError(f"a worker exited with {code} (log {log}): {' | '.join(tail)}")
    return wall


def bench_workers(
    data_overrides: Sequence[str],
    *,
    work_dir: Path,
    n_trials: int = 40,
    pg_url: str | None,
    progress: Progress = print,
) -> dict[str, Any]:
    """Phase 1 trials/s with 1 and 2 worker processes and in joblib batch mode (module doc)."""
    if not isinstance(n_trials, int) or n_trials < 2 or n_trials % 2:
        raise ValueError(f"n_trials must be an even int >= 2, got {n_trials!r}")
    import optuna

    from bench.bench_sweep import mask, postgres_problem

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if pg_url is None:
        return {"skipped": "no PostgreSQL URL"}
    problem = postgres_problem(pg_url)
    if problem is not None:
        progress(f"[bench] workers: skipped: {problem}")
        return {"skipped": problem}
    tag = uuid.uuid4().hex[:8]
    base = [
        "phase=model",
        *data_overrides,
        "storage=postgres",
        f"storage.url={pg_url}",
        "tracking.enabled=false",
        # The same trials, all complete, one core each: this measures workers, not pruning or
        # folds side by side (bench_phase1_study does).
        "phase.pruner=none",
        "model.num_threads=1",
    ]
    from crypto_tune.cli import preflight

    shared = work_dir / f"features-{tag}"
    preflight([*base, f"paths.outputs={shared}", f"experiment_name=benchwprep{tag}"])
    space, _, _ = _space([*base, f"paths.outputs={work_dir}"])
    drawn = draw_params(space, n_trials)
    half = n_trials // 2
    configs = {
        "workers=1": [[f"hydra.sweeper.n_trials={n_trials}"]],
        "workers=2": [[f"hydra.sweeper.n_trials={half}"]] * 2,
        "joblib n_jobs=2": [
            [
                "hydra/launcher=joblib",
                "hydra.sweeper.n_jobs=2",
                f"hydra.sweeper.n_trials={n_trials}",
            ]
        ],
    }
    runs: dict[str, Any] = {}
    commands: list[str] = []
    for label, per_process in configs.items():
        slug = label.replace("=", "").replace(" ", "-")
        outputs = work_dir / f"{slug}-{tag}"
        overrides = [
            *base,
            f"experiment_name=benchw{slug.replace('-', '')}{tag}",
            f"paths.outputs={outputs}",
            f"paths.cache={outputs / 'cache'}",
        ]
        _, storage, name = _space(overrides)
        _enqueue(storage, name, drawn)
        shutil.copytree(shared / "cache" / "features", outputs / "cache" / "features")
        argvs = [
            [sys.executable, "-m", "crypto_tune", "-m", *overrides, *extra] for extra in per_process
        ]
        progress(f"[bench] workers: {label}: {len(argvs)} process(es), {n_trials} trials ...")
        wall = _run(argvs, [outputs / f"worker{k}.log" for k in range(len(argvs))])
        times = _study_times(storage, name, n_trials)
        optuna.delete_study(study_name=name, storage=storage)
        runs[label] = {"processes": len(argvs), "wall_s": wall, **times}
        progress(
            f"[bench] workers: {label}: {times['trials_per_s']:.2f} trials/s "
            f"(mean trial {times['mean_trial_s']:.2f} s, wall {wall:.1f} s)"
        )
        together = f"  (x{len(argvs)}, started together)" if len(argvs) > 1 else ""
        commands.append(mask(shlex.join(["crypto-tune", *argvs[0][3:]])) + together)
    one = runs["workers=1"]["trials_per_s"]
    for run in runs.values():
        run["speedup_vs_one_worker"] = run["trials_per_s"] / one
    two = runs["workers=2"]["speedup_vs_one_worker"]
    return {
        "n_trials": n_trials,
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "postgres": mask(pg_url),
        "runs": runs,
        "target_two_over_one": TARGET_TWO_OVER_ONE,
        "meets_target": two >= TARGET_TWO_OVER_ONE,
        "commands": commands,
        "method": "the same n parameter sets enqueued in each fresh study; trials/s = n / (last "
        "completion - first trial start) from the study storage",
    }
