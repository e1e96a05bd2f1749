"""A universe's Phase 2 trial (crypto_tune/phases/_universe_strategy.py): the context is built
once per process and configuration (no Phase 1 study read, no fold hashing per trial), and a
trial's value and returns are bit-identical to the portfolio rule run from scratch on freshly
built inputs, whatever order the trials come in."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from universe_market import universe_candles, write_universe

from crypto_tune.cli import preflight
from crypto_tune.config import Settings
from crypto_tune.memo import clear_memos
from crypto_tune.objectives import strategy_values
from crypto_tune.phases import _universe_strategy as us
from crypto_tune.phases import run_phase
from crypto_tune.timeframes import periods_per_year
from crypto_tune.universe import simulate_portfolio
from crypto_tune.universe._dataset import prepare_universe
from crypto_tune.universe._oof import universe_oof

SYMBOLS = [f"S{j}USDT" for j in range(5)]
# trial settings (universe.*) covering every branch of the kernel, in an order that revisits
# volatility windows and switches books on and off
TRIALS: tuple[dict[str, Any], ...] = (
    {"top_k": 2, "n_drop": 1, "rebalance": 1, "weights": "equal"},
    {"top_k": 2, "n_drop": 2, "rebalance": 3, "weights": "inverse_vol", "vol_window": 30},
    {"top_k": 2, "n_drop": None, "rebalance": 2, "weights": "inverse_vol"},
    {"top_k": 3, "n_drop": 1, "rebalance": 6, "weights": "equal", "long_only": True},
    {"top_k": 2, "n_drop": 2, "rebalance": 1, "weights": "inverse_vol", "target_vol": 0.3},
    {"top_k": 1, "n_drop": 1, "rebalance": 12, "weights": "equal"},
    {"top_k": 3, "n_drop": 1, "rebalance": 2, "weights": "inverse_vol", "vol_window": 30},
    {"top_k": 2, "n_drop": 1, "rebalance": 1, "weights": "equal", "max_gross": 0.5},
    {"top_k": 2, "n_drop": 1, "rebalance": 1, "weights": "equal"},  # the first again
)


@pytest.fixture(autouse=True)
def _fresh_memos() -> Any:
    clear_memos()
    yield
    clear_memos()


def _settings(tmp_path: Path, *extra: str) -> Settings:
    folder = tmp_path / "data"
    if not folder.exists():
        write_universe(folder, universe_candles(n_symbols=5, n_bars=3000, reversal=0.1, seed=3))
    settings = preflight(
        [
            "phase=strategy",
            "asset=universe",
            "strategy=topk",
            f"asset.path='{folder / 'binance_{symbol}_4h.csv'}'",
            f"asset.symbols=[{','.join(SYMBOLS)}]",
            "features.windows=[5,10]",
            "debug=fast",
            "tracking.enabled=false",
            f"paths.outputs={tmp_path / 'out'}",
            *extra,
        ]
    )
    assert settings is not None
    return settings


def _with(settings: Settings, **universe: Any) -> Settings:
    return dataclasses.replace(
        settings, universe=dataclasses.replace(settings.universe, **universe)
    )


def _from_scratch(settings: Settings) -> tuple[tuple[float, ...], list[np.ndarray], list[int]]:
    """The trial as the rule defines it, every input rebuilt: the predictions of
    ``settings.model``, each fold's segment, the trailing volatility sliced per fold, one kernel
    call per fold, the objectives on the chained folds."""
    data = prepare_universe(settings)
    oof = universe_oof(data, settings.model, seed=settings.seed, cache_dir=settings.paths.cache)
    scores = us.score_matrix(data, oof.prediction)
    params = us.portfolio_params(settings)
    vol = data.panel.trailing_vol(settings.universe.vol_window)
    returns, entries = [], []
    for fold in data.folds:
        segment = us.make_segment(settings, data, scores, fold.test_idx)
        result = simulate_portfolio(
            segment.scores,
            segment.returns,
            segment.tradable,
            vol[segment.bars],
            params,
            funding=segment.funding,
            borrow=segment.borrow,
        )
        returns.append(result.net)
        entries.append(result.n_entries)
    strategy = settings.strategy
    values = strategy_values(
        strategy.objectives,
        returns,
        entries,
        periods_per_year=periods_per_year(settings.asset.timeframe),
        min_trades_per_year=strategy.min_trades_per_year,
        max_drawdown=strategy.max_drawdown,
    )
    return values, returns, entries


def test_trials_are_bit_identical_to_the_rule_run_from_scratch(tmp_path: Path) -> None:
    base = _settings(tmp_path, "phase.model_source=config")
    for trial in TRIALS:
        settings = _with(base, **trial)
        value = run_phase(settings)
        values, returns, entries = us.evaluate_universe(settings, us.universe_context(settings))
        expected_values, expected_returns, expected_entries = _from_scratch(settings)
        assert value == expected_values[0] and values == expected_values, trial
        assert entries == expected_entries, trial
        assert len(returns) == len(expected_returns)
        for got, want in zip(returns, expected_returns, strict=True):
            assert np.array_equal(got, want), trial
    assert len({run_phase(_with(base, **t)) for t in TRIALS}) > 3  # the trials differ


def test_the_context_is_built_once_and_reads_no_study_per_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crypto_tune.evaluation as evaluation
    from crypto_tune.study import open_study

    config = _settings(tmp_path, "phase.model_source=config")
    # phase.model_source=study (the default) on the Phase 1 study, one trial done
    settings = dataclasses.replace(
        config, phase=dataclasses.replace(config.phase, model_source="study")
    )
    study = open_study(settings, "model", create=True)
    tuned = {"model.num_leaves": 7, "model.min_data_in_leaf": 60}
    study.add_trial(
        optuna.trial.create_trial(
            params=tuned,
            distributions={
                "model.num_leaves": optuna.distributions.IntDistribution(4, 63),
                "model.min_data_in_leaf": optuna.distributions.IntDistribution(20, 499),
            },
            value=0.1,
        )
    )
    calls: list[str] = []
    resolve = evaluation.resolve_model

    def counted(s: Settings) -> Any:
        calls.append(s.phase.model_source)
        return resolve(s)

    monkeypatch.setattr(evaluation, "resolve_model", counted)
    first = us.universe_context(settings)
    assert first.model_source.startswith("study:") and calls == ["study"]
    values = [run_phase(_with(settings, **trial)) for trial in TRIALS]
    assert calls == ["study"]  # every trial after the first reads no study
    assert us.universe_context(_with(settings, top_k=3, rebalance=6)) is first

    # the values are those of the study's best model given as the config
    config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, num_leaves=7, min_data_in_leaf=60)
    )
    assert values == [run_phase(_with(config, **trial)) for trial in TRIALS]

    # a setting the context depends on (the market's costs) builds another
    costlier = dataclasses.replace(
        settings,
        strategy=_settings(tmp_path, "phase.model_source=config", "strategy.fee=0.002").strategy,
    )
    assert us.universe_context(costlier) is not first
    assert calls.count("study") == 2
