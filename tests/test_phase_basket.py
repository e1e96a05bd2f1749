"""asset=basket: Phase 1 on the members' mean IC, Phase 2 on portfolio-level returns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest
from conftest import best_dir, run_cli

from crypto_tune.cli import preflight
from crypto_tune.data import synthetic_market

SYMBOLS = ("AAA", "BBB", "CCC")


@pytest.fixture
def basket(tmp_path: Path) -> list[str]:
    """Three synthetic markets written as user CSVs, and the overrides that make them a basket."""
    for seed, symbol in enumerate(SYMBOLS):
        market = synthetic_market(seed=seed, n_bars=3000, planted_ic=0.1)
        market.candles.to_csv(tmp_path / f"{symbol}.csv")
    return [
        "asset=basket",
        f"asset.path='{tmp_path}/{{symbol}}.csv'",
        f"asset.symbols=[{','.join(SYMBOLS)}]",
        "debug=fast",
        "tracking.enabled=false",
    ]


def test_portfolio_returns_are_the_equal_sleeves(basket: list[str], tmp_path: Path) -> None:
    from crypto_tune.evaluation import (
        PortfolioContext,
        backtest_folds,
        evaluate_strategy,
        strategy_context,
    )

    settings = preflight(
        [
            "phase=strategy",
            "phase.model_source=config",
            f"paths.outputs={tmp_path / 'out'}",
            *basket,
        ]
    )
    context = strategy_context(settings)
    assert isinstance(context, PortfolioContext) and context.symbols == SYMBOLS
    value, returns, trades = evaluate_strategy(settings, context)
    assert np.isfinite(value) and len(returns) == len(context.grids)
    members = [backtest_folds(m.folds, settings.strategy, bar_hours=4.0) for m in context.members]
    for k, fold_returns in enumerate(returns):
        growth = np.mean([np.prod(1 + r[k]) for r, _ in members])
        assert np.prod(1 + fold_returns) == pytest.approx(growth)
        assert trades[k] == sum(t[k] for _, t in members)


@pytest.mark.slow
def test_basket_sweeps_and_report(basket: list[str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run_cli("-m", "phase=model", "hydra.sweeper.n_trials=2", f"paths.outputs={out}", *basket)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(AAA " in done.stdout and "BBB " in done.stdout  # per-member IC on each trial line
    done = run_cli(
        "-m", "phase=strategy", "hydra.sweeper.n_trials=20", f"paths.outputs={out}", *basket
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "portfolio of 3 equal sleeves" in done.stdout
    study = optuna.load_study(
        study_name="default.AAA+BBB+CCC.4h.all.static.h1.strategy",
        storage=f"sqlite:///{out}/optuna.db",
    )
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 20
    done = run_cli("phase=report", f"paths.outputs={out}", *basket)
    assert done.returncode == 0, done.stderr[-3000:]
    done = run_cli("phase=best", f"paths.outputs={out}", *basket)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads((best_dir(out) / "workflow.best.json").read_text())
    assert doc["asset"]["symbols"] == list(SYMBOLS)
    assert set(doc["members"]) == set(SYMBOLS)
    assert sorted(doc["files"]["models"]) == sorted(SYMBOLS)
    for symbol in SYMBOLS:
        assert (best_dir(out) / f"workflow.best.model.{symbol}.txt").is_file()
    trades = sum(m["in_sample"]["n_trades"] for m in doc["members"].values())
    assert doc["metrics"]["in_sample"]["n_trades"] == trades
    assert isinstance(doc["robustness"]["significant"], bool)


@pytest.mark.parametrize(("market", "cap"), [("spot", 1.0), ("perp", 3.0)])
def test_spot_sleeves_are_never_levered_by_the_portfolio(
    basket: list[str], tmp_path: Path, market: str, cap: float
) -> None:
    """A spot basket without a borrow rate cannot hold more than its equity: the portfolio's
    volatility target may not lever its sleeves beyond 1x (it reached 2.87x gross)."""
    from crypto_tune.evaluation._basket import path_kwargs

    settings = preflight(
        [
            "phase=inspect",
            *basket,
            f"paths.outputs={tmp_path}",
            f"asset.market={market}",
            "asset.target_vol=0.2",
            "asset.rebalance=weekly",
        ]
    )
    assert settings is not None
    kwargs = path_kwargs(settings.asset, settings.strategy, 2190.0)
    assert kwargs["max_gross"] == cap
