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


def test_predictions_are_bit_identical_for_every_thread_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 24: LightGBM with deterministic=True and force_row_wise predicts the same bits with
    1 or 2 threads per fit and with folds trained side by side, so the cache key (and the study
    fingerprint) leave the thread count out: every plan is served the same cached predictions."""
    from crypto_tune.model import _lightgbm

    monkeypatch.delenv(_lightgbm.WORKERS_ENV, raising=False)
    monkeypatch.setattr(_lightgbm, "usable_cores", lambda: 4)  # folds side by side, anywhere
    settings = _settings(tmp_path)
    dataset = prepare_dataset(settings)
    base = dataclasses.replace(settings.model, num_boost_round=60, early_stopping_rounds=10)
    plans = {"1": 1, "2": 2, "auto": "auto"}
    frames, keys = {}, set()
    for name, threads in plans.items():
        clear_memos("predictions")
        model = dataclasses.replace(base, num_threads=threads)
        cache = tmp_path / f"cache-{name}"  # each plan trains
        oof = out_of_fold(dataset, model, seed=3, cache_dir=cache)
        assert not oof.from_cache
        frames[name], _ = oof.frame, keys.add(oof.key)
    assert len(keys) == 1
    for name in ("2", "auto"):
        assert frames[name].index.equals(frames["1"].index)
        assert np.array_equal(frames[name]["prediction"].to_numpy(), frames["1"]["prediction"])
    clear_memos("predictions")
    again = out_of_fold(
        dataset, dataclasses.replace(base, num_threads=2), seed=3, cache_dir=tmp_path / "cache-1"
    )
    assert again.from_cache


def test_thread_plan_shares_the_machine_between_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    from crypto_tune.model import ThreadPlan, thread_plan
    from crypto_tune.model._lightgbm import WORKERS_ENV

    monkeypatch.delenv(WORKERS_ENV, raising=False)
    assert thread_plan("auto", 5, cores=2) == ThreadPlan(2, 1)
    assert thread_plan("auto", 5, cores=16) == ThreadPlan(5, 3)
    assert thread_plan("auto", 3, cores=1) == ThreadPlan(1, 1)
    assert thread_plan(4, 5, cores=16) == ThreadPlan(1, 4)  # an explicit number wins
    monkeypatch.setenv(WORKERS_ENV, "4")
    assert thread_plan("auto", 5, cores=8) == ThreadPlan(2, 1)
    assert thread_plan("auto", 5, cores=2) == ThreadPlan(1, 1)


@pytest.mark.parametrize("threads", [1, "auto"])
def test_on_fold_sees_folds_in_order_and_a_stop_caches_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int | str
) -> None:
    from crypto_tune.model import _lightgbm

    monkeypatch.delenv(_lightgbm.WORKERS_ENV, raising=False)
    monkeypatch.setattr(_lightgbm, "usable_cores", lambda: 2)
    clear_memos("predictions")
    settings = _settings(tmp_path)
    dataset = prepare_dataset(settings)
    model = dataclasses.replace(
        settings.model, num_boost_round=30, early_stopping_rounds=5, num_threads=threads
    )
    seen: list[int] = []

    class Stop(Exception):
        pass

    def stop_after_first(fold, fitted) -> None:
        seen.append(fold.number)
        assert len(fitted.test_predictions) == len(fold.test_idx)
        raise Stop

    with pytest.raises(Stop):
        out_of_fold(
            dataset, model, seed=5, cache_dir=settings.paths.cache, on_fold=stop_after_first
        )
    assert seen == [dataset.folds[0].number]
    assert not list((Path(settings.paths.cache) / "predictions").glob("*.parquet"))
    seen.clear()
    oof = out_of_fold(
        dataset,
        model,
        seed=5,
        cache_dir=settings.paths.cache,
        on_fold=lambda fold, fitted: seen.append(fold.number),
    )
    assert seen == [f.number for f in dataset.folds] and not oof.from_cache


def test_a_stop_ends_a_fit_still_training(tmp_path: Path) -> None:
    """A pruned trial stops the folds its threads are still training (``stop`` is set when
    ``on_fold`` raises): a real LightGBM fit of a million rounds ends at its next round."""
    import threading

    from crypto_tune.model._lightgbm import FitStopped, fit_fold

    settings = _settings(tmp_path)
    dataset = prepare_dataset(settings)
    endless = dataclasses.replace(settings.model, num_boost_round=10**6, early_stopping_rounds=0)
    fold = dataset.folds[-1]
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)  # set while the fit runs, as a pruned trial does
    timer.start()
    try:
        with pytest.raises(FitStopped):
            fit_fold(dataset.features, dataset.label, fold, endless, seed=1, stop=stop)
    finally:
        timer.cancel()
    with pytest.raises(FitStopped):  # already set: the fit ends at its first round
        fit_fold(dataset.features, dataset.label, fold, endless, seed=1, stop=stop)
    from crypto_tune.model._lightgbm import _NATIVE_SETUP

    assert not _NATIVE_SETUP.locked()  # a fit that raised left LightGBM's set-up lock free


def test_fits_and_predictions_side_by_side_agree_with_one_at_a_time(tmp_path: Path) -> None:
    """Folds trained and predicted by four threads at once (their set-ups and predictions take
    turns, their rounds do not) give the same predictions as one after another."""
    from concurrent.futures import ThreadPoolExecutor

    from crypto_tune.model._lightgbm import _NATIVE_SETUP, fit_fold

    settings = _settings(tmp_path)
    dataset = prepare_dataset(settings)
    model = dataclasses.replace(settings.model, num_boost_round=40, early_stopping_rounds=5)

    def fit(fold):
        return fit_fold(dataset.features, dataset.label, fold, model, seed=2).test_predictions

    folds = list(dataset.folds) * 4
    alone = [fit(fold) for fold in folds]
    # Ten rounds: before predictions kept the fit's thread count, 11 of 300 fits differed (CI
    # failed on one); ten rounds of twelve would all agree about 1 time in 100.
    for _ in range(10):
        with ThreadPoolExecutor(4) as pool:
            together = list(pool.map(fit, folds))
        assert all(np.array_equal(a, b) for a, b in zip(alone, together, strict=True))
    assert not _NATIVE_SETUP.locked()
