"""The trade list of the report: one sortable HTML table per segment, the last trades shown.

Input: the best run's ``<stem>.trades.parquet`` (columns of
:data:`crypto_tune.report._data.TRADE_FILE_COLUMNS`; ``return`` and ``symbol`` optional).
"""

from __future__ import annotations

import html as html_lib
import math
from typing import Any

import pandas as pd

from crypto_tune.exceptions import DataError

MAX_TRADE_ROWS = 200  # per segment; the file holds every trade
REQUIRED_TRADE_COLUMNS: tuple[str, ...] = ("entry_time", "exit_time", "side", "pnl")
SEGMENT_TITLES = {"in_sample": "In sample", "out_of_sample": "Out of sample"}

# Clicking a header sorts its table by the cells' data-v (numbers numerically, else as text).
SORT_JS = """
(function () {
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, col) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var asc = th.getAttribute("data-dir") !== "asc";
        heads.forEach(function (h) { h.removeAttribute("data-dir"); });
        th.setAttribute("data-dir", asc ? "asc" : "desc");
        rows.sort(function (a, b) {
          var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
          var nx = parseFloat(x), ny = parseFloat(y), c;
          if (!isNaN(nx) && !isNaN(ny)) { c = nx - ny; } else { c = String(x).localeCompare(y); }
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
"""


def _esc(text: Any) -> str:
    return html_lib.escape(str(text), quote=True)


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def format_price(value: Any) -> str:
    """A price with sensible decimals: ``2,345.67``, ``1.2345``, ``0.0001234``.

    >>> [format_price(v) for v in (2345.6789, 1.23456, 0.000123456, None)]
    ['2,345.68', '1.2346', '0.0001235', '—']
    """
    number = _finite(value)
    if number is None:
        return "—"
    if abs(number) >= 1000:
        return f"{number:,.2f}"
    if abs(number) >= 1:
        return f"{number:.4f}"
    return f"{number:.4g}"


def format_duration(delta: pd.Timedelta) -> str:
    """``3d 4h``, ``5h``, ``45m``; ``—`` when unknown.

    >>> format_duration(pd.Timedelta(hours=76)), format_duration(pd.Timedelta(minutes=45))
    ('3d 4h', '45m')
    """
    if pd.isna(delta):
        return "—"
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


def _cell(text: str, sort: Any, css: str = "") -> str:
    klass = f' class="{css}"' if css else ""
    return f'<td data-v="{_esc(sort)}"{klass}>{_esc(text)}</td>'


def _signed(value: float | None) -> str:
    return "" if value is None or value == 0 else ("pos" if value > 0 else "neg")


def _summary(frame: pd.DataFrame) -> str:
    pnl = pd.to_numeric(frame["pnl"], errors="coerce")
    parts = [f"{len(frame):,} trades"]
    sides = frame["side"].astype(str).value_counts()
    parts.append(", ".join(f"{sides[s]:,} {s}" for s in sorted(sides.index)))
    if pnl.notna().any():
        parts.append(f"win rate {(pnl > 0).sum() / pnl.notna().sum():.1%}")
    if "return" in frame.columns:
        returns = pd.to_numeric(frame["return"], errors="coerce")
        if returns.notna().any():
            parts.append(f"mean return {returns.mean():+.2%}, median {returns.median():+.2%}")
    if "reason" in frame.columns:
        reasons = frame["reason"].astype(str).value_counts()
        parts.append("exits: " + ", ".join(f"{r} {n:,}" for r, n in reasons.items()))
    return "; ".join(parts)


def _table(segment: str, frame: pd.DataFrame, show_symbol: bool, limit: int) -> str:
    shown = frame.tail(limit)
    columns = ["#", *(["symbol"] if show_symbol else []), "side", "entry (UTC)", "exit (UTC)"]
    columns += ["held", "entry price", "exit price", "pnl", "return", "exit reason"]
    head = "".join(f'<th scope="col" title="click to sort">{_esc(c)}</th>' for c in columns)
    lines = []
    for number, (_, trade) in zip(range(len(frame) - len(shown) + 1, len(frame) + 1),
                                  shown.iterrows(), strict=True):  # fmt: skip
        entry, exit_ = pd.Timestamp(trade["entry_time"]), pd.Timestamp(trade["exit_time"])
        pnl = _finite(trade["pnl"])
        ret = _finite(trade.get("return"))
        cells = [_cell(str(number), number)]
        if show_symbol:
            cells.append(_cell(str(trade.get("symbol", "")), trade.get("symbol", "")))
        cells += [
            _cell(str(trade["side"]), trade["side"], f"side-{trade['side']}"),
            _cell(f"{entry:%Y-%m-%d %H:%M}", entry.value),
            _cell(f"{exit_:%Y-%m-%d %H:%M}", exit_.value),
            _cell(format_duration(exit_ - entry), (exit_ - entry).total_seconds()),
            _cell(format_price(trade.get("entry_price")), _finite(trade.get("entry_price")) or ""),
            _cell(format_price(trade.get("exit_price")), _finite(trade.get("exit_price")) or ""),
            _cell("—" if pnl is None else f"{pnl:+.4f}", "" if pnl is None else pnl, _signed(pnl)),
            _cell("—" if ret is None else f"{ret:+.2%}", "" if ret is None else ret, _signed(ret)),
            _cell(str(trade.get("reason", "—")), trade.get("reason", "")),
        ]
        lines.append("<tr>" + "".join(cells) + "</tr>")
    count = (
        f"showing the last {len(shown):,} of {len(frame):,} trades"
        if len(shown) < len(frame)
        else f"all {len(frame):,} trades"
    )
    return (
        f'<div class="trades-segment" data-segment="{segment}">\n'
        f"<h3>{_esc(SEGMENT_TITLES.get(segment, segment))}</h3>\n"
        f'<p class="caption">{_esc(_summary(frame))}</p>\n'
        f'<p class="caption trade-count">{_esc(count)} (click a column to sort)</p>\n'
        f'<div class="scroll"><table id="trades-{segment}" class="sortable trades">\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(lines) + "\n</tbody>\n"
        "</table></div>\n</div>"
    )


def trades_html(
    trades: pd.DataFrame | None, *, file: str | None = None, limit: int = MAX_TRADE_ROWS
) -> str:
    """The trade list's body: per segment a summary line and the last ``limit`` trades.

    A None or empty input gives a one-line "not available" note.
    """
    if trades is None:
        return (
            '<p class="note">not available: no trade list was given (a best run written before '
            "trade lists were recorded has none: rerun phase=best)</p>"
        )
    if not isinstance(trades, pd.DataFrame):
        raise DataError(f"trades must be a pandas DataFrame or None, got {type(trades)!r}")
    missing = [c for c in REQUIRED_TRADE_COLUMNS if c not in trades.columns]
    if missing:
        got = list(map(str, trades.columns))
        raise DataError(f"trades: missing column(s) {missing}, got {got}")
    frame = trades if "segment" in trades.columns else trades.assign(segment="in_sample")
    show_symbol = "symbol" in frame.columns and frame["symbol"].nunique() > 1
    blocks = []
    for segment in dict.fromkeys(["in_sample", "out_of_sample", *frame["segment"].unique()]):
        part = frame[frame["segment"] == segment].sort_values("entry_time", kind="stable")
        if len(part):
            blocks.append(_table(str(segment), part, show_symbol, limit))
        elif segment in SEGMENT_TITLES:
            title = SEGMENT_TITLES[segment]
            blocks.append(f'<p class="note" data-segment="{segment}">{title}: no trade</p>')
    where = f" All trades are in {_esc(file)}." if file else ""
    head = (
        '<p class="caption">pnl: in units of the starting equity of its backtest (every fold and '
        f"every asset start at 1); return: pnl over the equity before the entry.{where}</p>"
    )
    return head + "\n" + "\n".join(blocks)


__all__ = ["MAX_TRADE_ROWS", "SORT_JS", "format_duration", "format_price", "trades_html"]
