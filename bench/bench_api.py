"""Time ``run_backtest`` (the public API: pandas in, pandas out) against the plain-Python
reference fed and read back through pandas the same way.

``bench_api()`` returns seconds per call of :func:`crypto_tune.backtest.run_backtest` reading its
returns (every output is built on first use), with the trade table too (``result.trades``), of
``tests/reference_backtest.py`` given the candles' columns as lists and its returns turned back
into a Series, and the two ratios; and the wrapping's cost against the kernel's: the time of
``run_backtest(...).returns`` less that of :func:`crypto_tune.backtest.simulate_returns` (the
kernel with its own argument checks, arrays in and out) on the same market, the two alternated
in rounds (medians), as a multiple of the latter (the issue's target: at most 1).
``python bench/bench_api.py`` prints the dict as JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from bench.bench_engine import OPTIONS, _reference, synthetic_market
from crypto_tune.backtest import run_backtest, simulate_returns


def _best_of(call: Callable[[], Any], repeats: int, inner: int) -> float:
    """Seconds per call: the best of ``repeats`` rounds of ``inner`` calls."""
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            call()
        rounds.append((time.perf_counter() - start) / inner)
    return min(rounds)


def _alternated_medians(
    calls: tuple[Callable[[], Any], Callable[[], Any]], repeats: int, inner: int
) -> tuple[float, float]:
    """Seconds per call of each of two calls, timed in alternated rounds of ``inner`` calls:
    the median round of each (the machine's load falls on both alike)."""
    rounds: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for call, kept in zip(calls, rounds, strict=True):
            start = time.perf_counter()
            for _ in range(inner):
                call()
            kept.append((time.perf_counter() - start) / inner)
    return float(np.median(rounds[0])), float(np.median(rounds[1]))


def bench_api(n_bars: int = 12000, repeats: int = 5, inner: int = 20) -> dict[str, Any]:
    """Seconds per ``run_backtest`` call (without and with the trade table) vs the reference."""
    if not isinstance(n_bars, int) or n_bars < 2:
        raise ValueError(f"n_bars must be an int >= 2, got {n_bars!r}")
    open_, high, low, close, predictions = synthetic_market(n_bars)
    index = pd.date_range("2021-01-01", periods=n_bars, freq="4h", tz="UTC")
    candles = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close}, index=index)
    signal = pd.Series(predictions, index=index)
    options = {k: v for k, v in OPTIONS.items() if k != "bar_hours"}
    reference = _reference()

    def api() -> pd.Series:
        return run_backtest(candles, signal, timeframe="4h", **options).returns

    def api_with_trades() -> pd.DataFrame:
        return run_backtest(candles, signal, timeframe="4h", **options).trades

    def plain() -> pd.Series:
        columns = [candles[c].tolist() for c in ("open", "high", "low", "close")]
        returns, _ = reference(*columns, signal.tolist(), **OPTIONS)
        return pd.Series(returns, index=index, name="returns")

    def kernel() -> np.ndarray:
        returns, _ = simulate_returns(open_, high, low, close, predictions, **OPTIONS)
        return returns

    if not np.allclose(api().to_numpy(), plain().to_numpy(), rtol=0.0, atol=1e-9):
        raise RuntimeError("run_backtest and the reference disagree on the bench market")
    api_s = _best_of(api, repeats, inner)
    trades_s = _best_of(api_with_trades, repeats, inner)
    plain_s = _best_of(plain, repeats, 1)
    kernel()  # compiled before it is timed
    beside_s, kernel_s = _alternated_medians((api, kernel), 2 * repeats + 1, 10 * inner)
    return {
        "n_bars": n_bars,
        "n_trades": len(api_with_trades()),
        "api_s": api_s,
        "api_with_trades_s": trades_s,
        "reference_s": plain_s,
        "speedup": plain_s / api_s,
        "speedup_with_trades": plain_s / trades_s,
        "api_beside_kernel_s": beside_s,
        "kernel_s": kernel_s,
        "wrapping_vs_kernel": (beside_s - kernel_s) / kernel_s,
    }


if __name__ == "__main__":
    print(json.dumps(bench_api(), indent=2))
