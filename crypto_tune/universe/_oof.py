"""Out-of-fold predictions of one LightGBM over a universe's pooled panel, cached on disk.

Each fold trains on the panel rows of its train bars (every symbol pooled), early-stops on its
validation bars and predicts its test bars; the folds are cut in time on the universe's calendar,
so a purge or embargo removes a bar for every symbol at once. The cache key
(:func:`universe_oof_key`) names every input the predictions depend on: the candles of every
symbol, the panel's feature definition, the label's content (values and rows), every fold's
positions, the model's settings and the seed. Phase 2 trades exactly the predictions Phase 1
scored.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crypto_tune.config import LIGHTGBM_FIXED, ModelSettings
from crypto_tune.dataset import read_checked_parquet, write_atomic_parquet
from crypto_tune.memo import memo
from crypto_tune.model import fit_booster, predict, thread_plan
from crypto_tune.model._oof import folds_digest
from crypto_tune.splits import Fold
from crypto_tune.universe._dataset import UniverseDataset


@dataclass(frozen=True)
class UniverseOOF:
    """Per panel row: the out-of-fold ``prediction`` (NaN outside every test block) and its
    ``fold`` (-1 outside); per fold its best iteration; the features' gain importance."""

    prediction: np.ndarray
    fold: np.ndarray
    best_iterations: tuple[int, ...]
    importance: pd.DataFrame
    key: str
    from_cache: bool
    train_seconds: float


def universe_oof_key(data: UniverseDataset, model: ModelSettings, *, seed: int) -> str:
    """The cache key: candles, features, label, folds, model settings and seed."""
    payload = {
        "kind": "universe",
        "data": data.data_fingerprint,
        "features": data.feature_key,
        "label": data.label_key,
        "folds": folds_digest(data.folds),
        "model": {"name": model.name, **model.params()},
        "seed": seed,
        "lightgbm": LIGHTGBM_FIXED,
        "version": 1,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


_MEMORY: OrderedDict[str, UniverseOOF] = memo("universe_predictions", OrderedDict())
_MEMORY_SIZE = 3


def _remember(key: str, value: UniverseOOF) -> UniverseOOF:
    _MEMORY[key] = value
    _MEMORY.move_to_end(key)
    while len(_MEMORY) > _MEMORY_SIZE:
        _MEMORY.popitem(last=False)
    return value


def _read(pred_path: Path, meta_path: Path, key: str) -> UniverseOOF | None:
    pred = read_checked_parquet(pred_path)
    meta = read_checked_parquet(meta_path) if pred is not None else None
    if pred is None or meta is None or pred[1].get("write") != meta[1].get("write"):
        return None
    frame, stored = pred[0], meta[0]
    best = tuple(int(v) for v in stored.loc["__best_iteration__"].to_numpy())
    importance = stored.drop(index="__best_iteration__")
    return UniverseOOF(
        frame["prediction"].to_numpy(), frame["fold"].to_numpy(), best, importance, key, True, 0.0
    )


def universe_oof(
    data: UniverseDataset, model: ModelSettings, *, seed: int, cache_dir: str | Path
) -> UniverseOOF:
    """Train once per fold on the pooled panel (or read the cache); predict every test row."""
    key = universe_oof_key(data, model, seed=seed)
    if key in _MEMORY:
        _MEMORY.move_to_end(key)
        return _MEMORY[key]
    base = Path(cache_dir) / "predictions"
    pred_path, meta_path = base / f"universe-{key}.parquet", base / f"universe-{key}.meta.parquet"
    cached = _read(pred_path, meta_path, key)
    if cached is not None and cached.prediction.size == data.panel.n_rows:
        return _remember(key, cached)
    panel = data.panel
    start = time.perf_counter()
    prediction = np.full(panel.n_rows, np.nan)
    fold_of = np.full(panel.n_rows, -1, dtype=np.int64)
    best_iterations: list[int] = []
    importances: dict[str, np.ndarray] = {}
    plan = thread_plan(model.num_threads, len(data.folds))
    # the next trial reuses each fold's binned datasets (same panel, features and label)
    data_key = f"universe:{data.data_fingerprint}:{data.feature_key}:{data.label_key}"

    def train(fold: Fold) -> tuple[Any, int, np.ndarray, np.ndarray]:
        train_rows, valid_rows = data.rows(fold.train_idx), data.rows(fold.valid_idx)
        booster, best = fit_booster(
            panel.features,
            panel.label,
            train_rows,
            valid_rows,
            model,
            seed=seed,
            threads=plan.lightgbm_threads,
            data_key=data_key,
        )
        test = data.rows(fold.test_idx)
        predicted = predict(booster, panel.features[test], num_iteration=best)
        return booster, best, test, predicted

    # Folds side by side as model.num_threads plans, the longest (most train rows) first so
    # that the last to finish is a short one (an expanding window's last fold is the longest;
    # in fold order it ran alone at the end). Deterministic: the same predictions in any order.
    longest_first = sorted(data.folds, key=lambda f: len(f.train_idx), reverse=True)
    with ThreadPoolExecutor(plan.fold_jobs, thread_name_prefix="crypto-tune-universe") as pool:
        futures = {fold.number: pool.submit(train, fold) for fold in longest_first}
        for fold in data.folds:
            booster, best, test, predicted = futures[fold.number].result()
            prediction[test] = predicted
            fold_of[test] = fold.number
            best_iterations.append(best)
            importances[f"fold_{fold.number}"] = booster.feature_importance("gain")
    seconds = time.perf_counter() - start
    importance = pd.DataFrame(importances, index=list(panel.feature_names))
    stored = pd.concat(
        [
            importance,
            pd.DataFrame(
                [best_iterations], columns=importance.columns, index=["__best_iteration__"]
            ),
        ]
    )
    token = {"write": uuid.uuid4().hex}
    write_atomic_parquet(
        pd.DataFrame({"prediction": prediction, "fold": fold_of}), pred_path, token
    )
    write_atomic_parquet(stored, meta_path, token)
    result = UniverseOOF(
        prediction, fold_of, tuple(best_iterations), importance, key, False, seconds
    )
    return _remember(key, result)


__all__ = ["UniverseOOF", "universe_oof", "universe_oof_key"]
