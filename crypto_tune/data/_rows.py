"""Rows in the candle checks: named in error messages (:class:`RowNames`: "line 7" of a CSV file,
"row 6" of a frame, 1-based), the first offending row of a mask, cells as text."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class RowNames:
    """Names rows in error messages: ``"row 3"`` (1-based position) or ``"line 4"`` of a file.

    Built lazily, so a 72k-row file costs nothing until a message needs a name.
    """

    kind: str = "row"
    numbers: np.ndarray | None = None  # 1-based number of each row; None -> position + 1

    def __getitem__(self, position: int) -> str:
        number = position + 1 if self.numbers is None else int(self.numbers[position])
        return f"{self.kind} {number}"


def first_row(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def cell_text(values: pd.Series) -> pd.Series:
    """Cells as stripped strings ('' for missing), for messages and emptiness checks."""
    return values.astype("string").fillna("").str.strip()


__all__ = ["RowNames", "cell_text", "first_row"]
