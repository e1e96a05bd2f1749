"""The universe's prediction cache keys every input, and reads back what it wrote."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from universe_market import universe_candles, write_universe

from crypto_tune.cli import preflight
from crypto_tune.memo import clear_memos
from crypto_tune.universe._dataset import prepare_universe
from crypto_tune.universe._oof import universe_oof, universe_oof_key


@pytest.fixture
def settings(tmp_path: Path):
    template = write_universe(
        tmp_path / "data", universe_candles(n_symbols=4, n_bars=3000, reversal=0.1)
    )
    return preflight(
        [
            "phase=model",
            "asset=universe",
            f"asset.path='{template}'",
            "asset.symbols=[S0USDT,S1USDT,S2USDT,S3USDT]",
            "features.windows=[5,10]",
            "universe.features=none",
            "debug=fast",
            "model.num_boost_round=20",
            "tracking.enabled=false",
            f"paths.outputs={tmp_path / 'out'}",
        ]
    )


def test_the_key_names_every_input(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    data = prepare_universe(settings)
    model, seed = settings.model, settings.seed
    key = universe_oof_key(data, model, seed=seed)
    with monkeypatch.context() as patch:  # the fixed LightGBM parameters (feature_pre_filter)
        patch.setattr("crypto_tune.universe._oof.LIGHTGBM_FIXED", -1)
        assert universe_oof_key(data, model, seed=seed) != key
    changed = [
        dataclasses.replace(data, data_fingerprint="other"),
        dataclasses.replace(data, feature_key="other"),
        dataclasses.replace(data, label_key="other"),
        dataclasses.replace(data, folds=data.folds[:-1]),
    ]
    keys = {universe_oof_key(d, model, seed=seed) for d in changed}
    keys.add(universe_oof_key(data, dataclasses.replace(model, num_leaves=7), seed=seed))
    keys.add(universe_oof_key(data, model, seed=seed + 1))
    assert key not in keys and len(keys) == 6
    ranked = dataclasses.replace(
        settings, universe=dataclasses.replace(settings.universe, label="demean")
    )
    assert prepare_universe(ranked).label_key != data.label_key


def test_predictions_are_cached_and_purged_by_time(settings) -> None:
    data = prepare_universe(settings)
    first = universe_oof(data, settings.model, seed=settings.seed, cache_dir=settings.paths.cache)
    assert not first.from_cache
    for fold in data.folds:  # test rows are the fold's test bars, for every symbol at once
        rows = first.fold == fold.number
        assert set(data.panel.bar[rows]) <= set(fold.test_idx.tolist())
        assert fold.train_idx.max() + fold.purge < fold.test_idx.min()
    clear_memos()
    again = universe_oof(
        prepare_universe(settings),
        settings.model,
        seed=settings.seed,
        cache_dir=settings.paths.cache,
    )
    assert again.from_cache and again.key == first.key
    np.testing.assert_array_equal(again.prediction, first.prediction)
    assert again.best_iterations == first.best_iterations


def test_folds_side_by_side_predict_the_same(settings, tmp_path: Path) -> None:
    data = prepare_universe(settings)
    one = dataclasses.replace(settings.model, num_threads=1)
    auto = dataclasses.replace(settings.model, num_threads="auto")
    clear_memos("universe_predictions")
    a = universe_oof(data, one, seed=settings.seed, cache_dir=tmp_path / "a")
    clear_memos("universe_predictions")
    b = universe_oof(data, auto, seed=settings.seed, cache_dir=tmp_path / "b")
    assert not a.from_cache and not b.from_cache and a.key == b.key
    np.testing.assert_array_equal(a.prediction, b.prediction)
    np.testing.assert_array_equal(a.fold, b.fold)
    assert a.best_iterations == b.best_iterations  # in fold order, whatever order they trained
    assert a.importance.equals(b.importance)
