"""A fold's binned LightGBM datasets are built once and reused by the next trials
(crypto_tune/model/_lightgbm.py): the same predictions as datasets built afresh, whatever the
trial's parameters; a new key for every input they depend on (the data, the rows, the seed)."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from crypto_tune.cli import preflight
from crypto_tune.dataset import prepare_dataset
from crypto_tune.memo import clear_memos
from crypto_tune.model._lightgbm import _DATASETS, fit_booster, predict


@pytest.fixture
def data(tmp_path: Path):
    clear_memos("lightgbm_datasets")
    settings = preflight(
        ["phase=model", "debug=fast", f"paths.outputs={tmp_path}", "tracking.enabled=false"]
    )
    assert settings is not None
    dataset = prepare_dataset(settings)
    x = dataset.features.to_numpy(dtype=np.float32)
    y = dataset.label.to_numpy(dtype=np.float64)
    model = dataclasses.replace(settings.model, num_boost_round=60, early_stopping_rounds=5)
    yield dataset, x, y, model
    clear_memos("lightgbm_datasets")


def _predict(x, y, fold, model, *, seed: int = 1, data_key: str | None = None) -> np.ndarray:
    booster, best = fit_booster(
        x, y, fold.train_idx, fold.valid_idx, model, seed=seed, data_key=data_key
    )
    # the project's predict: a bare booster.predict beside another thread's fit set-up can crash
    # LightGBM and resets the thread count that fit boosts with (crypto_tune/model/_lightgbm.py)
    return predict(booster, x[fold.test_idx], num_iteration=best)


def test_reused_datasets_predict_as_fresh_ones_whatever_the_trial(data) -> None:
    """Trials of other parameters (min_data_in_leaf too, which LightGBM's default pre-filter
    would bin by) on the kept datasets predict exactly what fresh datasets give."""
    dataset, x, y, model = data
    fold = dataset.folds[-1]
    trials = [
        {},
        {"min_data_in_leaf": 20, "num_leaves": 7},
        {"min_data_in_leaf": 450, "learning_rate": 0.2, "feature_fraction": 0.4},
        {"bagging_fraction": 0.5, "lambda_l1": 1.0},
    ]
    for changes in trials:
        trial = dataclasses.replace(model, **changes)
        kept = _predict(x, y, fold, trial, data_key="d1")
        fresh = _predict(x, y, fold, trial)
        np.testing.assert_array_equal(kept, fresh)
    assert len(_DATASETS) == 1  # one fold's datasets, built by the first trial


def test_every_input_of_the_datasets_gives_other_datasets(
    data, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset, x, y, model = data
    monkeypatch.setattr("crypto_tune.model._lightgbm._DATA_KEYS_KEPT", 2)
    first, second = dataset.folds[0], dataset.folds[1]
    _predict(x, y, first, model, data_key="d1")
    (key,) = _DATASETS
    _predict(x, y, first, model, data_key="d1")
    assert list(_DATASETS) == [key]  # reused
    _predict(x, y, second, model, data_key="d1")  # other rows
    _predict(x, y, first, model, seed=2, data_key="d1")  # another seed: another binning sample
    shorter = dataclasses.replace(first, valid_idx=first.valid_idx[:-10])
    _predict(x, y, shorter, model, data_key="d1")  # other validation rows
    no_valid = dataclasses.replace(model, early_stopping_rounds=0)
    _predict(x, y, first, no_valid, data_key="d1")  # no validation set
    assert len(_DATASETS) == 5
    # other data (new candles, features or label): its own datasets, the same predictions
    changed = y.copy()
    changed[first.train_idx[:50]] *= -1
    fresh = _predict(x, changed, first, model)
    np.testing.assert_array_equal(_predict(x, changed, first, model, data_key="d2"), fresh)
    assert sorted({k[0] for k in _DATASETS}) == ["d1", "d2"]  # a basket's members: both kept
    _predict(x, y, first, model, data_key="d1")  # d1 used last: d2 is the oldest
    _predict(x, y, first, model, data_key="d3")  # beyond the two data sets kept
    assert sorted({k[0] for k in _DATASETS}) == ["d1", "d3"]


def test_fits_of_the_same_fold_at_once_each_get_datasets(data) -> None:
    """Two fits on the same rows at the same time: one trains on the kept datasets, the other
    builds its own; both predict what one fit alone does."""
    dataset, x, y, model = data
    fold = dataset.folds[-1]
    alone = _predict(x, y, fold, model)
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda _: _predict(x, y, fold, model, data_key="d1"), range(8)))
    for predictions in together:
        np.testing.assert_array_equal(predictions, alone)
    assert len(_DATASETS) == 1 and not next(iter(_DATASETS.values())).busy.locked()
