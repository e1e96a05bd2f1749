"""Out-of-fold predictions of a model over all folds, cached on disk.

The cache key is (data fingerprint, feature config, folds, model params, seed), so Phase 2 reuses
exactly the predictions Phase 1 scored and never trains inside a strategy trial.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crypto_tune.config import ModelSettings
from crypto_tune.dataset import Dataset, write_atomic_parquet
from crypto_tune.model._lightgbm import fit_fold

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutOfFold:
    """Predictions on every fold's test bars: ``frame`` has columns prediction, fold."""

    frame: pd.DataFrame
    best_iterations: tuple[int, ...]
    importance: pd.DataFrame  # feature x fold gain importance
    key: str
    from_cache: bool
    train_seconds: float

    def fold_slice(self, fold: int) -> pd.Series:
        rows = self.frame["fold"].to_numpy() == fold
        return self.frame["prediction"][rows]


def oof_key(dataset: Dataset, model: ModelSettings, *, seed: int) -> str:
    folds = [
        [
            int(f.train_idx[0]),
            int(f.train_idx[-1]),
            len(f.train_idx),
            int(f.valid_idx[0]),
            int(f.valid_idx[-1]),
            int(f.test_idx[0]),
            int(f.test_idx[-1]),
            f.purge,
        ]
        for f in dataset.folds
    ]
    payload = {
        "data": dataset.data_fingerprint,
        "features": dataset.feature_key,
        "label": dataset.label.name,
        "folds": folds,
        "model": model.params(),
        "seed": seed,
        "version": 1,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


_MEMORY: dict[str, OutOfFold] = {}


def out_of_fold(
    dataset: Dataset, model: ModelSettings, *, seed: int, cache_dir: str | Path
) -> OutOfFold:
    """Train once per fold (or read the cache) and return the out-of-fold predictions."""
    key = oof_key(dataset, model, seed=seed)
    if key in _MEMORY:
        return _MEMORY[key]
    base = Path(cache_dir) / "predictions"
    pred_path, meta_path = base / f"{key}.parquet", base / f"{key}.importance.parquet"
    if pred_path.exists() and meta_path.exists():
        frame = pd.read_parquet(pred_path)
        importance = pd.read_parquet(meta_path)
        best = tuple(int(v) for v in importance.attrs.get("best_iterations", []))
        if not best:
            best = tuple(int(v) for v in importance.loc["__best_iteration__"].to_numpy())
            importance = importance.drop(index="__best_iteration__")
        result = OutOfFold(frame, best, importance, key, True, 0.0)
        _MEMORY[key] = result
        return result
    start = time.perf_counter()
    parts, best_iterations, importances = [], [], {}
    for fold in dataset.folds:
        fitted = fit_fold(dataset.features, dataset.label, fold, model, seed=seed)
        parts.append(
            pd.DataFrame(
                {"prediction": fitted.test_predictions, "fold": fold.number},
                index=dataset.candles.index[fitted.test_positions],
            )
        )
        best_iterations.append(fitted.best_iteration)
        importances[f"fold_{fold.number}"] = fitted.booster.feature_importance("gain")
    seconds = time.perf_counter() - start
    frame = pd.concat(parts)
    importance = pd.DataFrame(importances, index=list(dataset.features.columns))
    stored = pd.concat(
        [
            importance,
            pd.DataFrame(
                [best_iterations], columns=importance.columns, index=["__best_iteration__"]
            ),
        ]
    )
    write_atomic_parquet(frame, pred_path)
    write_atomic_parquet(stored, meta_path)
    result = OutOfFold(frame, tuple(best_iterations), importance, key, False, seconds)
    _MEMORY[key] = result
    return result


def fold_arrays(
    dataset: Dataset, oof: OutOfFold, fold_number: int
) -> tuple[np.ndarray, np.ndarray]:
    """(predictions, labels) of one fold's test bars."""
    preds = oof.fold_slice(fold_number)
    labels = dataset.label.reindex(preds.index).to_numpy()
    return preds.to_numpy(), labels


__all__ = ["OutOfFold", "fold_arrays", "oof_key", "out_of_fold"]
