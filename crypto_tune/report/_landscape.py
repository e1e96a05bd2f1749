"""The Phase 2 objective landscape: a heatmap over the two most important parameters (is the
chosen point on a plateau or a spike?) and, for a two-objective study, the Pareto front.

Parameter names are read from the study, never assumed: any strategy rule works.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

from crypto_tune.report._panel import Panel
from crypto_tune.report._study_plots import PLOT_ERRORS, complete_trials, objective_names

if TYPE_CHECKING:
    import optuna

GRID_BINS = 10  # cells per numeric axis of the heatmap
PREFIX = "strategy."


def _short(name: str) -> str:
    return name.removeprefix(PREFIX)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def chosen_params(
    study: optuna.Study, best: Mapping[str, Any] | None, key: str = "params"
) -> dict[str, Any]:
    """The parameters the best run used (``best["strategy"][key]``), keyed like the study's
    (``strategy.<name>``); without a best run, the study's best trial (single objective)."""
    strategy = best.get("strategy") if isinstance(best, Mapping) else None
    given = strategy.get(key) if isinstance(strategy, Mapping) else None
    if isinstance(given, Mapping) and given:
        return {f"{PREFIX}{_short(str(k))}": v for k, v in given.items()}
    if len(study.directions) == 1:
        try:
            return dict(study.best_trial.params)
        except ValueError:
            return {}
    return {}


# ------------------------------------------------------------------------------ the grid
@dataclass(frozen=True)
class Axis:
    """One heatmap axis: numeric bin ``edges`` (log-spaced for a log parameter) or categories."""

    name: str
    edges: np.ndarray | None = None
    log: bool = False
    categories: tuple[Any, ...] = ()

    @property
    def size(self) -> int:
        return len(self.categories) if self.edges is None else len(self.edges) - 1

    def cell(self, value: Any) -> int:
        """The cell of ``value``, -1 when it falls outside the axis."""
        if self.edges is None:
            return self.categories.index(value) if value in self.categories else -1
        number = _number(value)
        if number is None or number < self.edges[0] or number > self.edges[-1]:
            return -1
        return min(int(np.searchsorted(self.edges, number, side="right")) - 1, self.size - 1)

    def ticks(self) -> list[Any]:
        """Plotly heatmap coordinates: the bin edges, or the category labels."""
        if self.edges is None:
            return [str(c) for c in self.categories]
        return self.edges.tolist()


def _axis(name: str, trials: Sequence[optuna.trial.FrozenTrial], bins: int) -> Axis:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    dist = next(t.distributions[name] for t in trials if name in t.distributions)
    if isinstance(dist, CategoricalDistribution):
        return Axis(name, categories=tuple(dist.choices))
    values = [v for t in trials if (v := _number(t.params.get(name))) is not None]
    low = float(getattr(dist, "low", min(values)))
    high = float(getattr(dist, "high", max(values)))
    log = bool(getattr(dist, "log", False)) and low > 0
    if isinstance(dist, IntDistribution) and not log and high - low + 1 <= bins:
        return Axis(name, edges=np.arange(low - 0.5, high + 1.0), log=False)
    if high <= low:
        high = low + 1.0
    edges = np.geomspace(low, high, bins + 1) if log else np.linspace(low, high, bins + 1)
    return Axis(name, edges=edges, log=log)


def _ranked(study: optuna.Study, objective: Any, names: list[str]) -> tuple[list[str], str]:
    """``names`` by importance (most important first), and a caption saying how they were ranked."""
    import optuna

    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importance = optuna.importance.get_param_importances(
                study, evaluator=evaluator, target=objective
            )
    except PLOT_ERRORS as exc:
        return sorted(names), f"importance not available ({type(exc).__name__}): axes by name"
    ranked = [n for n in importance if n in names] + sorted(n for n in names if n not in importance)
    text = ", ".join(f"{_short(n)} {importance[n]:.2f}" for n in ranked if n in importance)
    return ranked, f"importance (fANOVA): {text}"


def grid_stats(
    cells: Sequence[tuple[int, int]], values: Sequence[float], shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, max and count of ``values`` per cell ``(row, column)`` of a ``shape`` grid.

    >>> mean, top, count = grid_stats([(0, 0), (0, 0), (1, 1)], [1.0, 3.0, 5.0], (2, 2))
    >>> mean.tolist(), float(top[0, 0]), count.tolist()
    ([[2.0, nan], [nan, 5.0]], 3.0, [[2, 0], [0, 1]])
    """
    total, count = np.zeros(shape), np.zeros(shape, dtype=int)
    top = np.full(shape, -np.inf)
    for (row, column), value in zip(cells, values, strict=True):
        total[row, column] += value
        count[row, column] += 1
        top[row, column] = max(top[row, column], value)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return mean, np.where(count > 0, top, np.nan), count


def _plateau(mean: np.ndarray, count: np.ndarray, at: tuple[int, int]) -> str:
    """A caption comparing the chosen cell with its neighbours and the median cell.

    The median is over cells (each searched region once), not trials: a sampler that
    crowds the optimum would otherwise raise the baseline and call every plateau a spike.
    """
    row, column = at
    if count[row, column] == 0:
        return "the chosen parameters fall in an empty cell (no complete trial there)"
    rows = slice(max(row - 1, 0), row + 2)
    columns = slice(max(column - 1, 0), column + 2)
    near_count = count[rows, columns].sum() - count[row, column]
    near_total = np.nansum(mean[rows, columns] * count[rows, columns]) - (
        mean[row, column] * count[row, column]
    )
    here, median = float(mean[row, column]), float(np.nanmedian(mean))
    text = f"chosen cell: mean {here:.3g} over {count[row, column]} trial(s)"
    if near_count == 0:
        return text + "; its neighbouring cells are empty: too few trials to judge the shape"
    near = float(near_total / near_count)
    text += f"; neighbouring cells: mean {near:.3g} over {near_count}; median cell {median:.3g}"
    if here > median:
        kept = (near - median) / (here - median)
        shape = "a plateau" if kept >= 0.5 else "a spike"
        text += f" (the neighbours keep {kept:.0%} of the chosen cell's lift: {shape})"
    return text


def heatmap_panel(
    study: optuna.Study | None, chosen: Mapping[str, Any] | None, *, bins: int = GRID_BINS
) -> Panel:
    """Mean objective per cell over the two most important parameters, the chosen point marked.

    A multi-objective study is drawn on its first objective.
    """
    name, title = "strategy-heatmap", "Phase 2 objective over the two most important parameters"
    if study is None:
        return Panel(name, title, note="not available: no study was given")
    complete = complete_trials(study)
    if len(complete) < 2:
        return Panel(
            name, title, note=f"not available: needs >= 2 complete trials, got {len(complete)}"
        )
    from optuna.distributions import CategoricalDistribution

    def usable(param: str) -> bool:
        trials = [t for t in complete if param in t.distributions]
        dist = trials[0].distributions[param]
        numeric = all(_number(t.params[param]) is not None for t in trials)
        varied = len({repr(t.params[param]) for t in trials}) > 1
        return varied and (numeric or isinstance(dist, CategoricalDistribution))

    names = sorted({p for t in complete for p in t.params})
    names = [n for n in names if usable(n)]
    if len(names) < 2:
        return Panel(
            name,
            title,
            note=f"not available: needs two varied parameters, the study has {len(names)}",
        )
    objective_name = objective_names(study)[0]

    def objective(trial: optuna.trial.FrozenTrial) -> float:
        return float(trial.values[0])

    ranked, ranking = _ranked(study, objective, names)
    x_axis, y_axis = (_axis(n, complete, bins) for n in ranked[:2])
    cells, values = [], []
    for trial in complete:
        row, column = (
            y_axis.cell(trial.params.get(y_axis.name)),
            x_axis.cell(trial.params.get(x_axis.name)),
        )
        value = objective(trial)
        if row >= 0 and column >= 0 and math.isfinite(value):
            cells.append((row, column))
            values.append(value)
    if not values:
        return Panel(name, title, note="not available: no complete trial has a finite objective")
    mean, top, count = grid_stats(cells, values, (y_axis.size, x_axis.size))
    custom = np.dstack([top, count])
    figure = go.Figure()
    figure.add_heatmap(
        x=x_axis.ticks(),
        y=y_axis.ticks(),
        z=mean,
        customdata=custom,
        colorscale="Viridis",
        colorbar={"title": {"text": f"mean {objective_name}"}},
        hovertemplate=(
            f"{_short(x_axis.name)} %{{x}}<br>{_short(y_axis.name)} %{{y}}<br>"
            "mean %{z:.3f}<br>max %{customdata[0]:.3f}<br>trials %{customdata[1]}<extra></extra>"
        ),
        name="mean objective",
    )

    def coordinate(axis: Axis, value: Any) -> Any:
        return str(value) if axis.edges is None else value

    xs = [coordinate(x_axis, t.params.get(x_axis.name)) for t in complete]
    ys = [coordinate(y_axis, t.params.get(y_axis.name)) for t in complete]
    figure.add_scatter(
        x=xs,
        y=ys,
        mode="markers",
        marker={"size": 4, "color": "rgba(255,255,255,0.55)", "line": {"width": 0}},
        name="trials",
        hoverinfo="skip",
    )
    captions = [
        f"x: {_short(x_axis.name)}, y: {_short(y_axis.name)}; cells: mean {objective_name} of the "
        f"{len(values)} complete trials in them (hover: max and count); {ranking}"
    ]
    chosen = chosen or {}
    at = (y_axis.cell(chosen.get(y_axis.name)), x_axis.cell(chosen.get(x_axis.name)))
    if x_axis.name in chosen and y_axis.name in chosen:
        figure.add_scatter(
            x=[coordinate(x_axis, chosen[x_axis.name])],
            y=[coordinate(y_axis, chosen[y_axis.name])],
            mode="markers",
            marker={
                "symbol": "star",
                "size": 18,
                "color": "#ff2d2d",
                "line": {"width": 1.5, "color": "white"},
            },
            name="chosen",
            hovertemplate=(
                f"chosen<br>{_short(x_axis.name)} %{{x}}<br>{_short(y_axis.name)} %{{y}}"
                "<extra></extra>"
            ),
        )
        if min(at) >= 0:
            captions.append(_plateau(mean, count, at))
        else:
            captions.append("the chosen parameters lie outside the searched ranges")
    else:
        captions.append("chosen parameters not available: not in the best run nor the study")
    figure.update_xaxes(
        title_text=_short(x_axis.name),
        type="log" if x_axis.log else ("category" if x_axis.edges is None else "linear"),
    )
    figure.update_yaxes(
        title_text=_short(y_axis.name),
        type="log" if y_axis.log else ("category" if y_axis.edges is None else "linear"),
    )
    figure.update_layout(title=title, height=560, legend_orientation="h", plot_bgcolor="#f4f4f4")
    return Panel(name, title, figure=figure, captions=tuple(captions))


# ------------------------------------------------------------------------------ Pareto
def _same(a: Any, b: Any) -> bool:
    x, y = _number(a), _number(b)
    if x is not None and y is not None:
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def _matches(trial: optuna.trial.FrozenTrial, params: Mapping[str, Any]) -> bool:
    """Whether ``trial`` ran ``params`` (every parameter of the trial, numbers to 1e-9)."""
    if not params or set(trial.params) - set(params):
        return False
    return all(_same(value, params[key]) for key, value in trial.params.items())


def pareto_panel(study: optuna.Study | None, chosen: Mapping[str, Any] | None) -> Panel | None:
    """The Pareto front of a two-objective study, every trial behind it, the chosen one marked.

    None for a single-objective study (the figure does not apply).
    """
    if study is None or len(study.directions) == 1:
        return None
    name, title = "strategy-pareto", "Phase 2 Pareto front"
    if len(study.directions) != 2:
        n = len(study.directions)
        return Panel(name, title, note=f"not available: the study has {n} objectives, not 2")
    complete = [t for t in complete_trials(study) if all(math.isfinite(float(v)) for v in t.values)]
    if not complete:
        return Panel(name, title, note="not available: no complete trial with finite objectives")
    front = study.best_trials
    front_numbers = {t.number for t in front}
    labels = objective_names(study)
    directions = [d.name.lower() for d in study.directions]
    axis = [f"{label} ({direction})" for label, direction in zip(labels, directions, strict=True)]
    hover = (
        f"trial %{{customdata}}<br>{labels[0]} %{{x:.4g}}<br>{labels[1]} %{{y:.4g}}<extra></extra>"
    )
    figure = go.Figure()
    rest = [t for t in complete if t.number not in front_numbers]
    figure.add_scatter(
        x=[t.values[0] for t in rest],
        y=[t.values[1] for t in rest],
        customdata=[t.number for t in rest],
        mode="markers",
        marker={"size": 5, "color": "#b0b0b0"},
        name="trials",
        hovertemplate=hover,
    )
    ordered = sorted(front, key=lambda t: t.values[0])
    figure.add_scatter(
        x=[t.values[0] for t in ordered],
        y=[t.values[1] for t in ordered],
        customdata=[t.number for t in ordered],
        mode="lines+markers",
        line={"color": "#d62728", "width": 1, "shape": "hv"},
        marker={"size": 8, "color": "#d62728"},
        name="Pareto front",
        hovertemplate=hover,
    )
    captions = [f"{len(front)} Pareto-optimal trial(s) among {len(complete)} complete"]
    match = next((t for t in complete if _matches(t, chosen or {})), None)
    if match is not None:
        figure.add_scatter(
            x=[match.values[0]],
            y=[match.values[1]],
            customdata=[match.number],
            mode="markers",
            marker={"symbol": "star", "size": 18, "color": "#1f1f1f", "line": {"width": 1}},
            name=f"chosen (trial {match.number})",
            hovertemplate=hover,
        )
        where = "on the front" if match.number in front_numbers else "not on the front"
        captions.append(f"chosen: trial {match.number}, {where}")
    else:
        captions.append("chosen trial not found in the study (overridden or replayed parameters)")
    figure.update_layout(
        title=title, height=520, legend_orientation="h", xaxis_title=axis[0], yaxis_title=axis[1]
    )
    return Panel(name, title, figure=figure, captions=tuple(captions))


__all__ = ["chosen_params", "grid_stats", "heatmap_panel", "pareto_panel"]
