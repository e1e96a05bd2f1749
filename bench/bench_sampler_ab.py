"""The default sampler against Optuna's own TPE: the same Phase 2 sweep, the same trials?

``bench_sampler_ab`` runs one Phase 2 sweep through ``crypto-tune -m`` (SQLite, a fresh file
each) twice: with the default sampler (``incremental_tpe``:
:class:`crypto_tune.samplers.IncrementalTPESampler`) and with ``hydra/sweeper/sampler=tpe``
(Optuna's ``TPESampler`` itself, same arguments, same seed). It reports each sweep's per-trial
time (wall time minus the time to the first trial, as the sweep section measures it) and
whether the two studies hold the same trials: every trial's parameters, values and state.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from bench.bench_sweep import (
    Progress,
    _compose_sweep,
    _timing,
    _trial_times,
    mask,
    run_cli_sweep,
    sweep_overrides,
)

VARIANTS = {
    "default (IncrementalTPESampler)": (),
    "Optuna's TPESampler (hydra/sweeper/sampler=tpe)": ("hydra/sweeper/sampler=tpe",),
}


def _trials(storage: str, study_name: str) -> list[tuple[Any, ...]]:
    import optuna

    study = optuna.load_study(study_name=study_name, storage=storage)
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    return [(t.number, t.state.name, t.params, t.values) for t in trials]


def bench_sampler_ab(
    data_overrides: list[str],
    *,
    work_dir: Path,
    n_trials: int = 3000,
    progress: Progress = print,
) -> dict[str, Any]:
    """Both sweeps (see the module docstring); ``same_trials`` compares them trial by trial."""
    from crypto_tune.cli import preflight
    from crypto_tune.evaluation import strategy_context

    work_dir.mkdir(parents=True, exist_ok=True)
    cache = work_dir / "cache"
    # The predictions both sweeps read (trained here once; no trial trains).
    settings = preflight(sweep_overrides(data_overrides, outputs=work_dir / "context", cache=cache))
    if settings is None:
        raise RuntimeError("preflight returned no settings")
    strategy_context(settings)
    runs: dict[str, dict[str, Any]] = {}
    studies: list[list[tuple[Any, ...]]] = []
    commands: list[str] = []
    for index, (label, extra) in enumerate(VARIANTS.items()):
        outputs = work_dir / f"sweep-{index}"
        overrides = [*sweep_overrides(data_overrides, outputs=outputs, cache=cache), *extra]
        progress(f"[bench] sampler_ab: {label}, {n_trials} trials ...")
        command, started, ended = run_cli_sweep(
            overrides, n_trials=n_trials, log_path=outputs / "sweep.log", progress=progress
        )
        commands.append(mask(shlex.join(["crypto-tune", *command[3:]])))
        _, storage, name = _compose_sweep(overrides)
        first, last = _trial_times(storage, name, n_trials)
        runs[label] = _timing(started, first, last, ended, n_trials)
        studies.append(_trials(storage, name))
        best = max((t[3][0] for t in studies[-1] if t[1] == "COMPLETE"), default=float("nan"))
        runs[label]["best_value"] = best
        progress(
            f"[bench] sampler_ab: {label}: {runs[label]['ms_per_trial']:.1f} ms/trial, "
            f"best {best:.4f}"
        )
    default, stock = (runs[label] for label in VARIANTS)
    return {
        "n_trials": n_trials,
        "runs": runs,
        "same_trials": studies[0] == studies[1] and len(studies[0]) == n_trials,
        "speedup": stock["ms_per_trial"] / default["ms_per_trial"],
        "commands": commands,
        "method": "ms/trial = (wall time - time to the first trial's completion) / (n - 1)",
    }


__all__ = ["VARIANTS", "bench_sampler_ab"]
