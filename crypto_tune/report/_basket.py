"""The report's basket section: each member's figures, the sleeves' correlation and what each
sleeve contributed to the portfolio's return and risk, in and out of sample (what the terminal
prints under a basket's best run; ``workflow.best.json``'s ``members`` and ``portfolio``)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from crypto_tune.report._format import format_number, lookup

SEGMENTS = (("in_sample", "in sample"), ("out_of_sample", "out of sample"))


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
            format_number(lookup(member, "ic"), ".4f"),
            format_number(lookup(member, "holdout_ic"), ".4f"),
            format_number(lookup(member, "in_sample", "sharpe"), ".2f"),
            format_number(lookup(member, "out_of_sample", "sharpe"), ".2f"),
            format_number(lookup(member, "in_sample", "n_trades"), ",d"),
            format_number(lookup(member, "out_of_sample", "n_trades"), ",d"),
        ]
        for segment, _ in SEGMENTS:
            share = lookup(portfolio, segment, "contributions", symbol, "return")
            risk = lookup(portfolio, segment, "contributions", symbol, "risk")
            cells.append(f"{format_number(share, '+.1%')} ret, {format_number(risk, '.0%')} risk")
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
    matrix = lookup(portfolio, segment, "correlation")
    if not isinstance(matrix, Mapping) or not matrix:
        return ""
    names = list(matrix)
    head = "".join(f"<th scope='col'>{html.escape(n)}</th>" for n in names)
    rows = []
    for a in names:
        cells = "".join(
            f"<td>{html.escape(format_number(lookup(matrix, a, b), '.2f'))}</td>" for b in names
        )
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
    members = lookup(best, "members")
    if not isinstance(members, Mapping) or not members:
        return ""
    portfolio = lookup(best, "portfolio")
    portfolio = portfolio if isinstance(portfolio, Mapping) else None
    notes = []
    if portfolio is not None:
        target = portfolio.get("target_vol")
        segments = []
        for segment, label in SEGMENTS:
            gross = lookup(portfolio, segment, "mean_gross")
            costs = lookup(portfolio, segment, "contributions", "costs", "return")
            segments.append(
                f"{label}: {lookup(portfolio, segment, 'rebalances')} rebalances, mean gross "
                f"exposure {format_number(gross, '.2f')}, costs {format_number(costs, '+.2%')}"
            )
        notes.append(
            f"weights {portfolio.get('weights')}, rebalance {portfolio.get('rebalance')}, "
            f"target volatility {'none' if target is None else format_number(target, '.0%')}; "
            + "; ".join(segments)
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
