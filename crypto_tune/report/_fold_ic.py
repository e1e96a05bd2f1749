"""The report's information coefficient per fold: grouped bars of ``ic`` and ``rank_ic``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.report._panel import Panel

FOLD_IC_COLUMNS: tuple[str, ...] = ("fold", "ic", "rank_ic")


def fold_ic_panel(fold_ic: pd.DataFrame | None) -> Panel:
    """Grouped bars of ``ic`` and ``rank_ic`` per fold (``hit_rate`` in the hover text)."""
    name, title = "fold-ic", "Information coefficient per fold"
    if fold_ic is None:
        return Panel(name, title, note="not available: no per-fold IC was given")
    if not isinstance(fold_ic, pd.DataFrame):
        raise ConfigError(f"fold_ic must be a pandas DataFrame or None, got {type(fold_ic)!r}")
    if fold_ic.empty:
        return Panel(name, title, note="not available: the per-fold IC table is empty")
    missing = [c for c in FOLD_IC_COLUMNS if c not in fold_ic.columns]
    if missing:
        raise DataError(
            f"fold_ic: missing column(s) {missing}, got columns {list(map(str, fold_ic.columns))}"
        )
    folds = [str(v) for v in fold_ic["fold"]]
    values = {}
    for column in ("ic", "rank_ic", "hit_rate"):
        if column not in fold_ic.columns:
            continue
        numbers = pd.to_numeric(fold_ic[column], errors="coerce").to_numpy(dtype=float)
        bad = np.isinf(numbers)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"fold_ic: column {column!r} row {row} is not finite: {numbers[row]}")
        values[column] = numbers
    hover = "fold %{x}<br>%{fullData.name} %{y:.4f}"
    custom = None
    if "hit_rate" in values:
        custom = values["hit_rate"]
        hover += "<br>hit rate %{customdata:.1%}"
    figure = go.Figure()
    for column, colour in (("ic", "#1f77b4"), ("rank_ic", "#ff7f0e")):
        figure.add_bar(
            x=folds,
            y=values[column],
            name=column,
            marker_color=colour,
            customdata=custom,
            hovertemplate=hover + "<extra></extra>",
        )
    figure.add_hline(y=0.0, line_width=1, line_color="#444")
    figure.update_layout(
        title=title,
        barmode="group",
        xaxis_title="fold",
        yaxis_title="IC",
        xaxis_type="category",
        legend_orientation="h",
    )
    captions: tuple[str, ...] = ()
    if "hit_rate" in values and np.isfinite(values["hit_rate"]).any():
        captions = (f"mean hit rate {np.nanmean(values['hit_rate']):.1%} over {len(folds)} folds",)
    return Panel(name, title, figure=figure, captions=captions)


__all__ = ["FOLD_IC_COLUMNS", "fold_ic_panel"]
