"""Evaluating a strategy on cached predictions, shared by the phases: the rule meets the engine
(:mod:`._rules`), fold arrays and their backtest (:mod:`._folds`), the per-process contexts and
the evaluation of one strategy (:mod:`._contexts`), a basket's rebalanced sleeves
(:mod:`._basket`). Pure of Hydra; below every phase.
"""

from crypto_tune.evaluation._basket import fold_paths, is_plain, rebalanced_folds
from crypto_tune.evaluation._contexts import (
    PortfolioContext,
    StrategyContext,
    evaluate_strategy,
    portfolio_context,
    portfolio_folds,
    resolve_model,
    single_context,
    strategy_context,
)
from crypto_tune.evaluation._folds import (
    FoldArrays,
    backtest_folds,
    fold_arrays_for,
    score_strategy,
)
from crypto_tune.evaluation._rules import backtest_segment, rule_inputs, tuned_params

__all__ = [
    "FoldArrays",
    "PortfolioContext",
    "StrategyContext",
    "backtest_folds",
    "backtest_segment",
    "evaluate_strategy",
    "fold_arrays_for",
    "fold_paths",
    "is_plain",
    "portfolio_context",
    "portfolio_folds",
    "rebalanced_folds",
    "resolve_model",
    "rule_inputs",
    "score_strategy",
    "single_context",
    "strategy_context",
    "tuned_params",
]
