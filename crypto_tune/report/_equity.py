"""The report's equity and drawdown, in and out of sample, against buy and hold: the curves
(:func:`equity_curves`) and their figure; the returns checked on the way in."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from plotly.subplots import make_subplots

from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.report._panel import SEGMENT_LABELS, SEGMENTS, Panel

SEGMENT_COLOURS = {"in_sample": "#1f77b4", "out_of_sample": "#d62728"}
HOLD_COLOURS = {"in_sample": "#5f8fb8", "out_of_sample": "#c47a7a"}
# Curves longer than this are bucketed (equity at the bucket's end, drawdown at its trough).
MAX_CURVE_POINTS = 5000


def checked_returns(segment: str, values: Any) -> pd.Series:
    if not isinstance(values, pd.Series):
        raise ConfigError(
            f"equity[{segment!r}] must be a pandas Series of returns, got {type(values)!r}"
        )
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    bad = ~np.isfinite(numbers.to_numpy())
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = values.iloc[row]
        value = value.item() if isinstance(value, np.generic) else value
        raise DataError(
            f"equity[{segment!r}]: return at row {row} ({values.index[row]}) is not a finite "
            f"number, got {value!r}"
        )
    return numbers


def equity_curves(returns: pd.Series, *, start: float = 1.0) -> tuple[pd.Series, pd.Series]:
    """Equity ``start * cumprod(1 + r)`` and drawdown ``equity / running peak - 1``.

    The running peak includes ``start`` (the equity before the first return), as
    :func:`crypto_tune.metrics.max_drawdown` does, so ``-drawdown.min()`` equals it.

    >>> equity, drawdown = equity_curves(pd.Series([0.1, -0.5, 0.2]))
    >>> [round(v, 3) for v in equity], [round(v, 3) for v in drawdown]
    ([1.1, 0.55, 0.66], [0.0, -0.5, -0.4])
    """
    equity = start * (1.0 + returns).cumprod()
    peak = equity.cummax().clip(lower=start)
    return equity, equity / peak - 1.0


def _bucket(x: pd.Index, equity: pd.Series, drawdown: pd.Series) -> tuple[Any, Any, Any]:
    """At most MAX_CURVE_POINTS points: equity at each bucket's end, drawdown at its trough."""
    n = len(equity)
    if n <= MAX_CURVE_POINTS:
        return x, equity.to_numpy(), drawdown.to_numpy()
    size = math.ceil(n / MAX_CURVE_POINTS)
    ends = np.minimum(np.arange(size, n + size, size), n) - 1
    starts = np.arange(0, n, size)
    troughs = np.minimum.reduceat(drawdown.to_numpy(), starts)
    return x[ends], equity.to_numpy()[ends], troughs


def _rebased(returns: pd.Series, index: pd.Index) -> pd.Series:
    """``returns`` on ``index`` (bars it lacks return 0), checked like the strategy's."""
    return returns.reindex(index).fillna(0.0)


def equity_panel(
    equity: Mapping[str, pd.Series] | None, benchmark: Mapping[str, pd.Series] | None = None
) -> Panel:
    """Equity (top) and drawdown (bottom) in and out of sample, OOS continuing from IS's end.

    ``benchmark`` (buy-and-hold per-bar returns per segment) is drawn dotted over the same bars,
    restarting at the strategy's equity where each segment starts, so that each segment compares
    like with like. With a DatetimeIndex on both segments the x axis is time; otherwise it is the
    bar number, the out-of-sample bars numbered on from the last in-sample bar.
    """
    name, title = "equity", "Equity and drawdown, in and out of sample"
    if equity is None:
        return Panel(name, title, note="not available: no returns were given")
    if not isinstance(equity, Mapping):
        raise ConfigError(f"equity must be a mapping of segment to returns, got {type(equity)!r}")
    unknown = [k for k in equity if k not in SEGMENTS]
    if unknown:
        raise ConfigError(f"equity keys must be among {list(SEGMENTS)}, got {unknown}")
    series = {k: checked_returns(k, equity[k]) for k in SEGMENTS if k in equity}
    series = {k: v for k, v in series.items() if len(v)}
    if not series:
        return Panel(name, title, note="not available: the return series are empty")
    if benchmark is not None and not isinstance(benchmark, Mapping):
        raise ConfigError(f"benchmark must be a mapping or None, got {type(benchmark)!r}")
    holds = {
        k: _rebased(checked_returns(f"benchmark {k}", benchmark[k]), series[k].index)
        for k in series
        if benchmark is not None and k in benchmark
    }
    by_time = all(isinstance(s.index, pd.DatetimeIndex) for s in series.values())
    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        row_heights=[0.65, 0.35],
        subplot_titles=("equity", "drawdown"),
    )
    start, offset, captions = 1.0, 0, []
    for segment, returns in series.items():
        curve, drawdown = equity_curves(returns, start=start)
        x = returns.index if by_time else pd.RangeIndex(offset + 1, offset + 1 + len(returns))
        xs, ys, dds = _bucket(x, curve, drawdown)
        label, colour = SEGMENT_LABELS[segment], SEGMENT_COLOURS[segment]
        figure.add_scatter(
            x=xs,
            y=ys,
            name=label,
            legendgroup=segment,
            line_color=colour,
            mode="lines",
            row=1,
            col=1,
        )
        figure.add_scatter(
            x=xs,
            y=dds,
            name=f"{label} drawdown",
            legendgroup=segment,
            line_color=colour,
            mode="lines",
            fill="tozeroy",
            showlegend=False,
            row=2,
            col=1,
        )
        growth = float(curve.iloc[-1] / start - 1.0)
        text = (
            f"{label}: {len(returns):,} bars, total return {growth:.2%}, "
            f"max drawdown {0.0 - float(drawdown.min()):.2%}"
        )
        if segment in holds:
            hold, hold_dd = equity_curves(holds[segment], start=start)
            hx, hy, _ = _bucket(x, hold, hold_dd)
            figure.add_scatter(
                x=hx,
                y=hy,
                name=f"buy and hold, {label}",
                legendgroup=f"hold-{segment}",
                line={"color": HOLD_COLOURS[segment], "dash": "dot", "width": 1.5},
                mode="lines",
                row=1,
                col=1,
            )
            text += (
                f"; buy and hold {float(hold.iloc[-1] / start - 1.0):.2%}, "
                f"max drawdown {0.0 - float(hold_dd.min()):.2%}"
            )
        captions.append(text)
        start, offset = float(curve.iloc[-1]), offset + len(returns)
    if holds:
        captions.append(
            "buy and hold (dotted): close-to-close returns of the asset (a basket: equal, "
            "unrebalanced sleeves) over the strategy's bars, restarted at the strategy's equity "
            "where each segment starts"
        )
    elif benchmark is None:
        captions.append("buy and hold not available: the best run has no benchmark returns")
    figure.update_yaxes(title_text="equity (start = 1)", row=1, col=1)
    figure.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    figure.update_xaxes(title_text="time (UTC)" if by_time else "bar", row=2, col=1)
    figure.update_layout(title=title, height=620, legend_orientation="h", hovermode="x unified")
    return Panel(name, title, figure=figure, captions=tuple(captions))


__all__ = ["MAX_CURVE_POINTS", "checked_returns", "equity_curves", "equity_panel"]
