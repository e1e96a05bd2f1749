"""The study fingerprint: what a study measures, and which differences refuse a mix."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from crypto_tune.cli import preflight
from crypto_tune.dataset import prepare_dataset
from crypto_tune.fingerprint import DATA_KEYS, differences, study_fingerprint


def test_differences_skip_tuned_parameters() -> None:
    recorded = {"data": "a", "model.num_leaves": 8, "objective": "ic"}
    current = {"data": "b", "model.num_leaves": 16, "objective": "ic"}
    assert differences(recorded, current, tuned={"model.num_leaves"}) == ["data a -> b"]
    assert differences(recorded, recorded) == []
    assert differences({"a": 1}, {}) == ["a 1 -> (absent)"]


def test_fingerprint_covers_data_folds_label_objective(tmp_path: Path) -> None:
    settings = preflight(["phase=inspect", "debug=fast", f"paths.outputs={tmp_path}"])
    assert settings is not None
    dataset = prepare_dataset(settings)
    model = study_fingerprint(settings, [dataset], phase="model")
    assert set(DATA_KEYS) <= set(model) and model["objective"] == "ic"
    assert model["model.num_leaves"] == settings.model.num_leaves
    strategy = study_fingerprint(settings, [dataset], phase="strategy", predictions="k1")
    assert strategy["predictions"] == "k1" and "strategy.fee" in strategy
    assert "model.num_leaves" not in strategy  # the predictions key stands for the model

    horizon = dataclasses.replace(settings, label=dataclasses.replace(settings.label, horizon=4))
    other = study_fingerprint(horizon, [prepare_dataset(horizon)], phase="model")
    assert any(d.startswith("label.horizon 1 -> 4") for d in differences(model, other))

    walk = preflight(
        [
            "phase=inspect",
            "debug=fast",
            f"paths.outputs={tmp_path}",
            "split=walk_forward",
            "split.train_months=4",
        ]
    )
    assert walk is not None
    folds = study_fingerprint(walk, [prepare_dataset(walk)], phase="model")
    assert any(d.startswith("folds ") for d in differences(model, folds))


def test_the_thread_count_is_no_input(tmp_path: Path) -> None:
    """Issue 24: predictions are bit-identical for every thread count (tests/test_model_oof.py):
    a study recorded with ``model.num_threads: 1`` (older versions) takes workers on ``auto``."""
    settings = preflight(["phase=inspect", "debug=fast", f"paths.outputs={tmp_path}"])
    assert settings is not None
    current = study_fingerprint(settings, [prepare_dataset(settings)], phase="model")
    assert "model.num_threads" not in current
    assert differences({**current, "model.num_threads": 1}, current) == []


def test_the_fixed_lightgbm_parameters_are_an_input(tmp_path: Path, monkeypatch) -> None:
    """A Phase 1 study recorded before the fixed LightGBM parameters changed (no
    ``model.lightgbm_fixed``: feature_pre_filter on) is refused, not resumed with other models;
    the prediction caches' keys change with them too."""
    from crypto_tune.config import LIGHTGBM_FIXED
    from crypto_tune.model import oof_key

    settings = preflight(["phase=inspect", "debug=fast", f"paths.outputs={tmp_path}"])
    assert settings is not None
    dataset = prepare_dataset(settings)
    current = study_fingerprint(settings, [dataset], phase="model")
    older = {k: v for k, v in current.items() if k != "model.lightgbm_fixed"}
    assert differences(older, current) == [f"model.lightgbm_fixed (absent) -> {LIGHTGBM_FIXED}"]
    key = oof_key(dataset, settings.model, seed=1)
    monkeypatch.setattr("crypto_tune.model._oof.LIGHTGBM_FIXED", LIGHTGBM_FIXED + 1)
    assert oof_key(dataset, settings.model, seed=1) != key
