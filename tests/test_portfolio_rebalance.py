"""Risk-budgeted baskets: weights, rebalancing, fees on moved notional, portfolio vol target."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crypto_tune.portfolio import (
    combine_sleeves,
    contributions,
    rebalance_points,
    rebalanced_portfolio,
    target_weights,
)

PPY = 2190.0


def _correlated(n: int, vols: list[float], rho: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = np.asarray(vols)
    cov = np.outer(v, v) * (rho * np.ones((len(v), len(v))) + (1 - rho) * np.eye(len(v)))
    return rng.multivariate_normal(np.zeros(len(v)), cov, n)


def _index(n: int) -> pd.DatetimeIndex:
    return pd.date_range("2021-01-01", periods=n, freq="4h", tz="UTC")


def test_never_equal_is_todays_basket() -> None:
    r = _correlated(2000, [0.01, 0.02, 0.015], 0.3)
    path = rebalanced_portfolio(r, np.zeros(2000, bool))
    old = combine_sleeves(list(r.T), [np.arange(2000)] * 3, 2000)
    assert np.allclose(path.returns, old, atol=1e-12) and path.rebalances == 0


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.7])
def test_known_correlation_gets_the_target_volatility(rho: float) -> None:
    sigma = 0.2 / np.sqrt(PPY)  # each sleeve 20% a year
    r = _correlated(8000, [sigma] * 3, rho, seed=4)
    points = rebalance_points(_index(8000), "weekly")
    plain = rebalanced_portfolio(r, points, periods_per_year=PPY)
    expected = 0.2 * np.sqrt((1 + 2 * rho) / 3)  # equal weights, diversified
    assert plain.returns.std() * np.sqrt(PPY) == pytest.approx(expected, rel=0.1)
    target = rebalanced_portfolio(
        r, points, target_vol=0.2, max_gross=10.0, periods_per_year=PPY, cost_rate=0.0007
    )
    assert target.returns.std() * np.sqrt(PPY) == pytest.approx(0.2, rel=0.1)
    # diversification shows as gross exposure at the same risk
    assert target.gross[500:].mean() == pytest.approx(0.2 / expected, rel=0.15)


def test_inverse_vol_weights_and_costs() -> None:
    r = _correlated(3000, [0.01, 0.02], 0.2, seed=2)
    w = target_weights(r[-180:], "inverse_vol")
    assert w[0] / w[1] == pytest.approx(2.0, rel=0.15)
    index = _index(3000)
    points = rebalance_points(index, "monthly")
    assert points.sum() == index.tz_localize(None).to_period("M").nunique() - 1
    assert np.all(index[1:][points[:-1]].day == 1)  # the close before each month's first bar
    free = rebalanced_portfolio(r, points, weighting="inverse_vol")
    paid = rebalanced_portfolio(r, points, weighting="inverse_vol", cost_rate=0.001)
    assert paid.costs.sum() > 0 and np.prod(1 + paid.returns) < np.prod(1 + free.returns)
    parts = contributions(paid, r, ["a", "b"])
    risk = sum(v["risk"] for v in parts["contributions"].values())
    assert risk == pytest.approx(1.0, abs=1e-6)
    assert parts["correlation"]["a"]["b"] == pytest.approx(0.2, abs=0.06)


def test_rebalancing_is_causal() -> None:
    r = _correlated(2000, [0.01, 0.02, 0.03], 0.1, seed=5)
    points = rebalance_points(_index(2000), "42")
    kwargs = {"weighting": "inverse_vol", "target_vol": 0.3, "cost_rate": 0.001}
    full = rebalanced_portfolio(r, points, **kwargs)
    changed = r.copy()
    changed[1500:] *= 3.0
    cut = rebalanced_portfolio(changed, points, **kwargs)
    assert np.array_equal(full.returns[:1500], cut.returns[:1500])
