"""What a run records about its code and configuration: the code version, and the settings as
flat MLflow params (secrets masked)."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crypto_tune.config import Settings
from crypto_tune.logs import mask_secrets


@functools.cache
def code_version() -> str:
    """The git commit of the code (``+dirty`` when modified), or the package version."""
    from crypto_tune import __version__

    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=here,
            check=True,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return f"{sha}{'+dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return __version__


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"lr": 0.1}}`` -> ``{"model.lr": 0.1}``; values masked when they are URLs."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list | tuple):
            flat[name] = ",".join(str(v) for v in value)
        else:
            flat[name] = mask_secrets(value) if isinstance(value, str) else value
    return flat


def settings_params(settings: Settings) -> dict[str, Any]:
    """The run's configuration as flat MLflow params (no paths, no secrets)."""
    import dataclasses

    data = dataclasses.asdict(settings)
    for private in ("paths", "tracking", "study", "download"):  # download: phase=download only
        data.pop(private, None)
    data["storage"] = {"name": settings.storage.name, "url": mask_secrets(settings.storage.url)}
    return flatten(data)


def result_tags(settings: Settings, phase: str, document: Mapping[str, Any]) -> dict[str, str]:
    """The tags of a result's run (``phase=best``, a walk-forward): what it ran on and with which
    code, the universe's ``kind``, and where the document holds them its verdict and how it was
    made."""
    tags = {
        "phase": phase,
        "asset": settings.asset.name,
        "code_version": code_version(),
        "data_fingerprint": str(document["asset"]["data_fingerprint"]),
    }
    if settings.asset.kind == "universe":
        tags["kind"] = "universe"
    verdict = (document.get("robustness") or {}).get("verdict")
    if verdict:
        tags["verdict"] = str(verdict)
    how = document.get("how")
    if how:
        tags["how"] = str(how["text"])
    return tags


__all__ = ["code_version", "flatten", "result_tags", "settings_params"]
