"""Phase 2 objectives: ruin is infeasible, the trade floor is per year, psr resists lotteries."""

from __future__ import annotations

import itertools
import math

import numpy as np
import optuna
import pytest

from crypto_tune import metrics
from crypto_tune.backtest import simulate_returns
from crypto_tune.objectives import (
    FEASIBLE_FLOOR,
    INFEASIBLE_SCORE,
    STRATEGY_OBJECTIVES,
    direction,
    drawdown_excess,
    strategy_score,
    trade_shortfall,
)

PPY = 2190.0
optuna.logging.set_verbosity(optuna.logging.WARNING)


def _score(name: str, returns: np.ndarray, trades: int, **kw) -> float:
    options = {"min_trades_per_year": 0.0, "max_drawdown": 0.5} | kw
    return strategy_score(name, [returns], [trades], periods_per_year=PPY, **options)


def _market(seed: int = 3, n: int = 3000) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * 1.004
    low = np.minimum(open_, close) * 0.996
    # a weak real edge: tomorrow's direction, right 55% of the time
    nxt = np.r_[np.sign(np.diff(np.log(close))), 0.0]
    view = np.where(rng.random(n) < 0.55, nxt, -nxt) * rng.uniform(0.2, 1.0, n)
    return open_, high, low, close, view


def test_a_liquidated_strategy_is_never_the_best_trial() -> None:
    """Leverage is a free parameter of this toy study (the Sharpe barely depends on it until
    ruin): whatever the sampler finds, the best trial is never a liquidated one."""
    market = _market()
    ruined_seen = []

    def objective(trial: optuna.Trial) -> float:
        leverage = trial.suggest_float("leverage", 0.1, 60.0, log=True)
        returns, n = simulate_returns(*market, threshold=0.0, leverage=leverage)
        ruined_seen.append(bool(np.any(returns <= -1.0)))
        return _score("sharpe", returns, n)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    study.optimize(objective, n_trials=40)
    assert any(ruined_seen) and not all(ruined_seen)
    assert not ruined_seen[study.best_trial.number]
    assert study.best_value >= FEASIBLE_FLOOR
    ruined = [t.value for t, r in zip(study.trials, ruined_seen, strict=True) if r]
    assert max(ruined) < INFEASIBLE_SCORE


def test_ruin_beats_nothing_even_with_a_huge_sharpe() -> None:
    rng = np.random.default_rng(0)
    glorious = np.r_[rng.normal(0.01, 0.002, 2000), -1.0, np.zeros(100)]
    modest = rng.normal(0.0002, 0.01, 2101)
    assert metrics.sharpe_ratio(glorious, periods_per_year=PPY) > metrics.sharpe_ratio(
        modest, periods_per_year=PPY
    )
    for name in STRATEGY_OBJECTIVES:
        if direction(name) == "minimize":  # max_drawdown: ruin is worse than any feasible value
            assert _score(name, glorious, 50) > 1.0 > _score(name, modest, 50)
            continue
        assert _score(name, glorious, 50) < _score(name, modest, 50)
        assert _score(name, glorious, 50) <= INFEASIBLE_SCORE
    assert _score("sharpe", glorious, 50, max_drawdown=1.0) <= INFEASIBLE_SCORE  # ruin, always


def test_drawdown_beyond_the_limit_is_infeasible_with_a_gradient() -> None:
    shallow = np.r_[np.full(10, 0.01), -0.55, np.full(10, 0.01)]
    deep = np.r_[np.full(10, 0.01), -0.7, np.full(10, 0.01)]
    ok = np.r_[np.full(10, 0.01), -0.3, np.full(10, 0.01)]
    assert drawdown_excess(ok, 0.5) == 0.0
    assert drawdown_excess(shallow, 0.5) == pytest.approx(0.05)
    s_ok, s_shallow, s_deep = (_score("sharpe", r, 5) for r in (ok, shallow, deep))
    assert s_ok >= FEASIBLE_FLOOR > INFEASIBLE_SCORE > s_shallow > s_deep
    assert s_shallow == pytest.approx(INFEASIBLE_SCORE - 0.05)


def test_feasible_scores_never_fall_below_the_floor() -> None:
    bleeding = np.tile([-0.0005, -0.0004], 400)  # a steady, tiny loss: a hugely negative Sharpe
    assert metrics.sharpe_ratio(bleeding, periods_per_year=PPY) < -100
    assert _score("sharpe", bleeding, 100) == FEASIBLE_FLOOR


def test_the_trade_floor_is_per_year_of_fold_bars() -> None:
    year, half = np.zeros(2190), np.zeros(1095)
    assert trade_shortfall([20, 10], [1.0, 0.5], 20) == 0.0
    assert trade_shortfall([10, 0], [1.0, 0.5], 20) == pytest.approx((0.5 + 1.0) / 2)
    assert trade_shortfall([0], [1.0], 0) == 0.0
    never = strategy_score(
        "psr", [year, half], [0, 0], periods_per_year=PPY, min_trades_per_year=20, max_drawdown=0.5
    )
    assert never == -1.0  # no variance: score 0, full shortfall 1


def test_psr_prefers_400_modest_trades_to_12_lucky_ones() -> None:
    rng = np.random.default_rng(1)
    n = 6570  # three years of 4h bars
    modest = np.zeros(n)
    for k in rng.choice(n // 5, 400, replace=False):  # 400 trades of 5 bars, a small edge
        modest[k * 5 : k * 5 + 5] = rng.normal(0.0003, 0.01, 5)
    lucky = np.zeros(n)
    lucky[rng.choice(n, 12, replace=False)] = [0.3, 0.25, 0.22, 0.35, 0.28, 0.2] * 2
    sharpe = {
        k: metrics.sharpe_ratio(r, periods_per_year=PPY) for k, r in (("m", modest), ("l", lucky))
    }
    assert sharpe["l"] > sharpe["m"]  # Sharpe alone would pick the lottery ...
    args = {"periods_per_year": PPY, "min_trades_per_year": 20, "max_drawdown": 0.5}
    by = {
        (name, k): strategy_score(name, [r], [t], **args)
        for name in ("sharpe", "psr", "psr_nines")
        for k, r, t in (("m", modest, 400), ("l", lucky, 12))
    }
    assert by["sharpe", "l"] > by["sharpe", "m"]  # ... even after the trade floor on Sharpe
    assert by["psr", "m"] > by["psr", "l"]  # psr in [0, 1]: the floor's shortfall decides
    assert by["psr_nines", "m"] > by["psr_nines", "l"]  # the same order, in nines


def test_psr_penalises_small_wins_and_rare_big_losses() -> None:
    """TP 0.5% / stop 13%: negative skew. At the same Sharpe, psr ranks it below a symmetric
    strategy."""
    rng = np.random.default_rng(2)
    n = 6570
    symmetric = rng.normal(0.0, 0.01, n)
    skewed = np.where(rng.random(n) < 0.01, -0.13, 0.005 * rng.random(n))
    symmetric += skewed.mean() / skewed.std() * symmetric.std() - symmetric.mean()
    s_sym = metrics.sharpe_ratio(symmetric, periods_per_year=PPY)
    s_skew = metrics.sharpe_ratio(skewed, periods_per_year=PPY)
    assert s_sym == pytest.approx(s_skew, rel=1e-6) and s_skew > 0
    psr = STRATEGY_OBJECTIVES["psr"]
    assert psr(skewed, PPY) < psr(symmetric, PPY)


def test_every_objective_is_finite_on_degenerate_input() -> None:
    for name in STRATEGY_OBJECTIVES:
        for returns in (np.zeros(0), np.zeros(10), np.array([0.01]), np.array([0.01, -0.01])):
            value = strategy_score(
                name, [returns], [0], periods_per_year=PPY, min_trades_per_year=1.0
            )
            assert math.isfinite(value)


# Issue 22, item 3: the default objective keeps discriminating at the top.


def _strong(edge: float, seed: int = 3, n: int = 6570) -> np.ndarray:
    return np.random.default_rng(seed).normal(edge, 0.01, n)


def test_psr_saturates_where_psr_nines_keeps_the_order() -> None:
    args = {"periods_per_year": PPY, "min_trades_per_year": 20, "max_drawdown": 0.5}
    edges = (0.0015, 0.002, 0.003, 0.004)  # z from about 9 to 26: PSR is 1.0 in floating point
    psr = [strategy_score("psr", [_strong(e)], [2000], **args) for e in edges]
    nines = [strategy_score("psr_nines", [_strong(e)], [2000], **args) for e in edges]
    assert psr == [1.0] * len(edges)  # the sampler sees one flat plateau ...
    assert all(a < b for a, b in itertools.pairwise(nines))  # ... psr_nines an order
    assert all(math.isfinite(v) for v in nines)


@pytest.mark.parametrize("trades", [0, 5, 30, 400])
@pytest.mark.parametrize("edge", [-0.0003, 0.0, 0.00005, 0.0002, 0.0005])
def test_psr_nines_is_minus_log10_of_one_minus_psr_less_the_shortfall(
    edge: float, trades: int
) -> None:
    """An increasing function of ``psr - shortfall`` wherever PSR is not saturated: the trade
    floor and the ranking of ``psr`` are kept exactly."""
    args = {"periods_per_year": PPY, "min_trades_per_year": 20, "max_drawdown": 0.9}
    returns = _strong(edge, n=2190)
    psr = strategy_score("psr", [returns], [trades], **args)
    nines = strategy_score("psr_nines", [returns], [trades], **args)
    assert nines == pytest.approx(-math.log10(1.0 - psr), rel=1e-9, abs=1e-12)


def test_psr_nines_of_a_strategy_that_never_trades_is_the_lowest_feasible_value() -> None:
    year = np.zeros(2190)
    args = {"periods_per_year": PPY, "min_trades_per_year": 20, "max_drawdown": 0.5}
    never = strategy_score("psr_nines", [year], [0], **args)
    assert never == pytest.approx(-math.log10(2.0))
    losing = _strong(-0.0002, n=2190)  # PSR near 0 and no trade counted: as bad as never
    worst = strategy_score("psr_nines", [losing], [0], **{**args, "max_drawdown": 1.0})
    assert never - 1e-12 <= worst < 0 and never > FEASIBLE_FLOOR
