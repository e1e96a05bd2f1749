"""Fast bar-by-bar backtest of a signal-driven strategy (one numba kernel, two entry points).

``run_backtest`` takes pandas objects and returns a :class:`BacktestResult` with returns, equity,
positions and a trade list; ``simulate_returns`` takes NumPy arrays and returns only the per-bar
returns and the trade count, for optimisation loops. Both apply the same rules: see
``run_backtest``'s docstring and ``crypto_tune/backtest/_kernel.py``. ``zscore_signal``,
``realised_volatility`` and ``vol_target_leverage`` (``_signals.py``) turn predictions into a
scale-free signal and market volatility into a position size.
"""

from crypto_tune.backtest._engine import simulate_returns
from crypto_tune.backtest._kernel import REASONS
from crypto_tune.backtest._params import BacktestParams
from crypto_tune.backtest._result import TRADE_COLUMNS, BacktestResult, TradeLog, run_backtest
from crypto_tune.backtest._signals import (
    SIGNAL_MIN_PERIODS,
    realised_volatility,
    vol_target_leverage,
    zscore_signal,
)

__all__ = [
    "REASONS",
    "SIGNAL_MIN_PERIODS",
    "TRADE_COLUMNS",
    "BacktestParams",
    "BacktestResult",
    "TradeLog",
    "realised_volatility",
    "run_backtest",
    "simulate_returns",
    "vol_target_leverage",
    "zscore_signal",
]
