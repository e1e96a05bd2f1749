"""``phase=walkforward asset=basket``: every window runs the basket's own phases (Phase 1 on the
members' mean IC, Phase 2 and the trade on the portfolio); the proof by truncation that no
window's tuning sees a bar of any member's test period; end to end on three synthetic markets
(tiny budgets): the JSON contract, the basket benchmark, the page, and a rerun that tunes nothing.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import resource
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import run_cli
from test_walkforward import _settings, _truncated

from crypto_tune.config import StrategySettings
from crypto_tune.data import load_candles, synthetic_market
from crypto_tune.walkforward import flat_params, tuning_folds

SYMBOLS = ("AAA", "BBB", "CCC")
MODEL_TRIALS, STRATEGY_TRIALS = 2, 12
RISK = ("asset.weights=inverse_vol", "asset.rebalance=weekly", "asset.target_vol=0.2")
STEPS = ("model", "strategy")


@pytest.fixture(scope="module")
def basket(tmp_path_factory) -> list[str]:
    """Three synthetic markets written as user CSVs, and the overrides that make them a basket."""
    folder = tmp_path_factory.mktemp("basket")
    for seed, symbol in enumerate(SYMBOLS):
        market = synthetic_market(seed=seed, n_bars=3000, planted_ic=0.1)
        market.candles.to_csv(folder / f"{symbol}.csv")
    return [
        "asset=basket",
        f"asset.path='{folder}/{{symbol}}.csv'",
        f"asset.symbols=[{','.join(SYMBOLS)}]",
    ]


# ------------------------------------------------------------------ no window sees its test
def _cut(member, settings):
    """``member`` with its dataset rebuilt from candles cut at its window's test start."""
    from crypto_tune.phases._walkforward_member import Member

    window = member.window
    cut = _truncated(member.dataset, member.settings, window.test[0])
    tag = f"{cut.data_fingerprint}-{member.symbol}"  # members' caches must not meet
    cut = dataclasses.replace(cut, data_fingerprint=tag, feature_key=tag)
    first, last = window.span
    split = settings.split
    folds = tuning_folds(
        cut.candles.index,
        first=first,
        last=last,
        n_folds=split.n_folds,
        purge=split.purge,
        valid_fraction=split.valid_fraction,
        min_train_fraction=split.min_train_fraction,
    )
    return Member(member.settings, cut, window, dataclasses.replace(cut, folds=tuple(folds)))


def test_basket_tuning_inputs_unchanged_by_truncation(basket: list[str], tmp_path: Path) -> None:
    """Every member cut at its own test start: the window's folds, Phase 1 objective (the
    members' mean IC), out-of-fold predictions and the portfolio's Phase 2 objective, equal or
    rebalanced and vol-targeted, are the same: no member's tuning saw its test period."""
    from crypto_tune.phases._walkforward import window_members
    from crypto_tune.phases._walkforward_member import strategy_scorer, window_model_value

    settings = _settings(tmp_path, *basket)
    settings = dataclasses.replace(
        settings, model=dataclasses.replace(settings.model, min_data_in_leaf=40)
    )
    windows = window_members(settings)
    assert len(windows) >= 3 and all(len(members) == 3 for members in windows)
    for members in windows:  # every member's window has the same test dates
        starts = {m.dataset.candles.index[m.window.test[0]] for m in members}
        assert len(starts) == 1
    strategy = StrategySettings(
        name="zscore",
        entry=1.0,
        exit=0.2,
        signal_window=42,
        sizing="vol_target",
        objective="psr",
        stop_loss=0.05,
    )
    risk = dataclasses.replace(
        settings.asset, weights="inverse_vol", rebalance="weekly", target_vol=0.2
    )
    for members in (windows[0], windows[-1]):
        cut = [_cut(m, settings) for m in members]
        for full_member, cut_member in zip(members, cut, strict=True):
            assert cut_member.data.folds == full_member.data.folds
            assert len(cut_member.dataset.candles) == full_member.window.test[0]
        value_full, oofs_full = window_model_value(settings, members, settings.model)
        value_cut, oofs_cut = window_model_value(settings, cut, settings.model)
        assert value_cut == value_full
        for a, b in zip(oofs_full, oofs_cut, strict=True):
            assert not b.from_cache and a.key != b.key
            pd.testing.assert_frame_equal(a.frame, b.frame)
        for asset in (settings.asset, risk):
            variant = dataclasses.replace(settings, asset=asset)
            score_full = strategy_scorer(variant, members, oofs_full)(strategy)
            score_cut = strategy_scorer(variant, cut, oofs_cut)(strategy)
            assert score_cut == score_full


# ------------------------------------------------------------------------------ end to end
def _args(basket: list[str], risk: tuple[str, ...] = RISK) -> list[str]:
    return [
        "phase=walkforward",
        "debug=fast",
        "split=walk_forward",
        "split.train_months=6",
        f"walkforward.model_trials={MODEL_TRIALS}",
        f"walkforward.strategy_trials={STRATEGY_TRIALS}",
        "tracking.enabled=false",
        *risk,
        *basket,
    ]


def _child_cpu_s() -> float:
    """CPU seconds of this process's finished children: the rerun is compared with the first run
    on the work each does (wall time also counts what else the machine runs meanwhile, and the
    first run takes only ~1.5x the rerun's)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _json(outputs: Path) -> dict:
    (path,) = (outputs / "walkforward").glob("*/walkforward.json")
    return json.loads(path.read_text())


def _counts(storage: str, names: list[str]) -> dict[str, int]:
    complete = optuna.trial.TrialState.COMPLETE
    return {
        name: len(
            optuna.load_study(study_name=name, storage=storage).get_trials(states=(complete,))
        )
        for name in names
    }


@pytest.fixture(scope="module")
def first_run(basket: list[str], tmp_path_factory) -> tuple[Path, str, float]:
    outputs = tmp_path_factory.mktemp("wfb") / "outputs"
    started = _child_cpu_s()
    done = run_cli(*_args(basket), f"paths.outputs={outputs}")
    seconds = _child_cpu_s() - started
    assert done.returncode == 0, done.stderr[-3000:]
    return outputs, done.stdout, seconds


@pytest.mark.slow
def test_basket_walkforward_contract(first_run, basket: list[str]) -> None:
    outputs, stdout, _ = first_run
    doc = _json(outputs)
    assert doc["study"] == "default.AAA+BBB+CCC.4h.all.walk_forward.h1"
    assert doc["asset"]["symbols"] == list(SYMBOLS)
    assert doc["portfolio"]["weights"] == "inverse_vol" and doc["portfolio"]["target_vol"] == 0.2
    windows = doc["windows"]
    assert len(windows) == 4
    for w, nxt in itertools.pairwise(windows):
        assert w["test_end"] < nxt["test_start"]
    for w in windows:
        assert w["train_start"] < w["train_end"] < w["test_start"] <= w["test_end"]
        # one model set, tuned on the members' mean IC, recorded per member
        assert set(w["model_params"]) == set(SYMBOLS)
        per_member = list(w["model_params"].values())
        assert all(p == per_member[0] for p in per_member)
        assert {"learning_rate", "num_leaves"} <= set(flat_params(w["model_params"]))
        assert set(w["strategy_params"]) == {
            "entry",
            "exit",
            "signal_window",
            "stop_loss",
            "take_profit",
        }
        assert "sharpe" in w["in_sample"]
        assert set(w["out_of_sample"]) >= {"sharpe", "total_return", "n_trades"}
        members = w["out_of_sample"]["members"]
        assert set(members) == set(SYMBOLS)
        assert w["out_of_sample"]["n_trades"] == sum(m["n_trades"] for m in members.values())
        oos = w["portfolio"]["out_of_sample"]
        assert set(oos["correlation"]) == set(SYMBOLS) and oos["mean_gross"] > 0
        assert set(oos["contributions"]) == {*SYMBOLS, "costs"}
        assert oos["rebalances"] > 0
        assert w["trials"]["model_complete"] == MODEL_TRIALS
        assert w["trials"]["strategy_complete"] == STRATEGY_TRIALS
    assert set(doc["stitched"]) >= {"sharpe", "total_return", "max_drawdown", "n_trades", "psr"}
    assert doc["stitched"]["n_trades"] == sum(w["out_of_sample"]["n_trades"] for w in windows)
    growth = np.prod([1 + w["out_of_sample"]["total_return"] for w in windows])
    assert doc["stitched"]["total_return"] == pytest.approx(growth - 1)
    assert set(doc["benchmark"]) >= {"sharpe", "total_return", "max_drawdown"}
    assert "efficiency" in doc
    # the benchmark: the members bought in equal capital at the first stitched bar, held
    start, end = pd.Timestamp(doc["stitched"]["start"]), pd.Timestamp(doc["stitched"]["end"])
    folder = Path(basket[1].split("=", 1)[1].strip("'")).parent
    held = []
    for symbol in SYMBOLS:
        close = load_candles(folder / f"{symbol}.csv")[0]["close"]
        held.append(close[(close.index >= start) & (close.index <= end)])
    expected = np.mean([c.iloc[-1] / c.iloc[0] for c in held]) - 1
    assert doc["benchmark"]["total_return"] == pytest.approx(expected)
    # the table, the portfolio lines, the page and the curves
    assert "OOS Sharpe" in stdout and "buy & hold" in stdout and "portfolio: mean gross" in stdout
    study_folder = outputs / "walkforward" / doc["study"]
    page = (study_folder / "walkforward.html").read_text()
    assert 'id="plot-equity"' in page and 'id="plot-drift"' in page and "<th>gross</th>" in page
    curves = pd.read_parquet(study_folder / "walkforward.curves.parquet")
    assert len(curves) == doc["stitched"]["n_bars"]
    trades = pd.read_parquet(study_folder / "walkforward.trades.parquet")
    assert set(trades["symbol"]) <= set(SYMBOLS) and len(trades) == doc["stitched"]["n_trades"]
    storage = f"sqlite:///{outputs}/optuna.db"
    assert doc["studies"] == [f"{doc['study']}.wf{k}.{p}" for k in range(4) for p in STEPS]
    counts = _counts(storage, doc["studies"])
    assert all(
        n == (MODEL_TRIALS if name.endswith(".model") else STRATEGY_TRIALS)
        for name, n in counts.items()
    )


@pytest.mark.slow
def test_basket_walkforward_resumes(first_run, basket: list[str]) -> None:
    outputs, _, first_seconds = first_run
    doc = _json(outputs)
    storage = f"sqlite:///{outputs}/optuna.db"
    before = _counts(storage, doc["studies"])
    started = _child_cpu_s()
    done = run_cli(*_args(basket), f"paths.outputs={outputs}")
    seconds = _child_cpu_s() - started
    assert done.returncode == 0, done.stderr[-3000:]
    assert _counts(storage, doc["studies"]) == before
    again = _json(outputs)
    assert all(w["trials"]["model_tuned_here"] == 0 for w in again["windows"])
    assert all(w["trials"]["strategy_tuned_here"] == 0 for w in again["windows"])
    for a, b in zip(doc["windows"], again["windows"], strict=True):
        for key in ("model_params", "strategy_params", "out_of_sample", "portfolio"):
            assert a[key] == b[key], key
    assert again["stitched"] == doc["stitched"] and again["benchmark"] == doc["benchmark"]
    assert seconds < first_seconds, (seconds, first_seconds)
    # a changed weighting scores other portfolios: the window's Phase 2 study refuses it
    equal = ("asset.weights=equal", *RISK[1:])
    done = run_cli(*_args(basket, equal), f"paths.outputs={outputs}")
    assert done.returncode == 2 and "asset.weights" in done.stderr, done.stderr[-2000:]
