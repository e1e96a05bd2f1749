"""The HTML page of a universe's best run: the portfolio beside its benchmark, how it traded,
where its return came from, and the per-bar cross-sectional IC.

Input: the universe's ``workflow.best.json`` (as a dict) and its curves
(``<stem>.universe_curves.csv``, per bar: period, net, gross, benchmark, turnover, long, short,
rank_ic). Output: one HTML string whose plotly.js placeholder
:func:`crypto_tune.report.write_report` links to the folder's copy.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from crypto_tune import timeframes
from crypto_tune.report._format import data_line
from crypto_tune.report._plotlyjs import PLOTLY_JS

_ROWS = (
    ("sharpe", "Sharpe"),
    ("cagr", "CAGR"),
    ("total_return", "total return"),
    ("max_drawdown", "max drawdown"),
    ("volatility", "volatility"),
    ("turnover_per_year", "turnover per year"),
    ("gross_exposure", "mean gross exposure"),
    ("net_exposure", "mean net exposure"),
    ("n_entries", "names entered"),
    ("fees", "fees (share of equity)"),
)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _figure(fig: go.Figure, name: str) -> str:
    fig.update_layout(height=420, margin={"l": 50, "r": 20, "t": 40, "b": 40})
    div = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"plot-{name}",
        config={"responsive": True, "displaylogo": False},
    )
    return f'<div class="figure" data-figure="{name}">{div}</div>'


def _equity(curves: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for column, label in (("net", "portfolio (net)"), ("gross", "portfolio (gross)")):
        fig.add_scatter(x=curves.index, y=(1 + curves[column]).cumprod(), name=label)
    fig.add_scatter(
        x=curves.index, y=(1 + curves["benchmark"]).cumprod(), name="equal-weight buy and hold"
    )
    oos = curves.index[curves["period"] == "out_of_sample"]
    if len(oos):
        fig.add_vline(x=oos[0], line_dash="dash")
    fig.update_layout(title="Equity: in sample (tuning folds) | out of sample (holdout)")
    fig.update_yaxes(type="log")
    return fig


def _trading(curves: pd.DataFrame, bars_per_day: int) -> go.Figure:
    window = max(1, 30 * bars_per_day)
    fig = go.Figure()
    fig.add_scatter(
        x=curves.index,
        y=curves["turnover"].rolling(window, min_periods=1).sum() / 30,
        name="turnover per day (30-day mean)",
    )
    fig.add_scatter(x=curves.index, y=curves["long"] + curves["short"], name="gross exposure")
    fig.add_scatter(x=curves.index, y=curves["long"] - curves["short"], name="net exposure")
    fig.update_layout(title="Turnover and exposure")
    return fig


def _ic(curves: pd.DataFrame) -> go.Figure:
    ic = curves["rank_ic"].fillna(0.0)
    fig = go.Figure()
    fig.add_scatter(x=curves.index, y=ic.cumsum(), name="cumulative per-bar rank IC")
    fig.update_layout(
        title="Cross-sectional rank IC by bar (cumulative sum; rising = the ranking works)"
    )
    return fig


def _contributions(best: dict[str, Any]) -> go.Figure:
    symbols = list(best["symbols"])
    fig = go.Figure()
    for period in ("in_sample", "out_of_sample"):
        fig.add_bar(
            x=symbols,
            y=[best["symbols"][s][period] for s in symbols],  # the contribution
            name=period.replace("_", " "),
        )
    fig.update_layout(title="Each symbol's contribution to the gross return", barmode="group")
    return fig


def _symbols(best: dict[str, Any]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("symbol", "contribution IS", "contribution OOS", "rank IC IS", "rank IC OOS")
    )
    keys = ("in_sample", "out_of_sample", "rank_ic_in_sample", "rank_ic_out_of_sample")
    rows = "".join(
        f"<tr><td>{html.escape(s)}</td>"
        + "".join(f"<td>{_fmt(v.get(k))}</td>" for k in keys)
        + "</tr>"
        for s, v in best["symbols"].items()
    )
    return f'<table class="symbols"><tr>{head}</tr>{rows}</table>'


def _table(best: dict[str, Any]) -> str:
    m = best["metrics"]
    blocks = (
        m["in_sample"],
        m["out_of_sample"],
        m["benchmark"]["in_sample"],
        m["benchmark"]["out_of_sample"],
    )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("", "in sample", "out of sample", "benchmark in sample", "benchmark OOS")
    )
    rows = "".join(
        f"<tr><td>{label}</td>" + "".join(f"<td>{_fmt(b.get(key))}</td>" for b in blocks) + "</tr>"
        for key, label in _ROWS
    )
    return f'<table class="metrics"><tr>{head}</tr>{rows}</table>'


def _model(best: dict[str, Any]) -> str:
    model = best["metrics"]["model"]
    folds = "".join(
        f"<tr><td>{i}</td><td>{_fmt(f.get('ic'))}</td><td>{_fmt(f.get('rank_ic'))}</td>"
        f"<td>{_fmt(f.get('n_bars'))}</td></tr>"
        for i, f in enumerate(model.get("folds", []))
    )
    hold = model.get("holdout", {})
    return (
        f"<p>Mean per-bar IC {_fmt(model.get('ic'))}, rank IC {_fmt(model.get('rank_ic'))} "
        f"(t {_fmt(model.get('rank_ic_t'))}), pooled IC {_fmt(model.get('pooled_ic'))}; "
        f"holdout rank IC {_fmt(hold.get('rank_ic'))} (t {_fmt(hold.get('rank_ic_t'))}).</p>"
        '<table class="folds"><tr><th>fold</th><th>IC</th><th>rank IC</th><th>bars</th></tr>'
        f"{folds}</table>"
    )


def universe_page(best: dict[str, Any], curves: pd.DataFrame, *, title: str) -> str:
    """The page of a universe's best run (see the module docstring)."""
    bars_per_day = timeframes.bars_per_day(best["asset"]["timeframe"])
    robustness = best.get("robustness", {})
    verdict = html.escape(str(robustness.get("verdict", "")))
    colour = (
        "green"
        if robustness.get("significant") and not robustness.get("holdout_disagrees")
        else "firebrick"
    )
    universe = best["strategy"]["universe"]
    rule = ", ".join(f"{k}={_fmt(v)}" for k, v in universe.items())
    body = "\n".join(
        [
            f"<h1>{html.escape(title)}</h1>",
            f'<p class="verdict" style="color:{colour}"><b>Verdict:</b> {verdict}</p>',
            f"<p>{len(best['asset']['symbols'])} symbols "
            f"({html.escape(', '.join(best['asset']['symbols']))}), "
            f"{html.escape(best['asset']['timeframe'])}; tuned {best['periods']['tune']}, "
            f"holdout {best['periods']['holdout']}; rule: {html.escape(rule)}.</p>",
            f'<p class="how">{html.escape(str((best.get("how") or {}).get("text", "")))}</p>',
            data_line(best),
            '<section id="performance"><h2>Performance</h2>',
            _table(best),
            _figure(_equity(curves), "equity"),
            "</section>",
            '<section id="trading"><h2>Turnover and exposure</h2>',
            _figure(_trading(curves, bars_per_day), "trading"),
            "</section>",
            '<section id="contributions"><h2>Per-symbol contribution</h2>',
            _figure(_contributions(best), "contributions"),
            _symbols(best),
            "</section>",
            '<section id="ic"><h2>The model: cross-sectional IC</h2>',
            _model(best),
            _figure(_ic(curves), "ic"),
            "</section>",
        ]
    )
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:auto}"
        # a universe's study name joins every symbol: let it break anywhere, not overflow
        "h1,.how{overflow-wrap:anywhere}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
        "text-align:right}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"{PLOTLY_JS}<style>{style}</style></head><body>{body}</body></html>"
    )


def read_curves(path: Any) -> pd.DataFrame:
    """``workflow.best.universe_curves.csv`` as written by the best run (a UTC index)."""
    frame = pd.read_csv(path, index_col="timestamp", parse_dates=["timestamp"])
    return frame.replace([np.inf, -np.inf], np.nan)


__all__ = ["read_curves", "universe_page"]
