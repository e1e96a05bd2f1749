"""Time the numba backtest kernel against the plain-Python reference on the same market.

``bench_engine()`` returns ``{"fast_s", "reference_s", "speedup", "n_bars"}``: seconds per call
of :func:`crypto_tune.backtest.simulate_returns` (after JIT warm-up; best of ``repeats`` rounds of
``inner`` calls) and of ``tests/reference_backtest.py`` (best of ``repeats`` calls), and their
ratio. ``python bench/bench_engine.py`` prints the dict as JSON.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

from crypto_tune.backtest import simulate_returns

ROOT = Path(__file__).resolve().parents[1]
# A realistic Phase 2 setting: stops, target, leverage and funding all active.
OPTIONS = {
    "threshold": 0.004,
    "stop_loss": 0.03,
    "take_profit": 0.06,
    "leverage": 3.0,
    "fee": 0.0005,
    "slippage": 0.0002,
    "allow_short": True,
    "funding_rate": 0.0001,
    "bar_hours": 4.0,
}


def _reference():
    """The reference implementation, loaded from tests/ (not an installed module)."""
    path = ROOT / "tests" / "reference_backtest.py"
    name = "_bench_reference_backtest"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module.reference_backtest


def synthetic_market(n_bars: int, seed: int = 7) -> tuple[np.ndarray, ...]:
    """(open, high, low, close, predictions): a 4h-like random walk and noisy forecasts."""
    rng = np.random.default_rng(seed)
    close = 2000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.015, n_bars)))
    open_ = np.r_[2000.0, close[:-1]] * np.exp(rng.normal(0.0, 0.001, n_bars))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.008, n_bars)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.008, n_bars)))
    predictions = rng.normal(0.0, 0.006, n_bars)
    predictions[rng.random(n_bars) < 0.05] = np.nan
    return open_, high, low, close, predictions


def bench_engine(n_bars: int = 12000, repeats: int = 5, inner: int = 50) -> dict:
    """Seconds per call of the fast engine and of the reference, and the speedup."""
    if not isinstance(n_bars, int) or n_bars < 2:
        raise ValueError(f"n_bars must be an int >= 2, got {n_bars!r}")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    if not isinstance(inner, int) or inner < 1:
        raise ValueError(f"inner must be an int >= 1, got {inner!r}")
    market = synthetic_market(n_bars)
    reference = _reference()
    fast_returns, _ = simulate_returns(*market, **OPTIONS)  # JIT warm-up (or cache load)

    fast = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            simulate_returns(*market, **OPTIONS)
        fast.append((time.perf_counter() - start) / inner)
    slow = []
    for _ in range(repeats):
        start = time.perf_counter()
        ref_returns, _ = reference(*market, **OPTIONS)
        slow.append(time.perf_counter() - start)
    if not np.allclose(fast_returns, ref_returns, rtol=0.0, atol=1e-9):
        raise RuntimeError("the fast engine and the reference disagree on the bench market")
    fast_s, reference_s = min(fast), min(slow)
    return {
        "fast_s": fast_s,
        "reference_s": reference_s,
        "speedup": reference_s / fast_s,
        "n_bars": n_bars,
    }


if __name__ == "__main__":
    print(json.dumps(bench_engine(), indent=2))
