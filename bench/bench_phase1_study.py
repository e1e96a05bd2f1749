"""Phase 1 wall time per study: the defaults (pruning, ``model.num_threads=auto``) against one
thread unpruned, and the other pruners, each with the best IC it reached.

``bench_phase1_study`` runs ``python -m crypto_tune -m phase=model <data> hydra.sweeper.n_trials=N``
once per variant in a subprocess, each in a fresh outputs folder (its own study, its own
prediction cache, MLflow off), one after another in the same run so that their ratios compare
like with like. Wall time is the whole command (start-up, data and features included); the
trials' own span (first start to last completion, read from the study) is reported beside it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# name -> the overrides that make it; the first is the default, the second the baseline.
VARIANTS: dict[str, list[str]] = {
    "default (median pruner, num_threads=auto)": [],
    "phase.pruner=none model.num_threads=1": ["phase.pruner=none", "model.num_threads=1"],
    "phase.pruner=none (num_threads=auto)": ["phase.pruner=none"],
    "phase.pruner=wilcoxon (num_threads=auto)": ["phase.pruner=wilcoxon"],
}
TARGET_SPEEDUP = 2.0  # default vs one thread unpruned
TARGET_IC_WITHIN = 0.10  # the default's best IC within 10% of the baseline's


def _study_summary(outputs: Path) -> dict[str, Any]:
    import optuna

    storage = f"sqlite:///{outputs}/optuna.db"
    (name,) = optuna.get_all_study_names(storage)
    study = optuna.load_study(study_name=name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.datetime_complete is not None]
    states = [t.state.name for t in trials]
    span = max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)  # type: ignore[type-var,operator]
    return {
        "study": name,
        "best_ic": float(study.best_value),
        "complete": states.count("COMPLETE"),
        "pruned": states.count("PRUNED"),
        "failed": states.count("FAIL"),
        "trials_span_s": span.total_seconds(),
    }


def bench_phase1_study(
    data_overrides: Sequence[str],
    *,
    work_dir: Path,
    n_trials: int = 30,
    variants: dict[str, list[str]] | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Wall time and best IC of an ``n_trials`` Phase 1 study per variant (see the module)."""
    variants = VARIANTS if variants is None else variants
    runs: dict[str, Any] = {}
    commands = []
    for i, (label, extra) in enumerate(variants.items()):
        outputs = work_dir / f"v{i}"
        shutil.rmtree(outputs, ignore_errors=True)
        outputs.mkdir(parents=True)
        command = [
            sys.executable,
            "-m",
            "crypto_tune",
            "-m",
            "phase=model",
            *data_overrides,
            f"paths.outputs={outputs}",
            "tracking.enabled=false",
            f"hydra.sweeper.n_trials={n_trials}",
            *extra,
        ]
        commands.append(shlex.join(["crypto-tune", *command[3:]]))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("CRYPTO_TUNE_WORKERS", None)
        began = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - began
        if done.returncode != 0:
            raise RuntimeError(f"{label}: exit {done.returncode}: {done.stderr[-1500:]}")
        runs[label] = {"overrides": extra, "wall_s": wall, **_study_summary(outputs)}
        progress(
            f"[bench] phase1_study: {label}: {wall:.1f}s, best IC {runs[label]['best_ic']:.4f}, "
            f"{runs[label]['pruned']} of {n_trials} pruned"
        )
    labels = list(variants)
    default, baseline = runs[labels[0]], runs[labels[1]]
    for run in runs.values():
        run["speedup_vs_baseline"] = baseline["wall_s"] / run["wall_s"]
        run["best_ic_vs_baseline"] = run["best_ic"] / baseline["best_ic"]
    ic_ok = default["best_ic"] >= (1 - TARGET_IC_WITHIN) * baseline["best_ic"]
    return {
        "n_trials": n_trials,
        "runs": runs,
        "default": labels[0],
        "baseline": labels[1],
        "target_speedup": TARGET_SPEEDUP,
        "target_ic_within": TARGET_IC_WITHIN,
        "meets_target": default["speedup_vs_baseline"] >= TARGET_SPEEDUP and ic_ok,
        "commands": commands,
    }
