"""The universe panel: one calendar, late listings and gaps, cross-sectional features, the
label's normalisation, and no lookahead (truncating the future leaves the past unchanged)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.universe import build_panel
from crypto_tune.universe._panel import off_calendar
from tests.universe_market import universe_candles

WINDOWS = (5, 10)
KW = {"timeframe": "4h", "windows": WINDOWS, "horizon": 1}


@pytest.fixture(scope="module")
def candles() -> dict[str, pd.DataFrame]:
    return universe_candles(n_symbols=5, n_bars=400, late={3: 150}, gaps={1: (200, 205)})


def test_late_listing_and_gaps(candles) -> None:
    panel = build_panel(candles, **KW)
    assert len(panel.index) == 400 and panel.symbols[3] == "S3USDT"
    warm = 2 * max(WINDOWS)
    rows3 = panel.bar[panel.sym == 3]
    assert rows3.min() == 150 + warm - 1  # enters at its warm-up-th own candle
    rows1 = set(panel.bar[panel.sym == 1].tolist())
    assert not rows1 & set(range(200, 205))  # no row without a candle
    # the forward return needs a candle at both ends: none into or out of the gap
    fwd = pd.Series(panel.forward[panel.sym == 1], index=panel.bar[panel.sym == 1])
    assert np.isnan(fwd.get(199, np.nan))
    # the held return across the gap is the price change since the last candle
    returns = panel.bar_returns()
    assert returns[202, 1] == 0.0
    close = panel.close[:, 1]
    assert returns[205, 1] == pytest.approx(close[205] / close[199] - 1.0)


def test_cross_sectional_features_and_rank_label(candles) -> None:
    panel = build_panel(candles, **KW, cs_features="rank", label="rank")
    n_raw = len(panel.feature_names) // 2
    assert panel.feature_names[n_raw].startswith("csrank_")
    for b in (100, 300):
        rows = panel.bar == b
        assert abs(np.nanmean(panel.label[rows])) < 1e-9
        ranks = panel.features[rows, n_raw]  # csrank of the first raw feature
        raw = panel.features[rows, 0]
        assert (np.argsort(ranks) == np.argsort(raw)).all()
    demeaned = build_panel(candles, **KW, cs_features="zscore", label="demean")
    rows = demeaned.bar == 300
    assert np.nanmean(demeaned.label[rows]) == pytest.approx(0.0, abs=1e-12)
    assert np.nanstd(demeaned.features[rows, n_raw]) == pytest.approx(1.0, rel=1e-4)
    with pytest.raises(ConfigError, match=r"universe\.label"):
        build_panel(candles, **KW, label="median")


def test_truncating_the_future_leaves_the_past_unchanged(candles) -> None:
    full = build_panel(candles, **KW)
    cut = pd.Timestamp("2021-02-20", tz="UTC")  # before S3's listing enters the panel
    short = build_panel({s: c[c.index < cut] for s, c in candles.items()}, **KW)
    t_cut = len(short.index)
    past = full.bar < t_cut
    np.testing.assert_array_equal(full.bar[past], short.bar)
    np.testing.assert_array_equal(full.sym[past], short.sym)
    np.testing.assert_array_equal(full.features[past], short.features)
    np.testing.assert_array_equal(full.entered[:t_cut], short.entered)
    # labels look ahead by construction: equal wherever the short panel knows them
    known = np.isfinite(short.label)
    np.testing.assert_allclose(full.label[past][known], short.label[known])


def test_a_late_listing_does_not_move_the_past(candles) -> None:
    without = {s: c for s, c in candles.items() if s != "S3USDT"}
    a = build_panel(candles, **KW, cs_features="none", label="raw")
    b = build_panel(without, **KW, cs_features="none", label="raw")
    before = a.bar < 150
    keep = a.sym[before] != 3
    np.testing.assert_array_equal(a.features[before][keep], b.features[b.bar < 150])


def test_off_calendar_names_the_first_candle_off_the_grid(candles) -> None:
    assert off_calendar(candles, "4h") is None
    shifted = candles["S2USDT"].copy()
    shifted.index = shifted.index.where(
        np.arange(len(shifted)) != 7, shifted.index + pd.Timedelta("1h")
    )
    symbol, stamp, origin = off_calendar({**candles, "S2USDT": shifted}, "4h")
    assert (symbol, stamp, origin) == (
        "S2USDT",
        candles["S2USDT"].index[7] + pd.Timedelta("1h"),
        candles["S0USDT"].index[0],
    )
    with pytest.raises(DataError, match=r"^universe: S2USDT's candle at .* is off the 4h calendar"):
        build_panel({**candles, "S2USDT": shifted}, **KW)
