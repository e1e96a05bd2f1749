"""The regime-switch page's curves: read from the best run's file and checked
(:func:`read_curves`), and drawn: the equity and drawdown of the switch, the single set and buy
and hold over the regime bands (:func:`equity_figure`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from crypto_tune.exceptions import DataError
from crypto_tune.report._equity import equity_curves

SEGMENTS = (("in_sample", "in sample"), ("out_of_sample", "out of sample"))
ACCOUNTS = (("switch", "switch", "#1f77b4"), ("single_set", "single set", "#ff7f0e"))
COLUMN = {"switch": "returns", "single_set": "single_set", "benchmark": "benchmark"}
HOLD = ("benchmark", "buy and hold", "#7f7f7f")  # drawn when the curves carry it
SETS = ("calm", "volatile")
BANDS = {"calm": "rgba(46, 160, 67, 0.13)", "volatile": "rgba(214, 39, 40, 0.11)"}
CURVE_COLUMNS = ("returns", "single_set", "label")


def read_curves(path: Path) -> pd.DataFrame:
    """The best run's curves as one frame on time (column ``segment`` added), checked."""
    frame = pd.read_parquet(path)
    missing = [c for c in CURVE_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: no column {', '.join(missing)} (written by an older version): run "
            "`crypto-tune phase=best regime=switch ...` again"
        )
    out = frame.reset_index()
    extra = ["benchmark"] if "benchmark" in out.columns else []
    out = out.set_index("time")[["segment", *CURVE_COLUMNS, *extra]]
    for column in ("returns", "single_set"):
        values = out[column].to_numpy(dtype=float)
        if not np.isfinite(values).all():
            row = int(np.flatnonzero(~np.isfinite(values))[0])
            raise DataError(f"{path}: {column} at {out.index[row]} is not a finite number")
    return out


def _bands(labels: pd.Series, regime: str) -> go.Scatter:
    """A step area at 1 on the bars labelled ``regime`` (0 elsewhere), on a hidden [0, 1] axis:
    the regime's shaded bands behind the equity."""
    y = (labels.to_numpy() == regime).astype(float)
    return go.Scatter(
        x=labels.index,
        y=y,
        name=f"{regime} bars",
        mode="lines",
        line={"width": 0, "shape": "hv"},
        fill="tozeroy",
        fillcolor=BANDS[regime],
        hoverinfo="skip",
        legendgroup=f"band-{regime}",
    )


def equity_figure(curves: pd.DataFrame) -> go.Figure:
    """Equity (log) of the switch, the single set and buy and hold (when the curves carry it)
    over the regime bands, in sample then out of sample (continuing from the in-sample end),
    and their drawdowns."""
    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.05,
        row_heights=[0.7, 0.3],
        specs=[[{"secondary_y": True}], [{}]],
    )
    for regime in SETS:
        figure.add_trace(_bands(curves["label"], regime), row=1, col=1, secondary_y=True)
    accounts = [*ACCOUNTS, HOLD] if "benchmark" in curves.columns else list(ACCOUNTS)
    for account, label, colour in accounts:
        column, start = COLUMN[account], 1.0
        for segment, seg_label in SEGMENTS:
            part = curves.loc[curves["segment"] == segment, column].astype(float)
            if not len(part):
                continue
            equity, drawdown = equity_curves(part, start=start)
            dash = "solid" if segment == "out_of_sample" else "dot"
            figure.add_trace(
                go.Scatter(
                    x=part.index,
                    y=equity,
                    name=f"{label}, {seg_label}",
                    legendgroup=account,
                    line={"color": colour, "width": 1.6, "dash": dash},
                    mode="lines",
                ),
                row=1,
                col=1,
            )
            figure.add_trace(
                go.Scatter(
                    x=part.index,
                    y=drawdown,
                    name=f"{label} drawdown, {seg_label}",
                    legendgroup=account,
                    line={"color": colour, "width": 1, "dash": dash},
                    mode="lines",
                    showlegend=False,
                ),
                row=2,
                col=1,
            )
            start = float(equity.iloc[-1])
    holdout = curves.index[curves["segment"] == "out_of_sample"]
    if len(holdout):
        figure.add_vline(x=holdout[0], line={"dash": "dash", "color": "#555", "width": 1})
        figure.add_annotation(
            x=holdout[0],
            y=1.0,
            yref="paper",
            text="holdout →",
            showarrow=False,
            xanchor="left",
            font={"size": 11, "color": "#555"},
        )
    figure.update_yaxes(
        type="log", title_text="equity (start = 1)", row=1, col=1, secondary_y=False
    )
    figure.update_yaxes(type="linear", range=[0, 1], visible=False, row=1, col=1, secondary_y=True)
    figure.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    figure.update_xaxes(title_text="time (UTC)", row=2, col=1)
    figure.update_xaxes(domain=[0.0, 1.0])  # the hidden band axis needs no room on the right
    figure.update_layout(
        title="Equity and drawdown: the switch and the single set over the regime labels",
        height=640,
        template="plotly_white",
        legend_orientation="h",
        legend_y=-0.12,
        hovermode="x unified",
    )
    return figure


__all__ = [
    "ACCOUNTS",
    "BANDS",
    "COLUMN",
    "CURVE_COLUMNS",
    "HOLD",
    "SEGMENTS",
    "SETS",
    "equity_figure",
    "read_curves",
]
