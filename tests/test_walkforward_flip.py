"""A market whose planted signal flips sign halfway: walk-forward optimisation re-learns it, a
single tuning (``phase=best``: tuned before the flip, trading after it) keeps the old sign."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import best_dir, run_cli

pytestmark = pytest.mark.slow

FLIP = "2022-01-01"
BETA = 0.25  # the next bar's return loads on the standardised 10-bar momentum with +-BETA


def flipping_market(path: Path, *, seed: int = 11) -> pd.DataFrame:
    """4h candles 2021-2022: momentum before ``FLIP``, reversal after (same strength)."""
    index = pd.date_range("2021-01-01", "2022-12-31 20:00", freq="4h", tz="UTC")
    rng = np.random.default_rng(seed)
    sigma, lags = 0.01, 10
    sign = np.where(index < pd.Timestamp(FLIP, tz="UTC"), 1.0, -1.0)
    r = np.zeros(len(index))
    for t in range(lags, len(index)):
        momentum = np.clip(r[t - lags : t].sum() / (sigma * np.sqrt(lags)), -3, 3)
        r[t] = sign[t] * BETA * sigma * momentum + sigma * rng.standard_normal()
    close = 100.0 * np.exp(np.cumsum(r))
    open_ = np.r_[100.0, close[:-1]]
    wick = sigma * np.abs(rng.standard_normal((2, len(index)))) / 2
    candles = pd.DataFrame(
        {
            "timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "open": open_,
            "high": np.maximum(open_, close) * (1 + wick[0]),
            "low": np.minimum(open_, close) * (1 - wick[1]),
            "close": close,
            "volume": rng.uniform(100, 200, len(index)),
        }
    )
    candles.to_csv(path, index=False)
    return candles


def test_walkforward_tracks_a_flip_that_a_single_tuning_loses(tmp_path: Path) -> None:
    csv = tmp_path / "flip.csv"
    flipping_market(csv)
    outputs = tmp_path / "outputs"
    common = [
        "asset=csv",
        f"asset.path={csv}",
        "asset.symbol=FLIP",
        "split.tune_start=2021-01-01",
        "split.tune_end=2021-12-31",
        "split.holdout_start=2022-01-01",
        "split.holdout_end=2022-12-31",
        "split.n_folds=3",
        "tracking.enabled=false",
        f"paths.outputs={outputs}",
    ]
    done = run_cli(
        "phase=walkforward",
        "split=walk_forward",
        "split.train_months=6",
        "walkforward.model_trials=4",
        "walkforward.strategy_trials=40",
        *common,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = (outputs / "walkforward").glob("*/walkforward.json")
    windows = json.loads(path.read_text())["windows"]
    after = [w for w in windows if w["train_start"] >= FLIP]  # tuned on the new sign only
    assert len(after) == 2
    # a single tuning: both phases on 2021 (before the flip), one refit trading 2022
    for phase, trials in (("model", 4), ("strategy", 40)):
        done = run_cli("-m", f"phase={phase}", f"hydra.sweeper.n_trials={trials}", *common)
        assert done.returncode == 0, done.stderr[-3000:]
    done = run_cli("phase=best", *common)
    assert done.returncode == 0, done.stderr[-3000:]
    best = json.loads((best_dir(outputs) / "workflow.best.json").read_text())
    curves = pd.read_parquet(best_dir(outputs) / "workflow.best.curves.parquet")
    single = curves.loc["out_of_sample", "returns"]
    single = single[single.index >= pd.Timestamp(after[0]["test_start"])]

    # walk-forward's models re-learnt the sign: positive IC and profit in every such window
    for w in after:
        assert w["out_of_sample"]["ic"] > 0.05, w
        assert w["out_of_sample"]["total_return"] > 0, w
    wf_return = np.prod([1 + w["out_of_sample"]["total_return"] for w in after]) - 1
    # the single tuning still trades the old sign: negative IC, losses on the same bars
    assert best["metrics"]["model"]["holdout_ic"] < -0.05
    assert (1 + single).prod() - 1 < 0 < wf_return
