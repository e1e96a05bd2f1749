"""The universe's portfolio kernel equals a plain-Python reference on small random panels."""

from __future__ import annotations

import numpy as np
import pytest

from crypto_tune.exceptions import ConfigError
from crypto_tune.universe import PortfolioParams, simulate_portfolio
from tests.universe_reference import reference_portfolio


def _panel(seed: int, t_len: int = 60, n: int = 6):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(t_len, n))
    scores[rng.random((t_len, n)) < 0.15] = np.nan  # not in the panel at that bar
    returns = rng.normal(0, 0.02, size=(t_len, n))
    tradable = rng.random((t_len, n)) > 0.08  # gaps: no candle
    returns[~tradable] = 0.0
    vol = np.abs(rng.normal(0.02, 0.01, size=(t_len, n)))
    vol[rng.random((t_len, n)) < 0.05] = np.nan
    funding = np.where(np.arange(t_len) % 2 == 0, 0.0001, 0.0)
    borrow = np.full(t_len, 0.00002)
    return scores, returns, tradable, vol, funding, borrow


CASES = [
    PortfolioParams(top_k=2, n_drop=2, fee=0.001),
    PortfolioParams(top_k=2, n_drop=1, rebalance=3, fee=0.0005),
    PortfolioParams(top_k=3, n_drop=0, long_only=True, inverse_vol=True),
    PortfolioParams(top_k=1, n_drop=1, target_vol=0.5, max_gross=2.0, vol_window=10, fee=0.001),
    PortfolioParams(top_k=4, n_drop=1, inverse_vol=True, target_vol=0.3, vol_window=5),
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("params", CASES, ids=lambda p: f"k{p.top_k}d{p.n_drop}r{p.rebalance}")
def test_kernel_equals_reference(seed: int, params: PortfolioParams) -> None:
    scores, returns, tradable, vol, funding, borrow = _panel(seed)
    fast = simulate_portfolio(
        scores, returns, tradable, vol, params, funding=funding, borrow=borrow
    )
    net, gross, turnover, entries, contribution = reference_portfolio(
        scores.tolist(),
        returns.tolist(),
        tradable.tolist(),
        vol.tolist(),
        params,
        funding.tolist(),
        borrow.tolist(),
    )
    np.testing.assert_allclose(fast.net, net, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.gross, gross, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.turnover, turnover, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(fast.entries, entries)
    np.testing.assert_allclose(fast.contribution, contribution, rtol=1e-9, atol=1e-12)


def test_market_neutral_books_and_caps() -> None:
    scores, returns, tradable, vol, _, _ = _panel(3)
    tradable = np.ones_like(tradable)  # every name can be traded: each book is exactly 0.5
    result = simulate_portfolio(scores, returns, tradable, vol, PortfolioParams(top_k=2, n_drop=2))
    inside = slice(1, -1)
    assert np.all(result.long[inside] <= 0.5 + 1e-9)
    assert np.all(result.short[inside] <= 0.5 + 1e-9)
    # the capped rule trades less than the uncapped one
    capped = simulate_portfolio(scores, returns, tradable, vol, PortfolioParams(top_k=2, n_drop=0))
    assert capped.turnover.sum() < result.turnover.sum()
    assert result.turnover[-1] > 0  # the segment ends flat


def test_perfect_foresight_earns_and_fees_cost() -> None:
    rng = np.random.default_rng(5)
    returns = rng.normal(0, 0.02, size=(200, 8))
    scores = np.vstack([returns[1:], np.zeros((1, 8))])  # the next bar's return
    ones = np.ones_like(returns, dtype=bool)
    vol = np.full_like(returns, 0.02)
    free = simulate_portfolio(scores, returns, ones, vol, PortfolioParams(top_k=2, n_drop=2))
    paid = simulate_portfolio(
        scores, returns, ones, vol, PortfolioParams(top_k=2, n_drop=2, fee=0.001)
    )
    assert free.net.sum() > 0.5
    assert paid.net.sum() == pytest.approx(free.net.sum() - 0.001 * free.turnover.sum())


def test_params_are_checked() -> None:
    with pytest.raises(ConfigError, match="top_k must be an int >= 1, got 0"):
        PortfolioParams(top_k=0)
    with pytest.raises(ConfigError, match="rebalance"):
        PortfolioParams(rebalance=0)
