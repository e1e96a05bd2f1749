"""Seconds per Phase 1 trial, and the share of that time spent outside LightGBM training.

``bench_phase1(data_overrides, work_dir=...)`` builds the settings with
:func:`crypto_tune.cli.preflight` (which also loads the data, as a sweep does once per process),
then times :func:`crypto_tune.phases._model.run_model_trial` (5 folds trained, IC scored, MLflow
off) over a few different model parameter sets. Before each trial the in-memory out-of-fold cache
is cleared and the prediction cache folder emptied, so every trial really trains.
``lightgbm.train`` (what ``crypto_tune.model._lightgbm`` calls) is wrapped with a timer in this
process only, and a few other steps are timed the same way for a breakdown of the rest.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# A few points of the Phase 1 search space (conf/search/model/lightgbm.yaml), small to large models.
PARAM_SETS: tuple[dict[str, Any], ...] = (
    {"learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 200, "num_boost_round": 400},
    {"learning_rate": 0.02, "num_leaves": 31, "min_data_in_leaf": 100, "num_boost_round": 600},
    {"learning_rate": 0.10, "num_leaves": 8, "min_data_in_leaf": 300, "num_boost_round": 300},
    {
        "learning_rate": 0.01,
        "num_leaves": 48,
        "min_data_in_leaf": 50,
        "num_boost_round": 800,
        "feature_fraction": 0.5,
    },
    {
        "learning_rate": 0.03,
        "num_leaves": 24,
        "min_data_in_leaf": 150,
        "num_boost_round": 500,
        "lambda_l2": 5.0,
        "bagging_fraction": 0.6,
    },
)
TARGET_OUTSIDE_SHARE = 0.10


class _Timers:
    """Accumulated seconds and call counts of wrapped functions."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def reset(self) -> None:
        self.seconds = {k: 0.0 for k in self.seconds}
        self.calls = {k: 0 for k in self.calls}

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        self.seconds[name], self.calls[name] = 0.0, 0

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
                self.calls[name] += 1

        return timed


@contextmanager
def _patched(timers: _Timers) -> Iterator[None]:
    """Wrap lightgbm.train and the main steps of a Phase 1 trial with timers (restored after)."""
    from crypto_tune.model import _lightgbm, _oof
    from crypto_tune.phases import _model

    targets = [
        (_lightgbm.lgb, "train", "lgb_train"),
        (_oof, "fit_fold", "fit_fold"),
        (_oof, "write_atomic_parquet", "write_cache"),
        (_model, "out_of_fold", "out_of_fold"),
        (_model, "score_folds", "score_folds"),
        (_model, "prepare_dataset", "prepare_dataset"),
    ]
    saved = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in targets]
    try:
        for owner, attr, name in targets:
            setattr(owner, attr, timers.wrap(name, getattr(owner, attr)))
        yield
    finally:
        for owner, attr, original in saved:
            setattr(owner, attr, original)


def bench_phase1(
    data_overrides: Sequence[str],
    *,
    work_dir: Path,
    n_trials: int = len(PARAM_SETS),
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Time ``n_trials`` Phase 1 trials (after one warm-up trial) on the data of ``data_overrides``.

    Returns seconds per trial, LightGBM training seconds per trial, the share of trial time
    outside LightGBM training, a breakdown of that remainder and the per-trial rows.
    """
    if not isinstance(n_trials, int) or not 1 <= n_trials <= len(PARAM_SETS):
        raise ValueError(f"n_trials must be an int in [1, {len(PARAM_SETS)}], got {n_trials!r}")
    import optuna

    from crypto_tune.cli import preflight
    from crypto_tune.dataset import prepare_dataset
    from crypto_tune.memo import clear_memos
    from crypto_tune.phases._model import run_model_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    work_dir.mkdir(parents=True, exist_ok=True)
    overrides = [
        "phase=model",
        *data_overrides,
        f"paths.outputs={work_dir}",
        "tracking.enabled=false",
        # Folds one after another: LightGBM's seconds are then a share of the trial's wall time
        # (with folds side by side they add up past it). bench_phase1_study times the default.
        "model.num_threads=1",
    ]
    start = time.perf_counter()
    settings = preflight(overrides)  # validates and loads the data once, as a sweep does
    if settings is None:
        raise RuntimeError("preflight returned no settings")
    setup_s = time.perf_counter() - start
    dataset = prepare_dataset(settings)
    # In a sweep the study exists (the sweeper created it); the trial looks it up once.
    optuna.create_study(
        study_name=settings.study.name,
        storage=settings.storage.url,
        direction="maximize",
        load_if_exists=True,
    )
    predictions_dir = Path(settings.paths.cache) / "predictions"

    def one_trial(params: dict[str, Any], timers: _Timers) -> dict[str, Any]:
        model = dataclasses.replace(settings.model, **params)
        model.validate("model")
        clear_memos("predictions")
        shutil.rmtree(predictions_dir, ignore_errors=True)
        timers.reset()
        began = time.perf_counter()
        value = run_model_trial(dataclasses.replace(settings, model=model))
        seconds = time.perf_counter() - began
        return {
            "params": params,
            "seconds": seconds,
            "objective": value,
            "timers": dict(timers.seconds),
            "lgb_calls": timers.calls["lgb_train"],
        }

    timers = _Timers()
    rows = []
    with _patched(timers):
        warmup = one_trial({}, timers)  # first-call costs: imports, the study lookup, ...
        progress(f"[bench] phase1: warm-up trial {warmup['seconds']:.2f}s")
        for i, params in enumerate(PARAM_SETS[:n_trials]):
            row = one_trial(params, timers)
            if row["lgb_calls"] != len(dataset.folds):
                raise RuntimeError(
                    f"phase1 trial {i} called lightgbm.train {row['lgb_calls']} times, "
                    f"expected {len(dataset.folds)} (the prediction cache was hit?)"
                )
            lgb_s = row["timers"]["lgb_train"]
            progress(
                f"[bench] phase1: trial {i + 1}/{n_trials} {row['seconds']:.2f}s "
                f"(LightGBM {lgb_s:.2f}s, outside {1 - lgb_s / row['seconds']:.1%})"
            )
            rows.append(row)

    total = sum(r["seconds"] for r in rows)
    sums = {k: sum(r["timers"][k] for r in rows) for k in rows[0]["timers"]}
    lgb_total = sums["lgb_train"]
    oof_rest = sums["out_of_fold"] - sums["fit_fold"] - sums["write_cache"]
    breakdown_s = {
        "lgb_train": lgb_total,
        "predict_and_fold_arrays": sums["fit_fold"] - lgb_total,
        "write_prediction_cache": sums["write_cache"],
        "oof_assembly": oof_rest,
        "score_folds": sums["score_folds"],
        "prepare_dataset_memo": sums["prepare_dataset"],
        "rest_of_trial": total
        - sums["out_of_fold"]
        - sums["score_folds"]
        - sums["prepare_dataset"],
    }
    n = len(rows)
    outside = 1.0 - lgb_total / total
    return {
        "asset": settings.asset.name,
        "timeframe": settings.asset.timeframe,
        "split": settings.split.name,
        "n_folds": len(dataset.folds),
        "n_bars": len(dataset.candles),
        "n_trials": n,
        "setup_s": setup_s,
        "warmup_trial_s": warmup["seconds"],
        "s_per_trial": total / n,
        "lgb_s_per_trial": lgb_total / n,
        "outside_lgb_s_per_trial": (total - lgb_total) / n,
        "share_outside_lgb": outside,
        "target_share_outside_lgb": TARGET_OUTSIDE_SHARE,
        "meets_target": outside < TARGET_OUTSIDE_SHARE,
        "breakdown_ms_per_trial": {k: 1000.0 * v / n for k, v in breakdown_s.items()},
        "trials": [
            {
                "params": r["params"],
                "seconds": r["seconds"],
                "lgb_seconds": r["timers"]["lgb_train"],
                "objective": r["objective"],
            }
            for r in rows
        ],
        "overrides": overrides,
    }
