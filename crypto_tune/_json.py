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


def json_document(value: Any) -> Any:
    """``value`` made JSON-safe all the way down: :func:`json_value` on every leaf of nested
    dicts, lists and tuples (NaN and infinities as null), NumPy booleans as ``bool``."""
    if isinstance(value, dict):
        return {str(k): json_document(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_document(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    return json_value(value)


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


__all__ = ["json_document", "json_value", "provenance"]
