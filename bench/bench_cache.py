"""A Phase 2 trial on cached predictions against one that retrains the model every trial.

``bench_cache(data_overrides, work_dir=...)`` times
:func:`crypto_tune.phases._strategy.run_strategy_trial` twice over:

* warm: the strategy context (out-of-fold predictions, per-fold arrays) is built; a trial is the
  backtest of every fold plus the objective, which is what a Phase 2 sweep pays per trial;
* retrain: the in-memory contexts and out-of-fold cache are cleared and the prediction cache
  folder emptied before each trial, so the trial trains LightGBM on every fold, predicts, then
  backtests (what a Phase 2 trial would cost without the prediction cache).

The report gives both, their ratio and the share of trial time the cache cuts.
"""

from __future__ import annotations

import dataclasses
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# The Phase 2 search space of conf/phase/strategy.yaml: name -> (low, high, log).
STRATEGY_RANGES: dict[str, tuple[float, float, bool]] = {
    "threshold": (1e-5, 0.02, True),
    "stop_loss": (0.005, 0.2, False),
    "take_profit": (0.005, 0.4, False),
    "leverage": (1.0, 5.0, False),
}


def random_strategies(n: int, *, seed: int = 0) -> list[dict[str, float]]:
    """``n`` strategy parameter sets drawn uniformly (log-uniformly for threshold)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        params = {}
        for name, (low, high, log) in STRATEGY_RANGES.items():
            if log:
                params[name] = float(np.exp(rng.uniform(np.log(low), np.log(high))))
            else:
                params[name] = float(rng.uniform(low, high))
        out.append(params)
    return out


def bench_cache(
    data_overrides: Sequence[str],
    *,
    work_dir: Path,
    warm_trials: int = 200,
    retrain_trials: int = 3,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Seconds per Phase 2 trial with warm cached predictions and with retraining per trial."""
    if not isinstance(warm_trials, int) or warm_trials < 1:
        raise ValueError(f"warm_trials must be an int >= 1, got {warm_trials!r}")
    if not isinstance(retrain_trials, int) or retrain_trials < 1:
        raise ValueError(f"retrain_trials must be an int >= 1, got {retrain_trials!r}")
    from crypto_tune.cli import preflight
    from crypto_tune.evaluation import strategy_context
    from crypto_tune.memo import clear_memos
    from crypto_tune.phases import _strategy

    work_dir.mkdir(parents=True, exist_ok=True)
    overrides = [
        "phase=strategy",
        *data_overrides,
        "phase.model_source=config",
        f"paths.outputs={work_dir}",
        "tracking.enabled=false",
    ]
    settings = preflight(overrides)
    if settings is None:
        raise RuntimeError("preflight returned no settings")
    predictions_dir = Path(settings.paths.cache) / "predictions"
    strategies = random_strategies(warm_trials + retrain_trials + 1)

    def with_strategy(params: dict[str, float]) -> Any:
        return dataclasses.replace(
            settings, strategy=dataclasses.replace(settings.strategy, **params)
        )

    # Warm-up: JIT load of the backtest kernel, imports, the first context.
    _strategy.run_strategy_trial(with_strategy(strategies[-1]))

    retrain = []
    for i in range(retrain_trials):
        clear_memos("strategy_contexts", "predictions")
        shutil.rmtree(predictions_dir, ignore_errors=True)
        start = time.perf_counter()
        _strategy.run_strategy_trial(with_strategy(strategies[warm_trials + i]))
        retrain.append(time.perf_counter() - start)
        context = strategy_context(settings)
        if context.oof.from_cache:
            raise RuntimeError("the retraining trial read cached predictions")
        progress(f"[bench] cache: retraining trial {i + 1}/{retrain_trials} {retrain[-1]:.3f}s")

    warm = []
    for params in strategies[:warm_trials]:
        start = time.perf_counter()
        _strategy.run_strategy_trial(with_strategy(params))
        warm.append(time.perf_counter() - start)
    warm_s = statistics.fmean(warm)
    retrain_s = statistics.fmean(retrain)
    progress(f"[bench] cache: warm trial {1000 * warm_s:.2f} ms over {warm_trials} trials")
    return {
        "asset": settings.asset.name,
        "n_folds": len(context.folds),
        "n_test_bars": int(sum(len(f.close) for f in context.folds)),
        "warm_trials": warm_trials,
        "retrain_trials": retrain_trials,
        "warm_ms_per_trial": 1000.0 * warm_s,
        "warm_ms_median": 1000.0 * statistics.median(warm),
        "retrain_ms_per_trial": 1000.0 * retrain_s,
        "retrain_ms_min": 1000.0 * min(retrain),
        "ratio": retrain_s / warm_s,
        "time_cut": 1.0 - warm_s / retrain_s,
        "claimed_time_cut": 0.90,
        "overrides": overrides,
    }
