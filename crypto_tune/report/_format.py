"""The report's formatting, one home for every page: a value as a table cell
(:func:`format_value`), a number in a format spec (:func:`format_number`), nested lookups in a
result document (:func:`lookup`), HTML escaping and the note paragraph."""

from __future__ import annotations

import html as html_lib
import math
import numbers
from collections.abc import Mapping
from typing import Any

DASH = "—"


def lookup(data: Any, *keys: str) -> Any:
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


def format_number(value: Any, form: str) -> str:
    """``format(value, form)`` for a finite number, else "—"."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "—"
    return format(value, form)


def esc(text: Any) -> str:
    return html_lib.escape(str(text), quote=True)


def note_paragraph(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def data_line(best: Mapping | None) -> str:
    """The data a result was made on (its files and fingerprint), as a paragraph; empty when the
    document does not say (a result written before it did)."""
    files = lookup(best, "asset", "files")
    fingerprint = lookup(best, "asset", "data_fingerprint")
    if not isinstance(files, Mapping) or not files:
        return ""
    shown = ", ".join(f"{symbol} {path}" for symbol, path in files.items())
    return (
        f'<p class="data" id="data"><strong>Data:</strong> {esc(shown)} '
        f"(fingerprint {esc(str(fingerprint))})</p>\n"
    )


__all__ = ["DASH", "data_line", "esc", "format_number", "format_value", "lookup", "note_paragraph"]
