"""What a period's data cover of it: a holdout cut short by a file that ends early (or starts
late) is measured over the bars it holds, not over the period the config names."""

from __future__ import annotations

from typing import Any

import pandas as pd

from crypto_tune.splits._dates import end_exclusive_ns, start_ns


def period_coverage(
    times: pd.DatetimeIndex, start: object, end: object, bar: pd.Timedelta
) -> dict[str, Any]:
    """The bars ``times`` hold of the period ``start..end`` (dates inclusive, as the split reads
    them), with bars of length ``bar``: the first and last bar, their number, the share of the
    period's bars (gaps count as missing) and ``short``: the data start more than one bar after
    the period does or end more than one bar before it.

    >>> t = pd.date_range("2024-01-01", "2024-01-07 20:00", freq="4h", tz="UTC")
    >>> c = period_coverage(t, "2024-01-01", "2024-01-31", pd.Timedelta("4h"))
    >>> c["bars"], c["share"], c["short"], c["last"]
    (42, 0.2258, True, '2024-01-07 20:00')
    """
    first_ns, stop_ns = start_ns("start", start), end_exclusive_ns("end", end)
    expected = max(1, (stop_ns - first_ns) // bar.value)
    if not len(times):
        return {"first": None, "last": None, "bars": 0, "share": 0.0, "short": True}
    utc = times.tz_localize("UTC") if times.tz is None else times.tz_convert("UTC")
    late = int(utc[0].value) - first_ns > bar.value
    early = stop_ns - (int(utc[-1].value) + bar.value) > bar.value
    return {
        "first": f"{utc[0]:%Y-%m-%d %H:%M}",
        "last": f"{utc[-1]:%Y-%m-%d %H:%M}",
        "bars": len(utc),
        "share": round(min(1.0, len(utc) / expected), 4),
        "short": bool(late or early),
    }


def coverage_text(coverage: dict[str, Any]) -> str:
    """`` (data 2024-01-01 00:00..2024-01-07 20:00 only: 42 bars, 23% of the period)`` when the
    data cover the period short, else nothing."""
    if not coverage["short"]:
        return ""
    if not coverage["bars"]:
        return " (no data in the period)"
    return (
        f" (data {coverage['first']}..{coverage['last']} only: {coverage['bars']} bars, "
        f"{100 * coverage['share']:.0f}% of the period)"
    )


__all__ = ["coverage_text", "period_coverage"]
