"""The report's monthly returns: compounded per calendar month (:func:`monthly_table`) and
drawn as a heatmap per segment."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from plotly.subplots import make_subplots

from crypto_tune.report._equity import checked_returns
from crypto_tune.report._panel import SEGMENT_LABELS, SEGMENTS, Panel

MONTHS: tuple[str, ...] = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip


def monthly_table(returns: pd.Series) -> pd.DataFrame:
    """Compounded returns per calendar month: one row per year, columns ``Jan..Dec, year``.

    Months without a bar are NaN; ``year`` compounds the year's bars.

    >>> index = pd.to_datetime(["2024-01-05", "2024-01-20", "2024-03-01"], utc=True)
    >>> monthly_table(pd.Series([0.1, 0.1, -0.5], index=index)).loc[2024, ["Jan", "Feb", "Mar"]]
    Jan    0.21
    Feb     NaN
    Mar   -0.50
    Name: 2024, dtype: float64
    """
    index = pd.DatetimeIndex(returns.index)
    growth = (1.0 + returns).groupby([index.year, index.month]).prod() - 1.0
    table = growth.unstack().reindex(columns=range(1, 13))
    table.columns = list(MONTHS)
    table.index.name = "year"
    table["year"] = (1.0 + returns).groupby(index.year).prod() - 1.0
    return table


def monthly_panel(equity: Mapping[str, pd.Series] | None) -> Panel:
    """Heatmap of the strategy's monthly returns (year x month), one block per segment."""
    name, title = "monthly", "Monthly returns of the strategy"
    if equity is None:
        return Panel(name, title, note="not available: no returns were given")
    series = {k: checked_returns(k, equity[k]) for k in SEGMENTS if k in equity and len(equity[k])}
    if not series:
        return Panel(name, title, note="not available: the return series are empty")
    if not all(isinstance(s.index, pd.DatetimeIndex) for s in series.values()):
        return Panel(name, title, note="not available: the returns have no time index")
    tables = {k: monthly_table(v) for k, v in series.items()}
    months = np.concatenate([t[list(MONTHS)].to_numpy().ravel() for t in tables.values()])
    months = months[np.isfinite(months)]
    limit = float(np.quantile(np.abs(months), 0.95)) if len(months) else 0.0
    limit = limit if limit > 0 else 0.01
    rows = [len(t) for t in tables.values()]
    figure = make_subplots(
        rows=len(tables),
        cols=1,
        row_heights=[r / sum(rows) for r in rows],
        vertical_spacing=min(0.3, 70 / (34 * sum(rows) + 70)) if len(tables) > 1 else 0.0,
    )
    columns = [*MONTHS, "year"]
    for row, (segment, table) in enumerate(tables.items(), start=1):
        values = table[columns].to_numpy(dtype=float)
        text = [[f"{v:+.1%}" if math.isfinite(v) else "" for v in line] for line in values]
        figure.add_heatmap(
            x=columns,
            y=[str(year) for year in table.index],
            z=values,
            text=text,
            texttemplate="%{text}",
            coloraxis="coloraxis",
            xgap=2,
            ygap=2,
            hovertemplate=f"{SEGMENT_LABELS[segment]} %{{x}} %{{y}}: %{{text}}<extra></extra>",
            row=row,
            col=1,
        )
        figure.update_yaxes(
            autorange="reversed",
            type="category",
            title_text=SEGMENT_LABELS[segment],
            row=row,
            col=1,
        )
        figure.update_xaxes(type="category", side="top", row=row, col=1)
    figure.update_layout(
        title=title,
        height=130 + 34 * sum(rows) + 70 * len(tables),
        plot_bgcolor="white",
        margin={"t": 90, "b": 20},
        coloraxis={
            "colorscale": "RdYlGn",
            "cmin": -limit,
            "cmid": 0.0,
            "cmax": limit,
            "colorbar": {"tickformat": ".0%", "title": {"text": "return"}},
        },
    )
    captions = [
        f"{SEGMENT_LABELS[k]}: {int(np.isfinite(t[list(MONTHS)].to_numpy()).sum())} months, "
        f"{int((t[list(MONTHS)] > 0).to_numpy().sum())} positive"
        for k, t in tables.items()
    ]
    captions.append(
        "returns compounded per calendar month (UTC); colours capped at the 95th percentile"
    )
    return Panel(name, title, figure=figure, captions=tuple(captions))


__all__ = ["MONTHS", "monthly_panel", "monthly_table"]
