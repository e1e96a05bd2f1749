"""Out-of-fold predictions of a model over all folds, cached on disk.

The cache key (:func:`oof_key`) names every input the predictions depend on: the candles, the
feature definition, the label's content (so its horizon), the folds' positions, the model's
settings and the seed. Phase 2 reuses exactly the predictions Phase 1 scored and never trains
inside a strategy trial.

Folds are trained side by side as ``model.num_threads`` plans (:func:`thread_plan`): each of
``fold_jobs`` threads takes the next fold in fold order as soon as it is free (no thread waits
for a slower fold), and the folds are handed to ``on_fold`` in fold order as they are done: a
Phase 1 trial scores each fold there and may stop (a pruned trial raises from ``on_fold``); the
folds still training then stop at their next boosting round, no other starts, and nothing is
cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crypto_tune.config import LIGHTGBM_FIXED, ModelSettings
from crypto_tune.dataset import Dataset, read_checked_parquet, write_atomic_parquet
from crypto_tune.memo import memo
from crypto_tune.model._lightgbm import FittedFold, fit_fold, thread_plan
from crypto_tune.splits import Fold

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


def folds_digest(folds: tuple[Fold, ...] | list[Fold]) -> str:
    """A hash of every fold's train, validation and test positions and its purge."""
    digest = hashlib.sha256()
    for fold in folds:
        digest.update(f"{fold.number}:{fold.purge}:".encode())
        for positions in (fold.train_idx, fold.valid_idx, fold.test_idx):
            digest.update(len(positions).to_bytes(8, "little"))
            digest.update(np.ascontiguousarray(positions, dtype=np.int64).tobytes())
    return digest.hexdigest()[:20]


def oof_key(dataset: Dataset, model: ModelSettings, *, seed: int) -> str:
    """The cache key of the out-of-fold predictions: every input they depend on.

    The candles (``data``), the feature definition (``features``), the label's content
    (``label``: its definition, horizon and values), every fold's positions (``folds``), the
    model's settings, the version of the LightGBM parameters set besides them
    (:data:`~crypto_tune.config.LIGHTGBM_FIXED`) and the seed. Changing any one gives another
    key. The thread count is not an input (predictions are bit-identical for every count): the
    key holds ``num_threads: 1`` whatever it is, as every earlier cache's key did.
    """
    payload = {
        "data": dataset.data_fingerprint,
        "features": dataset.feature_key,
        "label": dataset.label_key,
        "folds": folds_digest(dataset.folds),
        "model": {"name": model.name, **model.params(), "num_threads": 1},
        "seed": seed,
        "lightgbm": LIGHTGBM_FIXED,
        "version": 2,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


class _LRU(OrderedDict[str, OutOfFold]):
    """The few most recently used out-of-fold results (a Phase 1 sweep trains a new model per
    trial: keeping them all would grow with the sweep; Phase 2 reuses one)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get_recent(self, key: str) -> OutOfFold | None:
        if key not in self:
            return None
        self.move_to_end(key)
        return self[key]

    def put(self, key: str, value: OutOfFold) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


MEMORY_SIZE = 4
_MEMORY = memo("predictions", _LRU(MEMORY_SIZE))


def _read_cache(pred_path: Path, meta_path: Path, key: str) -> OutOfFold | None:
    """The cached result, or None when a file is missing, damaged, or the two files come from
    different writes (each write stamps both with one token)."""
    pred = read_checked_parquet(pred_path)
    meta = read_checked_parquet(meta_path) if pred is not None else None
    if pred is None or meta is None:
        return None
    (frame, pred_meta), (stored, meta_meta) = pred, meta
    if pred_meta.get("write") != meta_meta.get("write"):
        log.warning("prediction cache %s: files from two different writes; rebuilding", key)
        return None
    best = tuple(int(v) for v in stored.loc["__best_iteration__"].to_numpy())
    importance = stored.drop(index="__best_iteration__")
    return OutOfFold(frame, best, importance, key, True, 0.0)


FoldHook = Callable[[Fold, FittedFold], None]


def _fit_folds(
    dataset: Dataset, model: ModelSettings, *, seed: int, on_fold: FoldHook | None
) -> list[FittedFold]:
    """Every fold trained as :func:`thread_plan` says, handed to ``on_fold`` in fold order."""
    plan = thread_plan(model.num_threads, len(dataset.folds))
    # set when on_fold raises: the fits still running beside it end (none run beside one another
    # when the folds train one after another)
    stop = threading.Event() if plan.fold_jobs > 1 else None
    # the next trial reuses each fold's binned datasets (same candles, features and label)
    data_key = f"{dataset.data_fingerprint}:{dataset.feature_key}:{dataset.label_key}"

    def fit(fold: Fold) -> FittedFold:
        return fit_fold(
            dataset.features,
            dataset.label,
            fold,
            model,
            seed=seed,
            threads=plan.lightgbm_threads,
            stop=stop,
            data_key=data_key,
        )

    fitted: list[FittedFold] = []
    if plan.fold_jobs == 1:
        for fold in dataset.folds:
            fitted.append(fit(fold))
            if on_fold is not None:
                on_fold(fold, fitted[-1])
        return fitted
    # LightGBM releases the GIL while it trains: threads train folds side by side, each taking
    # the next fold as it frees up (the executor's queue is in fold order). A pruned trial
    # (on_fold raises) stops the fits still running at their next round and starts no other.
    with ThreadPoolExecutor(plan.fold_jobs, thread_name_prefix="crypto-tune-fold") as pool:
        futures: list[Future[FittedFold]] = [pool.submit(fit, fold) for fold in dataset.folds]
        try:
            for fold, future in zip(dataset.folds, futures, strict=True):
                fitted.append(future.result())
                if on_fold is not None:
                    on_fold(fold, fitted[-1])
        except BaseException:
            assert stop is not None
            stop.set()
            for future in futures:
                future.cancel()
            raise
    return fitted


def out_of_fold(
    dataset: Dataset,
    model: ModelSettings,
    *,
    seed: int,
    cache_dir: str | Path,
    on_fold: FoldHook | None = None,
) -> OutOfFold:
    """Train once per fold (or read the cache) and return the out-of-fold predictions.

    ``on_fold(fold, fitted)`` is called for each fold in fold order as it is trained (not when
    the predictions come from the cache); an exception it raises stops the training, uncached.
    """
    key = oof_key(dataset, model, seed=seed)
    recent = _MEMORY.get_recent(key)
    if recent is not None:
        return recent
    base = Path(cache_dir) / "predictions"
    pred_path, meta_path = base / f"{key}.parquet", base / f"{key}.importance.parquet"
    cached = _read_cache(pred_path, meta_path, key)
    if cached is not None:
        _MEMORY.put(key, cached)
        return cached
    start = time.perf_counter()
    parts, best_iterations, importances = [], [], {}
    trained = _fit_folds(dataset, model, seed=seed, on_fold=on_fold)
    for fold, fitted in zip(dataset.folds, trained, strict=True):
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
    token = {"write": uuid.uuid4().hex}  # pairs the two files of one write
    write_atomic_parquet(frame, pred_path, token)
    write_atomic_parquet(stored, meta_path, token)
    result = OutOfFold(frame, tuple(best_iterations), importance, key, False, seconds)
    _MEMORY.put(key, result)
    return result


def fold_arrays(
    dataset: Dataset, oof: OutOfFold, fold_number: int
) -> tuple[np.ndarray, np.ndarray]:
    """(predictions, labels) of one fold's test bars."""
    preds = oof.fold_slice(fold_number)
    labels = dataset.label.reindex(preds.index).to_numpy()
    return preds.to_numpy(), labels


__all__ = ["OutOfFold", "fold_arrays", "folds_digest", "oof_key", "out_of_fold"]
