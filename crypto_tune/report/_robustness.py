"""The report's robustness section: the backtest in and out of sample beside buy and hold,
the strategy's parameters (overrides marked), the overfitting checks and the model's IC."""

from __future__ import annotations

from collections.abc import Mapping

from crypto_tune.costs import applied_leverage
from crypto_tune.report._format import esc, format_value, lookup, note_paragraph

PERFORMANCE_ROWS: tuple[tuple[str, str, str], ...] = (
    ("sharpe", "Sharpe ratio", "ratio"),
    ("sortino", "Sortino ratio", "ratio"),
    ("max_drawdown", "max drawdown", "pct"),
    ("win_rate", "win rate", "pct"),
    ("total_return", "total return", "pct"),
    ("n_trades", "trades", "int"),
    ("trades_per_year", "trades per year", "num"),
    ("exposure", "exposure", "pct"),
)
STRATEGY_ROWS: tuple[tuple[str, str, str], ...] = (
    ("leverage", "leverage", "num"),
    ("threshold", "threshold", "num"),
    ("stop_loss", "stop loss", "num"),
    ("take_profit", "take profit", "num"),
)
MODEL_ROWS: tuple[tuple[str, str, str], ...] = (
    ("ic", "mean IC over folds", "ic"),
    ("rank_ic", "mean rank IC over folds", "ic"),
    ("icir", "ICIR", "ratio"),
    ("holdout_ic", "holdout IC", "ic"),
)
ROBUSTNESS_ROWS: tuple[tuple[str, str, str], ...] = (
    ("family.model_trials", "trials (Phase 1)", "int"),
    ("n_trials", "trials (Phase 2)", "int"),
    ("family.tests", "tests in the verdict's family", "int"),
    ("tests.haircut_bhy.value", "haircut p (BHY, one-sided)", "prob"),
    ("psr", "PSR", "prob"),
    ("dsr", "DSR", "prob"),
    ("pbo", "PBO", "prob"),
    ("family.holdout_looks", "looks at the holdout", "int"),
)


def _rows(rows: tuple[tuple[str, str, str], ...], *columns: Mapping | None) -> str:
    lines = []
    for key, label, kind in rows:
        cells = "".join(
            f"<td>{esc(format_value(lookup(c, *key.split('.')), kind))}</td>" for c in columns
        )
        lines.append(f'<tr data-key="{esc(key)}"><th scope="row">{esc(label)}</th>{cells}</tr>')
    return "\n".join(lines)


def robustness_section(best: Mapping | None) -> str:
    head = '<section id="robustness" class="section">\n<h2>Robustness</h2>\n'
    if best is None:
        return head + note_paragraph("not available: no best run was given") + "\n</section>"
    ins = lookup(best, "metrics", "in_sample")
    oos = lookup(best, "metrics", "out_of_sample")
    params = lookup(best, "strategy", "params")
    overrides = lookup(best, "strategy", "overrides")
    overridden = set(overrides) if isinstance(overrides, Mapping) else set()
    tuned = lookup(best, "strategy", "tuned")
    # the parameters that were tuned or overridden (a rule's own keys), else the classic four
    base = list(tuned) if isinstance(tuned, Mapping) and tuned else [k for k, _, _ in STRATEGY_ROWS]
    shown = [k for k in dict.fromkeys([*base, *sorted(overridden)]) if k in (params or {})]
    rows = [(k, k.replace("_", " "), "num") for k in shown]
    if lookup(params, "sizing") == "vol_target":
        rows += [("target_vol", "volatility target", "pct")]
        rows += [("max_leverage", "max leverage", "num")]
    elif lookup(params, "sizing") == "fixed":
        rows += [("leverage", "leverage (fixed)", "num")]
    notes = [w for w in (lookup(best, "warnings") or []) if isinstance(w, str)]
    objective_text = lookup(best, "strategy", "objective", "note")
    if isinstance(objective_text, str):
        notes.append(objective_text)
    head += "".join(f'<p class="note warning">{esc(n)}</p>\n' for n in notes)
    strategy_rows = []
    rule = lookup(params, "name")
    if isinstance(rule, str):  # which rule, and what its levels are in (the signal it trades)
        signal = lookup(best, "signal", "kind")
        text = f"{rule} ({signal})" if isinstance(signal, str) else rule
        strategy_rows.append(
            f'<tr data-key="name"><th scope="row">rule</th><td>{esc(text)}</td></tr>'
        )
    for key, label, kind in rows:
        mark = ' <span class="override">(override)</span>' if key in overridden else ""
        raw = lookup(params, key)
        value = format_value(raw, kind)
        if key in ("leverage", "max_leverage"):  # what was applied: at most the market's cap
            applied = applied_leverage(raw, lookup(best, "costs"))
            value = value if applied is raw else str(applied)
        value = esc(value)
        strategy_rows.append(
            f'<tr data-key="{esc(key)}"><th scope="row">{esc(label)}</th>'
            f"<td>{value}{mark}</td></tr>"
        )
    return (
        head
        + '<div class="tables">\n'
        + '<table id="performance-table">\n<caption>Backtest</caption>\n'
        + '<thead><tr><th scope="col">metric</th><th scope="col">in sample</th>'
        + '<th scope="col">out of sample</th><th scope="col">buy &amp; hold IS</th>'
        + '<th scope="col">buy &amp; hold OOS</th></tr></thead>\n<tbody>\n'
        + _rows(
            PERFORMANCE_ROWS,
            ins,
            oos,
            lookup(best, "metrics", "benchmark", "in_sample"),
            lookup(best, "metrics", "benchmark", "out_of_sample"),
        )
        + "\n</tbody>\n</table>\n"
        + '<table id="strategy-table">\n<caption>Strategy parameters</caption>\n<tbody>\n'
        + "\n".join(strategy_rows)
        + "\n</tbody>\n</table>\n"
        + '<table id="robustness-table">\n<caption>Overfitting checks and model</caption>\n'
        + "<tbody>\n"
        + _rows(ROBUSTNESS_ROWS, lookup(best, "robustness"))
        + "\n"
        + _rows(MODEL_ROWS, lookup(best, "metrics", "model"))
        + "\n</tbody>\n</table>\n</div>\n</section>"
    )


__all__ = [
    "MODEL_ROWS",
    "PERFORMANCE_ROWS",
    "ROBUSTNESS_ROWS",
    "STRATEGY_ROWS",
    "robustness_section",
]
