"""The report's basket section: each member's figures, the sleeves' correlation and what each
sleeve contributed to the portfolio's return and risk, in and out of sample (what the terminal
prints under a basket's best run; ``workflow.best.json``'s ``members`` and ``portfolio``)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

SEGMENTS = (("in_sample", "in sample"), ("out_of_sample", "out of sample"))


def _num(value: Any, form: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "—"
    return format(value, form)


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


def _members_table(members: Mapping[str, Any], portfolio: Mapping[str, Any] | None) -> str:
    head = (
        "<thead><tr><th scope='col'>member</th><th scope='col'>IC (folds)</th>"
        "<th scope='col'>holdout IC</th><th scope='col'>Sharpe IS</th>"
        "<th scope='col'>Sharpe OOS</th><th scope='col'>trades IS</th>"
        "<th scope='col'>trades OOS</th><th scope='col'>contribution IS</th>"
        "<th scope='col'>contribution OOS</th></tr></thead>"
    )
    rows = []
    for symbol, member in members.items():
        cells = [
            _num(_get(member, "ic"), ".4f"),
            _num(_get(member, "holdout_ic"), ".4f"),
            _num(_get(member, "in_sample", "sharpe"), ".2f"),
            _num(_get(member, "out_of_sample", "sharpe"), ".2f"),
            _num(_get(member, "in_sample", "n_trades"), ",d"),
            _num(_get(member, "out_of_sample", "n_trades"), ",d"),
        ]
        for segment, _ in SEGMENTS:
            share = _get(portfolio, segment, "contributions", symbol, "return")
            risk = _get(portfolio, segment, "contributions", symbol, "risk")
            cells.append(f"{_num(share, '+.1%')} ret, {_num(risk, '.0%')} risk")
        body = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
        rows.append(
            f'<tr data-key="{html.escape(symbol)}"><th scope="row">'
            f"{html.escape(symbol)}</th>{body}</tr>"
        )
    return (
        '<table id="members-table">\n<caption>Members</caption>\n'
        + head
        + "\n<tbody>\n"
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )


def _correlation_table(portfolio: Mapping[str, Any], segment: str, label: str) -> str:
    matrix = _get(portfolio, segment, "correlation")
    if not isinstance(matrix, Mapping) or not matrix:
        return ""
    names = list(matrix)
    head = "".join(f"<th scope='col'>{html.escape(n)}</th>" for n in names)
    rows = []
    for a in names:
        cells = "".join(f"<td>{html.escape(_num(_get(matrix, a, b), '.2f'))}</td>" for b in names)
        rows.append(f"<tr><th scope='row'>{html.escape(a)}</th>{cells}</tr>")
    return (
        f'<table id="correlation-{segment.replace("_", "-")}">\n'
        f"<caption>Correlation of the sleeves, {label}</caption>\n"
        f"<thead><tr><th></th>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )


def basket_section(best: Mapping[str, Any] | None) -> str:
    """The ``<section id="basket">`` of a basket's best run; empty for a single asset."""
    members = _get(best, "members")
    if not isinstance(members, Mapping) or not members:
        return ""
    portfolio = _get(best, "portfolio")
    portfolio = portfolio if isinstance(portfolio, Mapping) else None
    notes = []
    if portfolio is not None:
        target = portfolio.get("target_vol")
        notes.append(
            f"weights {portfolio.get('weights')}, rebalance {portfolio.get('rebalance')}, "
            f"target volatility {'none' if target is None else _num(target, '.0%')}; "
            + "; ".join(
                f"{label}: {_get(portfolio, segment, 'rebalances')} rebalances, mean gross "
                f"exposure {_num(_get(portfolio, segment, 'mean_gross'), '.2f')}, costs "
                f"{_num(_get(portfolio, segment, 'contributions', 'costs', 'return'), '+.2%')}"
                for segment, label in SEGMENTS
            )
        )
    tables = [_members_table(members, portfolio)]
    if portfolio is not None:
        tables += [_correlation_table(portfolio, s, label) for s, label in SEGMENTS]
    return (
        '<section id="basket" class="section">\n<h2>Basket: members, correlation, '
        "contributions</h2>\n"
        + "".join(f'<p class="note">{html.escape(n)}</p>\n' for n in notes)
        + '<div class="tables">\n'
        + "\n".join(t for t in tables if t)
        + "\n</div>\n</section>"
    )


__all__ = ["basket_section"]
