"""Portfolio combination: hand-computed sleeves, alignment on the union of timestamps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crypto_tune.exceptions import ConfigError
from crypto_tune.portfolio import combine_returns, combine_sleeves


def _series(values, start="2024-01-01", periods=None, freq="4h"):
    index = pd.date_range(start, periods=periods or len(values), freq=freq, tz="UTC")
    return pd.Series(values, index=index, dtype=float)


def test_two_sleeves_by_hand() -> None:
    a = _series([0.10, -0.10])
    b = _series([0.00, 0.20])
    out = combine_returns({"a": a, "b": b})
    # equities: a 1.10, 0.99; b 1.00, 1.20 -> portfolio 1.05, 1.095
    assert out.to_numpy() == pytest.approx([0.05, 1.095 / 1.05 - 1])
    assert (1 + out).prod() == pytest.approx(0.5 * 0.99 + 0.5 * 1.20)


def test_missing_bars_keep_the_sleeve_still() -> None:
    a = _series([0.10, 0.10, 0.10])
    b = pd.Series([0.50], index=a.index[1:2])  # b only trades at the second bar
    out = combine_returns({"a": a, "b": b}, weights={"a": 0.5, "b": 0.5})
    equity = np.cumprod(1 + out.to_numpy())
    assert equity == pytest.approx([0.5 * 1.1 + 0.5, 0.5 * 1.21 + 0.75, 0.5 * 1.331 + 0.75])


def test_weights_are_checked() -> None:
    with pytest.raises(ConfigError, match="sum to 1"):
        combine_sleeves([np.zeros(2)], [np.arange(2)], 2, weights=[0.5])
    with pytest.raises(ConfigError, match="non-negative"):
        combine_sleeves([np.zeros(2), np.zeros(2)], [np.arange(2)] * 2, 2, weights=[1.5, -0.5])


def test_compounding_equals_weighted_growth_on_random_sleeves() -> None:
    rng = np.random.default_rng(3)
    sleeves = {f"s{i}": _series(rng.normal(0, 0.01, 50)) for i in range(3)}
    out = combine_returns(sleeves)
    growth = np.mean([(1 + s).prod() for s in sleeves.values()])
    assert (1 + out).prod() == pytest.approx(growth)
