"""``phase=model asset=universe``: one Phase 1 trial — one LightGBM over the pooled panel.

The objective is computed the Qlib way: per bar across symbols (Pearson ``ic``, Spearman
``rank_ic``), averaged over every out-of-fold bar; ``icir`` is that mean over the per-bar
values' standard deviation. The pooled IC (one correlation over every row) is logged beside it.
The study's identity, fingerprint, resume and workers are those of every Phase 1 study.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from crypto_tune import metrics
from crypto_tune.config import LIGHTGBM_FIXED, Settings
from crypto_tune.objectives import MODEL_OBJECTIVES
from crypto_tune.universe._dataset import UniverseDataset, prepare_universe
from crypto_tune.universe._oof import UniverseOOF, universe_oof

log = logging.getLogger("crypto_tune.model")

_KEYS = ("ic", "rank_ic", "icir", "rank_icir", "ic_t", "rank_ic_t", "pooled_ic", "n_bars")


def score_universe(data: UniverseDataset, oof: UniverseOOF) -> dict[str, Any]:
    """The cross-sectional IC summary over every out-of-fold bar, and per fold (``folds``).

    Scored against the raw forward return (what the portfolio earns); a bar's rank IC is the
    same against the rank-normalised label."""
    panel = data.panel
    target = panel.forward
    summary: dict[str, Any] = dict(
        metrics.cross_sectional_summary(oof.prediction, target, panel.bar)
    )
    folds = []
    for fold in data.folds:
        rows = oof.fold == fold.number
        part = metrics.cross_sectional_summary(oof.prediction[rows], target[rows], panel.bar[rows])
        folds.append({k: part[k] for k in ("ic", "rank_ic", "icir", "n_bars")})
    summary["folds"] = folds
    return summary


def _finite(value: float) -> float:
    return float(value) if np.isfinite(value) else 0.0


# The data inputs of a universe's fingerprint (what a best run or a report checks against the
# studies', as :data:`crypto_tune.fingerprint.DATA_KEYS` for a single asset)
UNIVERSE_DATA_KEYS = ("data", "features", "label.horizon", "label.universe", "folds", "regime")


def universe_model_fingerprint(
    settings: Settings, data: UniverseDataset | None = None
) -> dict[str, object]:
    """What this process's universe model trials score (see :mod:`crypto_tune.fingerprint`);
    ``data``: another fold plan of the universe (a walk-forward window's)."""
    from crypto_tune.model._oof import folds_digest

    data = prepare_universe(settings) if data is None else data
    universe = settings.universe
    return {
        "data": data.data_fingerprint,
        "features": ",".join(str(w) for w in settings.features.windows)
        + f";cs={universe.features};warmup={universe.warmup};min={universe.min_symbols}",
        "label.horizon": settings.label.horizon,
        "label.universe": universe.label,
        "folds": folds_digest(data.folds),
        "regime": settings.regime.name,
        "objective": settings.phase.objective,
        **{f"model.{k}": v for k, v in settings.model.params().items()},
        "model.lightgbm_fixed": LIGHTGBM_FIXED,
    }


_CHECKED: set[str] = set()


def run_universe_model_trial(settings: Settings) -> float:
    """Train every fold on the pooled panel (or read the cache), score the per-bar IC, log the
    trial to MLflow and return the objective."""
    from crypto_tune.study import (
        best_value,
        cached_study,
        check_fingerprint,
        running_trial,
        study_name,
    )
    from crypto_tune.tracking import code_version, log_datasets, settings_params, start_run

    start = time.perf_counter()
    name = study_name(settings)
    data = prepare_universe(settings)
    if name not in _CHECKED:
        fingerprint = universe_model_fingerprint(settings)
        check_fingerprint(settings, fingerprint, phase="model", record=True)
        _CHECKED.add(name)
    study = cached_study(settings, phase="model")
    params = {f"model.{k}": v for k, v in settings.model.params().items()}
    trial = running_trial(study, params) if study is not None else None
    number = trial.number if trial is not None else None
    tags = {
        "study": name,
        "phase": "model",
        "asset": settings.asset.name,
        "timeframe": settings.asset.timeframe,
        "data_fingerprint": data.data_fingerprint,
        "code_version": code_version(),
        "trial_number": "" if number is None else number,
        "kind": "trial",
    }
    run_name = f"trial-{number}" if number is not None else "model-run"
    with start_run(settings.tracking, name, run_name=run_name, tags=tags) as run:
        oof = universe_oof(data, settings.model, seed=settings.seed, cache_dir=settings.paths.cache)
        summary = score_universe(data, oof)
        value = MODEL_OBJECTIVES[settings.phase.objective](
            {k: _finite(summary[k]) for k in ("ic", "rank_ic", "icir")}
        )
        if run is not None:
            log_datasets(run, settings)
            run.tags({"oof_cache_key": oof.key})
            run.params(settings_params(settings))
            numbers = {k: _finite(summary[k]) for k in _KEYS}
            numbers["objective"] = value
            for i, fold in enumerate(summary["folds"]):
                for key in ("ic", "rank_ic"):
                    numbers[f"fold_{i}.{key}"] = _finite(fold[key])
                numbers[f"fold_{i}.best_iteration"] = oof.best_iterations[i]
            numbers["train_seconds"] = oof.train_seconds
            run.metrics(numbers)
            importance = oof.importance.assign(mean=oof.importance.mean(axis=1))
            run.frame(importance.sort_values("mean", ascending=False), "feature_importance.csv")
    best = best_value(study) if study is not None else None
    best = value if best is None else max(best, value)
    log.info(
        "trial %s | universe of %d, %d rows | IC %.4f rank IC %.4f (t %.1f) ICIR %.3f pooled IC "
        "%.4f | %s %.4f | best %.4f | %.1fs%s",
        "-" if number is None else number,
        len(data.panel.symbols),
        data.panel.n_rows,
        summary["ic"],
        summary["rank_ic"],
        _finite(summary["rank_ic_t"]),
        _finite(summary["icir"]),
        summary["pooled_ic"],
        settings.phase.objective,
        value,
        best,
        time.perf_counter() - start,
        " (cached)" if oof.from_cache else "",
    )
    return value


__all__ = [
    "UNIVERSE_DATA_KEYS",
    "run_universe_model_trial",
    "score_universe",
    "universe_model_fingerprint",
]
