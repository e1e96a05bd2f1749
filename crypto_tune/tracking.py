"""MLflow: the only module that talks to the tracker. Runs open and close here; secrets masked."""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crypto_tune.config import Settings, TrackingSettings
from crypto_tune.logs import mask_secrets

log = logging.getLogger(__name__)
os.environ.setdefault("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "false")


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
    for private in ("paths", "tracking", "study"):
        data.pop(private, None)
    data["storage"] = {"name": settings.storage.name, "url": mask_secrets(settings.storage.url)}
    return flatten(data)


_CLIENTS: dict[str, Any] = {}


def _mlflow(tracking: TrackingSettings):
    """MLflow pointed at ``tracking.uri``; a new SQLite store is created under a file lock, so
    several workers starting together do not race on its schema migrations."""
    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    mlflow.set_tracking_uri(tracking.uri)
    if tracking.uri.startswith("sqlite:///") and tracking.uri not in _READY:
        import fcntl

        db = Path(tracking.uri.removeprefix("sqlite:///"))
        db.parent.mkdir(parents=True, exist_ok=True)
        with open(db.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            mlflow.search_experiments(max_results=1)  # creates and migrates the store once
            fcntl.flock(lock, fcntl.LOCK_UN)
        _READY.add(tracking.uri)
    return mlflow


_READY: set[str] = set()


def experiment_id(tracking: TrackingSettings, name: str) -> str:
    """The id of MLflow experiment ``name``, created (with our artifact location) if new."""
    cache_key = f"{tracking.uri}|{name}"
    if cache_key in _CLIENTS:
        return _CLIENTS[cache_key]
    mlflow = _mlflow(tracking)
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        exp_id = found.experiment_id
    else:
        location = None
        if tracking.artifact_location:
            location = Path(tracking.artifact_location, name).resolve().as_uri()
        try:
            exp_id = mlflow.create_experiment(name, artifact_location=location)
        except Exception:  # another worker created it first
            exp_id = mlflow.get_experiment_by_name(name).experiment_id
    _CLIENTS[cache_key] = exp_id
    return exp_id


class Run:
    """A thin handle on an active MLflow run (metrics, params, artifacts)."""

    def __init__(self, mlflow: Any, run: Any) -> None:
        self._mlflow = mlflow
        self.run_id = run.info.run_id
        self.info = run.info

    def params(self, params: Mapping[str, Any]) -> None:
        clean = {k: (mask_secrets(str(v)) if v is not None else "None") for k, v in params.items()}
        self._mlflow.log_params(clean)

    def metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        finite = {k: float(v) for k, v in metrics.items() if v is not None and v == v}
        self._mlflow.log_metrics(finite, step=step)

    def tags(self, tags: Mapping[str, Any]) -> None:
        self._mlflow.set_tags({k: mask_secrets(str(v)) for k, v in tags.items()})

    def text(self, text: str, name: str) -> None:
        self._mlflow.log_text(mask_secrets(text), name)

    def file(self, path: str | Path, folder: str | None = None) -> None:
        self._mlflow.log_artifact(str(path), artifact_path=folder)

    def frame(self, frame: Any, name: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, name)
            frame.to_csv(path)
            self._mlflow.log_artifact(str(path))


@contextmanager
def start_run(
    tracking: TrackingSettings,
    experiment: str,
    *,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    parent_run_id: str | None = None,
) -> Iterator[Run | None]:
    """Open a run in ``experiment`` (None when tracking is disabled); always closed on exit."""
    if not tracking.enabled:
        yield None
        return
    mlflow = _mlflow(tracking)
    exp_id = experiment_id(tracking, experiment)
    run_tags = dict(tags or {})
    if parent_run_id:
        run_tags["mlflow.parentRunId"] = parent_run_id
    active = mlflow.start_run(
        experiment_id=exp_id,
        run_name=run_name,
        tags={k: mask_secrets(str(v)) for k, v in run_tags.items()},
    )
    status = "FAILED"
    try:
        yield Run(mlflow, active)
        status = "FINISHED"
    finally:
        mlflow.end_run(status=status)


__all__ = ["Run", "code_version", "experiment_id", "flatten", "settings_params", "start_run"]
