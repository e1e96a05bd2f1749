"""Pure metrics: information coefficients, performance measures and overfitting statistics.

NumPy/SciPy/pandas in, floats (or a dict of floats) out; no I/O, no Hydra, MLflow or Optuna.
Degenerate input returns ``float("nan")`` by a rule stated in each docstring; the callers
(objectives) decide what NaN means. Sharpe ratios in the overfitting statistics are PER PERIOD
and kurtosis is RAW (3 for a normal); performance ratios are annualised with the caller's
``periods_per_year`` (24/7 market, see :func:`crypto_tune.timeframes.periods_per_year`).
"""

from crypto_tune.metrics._cross_section import cross_sectional_summary, ic_by_bar
from crypto_tune.metrics._haircut import (
    Haircut,
    HaircutSharpe,
    autocorrelation_adjusted_sharpe,
    haircut_of_returns,
    haircut_sharpe_ratio,
)
from crypto_tune.metrics._ic import (
    hit_rate,
    ic_summary,
    information_coefficient,
    information_ratio,
    rank_information_coefficient,
)
from crypto_tune.metrics._multiple_testing import (
    SPAResult,
    TrialClusters,
    correlation_distance,
    default_block_size,
    minimum_backtest_length,
    superior_predictive_ability,
    superior_trials,
    trial_clusters,
)
from crypto_tune.metrics._overfitting import (
    deflated_sharpe_ratio,
    expected_maximum_sharpe,
    probabilistic_sharpe_ratio,
    probabilistic_sharpe_z,
    probability_of_backtest_overfitting,
    sharpe_moments,
)
from crypto_tune.metrics._performance import (
    cagr,
    calmar_ratio,
    exposure,
    max_drawdown,
    performance_summary,
    profit_factor,
    sharpe_ratio,
    sortino_ratio,
    total_return,
    turnover,
    win_rate,
)

__all__ = [
    "Haircut",
    "HaircutSharpe",
    "SPAResult",
    "TrialClusters",
    "autocorrelation_adjusted_sharpe",
    "cagr",
    "calmar_ratio",
    "correlation_distance",
    "cross_sectional_summary",
    "default_block_size",
    "deflated_sharpe_ratio",
    "expected_maximum_sharpe",
    "exposure",
    "haircut_of_returns",
    "haircut_sharpe_ratio",
    "hit_rate",
    "ic_by_bar",
    "ic_summary",
    "information_coefficient",
    "information_ratio",
    "max_drawdown",
    "minimum_backtest_length",
    "performance_summary",
    "probabilistic_sharpe_ratio",
    "probabilistic_sharpe_z",
    "probability_of_backtest_overfitting",
    "profit_factor",
    "rank_information_coefficient",
    "sharpe_moments",
    "sharpe_ratio",
    "sortino_ratio",
    "superior_predictive_ability",
    "superior_trials",
    "total_return",
    "trial_clusters",
    "turnover",
    "win_rate",
]
