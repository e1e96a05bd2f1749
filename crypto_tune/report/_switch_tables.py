"""The regime-switch page's tables: performance of the switch and the single set, Sharpe per
regime, the parameter sets side by side; and the note on the labels and their switches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from crypto_tune.costs import applied_leverage
from crypto_tune.report._format import esc, format_value, lookup
from crypto_tune.report._switch_curves import ACCOUNTS, SEGMENTS, SETS

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


def _cell(value: Any, kind: str) -> str:
    return f"<td>{esc(format_value(value, kind))}</td>"


def performance_table(document: Mapping[str, Any]) -> str:
    comparison = document.get("comparison", {})
    columns = [
        (comparison.get(account, {}).get(segment), f"{label}, {seg_label}")
        for account, label, _ in ACCOUNTS
        for segment, seg_label in SEGMENTS
    ]
    head = "".join(f'<th scope="col">{esc(title)}</th>' for _, title in columns)
    body = "".join(
        f'<tr data-key="{key}"><th scope="row">{esc(label)}</th>'
        + "".join(_cell(lookup(data, key), kind) for data, _ in columns)
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
        f'<p class="note">Sharpe gain of the switch over the single set: {esc(gains)}.</p>'
    )


def per_regime_table(document: Mapping[str, Any]) -> str:
    comparison = document.get("comparison", {})
    head = "".join(
        f'<th scope="col">{regime} {what}</th>'
        for regime in SETS
        for what in ("share of bars", "Sharpe", "log return")
    )
    rows = []
    for account, label, _ in ACCOUNTS:
        for segment, seg_label in SEGMENTS:
            per = lookup(comparison, account, segment, "per_regime")
            cells = "".join(
                _cell(lookup(per, regime, "share_of_bars"), "pct")
                + _cell(lookup(per, regime, "sharpe"), "ratio")
                + _cell(lookup(per, regime, "return"), "pct")
                for regime in SETS
            )
            rows.append(
                f'<tr data-key="{account}.{segment}"><th scope="row">{esc(label)}, '
                f"{esc(seg_label)}</th>{cells}</tr>"
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


def _shown_text(name: str, value: Any, costs: Any) -> str:
    """A parameter as shown; a leverage as the backtest applied it (at most the market's cap, as
    on the single-asset page), with the tuned value when the cap lowered it."""
    if name in ("leverage", "max_leverage"):
        applied = applied_leverage(value, costs)
        if applied is not value:
            return f"{applied}, tuned {_value_text(value)}"
    return _value_text(value)


def _param_rows(
    group: str, sets: Sequence[Mapping[str, Any]], order: Sequence[str], costs: Any = None
) -> str:
    names = [k for k in order if any(k in s for s in sets)]
    names += sorted({k for s in sets for k in s} - set(names))
    rows = []
    for name in names:
        values = [s.get(name) for s in sets]
        differs = any(v != values[0] for v in values[1:])
        css = ' class="diff"' if differs else ""
        cells = "".join(f"<td{css}>{esc(_shown_text(name, v, costs))}</td>" for v in values)
        rows.append(
            f'<tr data-key="{group}.{esc(name)}"><th scope="row">{esc(name)}</th>{cells}</tr>'
        )
    return "".join(rows)


def parameters_table(document: Mapping[str, Any]) -> str:
    switch = document.get("regime_switch", {})
    single = lookup(document, "comparison", "single_set") or {}
    columns = [
        ("calm", lookup(switch, "calm") or {}),
        ("volatile", lookup(switch, "volatile") or {}),
        ("single set (regime all)", single),
    ]
    shown = {"strategy_params": STRATEGY_KEYS, "model_params": MODEL_KEYS}
    head = "".join(f'<th scope="col">{esc(title)}</th>' for title, _ in columns)
    body = ""
    for group, order in shown.items():
        sets = [data.get(group) or {} for _, data in columns]
        sets = [{k: v for k, v in s.items() if k in order} for s in sets]
        body += (
            f'<tr><th colspan="{len(columns) + 1}">{group.split("_")[0]}</th></tr>'
            + _param_rows(group, sets, order, document.get("costs"))
        )
    sources = "".join(
        f'<td class="text">{esc(str(data.get("strategy_source") or "—").removeprefix("study:"))}'
        "</td>"
        for _, data in columns
    )
    body += f'<tr data-key="strategy_source"><th scope="row">chosen trial</th>{sources}</tr>'
    return (
        '<table id="parameters-table"><caption>The parameter sets side by side (shaded: '
        'differs between the sets)</caption><thead><tr><th scope="col">parameter</th>'
        f"{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def switches_note(document: Mapping[str, Any], curves: pd.DataFrame) -> str:
    switch = document.get("regime_switch", {})
    counts = switch.get("switches", {})
    unknown = float((curves["label"] == "unknown").mean()) if len(curves) else 0.0
    return (
        f"Labels: the causal volatility detector (window {lookup(switch, 'detector', 'window')}, "
        f"lookback {lookup(switch, 'detector', 'lookback')}, quantile "
        f"{lookup(switch, 'detector', 'quantile')}) with hysteresis: the label changes after "
        f"{switch.get('confirm')} consecutive bars of the other label, known at each bar's close "
        f"(no lookahead). Switches in sample {counts.get('in_sample')} (raw detector "
        f"{counts.get('raw_in_sample')}), out of sample {counts.get('out_of_sample')} (raw "
        f"{counts.get('raw_out_of_sample')}); {format_value(unknown, 'pct')} of the bars are "
        "still unknown (warm-up: flat)."
    )


__all__ = [
    "MODEL_KEYS",
    "PERFORMANCE_ROWS",
    "STRATEGY_KEYS",
    "parameters_table",
    "per_regime_table",
    "performance_table",
    "switches_note",
]
