"""The MLflow store: MLflow pointed at ``tracking.uri`` (a new SQLite store made once, under a
lock), experiments by name, the handle on an open run, and the best objective nested under a
run."""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from crypto_tune._made import make_folders
from crypto_tune._sweep_guards import held_interrupts
from crypto_tune.config import TrackingSettings
from crypto_tune.logs import mask_secrets

os.environ.setdefault("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "false")

_CLIENTS: dict[str, Any] = {}


def open_mlflow(tracking: TrackingSettings):
    """MLflow pointed at ``tracking.uri``; a new SQLite store is created under a file lock, so
    several workers starting together do not race on its schema migrations."""
    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    mlflow.set_tracking_uri(tracking.uri)
    if tracking.uri.startswith("sqlite:///") and tracking.uri not in _READY:
        import fcntl

        db = Path(tracking.uri.removeprefix("sqlite:///"))
        make_folders(db.parent)
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
    mlflow = open_mlflow(tracking)
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


def _held(method: Callable[..., None]) -> Callable[..., None]:
    """``method`` with a sweep's Ctrl-C held until it returns (:func:`held_interrupts`)."""

    @functools.wraps(method)
    def held(*args: Any, **kwargs: Any) -> None:
        with held_interrupts():
            method(*args, **kwargs)

    return held


class Run:
    """A thin handle on an active MLflow run (metrics, params, artifacts, datasets); a sweep's
    Ctrl-C waits for each write (an interrupt inside MLflow's SQLAlchemy session left its store
    locked)."""

    def __init__(self, mlflow: Any, run: Any) -> None:
        self._mlflow = mlflow
        self.run_id = run.info.run_id
        self.info = run.info

    @_held
    def params(self, params: Mapping[str, Any]) -> None:
        clean = {k: (mask_secrets(str(v)) if v is not None else "None") for k, v in params.items()}
        self._mlflow.log_params(clean)

    @_held
    def metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        finite = {k: float(v) for k, v in metrics.items() if v is not None and v == v}
        self._mlflow.log_metrics(finite, step=step)

    @_held
    def tags(self, tags: Mapping[str, Any]) -> None:
        self._mlflow.set_tags({k: mask_secrets(str(v)) for k, v in tags.items()})

    @_held
    def text(self, text: str, name: str) -> None:
        self._mlflow.log_text(mask_secrets(text), name)

    @_held
    def file(self, path: str | Path, folder: str | None = None) -> None:
        """Log ``path``; an HTML page goes as a copy that loads plotly.js from the CDN (its
        folder's shared copy does not travel with it: crypto_tune.report._plotlyjs)."""
        if Path(path).suffix == ".html":
            from crypto_tune.report._plotlyjs import portable

            text = Path(path).read_text(encoding="utf-8")
            page = portable(text)
            if page != text:
                with tempfile.TemporaryDirectory() as tmp:
                    copy = Path(tmp, Path(path).name)
                    copy.write_text(page, encoding="utf-8")
                    self._mlflow.log_artifact(str(copy), artifact_path=folder)
                return
        self._mlflow.log_artifact(str(path), artifact_path=folder)

    @_held
    def frame(self, frame: Any, name: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, name)
            frame.to_csv(path)
            self._mlflow.log_artifact(str(path))

    @_held
    def dataset(self, dataset: Any, context: str = "tuning") -> None:
        """Log an MLflow dataset (see :func:`mlflow_dataset`) as an input of this run."""
        self._mlflow.log_input(dataset, context=context)


def best_child_objective(
    mlflow: Any, tracking: TrackingSettings, run: Any, direction: str
) -> float | None:
    """The best ``objective`` among the runs nested under ``run`` (trials of worker processes)."""
    found = mlflow.MlflowClient(tracking_uri=tracking.uri).search_runs(
        [run.info.experiment_id],
        # only runs that logged an objective (an interrupted trial did not)
        filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}' "
        "and metrics.objective > -1e300",
        order_by=["metrics.objective " + ("ASC" if direction == "minimize" else "DESC")],
        max_results=1,
    )
    if found and "objective" in found[0].data.metrics:
        return float(found[0].data.metrics["objective"])
    return None


__all__ = ["Run", "best_child_objective", "experiment_id", "open_mlflow"]
