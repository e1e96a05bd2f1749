"""Contract: every registered strategy rule with every registered objective gives a finite score."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from crypto_tune.cli import preflight
from crypto_tune.config import STRATEGY_RULES
from crypto_tune.config._universe import UNIVERSE_RULE
from crypto_tune.evaluation import evaluate_strategy, strategy_context
from crypto_tune.objectives import MODEL_OBJECTIVES, STRATEGY_OBJECTIVES


@pytest.mark.parametrize("rule", STRATEGY_RULES)
@pytest.mark.parametrize("objective", sorted(STRATEGY_OBJECTIVES))
def test_every_rule_and_objective_scores_a_finite_number(
    rule: str, objective: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outputs = Path(tmp_path_factory.getbasetemp()) / "contract"  # one cache for all cases
    if rule == UNIVERSE_RULE:  # the portfolio rule of a universe: on a synthetic universe
        _universe_rule_scores(objective, outputs)
        return
    settings = preflight(
        [
            "phase=strategy",
            "debug=fast",
            "phase.model_source=config",
            f"strategy={rule}",
            f"strategy.objective={objective}",
            f"paths.outputs={outputs}",
            "tracking.enabled=false",
        ]
    )
    assert settings is not None
    value, returns, trades = evaluate_strategy(settings, strategy_context(settings))
    assert isinstance(value, float) and math.isfinite(value)
    assert len(returns) == len(trades) == len(strategy_context(settings).folds)


def _universe_rule_scores(objective: str, outputs: Path) -> None:
    from universe_market import universe_candles, write_universe

    from crypto_tune.phases._universe_strategy import evaluate_universe, universe_context

    template = write_universe(outputs / "universe", universe_candles(n_symbols=4, n_bars=3000))
    settings = preflight(
        [
            "phase=strategy",
            "asset=universe",
            f"asset.path='{template}'",
            "asset.symbols=[S0USDT,S1USDT,S2USDT,S3USDT]",
            "features.windows=[5,10]",
            "debug=fast",
            "phase.model_source=config",
            f"strategy={UNIVERSE_RULE}",
            f"strategy.objective={objective}",
            f"paths.outputs={outputs}",
            "tracking.enabled=false",
        ]
    )
    assert settings is not None
    context = universe_context(settings)
    values, returns, entries = evaluate_universe(settings, context)
    assert all(isinstance(v, float) and math.isfinite(v) for v in values)
    assert len(returns) == len(entries) == len(context.segments)


def test_every_model_objective_is_finite_on_a_degenerate_summary() -> None:
    summary = {"ic": math.nan, "rank_ic": math.inf, "icir": None}
    for name, objective in MODEL_OBJECTIVES.items():
        assert objective(summary) == 0.0, name
