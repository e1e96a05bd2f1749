"""Phase 2 end to end: cached predictions, the fast backtest, the sweep, MLflow parent run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import mlflow
import numpy as np
import optuna
import pytest
from conftest import run_cli

from crypto_tune.cli import preflight
from crypto_tune.memo import clear_memos

COMPLETE = optuna.trial.TrialState.COMPLETE


def _settings(outputs: Path, *overrides: str):
    settings = preflight(
        [
            "phase=strategy",
            "phase.model_source=config",
            "debug=fast",
            f"paths.outputs={outputs}",
            "tracking.enabled=false",
            *overrides,
        ]
    )
    assert settings is not None
    return settings


def test_never_trading_is_penalised_not_nan(outputs: Path) -> None:
    from crypto_tune.evaluation import evaluate_strategy, strategy_context

    settings = _settings(outputs, "strategy=threshold")
    context = strategy_context(settings)
    never = dataclasses.replace(
        settings, strategy=dataclasses.replace(settings.strategy, threshold=0.9)
    )
    value, returns, trades = evaluate_strategy(never, context)
    assert trades == [0] * len(context.folds)
    assert all(np.all(r == 0) for r in returns)
    assert value == -1.0  # score 0 (never trades) - full shortfall 1

    trading = dataclasses.replace(
        settings, strategy=dataclasses.replace(settings.strategy, threshold=0.0, max_drawdown=1.0)
    )
    value, returns, trades = evaluate_strategy(trading, context)
    assert sum(trades) > 0 and np.isfinite(value)
    from crypto_tune import metrics
    from crypto_tune.objectives import trade_shortfall
    from crypto_tune.timeframes import periods_per_year

    sharpe = metrics.sharpe_ratio(np.concatenate(returns), periods_per_year=periods_per_year("4h"))
    years = [len(r) / periods_per_year("4h") for r in returns]
    shortfall = trade_shortfall(trades, years, settings.strategy.min_trades_per_year)
    expected = sharpe - shortfall
    assert value == pytest.approx(expected)


def test_predictions_are_trained_once_then_cached(outputs: Path) -> None:
    from crypto_tune.evaluation import strategy_context

    settings = _settings(outputs)
    clear_memos("strategy_contexts", "predictions")
    first = strategy_context(settings)
    assert not first.oof.from_cache
    clear_memos("strategy_contexts", "predictions")
    second = strategy_context(settings)  # a new process would read the disk cache
    assert second.oof.from_cache
    assert second.oof.frame.equals(first.oof.frame)
    assert len(list((outputs / "cache" / "predictions").glob("*.parquet"))) == 2


@pytest.mark.slow
def test_strategy_sweep_reads_phase1_and_logs_one_parent_run(outputs: Path) -> None:
    common = ["debug=fast", f"paths.outputs={outputs}"]
    done = run_cli("-m", "phase=model", "hydra.sweeper.n_trials=2", *common)
    assert done.returncode == 0, done.stderr[-3000:]
    done = run_cli("-m", "phase=strategy", "hydra.sweeper.n_trials=25", *common)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "model from study:default.SYNTH.4h.all.static.h1.model#" in done.stdout
    assert "predictions from cache" in done.stdout  # Phase 1 trained them; Phase 2 never trains
    storage = f"sqlite:///{outputs}/optuna.db"
    study = optuna.load_study(study_name="default.SYNTH.4h.all.static.h1.strategy", storage=storage)
    trials = study.get_trials()
    assert len(trials) == 25 and all(t.state == COMPLETE for t in trials)
    assert set(study.best_params) == {
        "strategy.entry",
        "strategy.exit",
        "strategy.signal_window",
        "strategy.stop_loss",
        "strategy.take_profit",
    }
    mlflow.set_tracking_uri(f"sqlite:///{outputs}/mlflow.db")
    runs = mlflow.search_runs(experiment_names=[study.study_name], output_format="list")
    assert len(runs) == 1 and runs[0].data.tags["kind"] == "sweep-summary"
    assert runs[0].data.metrics["n_complete"] == 25
    names = {a.path for a in mlflow.artifacts.list_artifacts(run_id=runs[0].info.run_id)}
    assert {"top_trials.csv", "optimization_history.html", "optimization_results.yaml"} <= names

    done = run_cli(
        "-m", "phase=strategy", "hydra.sweeper.n_trials=3", "tracking.per_trial_runs=true", *common
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = mlflow.search_runs(experiment_names=[study.study_name], output_format="list")
    assert sum(r.data.tags.get("kind") != "sweep-summary" for r in runs) == 3


@pytest.mark.slow
def test_a_space_of_impossible_values_stops_with_one_line(outputs: Path) -> None:
    done = run_cli(
        "-m",
        "phase=strategy",
        "phase.model_source=config",
        "debug=fast",
        f"paths.outputs={outputs}",
        "tracking.enabled=false",
        "strategy.stop_loss=interval(1.5, 2.0)",
        "hydra.sweeper.n_trials=20",
    )
    # refused before the first trial: the range's ends are checked against the schema
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "strategy.stop_loss" in lines[0], done.stderr
    assert not (outputs / "optuna.db").exists()


@pytest.mark.slow
def test_real_eth_strategy_smoke(shared_data: Path, outputs: Path) -> None:
    done = run_cli(
        "-m",
        "phase=strategy",
        "asset=eth",
        "phase.model_source=config",
        "model.num_boost_round=100",
        f"paths.outputs={outputs}",
        "tracking.enabled=false",
        "hydra.sweeper.n_trials=15",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    study = optuna.load_study(
        study_name="default.ETHUSDT.4h.all.static.h1.strategy",
        storage=f"sqlite:///{outputs}/optuna.db",
    )
    values = [t.value for t in study.get_trials(states=(COMPLETE,))]
    assert len(values) == 15 and all(np.isfinite(values))


def test_regime_keeps_the_strategy_flat_outside_its_bars(outputs: Path) -> None:
    from crypto_tune.dataset import regime_mask
    from crypto_tune.evaluation import strategy_context

    settings = _settings(outputs, "regime=calm")
    context = strategy_context(settings)
    dataset = context.dataset
    mask = regime_mask(dataset, "calm")
    for fold, arrays in zip(dataset.folds, context.folds, strict=True):
        outside = ~mask[fold.test_idx]
        assert outside.any() and (~outside).any()
        assert np.isnan(arrays.predictions[outside]).all()
        assert np.isfinite(arrays.predictions[~outside]).all()


@pytest.mark.slow
def test_a_strategy_study_refuses_predictions_of_another_model(outputs: Path) -> None:
    common = [
        "phase.model_source=config",
        "debug=fast",
        f"paths.outputs={outputs}",
        "tracking.enabled=false",
    ]
    done = run_cli("-m", "phase=strategy", "hydra.sweeper.n_trials=3", *common)
    assert done.returncode == 0, done.stderr[-3000:]
    done = run_cli(
        "-m", "phase=strategy", "hydra.sweeper.n_trials=3", "model.num_leaves=7", *common
    )
    assert done.returncode == 2
    assert "holds trials scored on other inputs (predictions " in done.stderr
    assert "experiment_name" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    done = run_cli(
        "-m",
        "phase=strategy",
        "hydra.sweeper.n_trials=3",
        "experiment_name=other",
        "model.num_leaves=7",
        *common,
    )
    assert done.returncode == 0, done.stderr[-3000:]
