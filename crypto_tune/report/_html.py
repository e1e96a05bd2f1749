"""The HTML report: one document per page, plotly.js once per folder (offline, see _plotlyjs).

The page counts its own rendered figures and script errors on load and writes them into
``<div id="report-status" data-expected=N data-rendered=N data-errors=M data-done=1>``, so a
headless browser's ``--dump-dom`` tells whether every figure rendered.
"""

from __future__ import annotations

import html as html_lib
import math
import numbers
import os
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from crypto_tune.exceptions import ConfigError
from crypto_tune.report._basket import basket_section
from crypto_tune.report._costs import costs_section
from crypto_tune.report._equity import equity_panel
from crypto_tune.report._fold_ic import fold_ic_panel
from crypto_tune.report._landscape import chosen_params, heatmap_panel, pareto_panel
from crypto_tune.report._monthly import monthly_panel
from crypto_tune.report._panel import Panel
from crypto_tune.report._plotlyjs import PLOTLY_JS, link_plotly
from crypto_tune.report._study_plots import study_panels
from crypto_tune.report._trades import SORT_JS, trades_html

if TYPE_CHECKING:
    import optuna

DASH = "—"
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

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1200px;padding:1rem 1.5rem;color:#222;background:#fff}
h1{margin:.2rem 0}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
.generated{color:#666;font-size:.9rem}
.verdict{margin:1rem 0;padding:.8rem 1rem;border-radius:6px;font-weight:600;border:2px solid}
.verdict.significant{background:#e6f4ea;border-color:#1e8e3e;color:#0d652d}
.verdict.not-significant{background:#fce8e6;border-color:#d93025;color:#a50e0e}
.verdict.unknown{background:#f1f3f4;border-color:#9aa0a6;color:#3c4043}
.verdict.caution{background:#fef7e0;border-color:#f29900;color:#8a4b00}
.tables{display:flex;flex-wrap:wrap;gap:2rem;align-items:flex-start}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:.3rem .8rem;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}thead th{border-bottom:2px solid #ccc}
caption{text-align:left;font-weight:600;padding:.3rem 0}
.override{color:#b06000;font-size:.8rem}
.figure{margin:1rem 0}.caption{color:#555;font-size:.85rem;margin:.2rem 0 0 0}
.note{color:#666;font-style:italic;margin:.6rem 0}
#report-status{color:#888;font-size:.8rem;margin-top:2rem;white-space:pre-wrap}
.scroll{max-height:34rem;overflow:auto;border:1px solid #e3e3e3;border-radius:4px}
table.trades{width:100%;font-size:.85rem}
table.trades thead th{position:sticky;top:0;background:#f7f7f7;cursor:pointer;white-space:nowrap}
table.trades thead th[data-dir=asc]::after{content:" \\25B2"}
table.trades thead th[data-dir=desc]::after{content:" \\25BC"}
table.trades td{padding:.15rem .6rem;white-space:nowrap}
table.trades tbody tr:nth-child(even){background:#fafafa}
td.pos{color:#0d652d}td.neg{color:#a50e0e}h3{margin:1.2rem 0 .2rem 0}
"""

# Installed first in <head>: collects script errors before any other script runs.
_ERRORS_JS = """
window.__reportErrors = [];
window.__reportFigures = %d;
window.onerror = function (message, source, line, column) {
  window.__reportErrors.push(String(message) + " (" + source + ":" + line + ":" + column + ")");
};
window.addEventListener("unhandledrejection", function (event) {
  window.__reportErrors.push("unhandled rejection: " + String(event.reason));
});
"""

# Last in <body>: once loaded, waits (at most ~5 s) for every figure, then writes the status.
_STATUS_JS = """
(function () {
  function rendered() {
    var n = 0;
    document.querySelectorAll(".figure[data-figure]").forEach(function (div) {
      if (div.querySelector(".js-plotly-plot .main-svg")) { n += 1; }
    });
    return n;
  }
  function report(done) {
    var status = document.getElementById("report-status");
    var n = rendered();
    var errors = window.__reportErrors;
    status.setAttribute("data-rendered", String(n));
    status.setAttribute("data-errors", String(errors.length));
    status.setAttribute("data-done", done ? "1" : "0");
    status.textContent = n + " of " + window.__reportFigures + " figures rendered, " +
      errors.length + " script error(s)" + (errors.length ? ":\\n" + errors.join("\\n") : "");
  }
  var tries = 0;
  function poll() {
    tries += 1;
    if (rendered() >= window.__reportFigures || tries >= 100) { report(true); }
    else { report(false); setTimeout(poll, 50); }
  }
  window.addEventListener("load", poll);
})();
"""


# ------------------------------------------------------------------------------ formatting
def _lookup(data: Mapping | None, *keys: str) -> Any:
    """``data[k1][k2]...`` or None when a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


_HUGE_EXPONENT = 15  # format_value: from 1e15 on, scientific notation (not a wall of digits)


def format_value(value: Any, kind: str) -> str:
    """One table cell: ``pct`` (fraction as %), ``ratio``, ``prob``, ``ic``, ``int`` or ``num``.

    Missing, non-numeric and non-finite values give "—". A magnitude of 1e15 or more (as shown,
    i.e. after the x100 of ``pct``) prints in scientific notation, never as ``inf``.

    >>> format_value(0.1234, "pct"), format_value(1234, "int"), format_value(None, "ratio")
    ('12.34%', '1,234', '—')
    >>> format_value(1.8e306, "pct"), format_value(-2e15, "ratio")
    ('1.800e+308%', '-2.000e+15')
    """
    if value is None or isinstance(value, bool) or not isinstance(value, numbers.Real):
        return DASH
    number = float(value) + 0.0  # -0.0 -> 0.0
    if not math.isfinite(number):
        return DASH
    shift = 2 if kind == "pct" else 0  # x100 as a decimal exponent: 100 * 1.8e306 overflows
    if kind != "num" and abs(number) >= 10.0 ** (_HUGE_EXPONENT - shift):
        mantissa, exponent = f"{number:.3e}".split("e")
        return f"{mantissa}e{int(exponent) + shift:+03d}" + ("%" if kind == "pct" else "")
    if kind == "pct":
        return f"{100 * number:.2f}%"
    if kind == "ratio":
        return f"{number:.2f}"
    if kind == "prob":
        return f"{number:.3f}"
    if kind == "ic":
        return f"{number:.4f}"
    if kind == "int":
        return f"{round(number):,}" if number == round(number) else f"{number:,.2f}"
    return f"{number:.4g}"


def _esc(text: Any) -> str:
    return html_lib.escape(str(text), quote=True)


def _rows(rows: tuple[tuple[str, str, str], ...], *columns: Mapping | None) -> str:
    lines = []
    for key, label, kind in rows:
        cells = "".join(
            f"<td>{_esc(format_value(_lookup(c, *key.split('.')), kind))}</td>" for c in columns
        )
        lines.append(f'<tr data-key="{_esc(key)}"><th scope="row">{_esc(label)}</th>{cells}</tr>')
    return "\n".join(lines)


# ------------------------------------------------------------------------------ sections
def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


def _header(title: str, best: Mapping | None, generated: datetime) -> str:
    stamp = generated.strftime("%Y-%m-%d %H:%M:%S UTC")
    verdict = _lookup(best, "robustness", "verdict")
    significant = _lookup(best, "robustness", "significant")
    if best is None:
        box = "unknown", "verdict not available: no best run was given"
    elif not isinstance(verdict, str) or not verdict.strip():
        box = "unknown", "verdict not available: best.robustness.verdict is missing"
    elif significant is True and _lookup(best, "robustness", "holdout_disagrees") is True:
        box = "caution", verdict
    elif significant is True:
        box = "significant", verdict
    elif significant is False:
        box = "not-significant", verdict
    else:
        box = "unknown", f"{verdict} (significance unknown)"
    flag = {"significant": "true", "caution": "true", "not-significant": "false", "unknown": ""}[
        box[0]
    ]
    how = _lookup(best, "how", "text")
    how_html = (
        f'<p class="how" id="how"><strong>How this was made:</strong> {_esc(how)}</p>\n'
        if isinstance(how, str) and how
        else ""
    )
    return (
        f'<header id="header" class="section">\n<h1>{_esc(title)}</h1>\n'
        f'<p class="generated">generated {_esc(stamp)}</p>\n'
        f'<div class="verdict {box[0]}" id="verdict" data-significant="{flag}">'
        f"{_esc(box[1])}</div>\n{how_html}</header>"
    )


def _robustness_section(best: Mapping | None) -> str:
    head = '<section id="robustness" class="section">\n<h2>Robustness</h2>\n'
    if best is None:
        return head + _note("not available: no best run was given") + "\n</section>"
    ins = _lookup(best, "metrics", "in_sample")
    oos = _lookup(best, "metrics", "out_of_sample")
    params = _lookup(best, "strategy", "params")
    overrides = _lookup(best, "strategy", "overrides")
    overridden = set(overrides) if isinstance(overrides, Mapping) else set()
    tuned = _lookup(best, "strategy", "tuned")
    # the parameters that were tuned or overridden (a rule's own keys), else the classic four
    base = list(tuned) if isinstance(tuned, Mapping) and tuned else [k for k, _, _ in STRATEGY_ROWS]
    shown = [k for k in dict.fromkeys([*base, *sorted(overridden)]) if k in (params or {})]
    rows = [(k, k.replace("_", " "), "num") for k in shown]
    if _lookup(params, "sizing") == "vol_target":
        rows += [("target_vol", "volatility target", "pct")]
        rows += [("max_leverage", "max leverage", "num")]
    elif _lookup(params, "sizing") == "fixed":
        rows += [("leverage", "leverage (fixed)", "num")]
    notes = [w for w in (_lookup(best, "warnings") or []) if isinstance(w, str)]
    objective_text = _lookup(best, "strategy", "objective", "note")
    if isinstance(objective_text, str):
        notes.append(objective_text)
    head += "".join(f'<p class="note warning">{_esc(n)}</p>\n' for n in notes)
    strategy_rows = []
    for key, label, kind in rows:
        mark = ' <span class="override">(override)</span>' if key in overridden else ""
        value = _esc(format_value(_lookup(params, key), kind))
        strategy_rows.append(
            f'<tr data-key="{_esc(key)}"><th scope="row">{_esc(label)}</th>'
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
            _lookup(best, "metrics", "benchmark", "in_sample"),
            _lookup(best, "metrics", "benchmark", "out_of_sample"),
        )
        + "\n</tbody>\n</table>\n"
        + '<table id="strategy-table">\n<caption>Strategy parameters</caption>\n<tbody>\n'
        + "\n".join(strategy_rows)
        + "\n</tbody>\n</table>\n"
        + '<table id="robustness-table">\n<caption>Overfitting checks and model</caption>\n'
        + "<tbody>\n"
        + _rows(ROBUSTNESS_ROWS, _lookup(best, "robustness"))
        + "\n"
        + _rows(MODEL_ROWS, _lookup(best, "metrics", "model"))
        + "\n</tbody>\n</table>\n</div>\n</section>"
    )


def _figure_html(panel: Panel) -> str:
    if panel.figure is None:
        text = f"{panel.title}: {panel.note}"
        return f'<p class="note" data-note="{_esc(panel.name)}">{_esc(text)}</p>'
    height = panel.figure.layout.height or 480
    div = panel.figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"plot-{panel.name}",
        default_height=f"{int(height)}px",
        config={"responsive": True, "displaylogo": False},
    )
    captions = "".join(f'<p class="caption">{_esc(c)}</p>' for c in panel.captions)
    return f'<div class="figure" data-figure="{_esc(panel.name)}">\n{div}\n{captions}</div>'


def _panel_section(section_id: str, heading: str, panels: list[Panel], note: str) -> str:
    body = _note(note) if note else "\n".join(_figure_html(p) for p in panels)
    head = f'<section id="{section_id}" class="section">\n<h2>{_esc(heading)}</h2>'
    return f"{head}\n{body}\n</section>"


# ------------------------------------------------------------------------------ public API
def build_report(
    *,
    title: str,
    model_study: optuna.Study | None,
    strategy_study: optuna.Study | None,
    best: Mapping | None,
    equity: Mapping[str, pd.Series] | None,
    fold_ic: pd.DataFrame | None,
    benchmark: Mapping[str, pd.Series] | None = None,
    trades: pd.DataFrame | None = None,
) -> str:
    """The whole HTML document: header and verdict, robustness tables, study plots and the
    objective landscape, IC, equity against buy-and-hold, monthly returns, the trade list.

    ``best`` is the ``workflow.best.json`` content; ``equity`` and ``benchmark`` map
    ``"in_sample"`` and ``"out_of_sample"`` to per-bar simple returns (the strategy's, buy and
    hold's); ``fold_ic`` has one row per fold with columns ``fold, ic, rank_ic`` (and
    ``hit_rate``); ``trades`` is the best run's trade file. A None or empty input turns its
    section (or caption) into a "not available" note.
    """
    if not isinstance(title, str) or not title.strip():
        raise ConfigError(f"title must be a non-empty string, got {title!r}")
    if best is not None and not isinstance(best, Mapping):
        raise ConfigError(f"best must be a mapping (best.json content) or None, got {type(best)!r}")
    model_panels, model_note = study_panels(model_study, prefix="model", label="Phase 1 model (IC)")
    strategy_panels, strategy_note = study_panels(
        strategy_study, prefix="strategy", label="Phase 2 strategy"
    )
    if strategy_study is not None and not strategy_note:
        strategy_panels.append(heatmap_panel(strategy_study, chosen_params(strategy_study, best)))
        pareto = pareto_panel(strategy_study, chosen_params(strategy_study, best, "tuned"))
        if pareto is not None:
            strategy_panels.append(pareto)
    ic_panel = fold_ic_panel(fold_ic)
    curve_panel = equity_panel(equity, benchmark)
    month_panel = monthly_panel(equity)
    every = [*model_panels, *strategy_panels, ic_panel, curve_panel, month_panel]
    expected = sum(p.figure is not None for p in every)
    trades_file = _lookup(best, "files", "trades")
    sections = [
        _header(title, best, datetime.now(UTC)),
        _robustness_section(best),
        costs_section(best),
        basket_section(best),
        _panel_section("model-study", "Phase 1: model search (IC)", model_panels, model_note),
        _panel_section(
            "strategy-study", "Phase 2: strategy search", strategy_panels, strategy_note
        ),
        _panel_section("fold-ic", "Information coefficient per fold", [ic_panel], ""),
        _panel_section("equity", "Equity and drawdown against buy and hold", [curve_panel], ""),
        _panel_section("monthly", "Monthly returns", [month_panel], ""),
        '<section id="trades" class="section">\n<h2>Trades</h2>\n'
        + trades_html(trades, file=trades_file if isinstance(trades_file, str) else None)
        + "\n</section>",
    ]
    status = (
        f'<div id="report-status" data-expected="{expected}" data-rendered="" '
        'data-errors="" data-done="0"></div>'
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_esc(title)}</title>",
            f"<style>{_CSS}</style>",
            f'<script type="text/javascript">{_ERRORS_JS % expected}</script>',
            PLOTLY_JS,  # plotly.js once per folder (write_report)
            "</head>",
            "<body>",
            *sections,
            status,
            f'<script type="text/javascript">{SORT_JS}</script>',
            f'<script type="text/javascript">{_STATUS_JS}</script>',
            "</body>",
            "</html>",
            "",
        ]
    )


def write_report(html: str, path: Path) -> Path:
    """Write ``html`` to ``path`` atomically (temporary file + ``os.replace``); returns ``path``.

    The page's plotly.js placeholder points at the folder's one copy of the library
    (:func:`crypto_tune.report._plotlyjs.link_plotly`), written beside it the first time."""
    if not isinstance(html, str) or not html:
        raise ConfigError(f"html must be a non-empty string, got {type(html).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    html = link_plotly(html, path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(html)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a report is meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


__all__ = ["build_report", "format_value", "write_report"]
