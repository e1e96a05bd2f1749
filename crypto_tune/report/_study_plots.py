"""The Optuna study plots of the report: history, parameter importance, parallel coordinates
and slice plots of one study, as :class:`~crypto_tune.report._panel.Panel` objects (the study
is passed in; a plot Optuna cannot draw becomes a note)."""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

from crypto_tune.exceptions import ConfigError
from crypto_tune.report._panel import Panel

if TYPE_CHECKING:
    import optuna

# Errors Optuna's plots raise on studies they cannot draw (e.g. a degenerate importance fit).
PLOT_ERRORS = (ValueError, RuntimeError, ArithmeticError, IndexError, KeyError)


def complete_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
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
    complete = complete_trials(study)
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


__all__ = ["PLOT_ERRORS", "complete_trials", "objective_names", "study_panels", "wrap_subplots"]
