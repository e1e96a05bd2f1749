"""The strategy rules' keys: each composes, each wrong value names its key in one line."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir

from crypto_tune.cli import settings_from_config
from crypto_tune.config import config_dir, register_resolvers
from crypto_tune.exceptions import ConfigError


def _compose(*overrides: str):
    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir())):
        return compose("config", overrides=list(overrides))


def test_zscore_is_the_default_rule_with_risk_sizing_and_psr_nines() -> None:
    strategy = settings_from_config(_compose()).strategy
    expected = ("zscore", "vol_target", "psr_nines")  # PSR that does not saturate (issue 22)
    assert (strategy.name, strategy.sizing, strategy.objective) == expected
    assert 0 <= strategy.exit <= strategy.entry
    legacy = settings_from_config(_compose("strategy=threshold")).strategy
    assert (legacy.name, legacy.sizing, legacy.leverage) == ("threshold", "fixed", 1.0)


@pytest.mark.parametrize(
    ("rule", "space"),
    [
        ("zscore", {"entry", "exit", "signal_window", "stop_loss", "take_profit"}),
        ("threshold", {"threshold", "stop_loss", "take_profit"}),
    ],
)
def test_the_search_space_follows_the_rule_and_never_tunes_leverage(rule, space) -> None:
    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir())):
        cfg = compose(
            "config", overrides=["phase=strategy", f"strategy={rule}"], return_hydra_config=True
        )
        model = compose("config", overrides=["phase=model"], return_hydra_config=True)
    params = set(cfg.hydra.sweeper.params)
    assert {p.removeprefix("strategy.") for p in params} == space
    assert not any(p.startswith("strategy.") for p in model.hydra.sweeper.params)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("strategy.entry=-1", "strategy.entry must be in (0, inf], got -1.0"),
        ("strategy.exit=2", "strategy.exit must be null or in [0, strategy.entry=1.5], got 2.0"),
        ("strategy.exit=-0.1", "strategy.exit must be null or in [0, strategy.entry=1.5]"),
        ("strategy.signal_window=1", "strategy.signal_window must be in [2, inf], got 1"),
        ("strategy.signal_window=2.5", "strategy.signal_window must be an int, got 2.5"),
        ("strategy.sizing=kelly", "strategy.sizing must be one of fixed, vol_target, got 'kelly'"),
        ("strategy.target_vol=0", "strategy.target_vol must be in (0, 10], got 0.0"),
        ("strategy.max_leverage=200", "strategy.max_leverage must be in (0, 125], got 200.0"),
        ("strategy.vol_window=1", "strategy.vol_window must be in [2, inf], got 1"),
        ("strategy.max_drawdown=0", "strategy.max_drawdown must be in (0, 1], got 0.0"),
        ("strategy.max_drawdown=1.5", "strategy.max_drawdown must be in (0, 1], got 1.5"),
        ("strategy.min_trades_per_year=-1", "strategy.min_trades_per_year must be in [0, inf]"),
        (
            "strategy.name=momentum",
            "strategy.name must be one of quantile, threshold, topk, zscore",
        ),
        ("strategy.objective=profit", "strategy.objective must be one of"),
    ],
)
def test_wrong_strategy_values_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_config(_compose(override))
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)
