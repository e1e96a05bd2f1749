"""The regime-switch page: the switched account beside the single set, from the best run.

Pure plotly and HTML from a ``regime=switch`` ``workflow.best.json``'s content and its curves
(index ``(segment, time)``, columns ``returns`` (the switch), ``single_set`` and ``label``, the
hysteresis regime label of each bar: ``calm``, ``volatile`` or ``unknown``). Sections: the
performance table, equity and drawdown in and out of sample over the regime bands, Sharpe per
regime, the parameter sets side by side, the switch counts and the verdict's note. One
page (plotly.js once per folder, offline) with the status line of the main report.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from crypto_tune.exceptions import DataError
from crypto_tune.report._costs import costs_section
from crypto_tune.report._equity import equity_curves
from crypto_tune.report._format import format_value
from crypto_tune.report._page import CSS, ERRORS_JS, STATUS_JS, write_report
from crypto_tune.report._plotlyjs import PLOTLY_JS

SEGMENTS = (("in_sample", "in sample"), ("out_of_sample", "out of sample"))
ACCOUNTS = (("switch", "switch", "#1f77b4"), ("single_set", "single set", "#ff7f0e"))
COLUMN = {"switch": "returns", "single_set": "single_set", "benchmark": "benchmark"}
HOLD = ("benchmark", "buy and hold", "#7f7f7f")  # drawn when the curves carry it
SETS = ("calm", "volatile")
BANDS = {"calm": "rgba(46, 160, 67, 0.13)", "volatile": "rgba(214, 39, 40, 0.11)"}
CURVE_COLUMNS = ("returns", "single_set", "label")
PERFORMANCE_ROWS = (
    ("sharpe", "Sharpe ratio", "ratio"),
    ("total_return", "total return", "pct"),
    ("max_drawdown", "max drawdown", "pct"),
    ("volatility", "volatility (annualised)", "pct"),
    ("n_trades", "trades", "int"),
    ("trades_per_year", "trades per year", "num"),
    ("n_bars", "bars", "int"),
)
# the rows of the parameter table, in this order when present (the rest follows, sorted)
STRATEGY_KEYS = (
    "name",
    "entry",
    "exit",
    "signal_window",
    "threshold",
    "stop_loss",
    "take_profit",
    "sizing",
    "target_vol",
    "max_leverage",
    "vol_window",
    "leverage",
)
MODEL_KEYS = (
    "learning_rate",
    "num_leaves",
    "min_data_in_leaf",
    "feature_fraction",
    "bagging_fraction",
    "bagging_freq",
    "lambda_l1",
    "lambda_l2",
    "num_boost_round",
)
_PAGE_CSS = """
td.diff{background:#fff4e5}
td.text{text-align:left;white-space:normal;word-break:break-all;font-size:.8rem;max-width:16rem}
.legend-band{display:inline-block;width:1.2em;height:.8em;margin:0 .3em 0 1em;vertical-align:middle}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


def _cell(value: Any, kind: str) -> str:
    return f"<td>{_esc(format_value(value, kind))}</td>"


# ------------------------------------------------------------------------------ curves
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


def _figure(figure: go.Figure, name: str, captions: Sequence[str]) -> str:
    div = figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"plot-{name}",
        default_height=f"{int(figure.layout.height or 480)}px",
        config={"responsive": True, "displaylogo": False},
    )
    notes = "".join(f'<p class="caption">{_esc(c)}</p>' for c in captions)
    return f'<div class="figure" data-figure="{_esc(name)}">\n{div}\n{notes}</div>'


# ------------------------------------------------------------------------------ tables
def _performance_table(document: Mapping[str, Any]) -> str:
    comparison = document.get("comparison", {})
    columns = [
        (comparison.get(account, {}).get(segment), f"{label}, {seg_label}")
        for account, label, _ in ACCOUNTS
        for segment, seg_label in SEGMENTS
    ]
    head = "".join(f'<th scope="col">{_esc(title)}</th>' for _, title in columns)
    body = "".join(
        f'<tr data-key="{key}"><th scope="row">{_esc(label)}</th>'
        + "".join(_cell(_get(data, key), kind) for data, _ in columns)
        + "</tr>"
        for key, label, kind in PERFORMANCE_ROWS
    )
    gain = comparison.get("sharpe_gain", {})
    gains = ", ".join(
        f"{seg_label} {format_value(gain.get(segment), 'ratio')}" for segment, seg_label in SEGMENTS
    )
    return (
        '<table id="performance-table"><caption>Backtest: the switched account and the single '
        f'set on the same bars</caption><thead><tr><th scope="col">metric</th>{head}</tr>'
        f"</thead><tbody>{body}</tbody></table>"
        f'<p class="note">Sharpe gain of the switch over the single set: {_esc(gains)}.</p>'
    )


def _per_regime_table(document: Mapping[str, Any]) -> str:
    comparison = document.get("comparison", {})
    head = "".join(
        f'<th scope="col">{regime} {what}</th>'
        for regime in SETS
        for what in ("share of bars", "Sharpe", "log return")
    )
    rows = []
    for account, label, _ in ACCOUNTS:
        for segment, seg_label in SEGMENTS:
            per = _get(comparison, account, segment, "per_regime")
            cells = "".join(
                _cell(_get(per, regime, "share_of_bars"), "pct")
                + _cell(_get(per, regime, "sharpe"), "ratio")
                + _cell(_get(per, regime, "return"), "pct")
                for regime in SETS
            )
            rows.append(
                f'<tr data-key="{account}.{segment}"><th scope="row">{_esc(label)}, '
                f"{_esc(seg_label)}</th>{cells}</tr>"
            )
    return (
        '<table id="per-regime-table"><caption>Sharpe per regime (the bars of each hysteresis '
        'label)</caption><thead><tr><th scope="col">account</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _value_text(value: Any) -> str:
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int):
        return format_value(value, "int")
    if isinstance(value, float):
        return format_value(value, "num")
    return "—" if value is None else str(value)


def _param_rows(group: str, sets: Sequence[Mapping[str, Any]], order: Sequence[str]) -> str:
    names = [k for k in order if any(k in s for s in sets)]
    names += sorted({k for s in sets for k in s} - set(names))
    rows = []
    for name in names:
        values = [s.get(name) for s in sets]
        differs = any(v != values[0] for v in values[1:])
        css = ' class="diff"' if differs else ""
        cells = "".join(f"<td{css}>{_esc(_value_text(v))}</td>" for v in values)
        rows.append(
            f'<tr data-key="{group}.{_esc(name)}"><th scope="row">{_esc(name)}</th>{cells}</tr>'
        )
    return "".join(rows)


def _parameters_table(document: Mapping[str, Any]) -> str:
    switch = document.get("regime_switch", {})
    single = _get(document, "comparison", "single_set") or {}
    columns = [
        ("calm", _get(switch, "calm") or {}),
        ("volatile", _get(switch, "volatile") or {}),
        ("single set (regime all)", single),
    ]
    shown = {"strategy_params": STRATEGY_KEYS, "model_params": MODEL_KEYS}
    head = "".join(f'<th scope="col">{_esc(title)}</th>' for title, _ in columns)
    body = ""
    for group, order in shown.items():
        sets = [data.get(group) or {} for _, data in columns]
        sets = [{k: v for k, v in s.items() if k in order} for s in sets]
        body += (
            f'<tr><th colspan="{len(columns) + 1}">{group.split("_")[0]}</th></tr>'
            + _param_rows(group, sets, order)
        )
    sources = "".join(
        f'<td class="text">{_esc(str(data.get("strategy_source") or "—").removeprefix("study:"))}'
        "</td>"
        for _, data in columns
    )
    body += f'<tr data-key="strategy_source"><th scope="row">chosen trial</th>{sources}</tr>'
    return (
        '<table id="parameters-table"><caption>The parameter sets side by side (shaded: '
        'differs between the sets)</caption><thead><tr><th scope="col">parameter</th>'
        f"{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _switches(document: Mapping[str, Any], curves: pd.DataFrame) -> str:
    switch = document.get("regime_switch", {})
    counts = switch.get("switches", {})
    unknown = float((curves["label"] == "unknown").mean()) if len(curves) else 0.0
    return (
        f"Labels: the causal volatility detector (window {_get(switch, 'detector', 'window')}, "
        f"lookback {_get(switch, 'detector', 'lookback')}, quantile "
        f"{_get(switch, 'detector', 'quantile')}) with hysteresis: the label changes after "
        f"{switch.get('confirm')} consecutive bars of the other label, known at each bar's close "
        f"(no lookahead). Switches in sample {counts.get('in_sample')} (raw detector "
        f"{counts.get('raw_in_sample')}), out of sample {counts.get('out_of_sample')} (raw "
        f"{counts.get('raw_out_of_sample')}); {format_value(unknown, 'pct')} of the bars are "
        "still unknown (warm-up: flat)."
    )


# ------------------------------------------------------------------------------ the page
def switch_html(document: Mapping[str, Any], curves: pd.DataFrame) -> str:
    """The whole page as a string (``curves`` as :func:`read_curves` returns them)."""
    title = f"crypto-tune regime switch: {document.get('study', '')}"
    asset = document.get("asset", {})
    periods = document.get("periods", {})
    tune, holdout = periods.get("tune", ["?", "?"]), periods.get("holdout", ["?", "?"])
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    intro = (
        f"{asset.get('symbol', '')} {asset.get('timeframe', '')}: one account trading the calm "
        "set on calm bars and the volatile set on volatile bars, beside the single set "
        f"(regime all's best) on the same bars. In sample: the tuning folds' out-of-fold "
        f"predictions ({tune[0]}..{tune[1]}); out of sample: the holdout ({holdout[0]}.."
        f"{holdout[1]})."
    )
    verdict = _get(document, "robustness", "verdict") or "no verdict in the best run"
    bands = "".join(
        f'<span class="legend-band" style="background:{BANDS[r]}"></span>{r} bars' for r in SETS
    )
    captions = [
        "Dotted: in sample (tuning folds, out of fold); solid: out of sample (holdout), "
        "continuing from the in-sample end. Shaded: the bars labelled calm or volatile "
        "(unshaded: unknown, flat).",
    ]
    sections = [
        f'<header id="header" class="section"><h1>{_esc(title)}</h1>'
        f'<p class="generated">generated {_esc(stamp)} from <code>'
        f"{_esc(document.get('command', ''))}</code></p><p>{_esc(intro)}</p>"
        f'<div class="verdict unknown" id="verdict">{_esc(verdict)}</div>'
        + (
            f'<p class="how" id="how"><strong>How this was made:</strong> '
            f"{_esc(_get(document, 'how', 'text'))}</p>"
            if _get(document, "how", "text")
            else ""
        )
        + "</header>",
        '<section id="performance" class="section"><h2>In and out of sample</h2>'
        + _performance_table(document)
        + "</section>",
        '<section id="equity" class="section"><h2>Equity over the regime labels</h2>'
        f"<p>{bands}</p>"
        + _figure(equity_figure(curves), "equity", captions)
        + f'<p class="note">{_esc(_switches(document, curves))}</p></section>',
        '<section id="per-regime" class="section"><h2>Per regime</h2>'
        + _per_regime_table(document)
        + "</section>",
        costs_section(document),
        '<section id="parameters" class="section"><h2>Parameter sets</h2>'
        + _parameters_table(document)
        + "</section>",
    ]
    status = (
        '<div id="report-status" data-expected="1" data-rendered="" data-errors="" '
        'data-done="0"></div>'
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_esc(title)}</title><style>{CSS}{_PAGE_CSS}</style>",
            f'<script type="text/javascript">{ERRORS_JS % 1}</script>',
            PLOTLY_JS,  # plotly.js once per folder (write_report)
            "</head><body>",
            *sections,
            status,
            f'<script type="text/javascript">{STATUS_JS}</script>',
            "</body></html>",
            "",
        ]
    )


def switch_page(document: Mapping[str, Any], curves: pd.DataFrame, path: Path) -> Path:
    """Write the page to ``path`` (atomically); returns ``path``."""
    return write_report(switch_html(document, curves), path)


__all__ = ["equity_figure", "read_curves", "switch_html", "switch_page"]
