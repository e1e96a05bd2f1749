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


def provenance(settings: Any, datasets: Any) -> dict[str, Any]:
    """The head of every result document: when, the command, its overrides (a replay applies the
    data-defining ones again), the experiment, the study and the data fingerprint."""
    from datetime import UTC, datetime

    from crypto_tune.fingerprint import data_fingerprint

    return {
        "version": 1,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "crypto-tune " + " ".join(settings.command_line),
        "overrides": list(settings.command_line),
        "experiment": settings.experiment_name,
        "study": settings.study.name,
        "fingerprint": data_fingerprint(settings, datasets),
    }


__all__ = ["json_value", "provenance"]
