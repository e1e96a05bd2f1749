"""JSON-safe values for the documents the phases write (workflow.best.json, walkforward.json)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def json_value(value: Any) -> Any:
    """NumPy scalars as Python numbers; NaN and infinities as None (JSON has neither)."""
    if isinstance(value, np.integer | int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, np.floating | float):
        return float(value) if math.isfinite(value) else None
    return value


__all__ = ["json_value"]
