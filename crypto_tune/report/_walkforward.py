"""The walk-forward page: stitched equity against buy-and-hold, parameter drift, window table.

Pure plotly and HTML from ``walkforward.json``'s content and the stitched curves (columns
``returns``, ``benchmark``, ``window``); one page (plotly.js once per folder, offline).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from crypto_tune.report._html import write_report
from crypto_tune.report._plotlyjs import PLOTLY_JS
from crypto_tune.walkforward import flat_params

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.params { text-align: left; font-family: monospace; font-size: 0.85em; }
td.date { white-space: nowrap; }
.note { color: #666; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _num(value: Any, kind: str = "ratio") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    if kind == "pct":
        return f"{100 * value:.2f}%"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.3f}"


def equity_figure(curves: pd.DataFrame, windows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Stitched equity and buy-and-hold (log scale) over drawdowns; window starts dashed."""
    equity = (1.0 + curves["returns"]).cumprod()
    hold = (1.0 + curves["benchmark"]).cumprod()
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.04
    )
    fig.add_trace(go.Scatter(x=equity.index, y=equity, name="walk-forward", line={"width": 2}))
    fig.add_trace(
        go.Scatter(x=hold.index, y=hold, name="buy and hold", line={"color": "#999", "width": 1})
    )
    for name, curve, colour in (
        ("walk-forward", equity, "#1f77b4"),
        ("buy and hold", hold, "#999"),
    ):
        drawdown = curve / curve.cummax() - 1.0
        fig.add_trace(
            go.Scatter(
                x=drawdown.index,
                y=drawdown,
                name=f"{name} drawdown",
                line={"color": colour, "width": 1},
                showlegend=False,
            ),
            row=2,
            col=1,
        )
    for w in windows:
        fig.add_vline(x=pd.Timestamp(w["test_start"]), line={"dash": "dot", "color": "#ccc"})
    fig.update_yaxes(type="log", title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    fig.update_layout(height=560, title="Stitched out-of-sample equity", hovermode="x unified")
    return fig


def drift_figure(windows: Sequence[Mapping[str, Any]]) -> go.Figure | None:
    """One small panel per chosen parameter (model and strategy) across windows."""
    series: dict[str, list[Any]] = {}
    for group in ("model_params", "strategy_params"):
        chosen = [flat_params(w.get(group, {})) for w in windows]
        names = sorted({n for params in chosen for n in params})
        for name in names:
            values = [params.get(name) for params in chosen]
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                series[f"{group.split('_')[0]}.{name}"] = values
    if not series:
        return None
    x = [pd.Timestamp(w["test_start"]) for w in windows]
    cols = 3
    rows = -(-len(series) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(series), vertical_spacing=0.08)
    for i, (name, values) in enumerate(series.items()):
        row, col = i // cols + 1, i % cols + 1
        fig.add_trace(
            go.Scatter(x=x, y=values, mode="lines+markers", name=name, showlegend=False),
            row=row,
            col=col,
        )
        if min(values) > 0 and max(values) / min(values) > 50:  # e.g. a log-uniform search
            fig.update_yaxes(type="log", row=row, col=col)
    fig.update_layout(height=220 * rows + 80, title="Chosen parameters by test window")
    return fig


def _figure(fig: go.Figure | None, name: str) -> str:
    if fig is None:
        return f'<p class="note">{_esc(name)}: no numeric parameter to draw</p>'
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"plot-{name}",
        config={"responsive": True, "displaylogo": False},
    )


def _summary_table(document: Mapping[str, Any]) -> str:
    st, bh = document["stitched"], document["benchmark"]
    rows = [
        ("Sharpe", "sharpe", "ratio"),
        ("total return", "total_return", "pct"),
        ("annualised return", "annual_return", "pct"),
        ("max drawdown", "max_drawdown", "pct"),
        ("PSR", "psr", "ratio"),
        ("trades", "n_trades", "ratio"),
    ]
    body = "".join(
        f"<tr><td>{label}</td><td>{_num(st.get(key), kind)}</td>"
        f"<td>{_num(bh.get(key), kind)}</td></tr>"
        for label, key, kind in rows
    )
    return (
        "<table><thead><tr><th></th><th>walk-forward (stitched OOS)</th><th>buy and hold</th>"
        f"</tr></thead><tbody>{body}</tbody></table>"
        f"<p>Walk-forward efficiency (annualised OOS return / mean annualised IS return): "
        f"<b>{_num(document.get('efficiency'))}</b></p>"
    )


def _params(params: Mapping[str, Any]) -> str:
    return " ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def _portfolio_cells(window: Mapping[str, Any]) -> str:
    """A basket window's mean gross exposure and mean pairwise correlation (out of sample)."""
    oos = window["portfolio"]["out_of_sample"]
    corr = oos["correlation"]
    names = list(corr)
    pairs = [
        corr[a][b] for i, a in enumerate(names) for b in names[i + 1 :] if corr[a][b] is not None
    ]
    mean = float(np.mean(pairs)) if pairs else None
    return f"<td>{_num(oos['mean_gross'])}</td><td>{_num(mean)}</td>"


NO_IC_NOTE = (
    "— in OOS IC: the window's model predicted the same value for every test bar (no tree "
    "split passed its constraints, e.g. min_data_in_leaf above the window's rows), so it has no "
    "IC and its signal cannot rank the bars"
)


NO_IS_TRADE_NOTE = (
    "— in IS Sharpe: the window's chosen strategy made no trade in sample (on the out-of-fold "
    "predictions of the tuning folds it was chosen on), so its in-sample returns are all 0 and "
    "have no Sharpe ratio (zero standard deviation)"
)
FLAT_IS_NOTE = (
    "— in IS Sharpe: the window's in-sample returns did not vary (or were fewer than 2 bars), so "
    "they have no Sharpe ratio (zero standard deviation)"
)


# why a window's OOS Sharpe is "—" (metrics.sharpe_ratio: under 2 returns or zero deviation)
OOS_SHARPE_NOTES = {
    "no-oos-trade-note": "made no trade in its test block, so its out-of-sample returns are all "
    "0 and have no Sharpe ratio (zero standard deviation)",
    "flat-oos-note": "traded, but its out-of-sample returns did not vary, so they have no "
    "Sharpe ratio (zero standard deviation)",
    "short-oos-note": "had fewer than 2 test bars, too few for a Sharpe ratio",
}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not np.isfinite(value))


def _oos_sharpe_notes(windows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """One note per cause of a missing OOS Sharpe, naming its windows."""
    causes: dict[str, list[str]] = {}
    for w in windows:
        oos = w["out_of_sample"]
        if not _missing(oos.get("sharpe")):
            continue
        bars = oos.get("n_bars")
        if isinstance(bars, int) and bars < 2:
            key = "short-oos-note"
        else:
            key = "flat-oos-note" if oos.get("n_trades") else "no-oos-trade-note"
        causes.setdefault(key, []).append(str(w["number"]))
    return [
        (key, f"— in OOS Sharpe: window{'s' if len(ks) > 1 else ''} {', '.join(ks)} {text}")
        for key, text in OOS_SHARPE_NOTES.items()
        if (ks := causes.get(key))
    ]


def window_notes(windows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The notes explaining the dashes of the window table, as ``(id, text)``: an in-sample
    Sharpe that is undefined (no trade in sample, else flat returns), an OOS Sharpe that is
    undefined (per window: no trade in the test block, flat returns or under 2 bars) and an OOS
    IC that is undefined (a constant prediction); the page and the terminal table print the
    same."""
    notes = []
    flat = [w["in_sample"] for w in windows if _missing(w["in_sample"].get("sharpe"))]
    if flat:
        traded = any(ins.get("n_trades") for ins in flat)
        notes.append(("no-is-sharpe-note", FLAT_IS_NOTE if traded else NO_IS_TRADE_NOTE))
    notes += _oos_sharpe_notes(windows)
    if any(w["out_of_sample"].get("ic") is None for w in windows):
        notes.append(("no-ic-note", NO_IC_NOTE))
    return notes


def _window_table(windows: Sequence[Mapping[str, Any]]) -> str:
    basket = all("portfolio" in w for w in windows) and bool(windows)
    extra = "<th>gross</th><th>corr.</th>" if basket else ""
    head = (
        "<tr><th>k</th><th>train</th><th>test</th><th>IS Sharpe</th><th>OOS Sharpe</th>"
        f"<th>OOS return</th><th>trades</th><th>OOS IC</th>{extra}<th>model</th>"
        "<th>strategy</th></tr>"
    )
    rows = []
    for w in windows:
        ins, oos = w["in_sample"], w["out_of_sample"]
        rows.append(
            f"<tr><td>{w['number']}</td>"
            f"<td class=date>{_esc(w['train_start'][:10])}..{_esc(w['train_end'][:10])}</td>"
            f"<td class=date>{_esc(w['test_start'][:10])}..{_esc(w['test_end'][:10])}</td>"
            f"<td>{_num(ins['sharpe'])}</td><td>{_num(oos['sharpe'])}</td>"
            f"<td>{_num(oos['total_return'], 'pct')}</td><td>{oos['n_trades']}</td>"
            f"<td>{_num(oos.get('ic'))}</td>"
            f"{_portfolio_cells(w) if basket else ''}"
            f"<td class=params>{_esc(_params(flat_params(w['model_params'])))}</td>"
            f"<td class=params>{_esc(_params(w['strategy_params']))}</td></tr>"
        )
    note = (
        '<p class="note">gross: the portfolio\'s mean gross exposure (capital in sleeves over '
        "equity); corr.: the mean pairwise correlation of the members' strategy returns; both "
        "out of sample. The model parameters are the members' common set.</p>"
        if basket
        else ""
    )
    for key, text in window_notes(windows):
        note += f'<p class="note" id="{key}">{_esc(text)}.</p>'
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>{note}"


def walkforward_html(document: Mapping[str, Any], curves: pd.DataFrame) -> str:
    """The whole page as a string."""
    windows = document["windows"]
    title = f"crypto-tune walk-forward: {document.get('study', '')}"
    split = document.get("split", {})
    intro = (
        f"{len(windows)} windows over {_esc(document['period'][0])}..{_esc(document['period'][1])}"
        f": train {split.get('train_months')} months "
        f"({'anchored' if split.get('expanding') else 'rolling'}), test "
        f"{split.get('test_months')} months; each window tuned on its own past "
        f"({document['budgets']['model_trials']} model and "
        f"{document['budgets']['strategy_trials']} strategy trials)."
    )
    basket = document.get("portfolio")
    if basket:
        target = basket.get("target_vol")
        intro += (
            f" Basket {_esc(' + '.join(document['asset'].get('symbols', [])))}: "
            f"{_esc(basket.get('weights'))} weights, rebalance {_esc(basket.get('rebalance'))}, "
            f"volatility target {'none' if target is None else _num(target, 'pct')}; "
            "buy and hold: the members in equal, unrebalanced sleeves."
        )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{_esc(title)}</title><style>{_CSS}</style>",
            PLOTLY_JS,  # plotly.js once per folder (write_report)
            "</head><body>",
            f"<h1>{_esc(title)}</h1><p>{intro}</p>",
            _summary_table(document),
            _figure(equity_figure(curves, windows), "equity"),
            "<h2>Windows</h2>",
            _window_table(windows),
            _figure(drift_figure(windows), "drift"),
            "</body></html>",
            "",
        ]
    )


def walkforward_page(document: Mapping[str, Any], curves: pd.DataFrame, path: Path) -> Path:
    """Write the page to ``path`` (atomically); returns ``path``."""
    return write_report(walkforward_html(document, curves), path)


__all__ = [
    "FLAT_IS_NOTE",
    "NO_IC_NOTE",
    "NO_IS_TRADE_NOTE",
    "OOS_SHARPE_NOTES",
    "drift_figure",
    "equity_figure",
    "walkforward_html",
    "walkforward_page",
    "window_notes",
]
