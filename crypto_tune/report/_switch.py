"""The regime-switch page: the switched account beside the single set, from the best run.

Pure plotly and HTML from a ``regime=switch`` ``workflow.best.json``'s content and its curves
(index ``(segment, time)``, columns ``returns`` (the switch), ``single_set`` and ``label``, the
hysteresis regime label of each bar: ``calm``, ``volatile`` or ``unknown``). Sections: the
performance table, equity and drawdown in and out of sample over the regime bands, Sharpe per
regime, the parameter sets side by side, the switch counts and the verdict's note. One
page (plotly.js once per folder, offline) with the status line of the main report.

The curves are read and drawn in ``_switch_curves.py``, the tables in ``_switch_tables.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from crypto_tune.report._costs import costs_section
from crypto_tune.report._format import esc, lookup
from crypto_tune.report._page import CSS, ERRORS_JS, STATUS_JS, write_report
from crypto_tune.report._plotlyjs import PLOTLY_JS
from crypto_tune.report._switch_curves import BANDS, SETS, equity_figure, read_curves
from crypto_tune.report._switch_tables import (
    parameters_table,
    per_regime_table,
    performance_table,
    switches_note,
)

_PAGE_CSS = """
td.diff{background:#fff4e5}
td.text{text-align:left;white-space:normal;word-break:break-all;font-size:.8rem;max-width:16rem}
.legend-band{display:inline-block;width:1.2em;height:.8em;margin:0 .3em 0 1em;vertical-align:middle}
"""


def _figure(figure: go.Figure, name: str, captions: Sequence[str]) -> str:
    div = figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"plot-{name}",
        default_height=f"{int(figure.layout.height or 480)}px",
        config={"responsive": True, "displaylogo": False},
    )
    notes = "".join(f'<p class="caption">{esc(c)}</p>' for c in captions)
    return f'<div class="figure" data-figure="{esc(name)}">\n{div}\n{notes}</div>'


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
    verdict = lookup(document, "robustness", "verdict") or "no verdict in the best run"
    bands = "".join(
        f'<span class="legend-band" style="background:{BANDS[r]}"></span>{r} bars' for r in SETS
    )
    captions = [
        "Dotted: in sample (tuning folds, out of fold); solid: out of sample (holdout), "
        "continuing from the in-sample end. Shaded: the bars labelled calm or volatile "
        "(unshaded: unknown, flat).",
    ]
    sections = [
        f'<header id="header" class="section"><h1>{esc(title)}</h1>'
        f'<p class="generated">generated {esc(stamp)} from <code>'
        f"{esc(document.get('command', ''))}</code></p><p>{esc(intro)}</p>"
        f'<div class="verdict unknown" id="verdict">{esc(verdict)}</div>'
        + (
            f'<p class="how" id="how"><strong>How this was made:</strong> '
            f"{esc(lookup(document, 'how', 'text'))}</p>"
            if lookup(document, "how", "text")
            else ""
        )
        + "</header>",
        '<section id="performance" class="section"><h2>In and out of sample</h2>'
        + performance_table(document)
        + "</section>",
        '<section id="equity" class="section"><h2>Equity over the regime labels</h2>'
        f"<p>{bands}</p>"
        + _figure(equity_figure(curves), "equity", captions)
        + f'<p class="note">{esc(switches_note(document, curves))}</p></section>',
        '<section id="per-regime" class="section"><h2>Per regime</h2>'
        + per_regime_table(document)
        + "</section>",
        costs_section(document),
        '<section id="parameters" class="section"><h2>Parameter sets</h2>'
        + parameters_table(document)
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
            f"<title>{esc(title)}</title><style>{CSS}{_PAGE_CSS}</style>",
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
