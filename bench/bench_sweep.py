"""Phase 2 sweep throughput: ``crypto-tune -m phase=strategy`` against a bare Optuna loop.

``bench_sweep`` runs, for each storage kind (a fresh SQLite file; a fresh study on PostgreSQL)
and each trial count:

* the sweep: ``python -m crypto_tune -m phase=strategy ...`` in a subprocess. Its per-trial time
  is the wall time minus the time to the first trial, over the remaining trials; the time of the
  first trial's completion is read from the study storage (``datetime_complete``), so process
  start, config composition, preflight, data loading and the first trial are left out;
* the bare loop, in this process: ``study.ask``/``study.tell`` over the sweep's own search space
  (parsed from the composed config by the sweeper's parser) with the sampler that
  the sweep's composed config instantiates (TPE, seed 42) on the same kind of storage, and the
  same objective: the strategy context built once with
  :func:`crypto_tune.evaluation.strategy_context` and
  :func:`~crypto_tune.evaluation.evaluate_strategy` per trial. The same
  per-trial measure (wall time minus the time to the first trial) is used. The bare loop's
  storage is Optuna's own (SQLite in WAL mode), the sweep's a worker storage
  (:class:`crypto_tune.storage.WorkerStorage`): it also keeps heartbeats, and it serves
  Optuna's re-reads of the trials it wrote from memory, so the sweep may run faster than the
  bare loop (``sweep_over_bare`` below 1).

``profile_sweep`` runs one sweep in this process under cProfile and splits a trial's time into
Hydra (sweeper and launcher glue), Optuna (ask, tell, suggest, set_user_attr: sampler and
storage) and crypto-tune's own task function. ``set_user_attr`` is the stock sweeper's write
of every fixed override on every trial; crypto-tune's sweeper (``crypto_tune/sweeper.py``) writes
them once per study, so it reads 0 unless ``hydra.sweeper._target_`` names the stock sweeper. The
sweeps read the prediction cache prepared in this process, so no trial trains a model.
"""

from __future__ import annotations

import cProfile
import dataclasses
import datetime as dt
import os
import pstats
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PG_SETUP = ROOT / "scripts" / "pg-setup.sh"
DEFAULT_PG_URL = "postgresql://crypto_tune:crypto_tune@127.0.0.1:5432/crypto_tune"
# conf/phase/strategy.yaml's search space, in the order the sweeper suggests it.
TARGET_SWEEP_OVER_BARE = 1.25  # the sweep at no less than 80% of the bare loop's speed
Progress = Callable[[str], None]


def mask(text: str) -> str:
    """``text`` with database passwords masked."""
    from crypto_tune.logs import mask_secrets

    return mask_secrets(text)


def postgres_problem(url: str, *, setup: bool = True) -> str | None:
    """None when PostgreSQL at ``url`` accepts a login, else why not (after pg-setup.sh once)."""
    from crypto_tune.exceptions import CryptoTuneError
    from crypto_tune.storage import check_storage

    try:
        check_storage(url)
        return None
    except CryptoTuneError as exc:
        reason = str(exc)
    if not setup or not PG_SETUP.exists():
        return reason
    done = subprocess.run(["bash", str(PG_SETUP)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"scripts/pg-setup.sh failed: {done.stderr.strip()[-300:]}"
    try:
        check_storage(url)
        return None
    except CryptoTuneError as exc:
        return str(exc)


@dataclasses.dataclass(frozen=True)
class StorageKind:
    """A storage to bench: its name, the extra CLI overrides, and whether studies need a name."""

    name: str
    overrides: tuple[str, ...] = ()

    def run_overrides(self, tag: str) -> list[str]:
        """Overrides for one run; PostgreSQL runs get their own study (experiment name)."""
        if self.name == "postgres":
            return [*self.overrides, f"experiment_name=bench{tag}"]
        return list(self.overrides)


def storage_kinds(pg_url: str | None) -> list[StorageKind]:
    """SQLite, and PostgreSQL at ``pg_url`` (seeded like SQLite: the config unseeds it)."""
    kinds = [StorageKind("sqlite")]
    if pg_url is not None:
        kinds.append(
            StorageKind(
                "postgres",
                ("storage=postgres", f"storage.url={pg_url}", "hydra.sweeper.sampler.seed=42"),
            )
        )
    return kinds


def _compose_sweep(overrides: Sequence[str]) -> tuple[Any, str, str]:
    """(sampler, storage URL, study name) exactly as the sweeper would build them."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from crypto_tune.config import config_dir, register_resolvers
    from crypto_tune.samplers import SAMPLER_TARGETS

    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir())):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    sampler_cfg = OmegaConf.create(OmegaConf.to_container(sweeper.sampler, resolve=True))
    sampler = instantiate(sampler_cfg, _execution_whitelist_=SAMPLER_TARGETS)
    return sampler, str(sweeper.storage), str(sweeper.study_name)


def _trial_times(storage: str, study_name: str, n_trials: int) -> tuple[dt.datetime, dt.datetime]:
    """(first completion, last completion) of a finished study; all trials must be COMPLETE."""
    import optuna

    study = optuna.load_study(study_name=study_name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(trials) != n_trials or len(complete) != n_trials:
        raise RuntimeError(
            f"study {study_name}: {len(complete)} of {len(trials)} trials complete, "
            f"expected {n_trials}"
        )
    ends = sorted(t.datetime_complete for t in complete if t.datetime_complete is not None)
    return ends[0], ends[-1]


def _params(storage: str, study_name: str, n: int) -> list[dict[str, float]]:
    import optuna

    study = optuna.load_study(study_name=study_name, storage=storage)
    return [t.params for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)][:n]


def _delete_study(storage: str, study_name: str) -> None:
    import optuna

    optuna.delete_study(study_name=study_name, storage=storage)


def _timing(
    started: dt.datetime, first: dt.datetime, last: dt.datetime, ended: dt.datetime, n_trials: int
) -> dict[str, float]:
    """Per-trial time after the first trial, and the parts around it."""
    wall = (ended - started).total_seconds()
    to_first = (first - started).total_seconds()
    loop = (last - first).total_seconds()
    per = max(n_trials - 1, 1)
    return {
        "wall_s": wall,
        "to_first_trial_s": to_first,
        "after_last_trial_s": (ended - last).total_seconds(),
        "ms_per_trial": 1000.0 * (wall - to_first) / per,
        "loop_ms_per_trial": 1000.0 * loop / per,
        "trials_per_s": per / max(wall - to_first, 1e-9),
    }


def sweep_overrides(data_overrides: Sequence[str], *, outputs: Path, cache: Path) -> list[str]:
    """The Phase 2 sweep's overrides (without the trial count)."""
    return [
        "phase=strategy",
        *data_overrides,
        "phase.model_source=config",
        f"paths.outputs={outputs}",
        f"paths.cache={cache}",
        "tracking.enabled=false",
    ]


def run_cli_sweep(
    overrides: Sequence[str], *, n_trials: int, log_path: Path, progress: Progress = print
) -> tuple[list[str], dt.datetime, dt.datetime]:
    """Run the sweep in a subprocess; echo its progress lines; return (command, start, end)."""
    command = [
        sys.executable,
        "-m",
        "crypto_tune",
        "-m",
        *overrides,
        f"hydra.sweeper.n_trials={n_trials}",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if "strategy trials:" in line:
                progress("[bench]     " + line.split(" - ", 1)[-1].split(", best")[0].strip())
        code = proc.wait()
    ended = dt.datetime.now()
    if code != 0:
        tail = log_path.read_text(encoding="utf-8").strip().splitlines()[-3:]
        raise RuntimeError(f"sweep exited with {code} (log {log_path}): {' | '.join(tail)}")
    return command, started, ended


def run_bare_loop(
    settings: Any,
    context: Any,
    sampler: Any,
    *,
    storage: str,
    study_name: str,
    n_trials: int,
    progress: Progress = print,
) -> tuple[dt.datetime, dt.datetime]:
    """A bare ask-and-tell loop on the real strategy objective, over the sweep's own search
    space (``hydra.sweeper.params`` parsed by the sweeper's parser); return (start, end) times."""
    import optuna

    from crypto_tune.evaluation import evaluate_strategy
    from crypto_tune.phases._tuning import search_space

    strategy, replace = settings.strategy, dataclasses.replace
    space = search_space(settings, "strategy").distributions
    from crypto_tune.storage import open_storage

    study = optuna.create_study(  # Optuna's own storage, opened as outside a sweep (WAL)
        study_name=study_name, storage=open_storage(storage), sampler=sampler, direction="maximize"
    )
    last_report = time.perf_counter()
    started = dt.datetime.now()
    for number in range(n_trials):
        trial = study.ask(fixed_distributions=space)
        values = {k.removeprefix("strategy."): v for k, v in trial.params.items()}
        trial_settings = replace(settings, strategy=replace(strategy, **values))
        study.tell(trial, evaluate_strategy(trial_settings, context)[0])
        if time.perf_counter() - last_report >= 15.0:
            last_report = time.perf_counter()
            progress(f"[bench]     bare loop: {number + 1} trials")
    return started, dt.datetime.now()


def kernel_limit(settings: Any, context: Any, *, n: int = 500, seed: int = 0) -> dict[str, float]:
    """The kernel's own pace: :func:`crypto_tune.evaluation.evaluate_strategy` alone (every fold's
    backtest and the objective, no sampler, no storage, no Hydra) over ``n`` parameter sets drawn
    from the sweep's search space (Optuna's RandomSampler in memory, drawn before timing)."""
    import optuna

    from crypto_tune.evaluation import evaluate_strategy
    from crypto_tune.phases._tuning import search_space

    space = search_space(settings, "strategy").distributions
    draws = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    params = [draws.ask(fixed_distributions=space).params for _ in range(n)]
    strategy, replace = settings.strategy, dataclasses.replace
    trials = [
        replace(
            settings,
            strategy=replace(strategy, **{k.removeprefix("strategy."): v for k, v in p.items()}),
        )
        for p in params
    ]
    evaluate_strategy(trials[0], context)  # compiled and cached signals warm, as in a sweep
    started = time.perf_counter()
    for trial_settings in trials:
        evaluate_strategy(trial_settings, context)
    seconds = time.perf_counter() - started
    return {"n": n, "ms_per_trial": 1000.0 * seconds / n, "trials_per_s": n / seconds}


def bench_sweep(
    data_overrides: Sequence[str],
    *,
    work_dir: Path,
    trial_counts: Sequence[int] = (200, 3000),
    pg_url: str | None = DEFAULT_PG_URL,
    progress: Progress = print,
) -> dict[str, Any]:
    """Sweep vs bare-loop ms/trial for each storage kind and trial count (see the module doc)."""
    if not trial_counts or any(not isinstance(n, int) or n < 2 for n in trial_counts):
        raise ValueError(f"trial_counts must be ints >= 2, got {list(trial_counts)!r}")
    import optuna

    from crypto_tune.cli import preflight
    from crypto_tune.evaluation import strategy_context

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    work_dir.mkdir(parents=True, exist_ok=True)
    cache = work_dir / "cache"
    # The predictions every sweep reads (trained here once; no trial trains).
    base = sweep_overrides(data_overrides, outputs=work_dir / "context", cache=cache)
    settings = preflight(base)
    if settings is None:
        raise RuntimeError("preflight returned no settings")
    context = strategy_context(settings)
    kernel = kernel_limit(settings, context)
    progress(f"[bench] sweep: the kernel's own limit {kernel['trials_per_s']:.0f} trials/s")

    postgres: dict[str, Any] = {"url": None if pg_url is None else mask(pg_url)}
    if pg_url is not None:
        problem = postgres_problem(pg_url)
        if problem is not None:
            progress(f"[bench] sweep: PostgreSQL skipped: {problem}")
            postgres["skipped"] = problem
            pg_url = None
    runs: list[dict[str, Any]] = []
    commands: list[str] = []
    for kind in storage_kinds(pg_url):
        for n_trials in trial_counts:
            tag = uuid.uuid4().hex[:8]
            label = f"{kind.name}-{n_trials}"
            # The sweep, through the CLI.
            outputs = work_dir / f"sweep-{label}-{tag}"
            overrides = [
                *sweep_overrides(data_overrides, outputs=outputs, cache=cache),
                *kind.run_overrides(tag),
            ]
            progress(f"[bench] sweep: {kind.name}, {n_trials} trials through crypto-tune ...")
            command, started, ended = run_cli_sweep(
                overrides, n_trials=n_trials, log_path=outputs / "sweep.log", progress=progress
            )
            commands.append(mask(shlex.join(["crypto-tune", *command[3:]])))
            _, storage, name = _compose_sweep(overrides)
            first, last = _trial_times(storage, name, n_trials)
            sweep = _timing(started, first, last, ended, n_trials)
            sweep_params = _params(storage, name, 20)
            if kind.name == "postgres":
                _delete_study(storage, name)
            progress(
                f"[bench] sweep: {kind.name}, {n_trials} trials: "
                f"{sweep['ms_per_trial']:.1f} ms/trial (to first trial "
                f"{sweep['to_first_trial_s']:.1f}s)"
            )
            # The bare loop, same sampler, same storage kind, same objective.
            bare_outputs = work_dir / f"bare-{label}-{tag}"
            bare_overrides = [
                *sweep_overrides(data_overrides, outputs=bare_outputs, cache=cache),
                *kind.run_overrides(f"{tag}b"),
            ]
            sampler, storage, name = _compose_sweep(bare_overrides)
            if storage.startswith("sqlite:///"):
                Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            progress(
                f"[bench] sweep: {kind.name}, {n_trials} trials through a bare optuna "
                f"loop ({type(sampler).__name__}) ..."
            )
            started, ended = run_bare_loop(
                settings,
                context,
                sampler,
                storage=storage,
                study_name=name,
                n_trials=n_trials,
                progress=progress,
            )
            first, last = _trial_times(storage, name, n_trials)
            bare = _timing(started, first, last, ended, n_trials)
            same = sweep_params == _params(storage, name, 20)
            if kind.name == "postgres":
                _delete_study(storage, name)
            ratio = sweep["ms_per_trial"] / bare["ms_per_trial"]
            progress(
                f"[bench] sweep: {kind.name}, {n_trials} trials bare: "
                f"{bare['ms_per_trial']:.1f} ms/trial; sweep/bare {ratio:.2f}"
            )
            runs.append(
                {
                    "storage": kind.name,
                    "n_trials": n_trials,
                    "sweep": sweep,
                    "bare": bare,
                    "sweep_over_bare": ratio,
                    "sweep_speed_vs_bare": 1.0 / ratio,
                    "meets_target": ratio <= TARGET_SWEEP_OVER_BARE,
                    "same_first_20_params": same,
                }
            )
    return {
        "asset": settings.asset.name,
        "n_test_bars": int(sum(len(f.close) for f in context.folds)),
        "postgres": postgres,
        "target_sweep_over_bare": TARGET_SWEEP_OVER_BARE,
        "kernel": kernel,
        "runs": runs,
        "commands": commands,
        "method": "ms/trial = (wall time - time to the first trial's completion) / (n - 1); "
        "the first completion is read from the study storage",
    }


# ------------------------------------------------------------------------------ the profile
_PROBES: dict[str, tuple[str, str]] = {
    # name -> (file suffix, function name) in the profile
    "sweeper.sweep": ("crypto_tune/sweeper.py", "_sweep"),  # the stock loop, our subclass
    "cli.main": ("crypto_tune/cli.py", "main"),
    "study.ask": ("optuna/study/study.py", "ask"),
    "study.tell": ("optuna/study/study.py", "tell"),  # the stock sweeper's tell
    "study._tell_with_warning": ("optuna/study/_tell.py", "_tell_with_warning"),
    "sweeper._record": ("crypto_tune/sweeper.py", "_record"),  # our sweeper's tell
    "trial._suggest": ("optuna/trial/_trial.py", "_suggest"),
    "trial.set_user_attr": ("optuna/trial/_trial.py", "set_user_attr"),
    "sweeper._configure_trials": ("crypto_tune/sweeper.py", "_configure_trials"),
    "sweeper._record_fixed": ("crypto_tune/sweeper.py", "_record_fixed"),
    "sweeper._heal_orphans": ("crypto_tune/sweeper.py", "_heal_orphans"),
    "optuna.create_study": ("optuna/study/study.py", "create_study"),
    "launcher.launch": ("crypto_tune/launcher.py", "launch"),
    "launcher._base": ("crypto_tune/launcher.py", "_base"),
    "launcher._split": ("crypto_tune/launcher.py", "_split"),
    "launcher._fast_plan": ("crypto_tune/launcher.py", "_fast_plan"),
    "launcher._parse": ("crypto_tune/launcher.py", "_parse"),
    "hydra.parse_override": ("hydra/core/override_parser/overrides_parser.py", "parse_override"),
    "launcher._run_fast": ("crypto_tune/launcher.py", "_run_fast"),
    "cli._task": ("crypto_tune/cli.py", "_task"),
    "cli._run_task": ("crypto_tune/cli.py", "_run_task"),
    "cli.settings_from_config": ("crypto_tune/_config_to_settings.py", "settings_from_config"),
    "run_strategy_trial": ("crypto_tune/phases/_strategy.py", "run_strategy_trial"),
    "strategy_context": ("crypto_tune/evaluation/_contexts.py", "strategy_context"),
    "evaluate_strategy": ("crypto_tune/evaluation/_contexts.py", "evaluate_strategy"),
    "backtest.simulate_returns": ("crypto_tune/backtest/_engine.py", "simulate_returns"),
}


def _matches(key: tuple[str, int, str], probe: str) -> bool:
    suffix, wanted = _PROBES[probe]
    return key[2] == wanted and key[0].replace(os.sep, "/").endswith(suffix)


def _cumulative(stats: pstats.Stats) -> dict[str, float]:
    """Cumulative seconds of each probe (summed over same-named entries in one file)."""
    out = dict.fromkeys(_PROBES, 0.0)
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    for key, (_cc, _nc, _tt, cumulative, _callers) in table.items():
        for name in _PROBES:
            if _matches(key, name):
                out[name] += cumulative
    return out


def _cumulative_from(stats: pstats.Stats, probe: str, caller: str) -> float:
    """Cumulative seconds of ``probe`` when called directly from ``caller``."""
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = 0.0
    for key, (_cc, _nc, _tt, _cumulative, callers) in table.items():
        if _matches(key, probe):
            total += sum(v[3] for k, v in callers.items() if _matches(k, caller))
    return total


def profile_sweep(
    data_overrides: Sequence[str],
    *,
    work_dir: Path,
    n_trials: int = 300,
    progress: Progress = print,
) -> dict[str, Any]:
    """Split one sweep trial's time (cProfile over ``crypto_tune.cli.main``, in this process).

    Must run after every other bench in the process: Hydra stays initialised and configures
    logging.
    """
    if not isinstance(n_trials, int) or n_trials < 2:
        raise ValueError(f"n_trials must be an int >= 2, got {n_trials!r}")
    from crypto_tune import cli

    outputs = work_dir / f"profile-{uuid.uuid4().hex[:8]}"
    overrides = sweep_overrides(data_overrides, outputs=outputs, cache=work_dir / "cache")
    argv = ["-m", *overrides, f"hydra.sweeper.n_trials={n_trials}"]
    progress(f"[bench] profile: {n_trials} trials through crypto_tune.cli.main under cProfile ...")
    saved_argv = list(sys.argv)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    try:
        cli.main(argv)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise RuntimeError(f"the profiled sweep exited with {exc.code}") from None
    finally:
        profiler.disable()
        sys.argv = saved_argv
    wall = time.perf_counter() - start
    stats = pstats.Stats(profiler)
    cum = _cumulative(stats)
    # settings_from_config also runs in preflight and the summary callback: count the task's.
    cum["cli.settings_from_config"] = _cumulative_from(
        stats, "cli.settings_from_config", "cli._run_task"
    )
    # Optuna's tell as our sweeper calls it (its tell step, without Study.tell's read-back).
    cum["study.tell"] += _cumulative_from(stats, "study._tell_with_warning", "sweeper._record")
    # Hydra's override parser as the launcher calls it (each distinct string parsed once).
    cum["hydra.parse_overrides"] = _cumulative_from(
        stats, "hydra.parse_override", "launcher._parse"
    )
    per = {k: 1000.0 * v / n_trials for k, v in cum.items()}
    total = per["sweeper.sweep"]
    optuna_ms = (
        per["study.ask"] + per["study.tell"] + per["trial._suggest"] + per["trial.set_user_attr"]
    )
    ours_ms = per["cli._task"]
    hydra_ms = total - optuna_ms - ours_ms

    def part(ms: float) -> dict[str, float]:
        return {"ms_per_trial": ms, "share": ms / total if total else float("nan")}

    progress(
        f"[bench] profile: {total:.1f} ms/trial under cProfile (Hydra {hydra_ms:.1f}, "
        f"Optuna {optuna_ms:.1f}, crypto-tune {ours_ms:.1f})"
    )
    return {
        "n_trials": n_trials,
        "profiled_wall_s": wall,
        "startup_s": (cum["cli.main"] - cum["sweeper.sweep"]),
        "total_ms_per_trial": total,
        "split": {
            "hydra_sweeper_launcher": part(hydra_ms),
            "optuna_sampler_storage": part(optuna_ms),
            "crypto_tune_task": part(ours_ms),
        },
        "detail": {
            "optuna.ask": part(per["study.ask"]),
            "optuna.tell": part(per["study.tell"]),
            "optuna._suggest": part(per["trial._suggest"]),
            "optuna.set_user_attr": part(per["trial.set_user_attr"]),
            "optuna.create_study_once": part(per["optuna.create_study"]),
            "sweeper._configure_trials_glue": part(
                per["sweeper._configure_trials"]
                - per["trial._suggest"]
                - per["trial.set_user_attr"]
                - per["sweeper._record_fixed"]
                - per["sweeper._heal_orphans"]
            ),
            "sweeper.fixed_overrides_once": part(per["sweeper._record_fixed"]),
            "sweeper.orphan_heartbeats": part(per["sweeper._heal_orphans"]),
            "launcher.compose_once": part(per["launcher._base"]),
            "launcher.parse_overrides": part(per["hydra.parse_overrides"]),
            "launcher.launch_other": part(
                per["launcher.launch"]
                - per["launcher._run_fast"]
                - per["launcher._base"]
                - per["hydra.parse_overrides"]
            ),
            "launcher._run_fast_glue": part(per["launcher._run_fast"] - per["cli._task"]),
            "task.settings_from_config": part(per["cli.settings_from_config"]),
            "task.run_strategy_trial": part(per["run_strategy_trial"]),
            "task.strategy_context_once": part(per["strategy_context"]),
            "task.backtest_simulate_returns": part(per["backtest.simulate_returns"]),
        },
        "cumulative_s": cum,
        "command": shlex.join(["crypto_tune.cli.main", *argv]),
        "note": "cProfile inflates Python-heavy code (Hydra, Optuna) more than the numba "
        "backtest: read the shares, not the absolute times",
    }
