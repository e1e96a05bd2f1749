"""The report's gross-to-net bridge: what the market's costs took, in and out of sample
(``workflow.best.json``'s ``costs``, :mod:`crypto_tune.costs`)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

from crypto_tune.costs import BRIDGE_KEYS

_LABELS = {
    "gross_return": "gross return (before costs)",
    "fee_paid": "− fees",
    "slippage_paid": "− slippage",
    "funding_paid": "− funding (negative: received)",
    "borrow_paid": "− borrow interest",
    "compounding": "− compounding of the costs",
    "net_return": "net return",
}


def _pct(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "—"
    return f"{100 * value:.2f}%"


def _market_line(costs: Mapping[str, Any]) -> str:
    funding = costs.get("funding")
    funding_text = funding if isinstance(funding, str) else f"{_pct(funding)} per 8 h"
    parts = [
        f"market {costs.get('market')}",
        f"fee {_pct(costs.get('fee'))} per side",
        f"slippage {_pct(costs.get('slippage'))} per side",
        "shorting " + ("allowed" if costs.get("allow_short") else "not allowed"),
        f"borrow {_pct(costs.get('borrow_rate'))} a year",
        f"funding {funding_text}",
        f"maintenance margin {_pct(costs.get('maintenance_margin'))}",
    ]
    return html.escape(", ".join(parts))


def _table(bridge: Mapping[str, Any]) -> str:
    rows = []
    for key in BRIDGE_KEYS:
        cells = "".join(
            f"<td>{_pct((bridge.get(period) or {}).get(key))}</td>"
            for period in ("in_sample", "out_of_sample")
        )
        rows.append(f'<tr data-key="{key}"><th scope="row">{_LABELS[key]}</th>{cells}</tr>')
    return (
        '<table class="metrics" id="costs-table">\n<thead><tr><th></th><th>in sample</th>'
        "<th>out of sample</th></tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"
    )


def costs_section(best: Mapping | None) -> str:
    """``<section id="costs">``: the market's settings and the bridge per period (a basket: one
    table per member); a note when the best run recorded no costs."""
    head = '<section id="costs" class="section">\n<h2>Costs: gross to net</h2>\n'
    costs = best.get("costs") if isinstance(best, Mapping) else None
    if not isinstance(costs, Mapping):
        return (
            head + '<p class="note">not available: the best run recorded no costs</p>\n</section>'
        )
    body = [f'<p class="note">{_market_line(costs)}</p>']
    members = costs.get("members")
    if isinstance(members, Mapping):
        for symbol, bridge in members.items():
            body.append(f"<h3>{html.escape(str(symbol))}</h3>\n{_table(bridge)}")
    else:
        body.append(_table(costs))
    return head + "\n".join(body) + "\n</section>"


__all__ = ["costs_section"]
