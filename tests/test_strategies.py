"""The rule registry (crypto_tune/strategies): every rule module is found, owns its conf files
and its search space; the quantile rule's signal is checked against a brute-force computation,
is scale-free and causal."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from crypto_tune.cli import settings_from_config
from crypto_tune.config import StrategySettings, config_dir, register_resolvers
from crypto_tune.config._universe import UNIVERSE_RULE
from crypto_tune.exceptions import ConfigError
from crypto_tune.strategies import RULES, SIZINGS, rule_for, search_space_keys, sizing_for
from crypto_tune.strategies._quantile import rolling_rank_signal


def _strategy(*overrides: str) -> StrategySettings:
    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir())):
        return settings_from_config(compose("config", overrides=list(overrides))).strategy


def test_every_rule_module_is_registered_with_its_config_and_search_space() -> None:
    assert set(RULES) == {"quantile", "threshold", "topk", "zscore"}
    assert [name for name, rule in RULES.items() if rule.portfolio] == [UNIVERSE_RULE]
    conf = config_dir()
    for name, rule in RULES.items():
        assert (conf / "strategy" / f"{name}.yaml").is_file(), name
        assert (conf / rule.search_space).is_file(), name
        assert search_space_keys(name), name


@pytest.mark.parametrize("name", [n for n, r in RULES.items() if not r.portfolio])
def test_a_rule_tunes_exactly_its_search_space_and_composes(name: str) -> None:
    keys = search_space_keys(name)
    assert tuple(f"strategy.{k}" for k in RULES[name].tuned) == keys
    strategy = _strategy(f"strategy={name}")
    assert strategy.name == name
    assert all(hasattr(strategy, k) for k in RULES[name].tuned)


def test_the_dataclass_defaults_are_the_default_rule_file() -> None:
    composed = _strategy()
    plain = StrategySettings()
    for field in ("name", "entry", "exit", "signal_window", "sizing", "objective"):
        assert getattr(plain, field) == getattr(composed, field), field


def test_unknown_rule_and_sizing_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^strategy.name must be one of quantile, threshold"):
        rule_for("momentum")
    with pytest.raises(ConfigError, match=r"^strategy.sizing must be one of fixed, vol_target"):
        sizing_for("kelly")
    assert not SIZINGS["fixed"].needs_volatility and SIZINGS["vol_target"].needs_volatility


def test_levels_are_in_the_signal_units_of_each_rule() -> None:
    base = StrategySettings(threshold=0.003, entry=0.9, exit=1.2)
    assert rule_for("threshold").levels(base) == (0.003, None)
    assert rule_for("zscore").levels(base) == (0.9, 0.9)  # exit clamped to entry
    assert rule_for("quantile").levels(dataclasses.replace(base, exit=0.1)) == (0.9, 0.1)


def test_the_quantile_rule_refuses_an_entry_outside_a_rank() -> None:
    with pytest.raises(ConfigError, match=r"^strategy.entry must be in \(0, 1\) with strategy"):
        _strategy("strategy=quantile", "strategy.entry=1.5", "strategy.exit=0.2")


def _brute_rank(x: np.ndarray, window: int, low: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    for t in range(len(x)):
        past = x[max(0, t - window + 1) : t + 1]
        past = past[np.isfinite(past)]
        if not np.isfinite(x[t]) or len(past) < low:
            continue
        rank = (past < x[t]).sum() + 1 + 0.5 * ((past == x[t]).sum() - 1)
        out[t] = (2 * rank - len(past) - 1) / (len(past) - 1)
    return out


def test_quantile_signal_matches_a_brute_force_rank() -> None:
    x = np.round(np.random.default_rng(3).normal(size=400), 1)  # ties on purpose
    x[[10, 200, 201]] = np.nan
    got = rolling_rank_signal(x, 90)
    np.testing.assert_allclose(got, _brute_rank(x, 90, 50), equal_nan=True)
    assert np.nanmax(got) <= 1 and np.nanmin(got) >= -1


def test_quantile_signal_is_scale_free_causal_and_restarts_per_model() -> None:
    x = np.random.default_rng(4).normal(size=500)
    full = rolling_rank_signal(x, 120)
    np.testing.assert_array_equal(rolling_rank_signal(3.0 * x - 7.0, 120), full)
    np.testing.assert_array_equal(rolling_rank_signal(x[:300], 120), full[:300])  # no lookahead
    segments = np.r_[np.zeros(250), np.ones(250)]
    split = rolling_rank_signal(x, 120, segments=segments)
    assert np.isnan(split[250:299]).all() and np.isfinite(split[299])
    np.testing.assert_array_equal(split[:250], full[:250])
