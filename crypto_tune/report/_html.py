"""The HTML report: one document per page, plotly.js once per folder (offline, see _plotlyjs).

:func:`build_report` assembles the header and verdict with the sections: robustness
(``_robustness.py``), costs, basket, the figures' panels and the trades; the page's style,
status scripts and writing are in ``_page.py``, the cells' formatting in ``_format.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

from crypto_tune.exceptions import ConfigError
from crypto_tune.report._basket import basket_section
from crypto_tune.report._costs import costs_section
from crypto_tune.report._equity import equity_panel
from crypto_tune.report._fold_ic import fold_ic_panel
from crypto_tune.report._format import data_line, esc, format_value, lookup, note_paragraph
from crypto_tune.report._landscape import chosen_params, heatmap_panel, pareto_panel
from crypto_tune.report._monthly import monthly_panel
from crypto_tune.report._page import CSS, ERRORS_JS, STATUS_JS, write_report
from crypto_tune.report._panel import Panel
from crypto_tune.report._plotlyjs import PLOTLY_JS
from crypto_tune.report._robustness import robustness_section
from crypto_tune.report._study_plots import study_panels
from crypto_tune.report._trades import SORT_JS, trades_html

if TYPE_CHECKING:
    import optuna


def _header(title: str, best: Mapping | None, generated: datetime) -> str:
    stamp = generated.strftime("%Y-%m-%d %H:%M:%S UTC")
    verdict = lookup(best, "robustness", "verdict")
    significant = lookup(best, "robustness", "significant")
    drift = lookup(best, "robustness", "benchmark_note")  # buy-and-hold did better in sample
    if best is None:
        box = "unknown", "verdict not available: no best run was given"
    elif not isinstance(verdict, str) or not verdict.strip():
        box = "unknown", "verdict not available: best.robustness.verdict is missing"
    elif significant is True and lookup(best, "robustness", "holdout_disagrees") is True:
        box = "caution", verdict
    elif significant is True and isinstance(drift, str) and drift:
        box = "caution", f"{verdict}; but {drift}"
    elif significant is True:
        box = "significant", verdict
    elif significant is False:
        box = "not-significant", verdict
    else:
        box = "unknown", f"{verdict} (significance unknown)"
    flag = {"significant": "true", "caution": "true", "not-significant": "false", "unknown": ""}[
        box[0]
    ]
    how = lookup(best, "how", "text")
    how_html = (
        f'<p class="how" id="how"><strong>How this was made:</strong> {esc(how)}</p>\n'
        if isinstance(how, str) and how
        else ""
    )
    return (
        f'<header id="header" class="section">\n<h1>{esc(title)}</h1>\n'
        f'<p class="generated">generated {esc(stamp)}</p>\n'
        f'<div class="verdict {box[0]}" id="verdict" data-significant="{flag}">'
        f"{esc(box[1])}</div>\n{how_html}{data_line(best)}</header>"
    )


def _figure_html(panel: Panel) -> str:
    if panel.figure is None:
        text = f"{panel.title}: {panel.note}"
        return f'<p class="note" data-note="{esc(panel.name)}">{esc(text)}</p>'
    height = panel.figure.layout.height or 480
    div = panel.figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"plot-{panel.name}",
        default_height=f"{int(height)}px",
        config={"responsive": True, "displaylogo": False},
    )
    captions = "".join(f'<p class="caption">{esc(c)}</p>' for c in panel.captions)
    return f'<div class="figure" data-figure="{esc(panel.name)}">\n{div}\n{captions}</div>'


def _panel_section(section_id: str, heading: str, panels: list[Panel], note: str) -> str:
    body = note_paragraph(note) if note else "\n".join(_figure_html(p) for p in panels)
    head = f'<section id="{section_id}" class="section">\n<h2>{esc(heading)}</h2>'
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
    trades_file = lookup(best, "files", "trades")
    sections = [
        _header(title, best, datetime.now(UTC)),
        robustness_section(best),
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
            f"<title>{esc(title)}</title>",
            f"<style>{CSS}</style>",
            f'<script type="text/javascript">{ERRORS_JS % expected}</script>',
            PLOTLY_JS,  # plotly.js once per folder (write_report)
            "</head>",
            "<body>",
            *sections,
            status,
            f'<script type="text/javascript">{SORT_JS}</script>',
            f'<script type="text/javascript">{STATUS_JS}</script>',
            "</body>",
            "</html>",
            "",
        ]
    )


__all__ = ["build_report", "format_value", "write_report"]
