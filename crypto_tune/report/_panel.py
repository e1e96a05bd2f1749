"""A figure slot of the report (:class:`Panel`: a figure with a stable name, or a note saying
why it is not available) and the segments every figure builder names. No I/O, no Hydra, no
MLflow."""

from __future__ import annotations

from dataclasses import dataclass, field

import plotly.graph_objects as go

SEGMENTS: tuple[str, ...] = ("in_sample", "out_of_sample")
SEGMENT_LABELS = {"in_sample": "in sample", "out_of_sample": "out of sample"}


@dataclass(frozen=True)
class Panel:
    """One figure slot of the report: ``figure`` or, when it is None, ``note`` says why."""

    name: str
    title: str
    figure: go.Figure | None = None
    note: str = ""
    captions: tuple[str, ...] = field(default_factory=tuple)


__all__ = ["SEGMENTS", "SEGMENT_LABELS", "Panel"]
