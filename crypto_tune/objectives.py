"""Objective registries: one small function per name (freqtrade's losses, but maximised).

The registries' keys feed config validation and the unknown-name error. Every objective returns a
finite float; degenerate input is handled by an explicit rule documented here, never by NaN.

Rules for degenerate input
--------------------------
* Phase 1: a fold whose predictions are constant (LightGBM found no split) carries no
  information: its IC and rank IC count as 0.
* Phase 2, ruin first: the folds' returns are chained into one equity curve. When it reaches
  zero (a liquidation: a return of -100%) or falls by more than ``max_drawdown`` from a peak,
  the trial is INFEASIBLE and its objective is ``INFEASIBLE_SCORE - excess`` with
  ``excess = max_drawdown_seen - max_drawdown`` (in (0, 1]; ruin is the largest excess). Every
  feasible objective is at least ``FEASIBLE_FLOOR`` (scores below it are raised to it), which
  is above ``INFEASIBLE_SCORE``: a ruined or over-drawn strategy can never be the best trial,
  and among infeasible trials the smaller excess still scores higher (the sampler has a
  gradient back to feasibility).
* Phase 2, trade floor: fold ``k`` must close ``min_trades_per_year * years_k`` trades
  (``years_k`` = its bars / bars per year). The objective of a feasible trial is
  ``score - shortfall``, where ``shortfall`` is the mean over folds of
  ``max(0, required_k - n_trades_k) / required_k`` (0 when every fold trades enough, 1 when none
  trades). An undefined score (no variance at all: the strategy never trades) counts as 0, so
  "never trade" scores -1 and cannot win against any strategy with a score above -1, while
  under-traded strategies keep their ranking among themselves (a cap at 0 would flatten every
  good-but-under-traded trial into one plateau the sampler cannot climb).
* ``psr``: the probabilistic Sharpe ratio (Bailey & López de Prado) of the chained per-bar
  returns against a Sharpe of 0: the probability that the true Sharpe is positive, given the
  number of bars, the skew and the (raw) kurtosis. A few big trades make the bar returns
  fat-tailed (high kurtosis) and, for small-win/big-loss rules, negatively skewed, both of which
  lower PSR at equal Sharpe. NaN moments (no variance) count as 0, like every score.
* ``psr_nines`` (the default): the same ranking as ``psr`` less the trade shortfall, on a scale
  that does not saturate. PSR is ``Φ(z)``, and once ``z`` passes about 8 every trial scores
  1.0 in floating point: the sampler can no longer tell the top trials apart. ``psr_nines`` is
  ``-log10(1 - PSR + shortfall)``, the number of nines of PSR (0.99: 2, 0.9999: 4), computed from
  ``log Φ(-z)`` so that it never rounds: a strictly increasing function of ``psr - shortfall``
  (whatever ``psr`` ranks above, ``psr_nines`` ranks above) that keeps growing with ``z``. A
  strategy that never trades scores ``-log10(2)``, the lowest feasible value.
* Two objectives (``strategy.objective=[sharpe,max_drawdown]``): each is scored by the rules
  above in its own direction (``OBJECTIVE_DIRECTIONS``). A minimised objective (the max
  drawdown) gets the trade shortfall added instead of subtracted, and an infeasible trial scores
  ``1 + excess`` on it (worse than any feasible drawdown), so an infeasible or under-traded trial
  is dominated on both objectives and never reaches the Pareto front ahead of a sound one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr, ndtr

from crypto_tune import metrics
from crypto_tune.exceptions import ConfigError

# ------------------------------------------------------------------------------- Phase 1 (IC)

ModelObjective = Callable[[Mapping[str, float]], float]


def _nan_to_zero(value: float) -> float:
    return 0.0 if value is None or not math.isfinite(value) else float(value)


MODEL_OBJECTIVES: dict[str, ModelObjective] = {
    "ic": lambda summary: _nan_to_zero(summary["ic"]),
    "rank_ic": lambda summary: _nan_to_zero(summary["rank_ic"]),
    "icir": lambda summary: _nan_to_zero(summary["icir"]),
}

# ------------------------------------------------------------------------- Phase 2 (backtest)

DRAWDOWN_PENALTY = 2.0  # sharpe_dd: each 10% of max drawdown costs 0.2 Sharpe
FEASIBLE_FLOOR = -9.0  # the lowest objective of a feasible trial
INFEASIBLE_SCORE = -10.0  # ruin or too deep a drawdown: this minus the excess drawdown


def _sharpe(returns: np.ndarray, periods_per_year: float) -> float:
    return metrics.sharpe_ratio(returns, periods_per_year=periods_per_year)


def _sortino(returns: np.ndarray, periods_per_year: float) -> float:
    return metrics.sortino_ratio(returns, periods_per_year=periods_per_year)


def _calmar(returns: np.ndarray, periods_per_year: float) -> float:
    return metrics.calmar_ratio(returns, periods_per_year=periods_per_year)


def _sharpe_dd(returns: np.ndarray, periods_per_year: float) -> float:
    sharpe = metrics.sharpe_ratio(returns, periods_per_year=periods_per_year)
    return sharpe - DRAWDOWN_PENALTY * metrics.max_drawdown(returns)


def _psr_z(returns: np.ndarray) -> float:
    """The PSR's z-statistic against a Sharpe of 0 (PSR = Φ(z)); NaN when undefined."""
    sharpe, n_obs, skew, kurtosis = metrics.sharpe_moments(returns)
    if n_obs < 2 or not all(math.isfinite(v) for v in (sharpe, skew, kurtosis)):
        return math.nan
    try:
        return metrics.probabilistic_sharpe_z(sharpe, n_obs, skew, kurtosis)
    except ConfigError:  # a degenerate two-point distribution (zero denominator)
        return math.nan


def _psr(returns: np.ndarray, periods_per_year: float) -> float:
    z = _psr_z(returns)
    return math.nan if math.isnan(z) else float(ndtr(z))


_LN10 = math.log(10.0)


def _psr_nines(returns: np.ndarray, periods_per_year: float) -> float:
    """``-log10(1 - PSR)`` from ``log Φ(-z)``: no rounding to 1.0 at the top."""
    z = _psr_z(returns)
    return math.nan if math.isnan(z) else float(-log_ndtr(-z) / _LN10)


def _minus_shortfall(score: float, shortfall: float) -> float:
    return score - shortfall


def _nines_minus_shortfall(nines: float, shortfall: float) -> float:
    """``-log10(1 - (PSR - shortfall))`` for ``nines = -log10(1 - PSR)``, in log space."""
    if shortfall <= 0:
        return nines
    return float(-np.logaddexp(-nines * _LN10, math.log(shortfall)) / _LN10)


@dataclass(frozen=True)
class StrategyObjective:
    """A Phase 2 objective: ``score(returns, periods_per_year)`` (NaN when undefined) and how a
    trade-floor ``shortfall`` in [0, 1] lowers it (``penalise(score, shortfall)``, for a
    maximised objective; a minimised one gets the shortfall added). Calling it scores."""

    score: Callable[[np.ndarray, float], float]
    penalise: Callable[[float, float], float] = _minus_shortfall

    def __call__(self, returns: np.ndarray, periods_per_year: float) -> float:
        return self.score(returns, periods_per_year)


STRATEGY_OBJECTIVES: dict[str, StrategyObjective] = {
    "sharpe": StrategyObjective(_sharpe),
    "sortino": StrategyObjective(_sortino),
    "calmar": StrategyObjective(_calmar),
    "sharpe_dd": StrategyObjective(_sharpe_dd),
    "psr": StrategyObjective(_psr),
    "psr_nines": StrategyObjective(_psr_nines, _nines_minus_shortfall),
    "max_drawdown": StrategyObjective(lambda returns, _ppy: metrics.max_drawdown(returns)),
}
# Every strategy objective is maximised except these (the sweeper's direction follows).
OBJECTIVE_DIRECTIONS: dict[str, str] = {"max_drawdown": "minimize"}


def direction(name: str) -> str:
    """``"maximize"`` or ``"minimize"``: how the sweeper treats objective ``name``."""
    return OBJECTIVE_DIRECTIONS.get(name, "maximize")


def trade_shortfall(
    n_trades_per_fold: Sequence[int], fold_years: Sequence[float], min_trades_per_year: float
) -> float:
    """Mean over folds of the missing share of ``min_trades_per_year * years`` trades."""
    if min_trades_per_year <= 0 or not len(n_trades_per_fold):
        return 0.0
    missing = []
    for n, years in zip(n_trades_per_fold, fold_years, strict=True):
        required = min_trades_per_year * years
        missing.append(max(0.0, required - n) / required if required > 0 else 0.0)
    return float(np.mean(missing))


def drawdown_excess(returns: np.ndarray, max_drawdown: float) -> float:
    """How far the chained equity's worst drawdown goes beyond ``max_drawdown`` (0: feasible).

    Ruin (equity at zero) always counts as infeasible: its excess is ``1 - max_drawdown``, or a
    tiny positive number when ``max_drawdown`` is 1.
    """
    if returns.size == 0:
        return 0.0
    ruined = bool(np.any(returns <= -1.0))
    worst = 1.0 if ruined else _nan_to_zero(metrics.max_drawdown(returns))
    excess = worst - max_drawdown
    if ruined:
        return max(excess, 1e-12)
    return max(excess, 0.0)


def strategy_score(
    name: str,
    fold_returns: Sequence[np.ndarray],
    n_trades_per_fold: Sequence[int],
    *,
    periods_per_year: float,
    min_trades_per_year: float,
    max_drawdown: float = 1.0,
) -> float:
    """Objective ``name`` on the out-of-fold returns (folds chained), with the feasibility and
    trade-floor rules of this module's docstring."""
    parts = [np.asarray(r, dtype=float) for r in fold_returns]
    returns = np.concatenate(parts) if parts else np.zeros(0)
    excess = drawdown_excess(returns, max_drawdown)
    minimise = direction(name) == "minimize"
    if excess > 0:
        return 1.0 + excess if minimise else INFEASIBLE_SCORE - excess
    objective = STRATEGY_OBJECTIVES[name]
    score = _nan_to_zero(objective(returns, periods_per_year))
    years = [len(r) / periods_per_year for r in parts]
    shortfall = trade_shortfall(n_trades_per_fold, years, min_trades_per_year)
    if minimise:
        return score + shortfall
    return max(objective.penalise(score, shortfall), FEASIBLE_FLOOR)


def strategy_values(
    names: Sequence[str],
    fold_returns: Sequence[np.ndarray],
    n_trades_per_fold: Sequence[int],
    *,
    periods_per_year: float,
    min_trades_per_year: float,
    max_drawdown: float = 1.0,
) -> tuple[float, ...]:
    """:func:`strategy_score` of each objective in ``names`` (a multi-objective trial)."""
    return tuple(
        strategy_score(
            name,
            fold_returns,
            n_trades_per_fold,
            periods_per_year=periods_per_year,
            min_trades_per_year=min_trades_per_year,
            max_drawdown=max_drawdown,
        )
        for name in names
    )


__all__ = [
    "DRAWDOWN_PENALTY",
    "FEASIBLE_FLOOR",
    "INFEASIBLE_SCORE",
    "MODEL_OBJECTIVES",
    "OBJECTIVE_DIRECTIONS",
    "STRATEGY_OBJECTIVES",
    "StrategyObjective",
    "direction",
    "drawdown_excess",
    "strategy_score",
    "strategy_values",
    "trade_shortfall",
]
