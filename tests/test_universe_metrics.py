"""The cross-sectional IC (per bar across symbols, then averaged) against scipy, bar by bar."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from crypto_tune.exceptions import DataError
from crypto_tune.metrics import cross_sectional_summary, ic_by_bar


def _long_panel(seed: int = 0, bars: int = 40, names: int = 7):
    rng = np.random.default_rng(seed)
    bar = np.repeat(np.arange(bars), names)
    pred = rng.normal(size=bar.size)
    target = 0.3 * pred + rng.normal(size=bar.size)
    target[rng.random(bar.size) < 0.1] = np.nan
    pred[:names] = 1.0  # bar 0: constant predictions, no IC
    order = rng.permutation(bar.size)  # rows in any order
    return pred[order], target[order], bar[order]


def _by_scipy(pred, target, bar, fn):
    out = {}
    for b in np.unique(bar):
        rows = (bar == b) & np.isfinite(pred) & np.isfinite(target)
        if rows.sum() >= 3 and np.ptp(pred[rows]) > 0 and np.ptp(target[rows]) > 0:
            out[int(b)] = fn(pred[rows], target[rows])[0]
    return out


@pytest.mark.parametrize(("rank", "fn"), [(False, pearsonr), (True, spearmanr)])
def test_ic_by_bar_matches_scipy(rank: bool, fn) -> None:
    pred, target, bar = _long_panel()
    ids, ic = ic_by_bar(pred, target, bar, rank=rank)
    expected = _by_scipy(pred, target, bar, fn)
    got = {int(i): v for i, v in zip(ids, ic, strict=True) if np.isfinite(v)}
    assert got.keys() == expected.keys()
    np.testing.assert_allclose([got[k] for k in sorted(got)], [expected[k] for k in sorted(got)])
    assert 0 not in got  # constant predictions: no IC at that bar


def test_summary_is_the_mean_over_bars_and_keeps_the_pooled_ic() -> None:
    pred, target, bar = _long_panel(1)
    summary = cross_sectional_summary(pred, target, bar)
    per_bar = np.array(list(_by_scipy(pred, target, bar, spearmanr).values()))
    assert summary["rank_ic"] == pytest.approx(per_bar.mean())
    assert summary["rank_icir"] == pytest.approx(per_bar.mean() / per_bar.std(ddof=1))
    assert summary["rank_ic_t"] == pytest.approx(summary["rank_icir"] * np.sqrt(per_bar.size))
    keep = np.isfinite(pred) & np.isfinite(target)
    assert summary["pooled_ic"] == pytest.approx(pearsonr(pred[keep], target[keep])[0])
    assert summary["n_bars"] == per_bar.size


def test_a_time_series_signal_has_pooled_ic_but_no_cross_sectional_ic() -> None:
    rng = np.random.default_rng(2)
    bar = np.repeat(np.arange(200), 5)
    market = rng.normal(size=200)[bar]
    pred = market + 1e-9 * rng.normal(size=bar.size)  # the same for every name in a bar
    target = market + rng.normal(size=bar.size)
    summary = cross_sectional_summary(pred, target, bar)
    assert summary["pooled_ic"] > 0.5
    assert abs(summary["ic"]) < 0.05


def test_shapes_are_checked() -> None:
    with pytest.raises(DataError, match="one length"):
        ic_by_bar([1.0, 2.0], [1.0], [0, 0])


def test_ranks_within_bars_equal_scipy_rankdata_exactly() -> None:
    """One sort for every bar gives rankdata's average ranks bit for bit (ties, one-name bars,
    -0.0 beside 0.0), so the rank IC is unchanged."""
    from scipy.stats import rankdata

    from crypto_tune.metrics._cross_section import _ranks

    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 12, 300)
    values = np.round(rng.normal(size=int(sizes.sum())), 1)  # many ties
    values[:4] = [0.0, -0.0, 0.0, -0.0]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ends = starts + sizes
    expected = np.concatenate([rankdata(values[a:b]) for a, b in zip(starts, ends, strict=True)])
    assert np.array_equal(_ranks(values, starts, ends), expected)
    assert _ranks(np.zeros(0), np.zeros(0, dtype=int), np.zeros(0, dtype=int)).size == 0
