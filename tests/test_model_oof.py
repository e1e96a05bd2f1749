"""The prediction cache's key names every input the predictions depend on."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from crypto_tune.cli import preflight
from crypto_tune.dataset import prepare_dataset
from crypto_tune.memo import clear_memos
from crypto_tune.model import oof_key, out_of_fold


def _settings(outputs: Path, *overrides: str):
    settings = preflight(
        [
            "phase=model",
            "debug=fast",
            f"paths.outputs={outputs}",
            "tracking.enabled=false",
            *overrides,
        ]
    )
    assert settings is not None
    return settings


def test_label_horizons_never_share_predictions_on_the_same_folds(tmp_path: Path) -> None:
    """Regression: with the purge set by hand, horizons 1 and 6 have the same folds; the cache
    used to key on the label's name only and served the h1 model to the h6 study."""
    clear_memos()
    h1 = _settings(tmp_path, "label.horizon=1", "split.purge=6")
    h6 = _settings(tmp_path, "label.horizon=6", "split.purge=6")
    d1, d6 = prepare_dataset(h1), prepare_dataset(h6)
    assert d1.folds == d6.folds  # the folds alone cannot tell the horizons apart
    model = dataclasses.replace(h1.model, num_boost_round=30, early_stopping_rounds=5)
    first = out_of_fold(d1, model, seed=1, cache_dir=h1.paths.cache)
    second = out_of_fold(d6, model, seed=1, cache_dir=h6.paths.cache)
    assert first.key != second.key
    assert not second.from_cache
    assert not np.allclose(first.frame["prediction"], second.frame["prediction"])
    clear_memos("predictions")
    assert out_of_fold(d6, model, seed=1, cache_dir=h6.paths.cache).from_cache


def test_every_input_changes_the_key(tmp_path: Path) -> None:
    clear_memos()
    settings = _settings(tmp_path)
    dataset = prepare_dataset(settings)
    model = settings.model
    base = oof_key(dataset, model, seed=1)
    fold = dataset.folds[0]
    shorter = dataclasses.replace(fold, train_idx=fold.train_idx[1:])
    changed = {
        "data": dataclasses.replace(dataset, data_fingerprint="other"),
        "features": dataclasses.replace(dataset, feature_key="other"),
        "label": dataclasses.replace(dataset, label=dataset.label * 1.0001),
        "folds": dataclasses.replace(dataset, folds=(shorter, *dataset.folds[1:])),
    }
    keys = {name: oof_key(d, model, seed=1) for name, d in changed.items()}
    keys["model"] = oof_key(dataset, dataclasses.replace(model, num_leaves=7), seed=1)
    keys["seed"] = oof_key(dataset, model, seed=2)
    assert base not in keys.values(), keys
    assert len(set(keys.values())) == len(keys)
    assert oof_key(dataset, model, seed=1) == base  # and it is deterministic


@pytest.mark.parametrize("horizon", [1, 6])
def test_phase2_fingerprint_names_the_horizons_predictions(tmp_path: Path, horizon: int) -> None:
    """The Phase 2 study records the predictions' key, so a study of one horizon refuses the
    predictions of another."""
    from crypto_tune.fingerprint import study_fingerprint

    clear_memos()
    settings = _settings(tmp_path, f"label.horizon={horizon}", "split.purge=6")
    dataset = prepare_dataset(settings)
    key = oof_key(dataset, settings.model, seed=settings.seed)
    other = _settings(tmp_path, f"label.horizon={7 - horizon}", "split.purge=6")
    other_key = oof_key(prepare_dataset(other), other.model, seed=other.seed)
    printed = study_fingerprint(settings, [dataset], phase="strategy", predictions=key)
    assert printed["predictions"] == key != other_key
