"""LightGBM fit and predict per fold, with early stopping on the fold's validation slice.

A refit (the best run's model on the whole tuning period, or a walk-forward retrain through the
holdout) does NOT early-stop on a short tail of its own: it trains on every bar before its test
block (train, purge and validation slice, whose labels end a purge before the test bars) for a
fixed number of rounds, :func:`refit_rounds` of the folds' best iterations (their median).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from crypto_tune.config import ModelSettings
from crypto_tune.splits import Fold

log = logging.getLogger(__name__)


def lightgbm_params(model: ModelSettings, *, seed: int) -> dict:
    """LightGBM's parameter dict for a regression on the forward return."""
    return {
        "objective": "regression",
        "learning_rate": model.learning_rate,
        "num_leaves": model.num_leaves,
        "max_depth": model.max_depth,
        "min_data_in_leaf": model.min_data_in_leaf,
        "feature_fraction": model.feature_fraction,
        "bagging_fraction": model.bagging_fraction,
        "bagging_freq": model.bagging_freq,
        "lambda_l1": model.lambda_l1,
        "lambda_l2": model.lambda_l2,
        "num_threads": model.num_threads,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }


@dataclass(frozen=True)
class FittedFold:
    """A model trained on one fold: predictions on its test bars and what it learned."""

    booster: lgb.Booster
    best_iteration: int
    test_positions: np.ndarray
    test_predictions: np.ndarray


def _finite_rows(label: np.ndarray, positions: np.ndarray) -> np.ndarray:
    return positions[np.isfinite(label[positions])]


def fit_booster(
    features: np.ndarray,
    label: np.ndarray,
    train_idx: np.ndarray,
    valid_idx: np.ndarray,
    model: ModelSettings,
    *,
    seed: int,
) -> tuple[lgb.Booster, int]:
    """Train on ``train_idx``; early-stop on ``valid_idx`` (rows with a finite label only)."""
    train_idx = _finite_rows(label, train_idx)
    valid_idx = _finite_rows(label, valid_idx)
    params = lightgbm_params(model, seed=seed)
    train_set = lgb.Dataset(features[train_idx], label[train_idx], free_raw_data=False)
    callbacks: list[Callable[..., Any]] = []
    valid_sets = []
    if model.early_stopping_rounds > 0 and len(valid_idx):
        valid_sets = [lgb.Dataset(features[valid_idx], label[valid_idx], reference=train_set)]
        callbacks.append(lgb.early_stopping(model.early_stopping_rounds, verbose=False))
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=model.num_boost_round,
        valid_sets=valid_sets,
        callbacks=callbacks,
    )
    best = booster.best_iteration or booster.current_iteration()
    return booster, int(best)


def fit_fold(
    features: pd.DataFrame, label: pd.Series, fold: Fold, model: ModelSettings, *, seed: int
) -> FittedFold:
    """Train one fold and predict its test bars (all of them, label or not)."""
    x = features.to_numpy(dtype=np.float32, copy=False)
    y = label.to_numpy(dtype=np.float64)
    booster, best = fit_booster(x, y, fold.train_idx, fold.valid_idx, model, seed=seed)
    predictions = booster.predict(x[fold.test_idx], num_iteration=best)
    return FittedFold(booster, best, np.asarray(fold.test_idx), np.asarray(predictions))


def refit_rounds(best_iterations: tuple[int, ...] | list[int]) -> int:
    """Boosting rounds of a refit: the median of the folds' best iterations (at least 1).

    The folds chose their rounds by early stopping on validation slices the refit no longer has;
    their median is robust to one fold that stopped at iteration 2 or ran to the cap.
    """
    if not len(best_iterations):
        raise ValueError("refit_rounds needs the best iteration of at least one fold")
    return max(1, round(float(np.median(np.asarray(best_iterations, dtype=float)))))


def fit_refit(
    features: pd.DataFrame,
    label: pd.Series,
    fold: Fold,
    model: ModelSettings,
    *,
    seed: int,
    num_rounds: int,
) -> FittedFold:
    """Train on every bar from the fold's first train bar to its last validation bar (finite
    labels only) for ``num_rounds`` rounds, no early stopping; predict the test bars."""
    x = features.to_numpy(dtype=np.float32, copy=False)
    y = label.to_numpy(dtype=np.float64)
    start = int(min(fold.train_idx.min(), fold.valid_idx.min()))
    stop = int(max(fold.train_idx.max(), fold.valid_idx.max()))
    rows = _finite_rows(y, np.arange(start, stop + 1))
    params = lightgbm_params(model, seed=seed)
    booster = lgb.train(
        params, lgb.Dataset(x[rows], y[rows], free_raw_data=False), num_boost_round=num_rounds
    )
    predictions = booster.predict(x[fold.test_idx])
    return FittedFold(booster, int(num_rounds), np.asarray(fold.test_idx), np.asarray(predictions))
