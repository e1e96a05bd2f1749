"""``phase=inspect asset=universe``: the universe's data health and its folds (run it first).

One line per symbol (its file's span, rows, missing bars, when it enters the panel), the panel's
size and how many symbols each bar holds, then the fold table on the universe's calendar.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from crypto_tune.config import Settings
from crypto_tune.splits import fold_table
from crypto_tune.universe import Panel
from crypto_tune.universe._dataset import prepare_universe

log = logging.getLogger("crypto_tune.inspect")


def universe_health(settings: Settings) -> pd.DataFrame:
    """One row per symbol: first and last bar, rows, missing bars, entry into the panel."""
    data = prepare_universe(settings)
    panel = data.panel
    rows = []
    for j, symbol in enumerate(panel.symbols):
        report = data.reports[symbol]
        entered = np.nonzero(panel.entered[:, j])[0]
        rows.append(
            {
                "symbol": symbol,
                "first": report.start,
                "last": report.end,
                "rows": report.n_rows,
                "missing_bars": report.missing_bars,
                "enters": panel.index[entered[0]] if entered.size else None,
                "panel_rows": int((panel.sym == j).sum()),
            }
        )
    return pd.DataFrame(rows).set_index("symbol")


def left_out(panel: Panel, *, min_symbols: int) -> list[str]:
    """What the panel leaves out and the symbol table does not say: bars between its first and
    last row with too few symbols, symbols that never enter (a line each; none: nothing)."""
    per_bar = panel.entered.sum(axis=1)
    live = np.nonzero(per_bar)[0]
    lines = []
    if live.size:
        span = per_bar[live[0] : live[-1] + 1]
        if (gaps := int((span == 0).sum())) > 0:
            lines.append(
                f"bars left out of the panel: {gaps:,} of the {span.size:,} between its first "
                f"and last row, with fewer than universe.min_symbols={min_symbols} symbols past "
                "their warm-up"
            )
    absent = [s for j, s in enumerate(panel.symbols) if not panel.entered[:, j].any()]
    if absent:
        lines.append(
            f"never in the panel: {', '.join(absent)} (fewer own candles than the warm-up, or "
            f"never beside {min_symbols - 1} other symbols past theirs)"
        )
    return lines


def run_universe_inspect(settings: Settings) -> None:
    """Print the universe's health and fold table."""
    data = prepare_universe(settings)
    panel = data.panel
    per_bar = panel.entered.sum(axis=1)
    live = per_bar[per_bar > 0]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        lines = [
            f"universe {settings.asset.symbol} ({settings.asset.timeframe}): "
            f"{len(panel.symbols)} symbols, calendar {panel.index[0]:%Y-%m-%d} to "
            f"{panel.index[-1]:%Y-%m-%d} ({len(panel.index):,} bars), {panel.n_rows:,} panel rows "
            f"x {len(panel.feature_names)} features",
            f"symbols per bar in the panel: min {live.min() if live.size else 0}, "
            f"median {int(np.median(live)) if live.size else 0}, max {per_bar.max()}",
            *left_out(panel, min_symbols=settings.universe.min_symbols),
            universe_health(settings).to_string(),
            "folds (bar positions on the universe's calendar, every symbol at once):",
            fold_table(data.folds, panel.index).to_string(),
        ]
    print("\n".join(lines))


__all__ = ["left_out", "run_universe_inspect", "universe_health"]
