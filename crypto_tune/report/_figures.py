"""Plotly figures of the report: Optuna study plots, IC per fold, equity, drawdown, months.

Each builder returns :class:`Panel` objects: a figure with a stable name, or a note saying why
the figure is not available. No I/O, no Hydra, no MLflow; Optuna studies are passed in.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from crypto_tune.exceptions import ConfigError, DataError

if TYPE_CHECKING:
    import optuna

SEGMENTS: tuple[str, ...] = ("in_sample", "out_of_sample")
SEGMENT_LABELS = {"in_sample": "in sample", "out_of_sample": "out of sample"}
SEGMENT_COLOURS = {"in_sample": "#1f77b4", "out_of_sample": "#d62728"}
HOLD_COLOURS = {"in_sample": "#5f8fb8", "out_of_sample": "#c47a7a"}
FOLD_IC_COLUMNS: tuple[str, ...] = ("fold", "ic", "rank_ic")
# Curves longer than this are bucketed (equity at the bucket's end, drawdown at its trough).
MAX_CURVE_POINTS = 5000
# Errors Optuna's plots raise on studies they cannot draw (e.g. a degenerate importance fit).
PLOT_ERRORS = (ValueError, RuntimeError, ArithmeticError, IndexError, KeyError)


@dataclass(frozen=True)
class Panel:
    """One figure slot of the report: ``figure`` or, when it is None, ``note`` says why."""

    name: str
    title: str
    figure: go.Figure | None = None
    note: str = ""
    captions: tuple[str, ...] = field(default_factory=tuple)


# ------------------------------------------------------------------------------ studies
def _complete_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def _plot(name: str, title: str, make: Callable[[], go.Figure]) -> Panel:
    """Run one Optuna plot; its warnings become captions and a known failure becomes a note."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            figure = make()
        except PLOT_ERRORS as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            return Panel(name, title, note=f"not available: {type(exc).__name__}: {message}")
    captions = tuple(dict.fromkeys(" ".join(str(w.message).split()) for w in caught))
    figure.update_layout(title=title)
    return Panel(name, title, figure=figure, captions=captions)


SUBPLOT_COLUMNS = 3
SUBPLOT_ROW_HEIGHT = 330


def wrap_subplots(figure: go.Figure, *, columns: int = SUBPLOT_COLUMNS) -> go.Figure:
    """Lay a one-row grid of subplots (Optuna's slice plot: 300 px per parameter, 2,700 px for
    nine) out in rows of ``columns``, sized to the page's width instead of a fixed one."""
    layout = figure.layout
    count = 1
    while f"xaxis{count + 1}" in layout:
        count += 1
    if count <= 1:
        return figure
    rows = -(-count // columns)
    gap_x, gap_y = 0.06 / columns, 0.12 / rows
    for i in range(count):
        row, col = divmod(i, columns)
        suffix = "" if i == 0 else str(i + 1)
        layout[f"xaxis{suffix}"].domain = [col / columns + gap_x, (col + 1) / columns - gap_x]
        layout[f"yaxis{suffix}"].domain = [1 - (row + 1) / rows + gap_y, 1 - row / rows - gap_y]
        layout[f"yaxis{suffix}"].anchor = f"x{suffix}"
        layout[f"xaxis{suffix}"].anchor = f"y{suffix}"
    figure.update_layout(width=None, autosize=True, height=SUBPLOT_ROW_HEIGHT * rows + 80)
    return figure


def objective_names(study: optuna.Study) -> list[str]:
    """The study's objective names (``study.metric_names``, else ``objective 1``, ...)."""
    names = getattr(study, "metric_names", None) or []
    count = len(study.directions)
    if count == 1:
        return [str(names[0]) if names else "objective"]
    return [str(names[i]) if i < len(names) else f"objective {i + 1}" for i in range(count)]


def study_panels(study: optuna.Study | None, *, prefix: str, label: str) -> tuple[list[Panel], str]:
    """History, parameter importance, parallel coordinates and slice plots of one study.

    Returns ``(panels, note)``: ``note`` is non-empty (and ``panels`` empty) when the whole
    study cannot be drawn (None, no complete trial). A multi-objective study is drawn on its
    first objective (the importance plot shows every objective).
    """
    import optuna
    from optuna import visualization as vis

    if study is None:
        return [], "not available: no study was given"
    if not isinstance(study, optuna.Study):
        raise ConfigError(f"{prefix}_study must be an optuna.Study or None, got {type(study)!r}")
    complete = _complete_trials(study)
    if not complete:
        return [], f"not available: study {study.study_name!r} has no complete trial"
    target: dict[str, Any] = {}
    if len(study.directions) != 1:
        first = objective_names(study)[0]
        target = {"target": lambda t: t.values[0], "target_name": first}
    params = sorted({name for trial in complete for name in trial.params})
    head = f"{label} ({study.study_name})"
    panels = [
        _plot(
            f"{prefix}-history",
            f"{head}: optimization history",
            lambda: vis.plot_optimization_history(study, **target),
        ),
    ]
    no_params = "not available: the complete trials have no parameters"
    name, title = f"{prefix}-importance", f"{head}: parameter importance"
    if len(complete) < 2:
        note = f"not available: needs >= 2 complete trials, got {len(complete)}"
        panels.append(Panel(name, title, note=note))
    elif not params:
        panels.append(Panel(name, title, note=no_params))
    else:
        panels.append(_plot(name, title, lambda: vis.plot_param_importances(study)))
    for suffix, text, plot in (
        ("parallel", "parallel coordinates", vis.plot_parallel_coordinate),
        ("slice", "slice plot", vis.plot_slice),
    ):
        name, title = f"{prefix}-{suffix}", f"{head}: {text}"
        if not params:
            panels.append(Panel(name, title, note=no_params))
        elif suffix == "slice":
            draw = functools.partial(plot, study, **target)

            def wrapped(draw: Callable[[], go.Figure] = draw) -> go.Figure:
                return wrap_subplots(draw())

            panels.append(_plot(name, title, wrapped))
        else:
            panels.append(_plot(name, title, functools.partial(plot, study, **target)))
    if target:
        names = ", ".join(objective_names(study))
        caption = f"multi-objective study ({names}): this plot shows {target['target_name']}"
        panels = [
            dataclasses.replace(p, captions=(caption, *p.captions))
            if p.figure and not p.name.endswith("-importance")
            else p
            for p in panels
        ]
    return panels, ""


# ------------------------------------------------------------------------------ IC per fold
def fold_ic_panel(fold_ic: pd.DataFrame | None) -> Panel:
    """Grouped bars of ``ic`` and ``rank_ic`` per fold (``hit_rate`` in the hover text)."""
    name, title = "fold-ic", "Information coefficient per fold"
    if fold_ic is None:
        return Panel(name, title, note="not available: no per-fold IC was given")
    if not isinstance(fold_ic, pd.DataFrame):
        raise ConfigError(f"fold_ic must be a pandas DataFrame or None, got {type(fold_ic)!r}")
    if fold_ic.empty:
        return Panel(name, title, note="not available: the per-fold IC table is empty")
    missing = [c for c in FOLD_IC_COLUMNS if c not in fold_ic.columns]
    if missing:
        raise DataError(
            f"fold_ic: missing column(s) {missing}, got columns {list(map(str, fold_ic.columns))}"
        )
    folds = [str(v) for v in fold_ic["fold"]]
    values = {}
    for column in ("ic", "rank_ic", "hit_rate"):
        if column not in fold_ic.columns:
            continue
        numbers = pd.to_numeric(fold_ic[column], errors="coerce").to_numpy(dtype=float)
        bad = np.isinf(numbers)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"fold_ic: column {column!r} row {row} is not finite: {numbers[row]}")
        values[column] = numbers
    hover = "fold %{x}<br>%{fullData.name} %{y:.4f}"
    custom = None
    if "hit_rate" in values:
        custom = values["hit_rate"]
        hover += "<br>hit rate %{customdata:.1%}"
    figure = go.Figure()
    for column, colour in (("ic", "#1f77b4"), ("rank_ic", "#ff7f0e")):
        figure.add_bar(
            x=folds,
            y=values[column],
            name=column,
            marker_color=colour,
            customdata=custom,
            hovertemplate=hover + "<extra></extra>",
        )
    figure.add_hline(y=0.0, line_width=1, line_color="#444")
    figure.update_layout(
        title=title,
        barmode="group",
        xaxis_title="fold",
        yaxis_title="IC",
        xaxis_type="category",
        legend_orientation="h",
    )
    captions: tuple[str, ...] = ()
    if "hit_rate" in values and np.isfinite(values["hit_rate"]).any():
        captions = (f"mean hit rate {np.nanmean(values['hit_rate']):.1%} over {len(folds)} folds",)
    return Panel(name, title, figure=figure, captions=captions)


# ------------------------------------------------------------------------------ equity
def _returns(segment: str, values: Any) -> pd.Series:
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
    series = {k: _returns(k, equity[k]) for k in SEGMENTS if k in equity}
    series = {k: v for k, v in series.items() if len(v)}
    if not series:
        return Panel(name, title, note="not available: the return series are empty")
    if benchmark is not None and not isinstance(benchmark, Mapping):
        raise ConfigError(f"benchmark must be a mapping or None, got {type(benchmark)!r}")
    holds = {
        k: _rebased(_returns(f"benchmark {k}", benchmark[k]), series[k].index)
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


# ------------------------------------------------------------------------------ monthly returns
MONTHS: tuple[str, ...] = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip


def monthly_table(returns: pd.Series) -> pd.DataFrame:
    """Compounded returns per calendar month: one row per year, columns ``Jan..Dec, year``.

    Months without a bar are NaN; ``year`` compounds the year's bars.

    >>> index = pd.to_datetime(["2024-01-05", "2024-01-20", "2024-03-01"], utc=True)
    >>> monthly_table(pd.Series([0.1, 0.1, -0.5], index=index)).loc[2024, ["Jan", "Feb", "Mar"]]
    Jan    0.21
    Feb     NaN
    Mar   -0.50
    Name: 2024, dtype: float64
    """
    index = pd.DatetimeIndex(returns.index)
    growth = (1.0 + returns).groupby([index.year, index.month]).prod() - 1.0
    table = growth.unstack().reindex(columns=range(1, 13))
    table.columns = list(MONTHS)
    table.index.name = "year"
    table["year"] = (1.0 + returns).groupby(index.year).prod() - 1.0
    return table


def monthly_panel(equity: Mapping[str, pd.Series] | None) -> Panel:
    """Heatmap of the strategy's monthly returns (year x month), one block per segment."""
    name, title = "monthly", "Monthly returns of the strategy"
    if equity is None:
        return Panel(name, title, note="not available: no returns were given")
    series = {k: _returns(k, equity[k]) for k in SEGMENTS if k in equity and len(equity[k])}
    if not series:
        return Panel(name, title, note="not available: the return series are empty")
    if not all(isinstance(s.index, pd.DatetimeIndex) for s in series.values()):
        return Panel(name, title, note="not available: the returns have no time index")
    tables = {k: monthly_table(v) for k, v in series.items()}
    months = np.concatenate([t[list(MONTHS)].to_numpy().ravel() for t in tables.values()])
    months = months[np.isfinite(months)]
    limit = float(np.quantile(np.abs(months), 0.95)) if len(months) else 0.0
    limit = limit if limit > 0 else 0.01
    rows = [len(t) for t in tables.values()]
    figure = make_subplots(
        rows=len(tables),
        cols=1,
        row_heights=[r / sum(rows) for r in rows],
        vertical_spacing=min(0.3, 70 / (34 * sum(rows) + 70)) if len(tables) > 1 else 0.0,
    )
    columns = [*MONTHS, "year"]
    for row, (segment, table) in enumerate(tables.items(), start=1):
        values = table[columns].to_numpy(dtype=float)
        text = [[f"{v:+.1%}" if math.isfinite(v) else "" for v in line] for line in values]
        figure.add_heatmap(
            x=columns,
            y=[str(year) for year in table.index],
            z=values,
            text=text,
            texttemplate="%{text}",
            coloraxis="coloraxis",
            xgap=2,
            ygap=2,
            hovertemplate=f"{SEGMENT_LABELS[segment]} %{{x}} %{{y}}: %{{text}}<extra></extra>",
            row=row,
            col=1,
        )
        figure.update_yaxes(
            autorange="reversed",
            type="category",
            title_text=SEGMENT_LABELS[segment],
            row=row,
            col=1,
        )
        figure.update_xaxes(type="category", side="top", row=row, col=1)
    figure.update_layout(
        title=title,
        height=130 + 34 * sum(rows) + 70 * len(tables),
        plot_bgcolor="white",
        margin={"t": 90, "b": 20},
        coloraxis={
            "colorscale": "RdYlGn",
            "cmin": -limit,
            "cmid": 0.0,
            "cmax": limit,
            "colorbar": {"tickformat": ".0%", "title": {"text": "return"}},
        },
    )
    captions = [
        f"{SEGMENT_LABELS[k]}: {int(np.isfinite(t[list(MONTHS)].to_numpy()).sum())} months, "
        f"{int((t[list(MONTHS)] > 0).to_numpy().sum())} positive"
        for k, t in tables.items()
    ]
    captions.append(
        "returns compounded per calendar month (UTC); colours capped at the 95th percentile"
    )
    return Panel(name, title, figure=figure, captions=tuple(captions))


__all__ = [
    "Panel",
    "equity_curves",
    "equity_panel",
    "fold_ic_panel",
    "monthly_panel",
    "monthly_table",
    "study_panels",
]
