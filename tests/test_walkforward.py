"""Walk-forward optimisation, fast tests: window arithmetic, stitching, search spaces, and the
proof by truncation that no window's tuning sees a bar of its own test period."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from crypto_tune.cli import settings_from_config
from crypto_tune.config import Settings, config_dir, register_resolvers
from crypto_tune.dataset import Dataset
from crypto_tune.exceptions import ConfigError, DataError, InvalidTrialError
from crypto_tune.features import compute_features, forward_return
from crypto_tune.regimes import volatility_regime
from crypto_tune.walkforward import (
    efficiency,
    stitch,
    tuning_folds,
    walkforward_windows,
    window_labels,
)


def _index(start: str = "2021-01-01", end: str = "2022-12-31 20:00", freq: str = "4h"):
    return pd.date_range(start, end, freq=freq, tz="UTC")


def _windows(index: pd.DatetimeIndex, **overrides):
    kwargs = dict(
        start="2021-01-01",
        end="2022-12-31",
        train_months=6,
        test_months=3,
        expanding=False,
        purge=1,
        valid_fraction=0.15,
        n_folds=3,
        min_train_fraction=0.3,
    )
    return walkforward_windows(index, **(kwargs | overrides))


@pytest.mark.parametrize("expanding", [False, True])
@pytest.mark.parametrize("purge", [1, 5])
def test_window_arithmetic(expanding: bool, purge: int) -> None:
    index = _index()
    windows = _windows(index, expanding=expanding, purge=purge)
    starts = [index[w.test[0]] for w in windows]
    assert starts == [
        pd.Timestamp(d, tz="UTC")
        for d in (
            "2021-07-01",
            "2021-10-01",
            "2022-01-01",
            "2022-04-01",
            "2022-07-01",
            "2022-10-01",
        )
    ]
    assert index[windows[-1].test[1]] == index[-1]  # the last block runs to the end
    for w, nxt in itertools.pairwise(windows):
        assert nxt.test[0] == w.test[1] + 1  # contiguous test blocks, no gap, no overlap
    for w in windows:
        first, last = w.span
        t0 = w.test[0]
        assert last == t0 - purge - 1  # the span ends a purge before the test block
        expected_start = 0 if expanding else index.searchsorted(index[t0] - pd.DateOffset(months=6))
        assert first == expected_start
        # the tuning folds cover the span exactly, purged, and never reach the test block
        assert min(int(f.train_idx[0]) for f in w.folds) == first
        assert w.last_tuning_position() == last
        for f in w.folds:
            assert f.train_idx.max() + purge < f.valid_idx.min()
            assert f.valid_idx.max() + purge < f.test_idx.min()
            assert f.test_idx.max() + purge < t0
        assert w.refit.train_idx[0] == first and w.refit.valid_idx[-1] == last


def test_midnight_end_of_span_is_a_bar_not_a_day() -> None:
    """With 4h bars and purge 5 the span's last bar is at 00:00: the folds stop at that bar."""
    index = _index()
    windows = _windows(index, purge=5)
    w = windows[0]
    assert index[w.span[1]] == pd.Timestamp("2021-06-30 00:00", tz="UTC")
    assert w.last_tuning_position() == w.span[1]


def test_tuning_folds_survive_truncation() -> None:
    index = _index()
    for w in _windows(index):
        cut = index[: w.test[0]]
        again = tuning_folds(
            cut,
            first=w.span[0],
            last=w.span[1],
            n_folds=3,
            purge=1,
            valid_fraction=0.15,
            min_train_fraction=0.3,
        )
        assert tuple(again) == w.folds


def test_stitch_and_labels() -> None:
    index = _index("2021-01-01", "2021-01-03")
    a = pd.Series(0.01, index=index[:5])
    b = pd.Series(-0.01, index=index[5:9])
    out = stitch([a, b])
    assert out.index.equals(index[:9]) and out.iloc[0] == 0.01 and out.iloc[-1] == -0.01
    assert window_labels(out.index, [a, b]).tolist() == [0] * 5 + [1] * 4
    with pytest.raises(DataError, match="overlap"):
        stitch([a, pd.Series(0.0, index=index[4:6])])
    with pytest.raises(DataError, match="no test window"):
        stitch([a.iloc[:0]])


def test_efficiency() -> None:
    assert efficiency(0.1, [0.2, 0.3, None]) == pytest.approx(0.4)
    assert efficiency(-0.1, [0.25]) == pytest.approx(-0.4)
    assert efficiency(0.1, [-0.2, 0.1]) is None  # no positive in-sample return: no ratio
    assert efficiency(None, [0.2]) is None


# ------------------------------------------------------------------------ with settings
def _settings(outputs: Path, *overrides: str) -> Settings:
    register_resolvers()
    given = [
        "phase=walkforward",
        "debug=fast",
        "split=walk_forward",
        "split.train_months=6",
        f"paths.outputs={outputs}",
        *overrides,
    ]
    with initialize_config_dir(config_dir=str(config_dir())):
        cfg = compose("config", overrides=given)
    return dataclasses.replace(settings_from_config(cfg), command_line=tuple(given))


def test_search_spaces_are_the_sweeps(tmp_path: Path) -> None:
    from crypto_tune.phases._tuning import search_space

    settings = _settings(tmp_path)
    model = search_space(settings, "model")
    assert set(model.distributions) == {
        f"model.{k}"
        for k in (
            "learning_rate",
            "num_leaves",
            "min_data_in_leaf",
            "feature_fraction",
            "bagging_fraction",
            "bagging_freq",
            "lambda_l1",
            "lambda_l2",
            "num_boost_round",
        )
    }
    assert model.distributions["model.learning_rate"].log
    assert model.sampler["seed"] == settings.seed and model.direction == "maximize"
    strategy = search_space(settings, "strategy")
    assert set(strategy.distributions) == {
        f"strategy.{k}" for k in ("entry", "exit", "signal_window", "stop_loss", "take_profit")
    }
    raw = search_space(_settings(tmp_path, "strategy=threshold"), "strategy")
    assert "strategy.threshold" in raw.distributions
    fixed = search_space(_settings(tmp_path, "model.num_leaves=8"), "model")
    assert "model.num_leaves" not in fixed.distributions  # the command line fixes it


def test_windows_need_only_fit_the_walkforward_period(tmp_path: Path) -> None:
    """split=walk_forward's 12-month train window does not fit debug=fast's 1-year tuning
    period (Phase 1 folds would fail), but the walk-forward period runs to the holdout's end."""
    from crypto_tune.phases._walkforward import walkforward_dataset, windows_for

    settings = _settings(tmp_path, "split.train_months=12")
    windows = windows_for(settings, walkforward_dataset(settings))
    assert [
        w.dates(walkforward_dataset(settings).candles.index)["test_start"][:10] for w in windows
    ] == ["2022-01-01", "2022-04-01"]


def _truncated(dataset: Dataset, settings: Settings, stop: int) -> Dataset:
    """``dataset`` rebuilt from its candles cut before bar ``stop`` (features, label, regime)."""
    candles = dataset.candles.iloc[:stop]
    regime = settings.regime
    return dataclasses.replace(
        dataset,
        candles=candles,
        features=compute_features(candles, windows=list(settings.features.windows)),
        label=forward_return(candles, horizon=settings.label.horizon),
        regime=volatility_regime(
            candles, window=regime.window, lookback=regime.lookback, quantile=regime.quantile
        ),
        data_fingerprint=f"truncated-{stop}",  # another cache key: nothing is reused
        feature_key=f"truncated-{stop}",
    )


def test_tuning_inputs_unchanged_by_truncation_at_test_start(tmp_path: Path) -> None:
    """Every input both studies of a window score — folds, features, labels, regimes, the
    out-of-fold predictions, the Phase 1 and Phase 2 objectives, the refit's rounds — is the
    same when the data ends at the window's test start: tuning never saw the test period."""
    from crypto_tune.config import StrategySettings
    from crypto_tune.evaluation import fold_arrays_for
    from crypto_tune.phases._tuning import model_objective, strategy_objective
    from crypto_tune.phases._walkforward import (
        walkforward_dataset,
        window_dataset,
        windows_for,
    )

    settings = _settings(tmp_path)
    settings = dataclasses.replace(
        settings, model=dataclasses.replace(settings.model, min_data_in_leaf=40)
    )
    dataset = walkforward_dataset(settings)
    windows = windows_for(settings, dataset)
    assert len(windows) >= 3
    strategy = StrategySettings(
        name="zscore",
        entry=1.0,
        exit=0.2,
        signal_window=42,
        sizing="vol_target",
        objective="psr",
        stop_loss=0.05,
    )
    for window in (windows[0], windows[-1]):
        t0 = window.test[0]
        full = window_dataset(dataset, window)
        cut = _truncated(dataset, settings, t0)
        first, last = window.span
        cut = dataclasses.replace(
            cut,
            folds=tuple(
                tuning_folds(
                    cut.candles.index,
                    first=first,
                    last=last,
                    n_folds=settings.split.n_folds,
                    purge=settings.split.purge,
                    valid_fraction=settings.split.valid_fraction,
                    min_train_fraction=settings.split.min_train_fraction,
                )
            ),
        )
        assert cut.folds == full.folds
        used = np.arange(first, last + 1)
        pd.testing.assert_frame_equal(cut.features.iloc[used], full.features.iloc[used])
        np.testing.assert_array_equal(cut.label.to_numpy()[used], full.label.to_numpy()[used])
        assert np.isfinite(full.label.to_numpy()[used]).all()  # every label is known by t0
        pd.testing.assert_series_equal(cut.regime.iloc[used], full.regime.iloc[used])
        value_full, oof_full = model_objective(settings, full, settings.model)
        value_cut, oof_cut = model_objective(settings, cut, settings.model)
        assert not oof_cut.from_cache and oof_cut.key != oof_full.key
        assert value_cut == value_full
        pd.testing.assert_frame_equal(oof_cut.frame, oof_full.frame)
        assert oof_cut.best_iterations == oof_full.best_iterations
        score_full = strategy_objective(settings, fold_arrays_for(full, oof_full, "all"), strategy)
        score_cut = strategy_objective(settings, fold_arrays_for(cut, oof_cut, "all"), strategy)
        assert score_cut == score_full


# ----------------------------------------------------------------------- the ask/tell loop
def _space():
    from optuna.distributions import FloatDistribution

    from crypto_tune.phases._tuning import SearchSpace

    return SearchSpace(
        distributions={"model.x": FloatDistribution(0.0, 1.0)},
        fixed={"model.y": 3},
        sampler={},
        direction="maximize",
    )


def test_optimize_counts_complete_trials_and_resumes() -> None:
    import optuna

    from crypto_tune.phases._tuning import optimize

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    seen: list[dict] = []

    def objective(params: dict) -> float:
        seen.append(params)
        if len(seen) == 2:
            raise InvalidTrialError("bad values")
        return float("nan") if len(seen) == 3 else params["model.x"]

    assert optimize(study, _space(), objective, 4) == 4
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 4 and states.count("FAIL") == 2
    assert all(p["model.y"] == 3 for p in seen)  # fixed values reach every trial
    assert optimize(study, _space(), objective, 4) == 0  # the budget is held: nothing to do
    assert optimize(study, _space(), objective, 5) == 1  # a larger budget tunes the rest


def test_optimize_stops_when_trials_keep_failing() -> None:
    import optuna

    from crypto_tune.phases._tuning import optimize

    study = optuna.create_study(direction="maximize")

    def objective(params: dict) -> float:
        raise ConfigError("strategy.exit must be ...")

    with pytest.raises(ConfigError, match="5 of 5 trials failed"):
        optimize(study, _space(), objective, 3)


def test_the_pinned_model_is_the_one_every_worker_reads() -> None:
    import optuna

    from crypto_tune.phases._tuning import pinned_model

    study = optuna.create_study(direction="maximize")
    for value in (0.1, 0.3, 0.2):
        trial = study.ask({"model.x": optuna.distributions.FloatDistribution(0, 1)})
        study.tell(trial, value)
    params, number, value = pinned_model(study, 3)
    assert (number, value) == (1, 0.3)
    trial = study.ask({"model.x": optuna.distributions.FloatDistribution(0, 1)})
    study.tell(trial, 0.9)  # another worker's late trial does not move the pin
    assert pinned_model(study, 3) == (params, 1, 0.3)
    assert pinned_model(study, 4)[1] == 3  # a new budget chooses again


def test_window_table_explains_a_window_without_ic() -> None:
    """Issue 22.6: a window whose model predicted a constant showed an unexplained dash."""
    import html

    from crypto_tune.report._walkforward import NO_IC_NOTE, _window_table

    def window(number: int, ic: float | None) -> dict:
        return {
            "number": number,
            "train_start": "2022-01-01T00:00:00",
            "train_end": "2022-12-31T20:00:00",
            "test_start": "2023-01-01T00:00:00",
            "test_end": "2023-03-31T20:00:00",
            "in_sample": {"sharpe": 1.0},
            "out_of_sample": {"sharpe": 0.5, "total_return": 0.01, "n_trades": 3, "ic": ic},
            "model_params": {"num_leaves": 7},
            "strategy_params": {"entry": 1.5},
        }

    table = _window_table([window(0, 0.021), window(1, None)])
    assert "<th>OOS IC</th>" in table and "<td>0.021</td>" in table
    assert html.escape(NO_IC_NOTE) in table
    assert 'id="no-ic-note"' not in _window_table([window(0, 0.021)])


def test_walkforward_keys_compose_in_every_phase_a_window_runs(tmp_path) -> None:
    """Each window composes phase=model and phase=strategy with the run's command line: a
    walkforward.* override must exist there too (it broke when the block lived in its phase
    file and no preset such as debug=fast defined it)."""
    from crypto_tune.cli import preflight
    from crypto_tune.phases._tuning import search_space

    settings = preflight(
        [
            "phase=walkforward",
            "split=walk_forward",
            "walkforward.end=2023-12-31",
            "walkforward.model_trials=3",
            f"paths.outputs={tmp_path}",
            "tracking.enabled=false",
        ]
    )
    assert settings is not None and settings.walkforward.end == "2023-12-31"
    for phase in ("model", "strategy"):
        assert search_space(settings, phase).distributions
