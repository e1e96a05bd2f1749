"""regime=switch: hysteresis labels, per-bar parameters in one account, phase=regimes, best."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from crypto_tune.config import StrategySettings
from crypto_tune.data import synthetic_market
from crypto_tune.evaluation import backtest_segment
from crypto_tune.metrics import sharpe_ratio
from crypto_tune.phases._switch_backtest import normalised_signal, switched_backtest
from crypto_tune.regimes import switch_count, switch_labels, volatility_regime

ZSCORE = StrategySettings(
    name="zscore", entry=1.0, exit=0.3, signal_window=90, sizing="vol_target", stop_loss=0.05
)


@pytest.fixture(scope="module")
def market():
    return synthetic_market(seed=3, n_bars=4000, planted_ic=0.15)


def test_hysteresis_is_causal_and_flickers_less(market) -> None:
    raw = volatility_regime(market.candles, window=30, lookback=300)
    full = switch_labels(raw, confirm=4)
    for cut in (400, 1234, 2999):
        part = switch_labels(raw.iloc[:cut], confirm=4)
        assert part.astype(object).equals(full.iloc[:cut].astype(object))
    assert switch_labels(raw, confirm=1).astype(object).equals(raw.astype(object))
    assert switch_count(full) < switch_count(raw)
    flips = np.flatnonzero(
        full.astype(object).to_numpy()[1:] != full.astype(object).to_numpy()[:-1]
    )
    values = raw.astype(object).to_numpy()
    for t in flips[1:]:  # every switch is preceded by 4 bars of the new label
        assert set(values[t - 2 : t + 2]) == {full.iloc[t + 1]}


def test_normalised_signal_keeps_the_rule() -> None:
    z = np.linspace(-4, 4, 801)
    s = normalised_signal(z, 1.7, 0.4)
    assert np.array_equal(s > 1, z > 1.7) and np.array_equal(s > 0.5, z > 0.4)
    assert np.array_equal(s < -1, z < -1.7) and np.array_equal(s < -0.5, z < -0.4)
    same = normalised_signal(z, 2.0, None)
    assert np.array_equal(same > 1, z > 2.0) and np.array_equal(same > 0.5, z > 2.0)


def test_switch_with_one_set_is_the_ordinary_backtest(market) -> None:
    candles = market.candles
    pos = np.arange(500, 3500)
    preds = market.expected_return.to_numpy()[pos] + np.random.default_rng(0).normal(0, 1e-3, 3000)
    labels = np.where(np.arange(3000) % 200 < 100, "calm", "volatile").astype(object)
    sets = {"calm": ZSCORE, "volatile": ZSCORE}
    switched = switched_backtest(
        candles, pos, {"calm": preds, "volatile": preds}, labels, sets, timeframe="4h"
    )
    plain = backtest_segment(candles, pos, preds, np.ones(3000, bool), ZSCORE, timeframe="4h")
    assert np.allclose(switched.returns.to_numpy(), plain.returns.to_numpy(), atol=1e-12)
    assert len(switched.trades) == len(plain.trades) > 10


def test_a_regime_dependent_signal_is_captured_by_the_switch(market) -> None:
    """Predictive in calm bars, noise in volatile ones: the switch trades calm bars only."""
    candles = market.candles
    raw = volatility_regime(candles, window=30, lookback=300)
    labels_all = switch_labels(raw, confirm=3).astype(object).to_numpy()
    pos = np.arange(400, len(candles))
    labels = labels_all[pos]
    rng = np.random.default_rng(1)
    truth = market.expected_return.to_numpy()[pos]
    noise = rng.normal(0, truth.std(), len(pos))
    preds = np.where(labels == "calm", truth, noise)
    calm, volatile = ZSCORE, dataclasses.replace(ZSCORE, entry=50.0, exit=50.0)
    switched = switched_backtest(
        candles,
        pos,
        {"calm": preds, "volatile": preds},
        labels,
        {"calm": calm, "volatile": volatile},
        timeframe="4h",
    )
    single = backtest_segment(candles, pos, preds, np.ones(len(pos), bool), calm, timeframe="4h")
    s_switch = sharpe_ratio(switched.returns.to_numpy(), periods_per_year=2190)
    s_single = sharpe_ratio(single.returns.to_numpy(), periods_per_year=2190)
    assert s_switch > s_single + 0.3, (s_switch, s_single)
    held = switched.positions.to_numpy() != 0
    assert not np.any(
        held[1:] & (labels[:-1] == "volatile") & (labels[1:] == "volatile") & ~held[:-1]
    )


def test_sweeping_regimes_in_one_study_is_refused(tmp_path: Path) -> None:
    done = run_cli(
        "-m", "phase=model", "regime=calm,volatile", "debug=fast", f"paths.outputs={tmp_path}"
    )
    assert done.returncode == 2 and "regime=calm,volatile" in done.stderr
    done = run_cli("-m", "phase=model", "regime=switch", "debug=fast", f"paths.outputs={tmp_path}")
    assert done.returncode == 2 and "phase=regimes regime=switch" in done.stderr


def test_best_switch_names_the_command_that_fixes_it(tmp_path: Path) -> None:
    done = run_cli("phase=best", "regime=switch", "debug=fast", f"paths.outputs={tmp_path}")
    assert done.returncode == 2
    assert "-m phase=model debug=fast" in done.stderr and "regime=all" in done.stderr
    assert "crypto-tune phase=regimes regime=switch debug=fast" in done.stderr


@pytest.mark.slow
def test_regimes_then_switched_best(tmp_path: Path) -> None:
    fixed = "strategy.slippage=0.0005"  # a fixed (untuned) setting other than the config's
    common = [
        "regime=switch",
        "debug=fast",
        f"paths.outputs={tmp_path}",
        "tracking.enabled=false",
        fixed,
    ]
    budgets = ["regime.model_trials=2", "regime.strategy_trials=15"]
    done = run_cli("phase=regimes", *common, *budgets)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "default.SYNTH.4h.calm.static.h1" in done.stdout
    again = run_cli("phase=regimes", *common, *budgets)  # resumes: nothing left to tune
    assert again.returncode == 0 and "(0 tuned here" in again.stderr + again.stdout
    joined = run_cli(
        "-m",
        "phase=strategy",
        "regime=calm",
        "debug=fast",
        f"paths.outputs={tmp_path}",
        "tracking.enabled=false",
        "hydra.sweeper.n_trials=2",
        fixed,
    )
    assert joined.returncode == 0, joined.stderr[-2000:]  # the same study, same fingerprint
    # without the slippage the regimes' trials traded, the switch would trade the config's
    done = run_cli("phase=best", *common[:-1])
    assert done.returncode == 2
    assert "traded other fixed settings than this run (strategy.slippage 0.0005 -> 0.0002)" in (
        done.stderr
    )
    done = run_cli("phase=best", *common)
    assert done.returncode == 0, done.stderr[-3000:]
    path = tmp_path / "best" / "default.SYNTH.4h.switch.static.h1" / "workflow.best.json"
    doc = json.loads(path.read_text())
    for regime in ("calm", "volatile"):
        assert "entry" in doc["regime_switch"][regime]["strategy_params"]
    for segment in ("in_sample", "out_of_sample"):
        assert "sharpe" in doc["comparison"]["single_set"][segment]
        assert set(doc["metrics"][segment]["per_regime"]) == {"calm", "volatile"}
    assert doc["regime"] == "switch" and doc["robustness"]["n_trials"] == 32
    # the slippage repeated as every regime's study ran it: no override
    assert doc["strategy"]["overrides"] == {} and "no overrides" in doc["how"]["text"]
    other_slippage = run_cli("phase=best", *common[:-1], "strategy.slippage=0.001")
    assert other_slippage.returncode == 0, other_slippage.stderr[-3000:]
    overridden = json.loads(path.read_text())
    assert overridden["strategy"]["overrides"] == {"slippage": 0.001}
    assert "overrides strategy.slippage=0.001" in overridden["how"]["text"]
    curves = pd.read_parquet(path.with_name("workflow.best.curves.parquet"))
    assert {"returns", "single_set", "label"} <= set(curves.columns)
    assert set(curves["label"]) <= {"calm", "volatile", "unknown"}
    # another market under the same study names: refused, not switched across two markets
    other = run_cli("phase=best", *common, "asset.synthetic.planted_ic=0.15")
    assert other.returncode == 2
    assert "phase=best: study 'default.SYNTH.4h.all.static.h1.model' was tuned on other data" in (
        other.stderr  # the single set the switch is compared with: the first regime checked
    )
