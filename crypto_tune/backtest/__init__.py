"""Fast bar-by-bar backtest of a prediction-driven strategy (one numba kernel, two entry points).

``run_backtest`` takes pandas objects and returns a :class:`BacktestResult` with returns, equity,
positions and a trade list; ``simulate_returns`` takes NumPy arrays and returns only the per-bar
returns and the trade count, for optimisation loops. Both apply the same rules: see
``run_backtest``'s docstring and ``crypto_tune/backtest/_engine.py``.
"""

from crypto_tune.backtest._engine import REASONS, simulate_returns
from crypto_tune.backtest._result import TRADE_COLUMNS, BacktestResult, run_backtest

__all__ = ["REASONS", "TRADE_COLUMNS", "BacktestResult", "run_backtest", "simulate_returns"]
