"""``phase=inspect asset=universe``: what the panel leaves out is said, not only implied."""

from __future__ import annotations

from crypto_tune.phases._universe_inspect import left_out
from crypto_tune.universe import build_panel
from tests.universe_market import universe_candles

KW = {"timeframe": "4h", "windows": (5, 10), "horizon": 1, "min_symbols": 3}


def test_bars_with_too_few_symbols_and_symbols_never_in_are_named() -> None:
    """Before, a member's six-month gap in a universe of three dropped those bars from every
    phase, and a member too short for its warm-up never traded, without a line saying so."""
    candles = universe_candles(n_symbols=4, n_bars=400, gaps={2: (200, 260)})
    candles["S3USDT"] = candles["S3USDT"].iloc[-10:]  # fewer candles than its warm-up of 20
    panel = build_panel(candles, **KW)
    assert left_out(panel, min_symbols=3) == [
        "bars left out of the panel: 60 of the 381 between its first and last row, with fewer "
        "than universe.min_symbols=3 symbols past their warm-up",
        "never in the panel: S3USDT (fewer own candles than the warm-up, or never beside 2 other "
        "symbols past theirs)",
    ]
    whole = build_panel(universe_candles(n_symbols=3, n_bars=400), **KW)
    assert left_out(whole, min_symbols=3) == []
