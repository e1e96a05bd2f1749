"""Phase 2 samplers on the same studies: the best value reached per trial and per wall-clock second.

``bench_samplers`` runs, for each sampler and seed, an ask-and-tell loop on the real Phase 2
objective (:func:`crypto_tune.evaluation.evaluate_strategy` on the cached predictions of the
sweep's model) over the sweep's own search space, on a fresh SQLite study (the default storage),
and records after every trial the best value so far and the seconds since the loop began.
The samplers are Hydra's ``hydra/sweeper/sampler`` choices as crypto-tune would build them:

* ``tpe``: independent TPE (``multivariate: false``), the sweeps' default: the composed
  ``hydra.sweeper.sampler`` (``incremental_tpe``: the plugin's TPE config run by
  :class:`crypto_tune.samplers.IncrementalTPESampler`, Optuna's proposals from arrays) with
  ``multivariate`` set to false;
* ``tpe-multivariate``: the same config with ``multivariate: true`` (one joint Parzen model of
  all the parameters; ``hydra/sweeper/sampler=tpe_multivariate``). Optuna 5's
  own ``TPESampler()`` is multivariate by default for one objective, the plugin's config is not:
  both rows are built from the config, never from Optuna's defaults. ``sweep_sampler`` in the
  results is the config a Phase 2 sweep runs;
* ``cmaes``: ``CmaEsSampler`` (categoricals fall back to its independent sampler);
* ``qmc``: ``QMCSampler(scramble=True)`` (Sobol points, scrambled by the seed; no model of
  the objective).

Reported per sampler (means over the seeds): the best value at a few trial counts, the best
value at a few wall-clock times, and trials per second over the loop.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

SAMPLERS = ("tpe", "tpe-multivariate", "cmaes", "qmc")


def make_sampler(name: str, seed: int, sweep_sampler: dict[str, Any]) -> Any:
    """The sampler ``name`` with ``seed``; ``sweep_sampler`` is the composed
    ``hydra.sweeper.sampler`` (a TPE config), which the two TPE rows instantiate."""
    import optuna
    from hydra.utils import instantiate

    from crypto_tune.samplers import SAMPLER_TARGETS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name in ("tpe", "tpe-multivariate"):
            if "TPESampler" not in str(sweep_sampler.get("_target_", "")):
                raise ValueError(f"the sweep's sampler is not TPE: {sweep_sampler.get('_target_')}")
            config = {**sweep_sampler, "seed": seed, "multivariate": name == "tpe-multivariate"}
            return instantiate(config, _execution_whitelist_=SAMPLER_TARGETS)
        if name == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        if name == "qmc":
            return optuna.samplers.QMCSampler(
                seed=seed, scramble=True, warn_independent_sampling=False
            )
    raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {name!r}")


def _loop(
    settings: Any, context: Any, sampler: Any, space: dict, *, storage: str, n_trials: int
) -> tuple[list[float], list[float]]:
    """(seconds since start, best so far) after each trial of one ask-and-tell loop."""
    import optuna

    from crypto_tune.evaluation import evaluate_strategy
    from crypto_tune.storage import open_storage

    study = optuna.create_study(  # the storage as a sweep opens it (SQLite: WAL)
        storage=open_storage(storage), sampler=sampler, direction="maximize"
    )
    strategy, replace = settings.strategy, dataclasses.replace
    seconds, best = [], []
    top = -float("inf")
    started = time.perf_counter()
    for _ in range(n_trials):
        trial = study.ask(fixed_distributions=space)
        values = {k.removeprefix("strategy."): v for k, v in trial.params.items()}
        value = evaluate_strategy(replace(settings, strategy=replace(strategy, **values)), context)
        value = value[0]
        study.tell(trial, value)
        top = max(top, value)
        seconds.append(time.perf_counter() - started)
        best.append(top)
    return seconds, best


def _best_at_time(seconds: list[float], best: list[float], at: float) -> float | None:
    reached = [b for s, b in zip(seconds, best, strict=True) if s <= at]
    return reached[-1] if reached else None


def bench_samplers(
    data_overrides: Sequence[str],
    *,
    work_dir: Path,
    n_trials: int = 1000,
    seeds: Sequence[int] = (1, 2, 3, 4, 5),
    samplers: Sequence[str] = SAMPLERS,
    at_trials: Sequence[int] = (100, 300, 1000),
    at_seconds: Sequence[float] = (5.0, 15.0, 30.0),
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The table of the module docstring, with every run's curve summary."""
    import optuna

    from crypto_tune.cli import preflight
    from crypto_tune.evaluation import strategy_context
    from crypto_tune.phases._tuning import search_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    work_dir.mkdir(parents=True, exist_ok=True)
    overrides = [
        "phase=strategy",
        *data_overrides,
        "phase.model_source=config",
        f"paths.outputs={work_dir / 'context'}",
        f"paths.cache={work_dir / 'cache'}",
        "tracking.enabled=false",
    ]
    settings = preflight(overrides)
    if settings is None:
        raise RuntimeError("preflight returned no settings")
    context = strategy_context(settings)
    sweep_space = search_space(settings, "strategy")
    space, sweep_sampler = sweep_space.distributions, dict(sweep_space.sampler)
    at_trials = [n for n in at_trials if n <= n_trials]
    rows: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for name in samplers:
        if name == "cmaes" and importlib.util.find_spec("cmaes") is None:
            skipped[name] = "the cmaes package is not installed (pip install cmaes)"
            progress(f"[bench] samplers: {name} skipped: {skipped[name]}")
            continue
        runs = []
        for seed in seeds:
            db = work_dir / f"{name}-{seed}.db"
            db.unlink(missing_ok=True)
            seconds, best = _loop(
                settings,
                context,
                make_sampler(name, seed, sweep_sampler),
                space,
                storage=f"sqlite:///{db}",
                n_trials=n_trials,
            )
            runs.append({"seed": seed, "seconds": seconds[-1], "best": best[-1]})
            runs[-1]["at_trials"] = {n: best[n - 1] for n in at_trials}
            runs[-1]["at_seconds"] = {s: _best_at_time(seconds, best, s) for s in at_seconds}
            progress(
                f"[bench] samplers: {name} seed {seed}: {n_trials} trials in "
                f"{seconds[-1]:.1f}s, best {best[-1]:.4f}"
            )

        def mean(values: list[float | None]) -> float | None:
            known = [v for v in values if v is not None]
            return statistics.fmean(known) if len(known) == len(values) else None

        rows[name] = {
            "trials_per_s": statistics.fmean(n_trials / r["seconds"] for r in runs),
            "best_at_trials": {n: mean([r["at_trials"][n] for r in runs]) for n in at_trials},
            "best_at_seconds": {s: mean([r["at_seconds"][s] for r in runs]) for s in at_seconds},
            "runs": runs,
        }
    return {
        "n_trials": n_trials,
        "seeds": list(seeds),
        "objective": settings.strategy.primary_objective,
        "storage": "sqlite (a fresh file per run)",
        "samplers": rows,
        "sweep_sampler": {k: v for k, v in sweep_sampler.items() if k != "seed"},
        "skipped": skipped,
        "overrides": overrides,
    }
