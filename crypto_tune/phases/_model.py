"""``phase=model``: one Phase 1 trial — LightGBM on every fold, scored by IC."""

from __future__ import annotations

import logging
import time

import numpy as np

from crypto_tune import metrics
from crypto_tune.config import Settings
from crypto_tune.dataset import Dataset, prepare_dataset, regime_mask
from crypto_tune.model import OutOfFold, fold_arrays, out_of_fold
from crypto_tune.objectives import MODEL_OBJECTIVES

log = logging.getLogger("crypto_tune.model")


def score_folds(dataset: Dataset, oof: OutOfFold, regime: str) -> dict:
    """IC summary over folds, scored on the bars of ``regime`` that have a label.

    Keys: ``folds`` (per fold ic, rank_ic, hit_rate, n_obs), and ``ic``, ``rank_ic``, ``icir``,
    ``hit_rate`` over folds. A fold whose predictions are constant has IC 0 (no information).
    """
    mask = regime_mask(dataset, regime)
    pairs = []
    positions = dataset.candles.index.get_indexer(oof.frame.index)
    keep_all = mask[positions]
    folds = oof.frame["fold"].to_numpy()
    for fold in dataset.folds:
        preds, labels = fold_arrays(dataset, oof, fold.number)
        keep = keep_all[folds == fold.number] & np.isfinite(labels)
        pairs.append((preds[keep], labels[keep]))
    raw = metrics.ic_summary(pairs)
    # A fold with constant predictions (no split found) carries no information: IC 0.
    ic = [v if np.isfinite(v) else 0.0 for v in raw["fold_ic"]]
    rank_ic = [v if np.isfinite(v) else 0.0 for v in raw["fold_rank_ic"]]
    folds = [
        {"ic": a, "rank_ic": b, "hit_rate": c, "n_obs": n}
        for a, b, c, n in zip(ic, rank_ic, raw["fold_hit_rate"], raw["fold_n_obs"], strict=True)
    ]
    return {
        "folds": folds,
        "ic": float(np.mean(ic)),
        "rank_ic": float(np.mean(rank_ic)),
        "icir": metrics.information_ratio(ic),
        "hit_rate": float(np.nanmean(raw["fold_hit_rate"])),
    }


def _short(params: dict) -> str:
    return " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def run_model_trial(settings: Settings) -> float:
    """Train on every fold (or read the cache), score IC, log to MLflow, return the objective."""
    from crypto_tune.study import best_value, cached_study, running_trial
    from crypto_tune.tracking import code_version, settings_params, start_run

    start = time.perf_counter()
    dataset = prepare_dataset(settings)
    oof = out_of_fold(dataset, settings.model, seed=settings.seed, cache_dir=settings.paths.cache)
    summary = score_folds(dataset, oof, settings.regime.name)
    value = MODEL_OBJECTIVES[settings.phase.objective](summary)

    study = cached_study(settings, phase="model")
    params = {f"model.{k}": v for k, v in settings.model.params().items()}
    trial = running_trial(study, params) if study is not None else None
    number = trial.number if trial is not None else None
    best = best_value(study) if study is not None else None
    best = value if best is None else max(best, value)
    tags = {
        "study": settings.study.name,
        "phase": "model",
        "asset": settings.asset.name,
        "timeframe": settings.asset.timeframe,
        "regime": settings.regime.name,
        "data_fingerprint": dataset.data_fingerprint,
        "code_version": code_version(),
        "trial_number": "" if number is None else number,
        "oof_cache_key": oof.key,
    }
    run_name = f"trial-{number}" if number is not None else "model-run"
    with start_run(settings.tracking, settings.study.name, run_name=run_name, tags=tags) as run:
        if run is not None:
            run.params(settings_params(settings))
            fold_metrics = {}
            for i, fold in enumerate(summary["folds"]):
                for key in ("ic", "rank_ic", "hit_rate"):
                    fold_metrics[f"fold_{i}.{key}"] = fold[key]
                fold_metrics[f"fold_{i}.best_iteration"] = oof.best_iterations[i]
            run.metrics(
                {
                    **fold_metrics,
                    "ic": summary["ic"],
                    "rank_ic": summary["rank_ic"],
                    "icir": summary["icir"],
                    "hit_rate": summary["hit_rate"],
                    "objective": value,
                    "train_seconds": oof.train_seconds,
                }
            )
            importance = oof.importance.assign(mean=oof.importance.mean(axis=1))
            run.frame(importance.sort_values("mean", ascending=False), "feature_importance.csv")
    seconds = time.perf_counter() - start
    log.info(
        "trial %s | %s | IC %.4f rank IC %.4f ICIR %.2f hit %.3f | %s %.4f | best %.4f | %.1fs%s",
        "-" if number is None else number,
        _short(settings.model.params()),
        summary["ic"],
        summary["rank_ic"],
        summary["icir"],
        summary["hit_rate"],
        settings.phase.objective,
        value,
        best,
        seconds,
        " (cached)" if oof.from_cache else "",
    )
    return value
