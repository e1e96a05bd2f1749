"""MLflow: with its private ``_tracking_*`` modules, the only module that talks to the tracker.
Runs open and close here; secrets masked.

What a sweep looks like in MLflow (MLflow's own hyperparameter-tuning convention):

- **One experiment per Optuna study**, named after the study.
- **One parent run per sweep process** (tag ``kind=sweep-summary``): opened when a ``-m`` command
  starts (:func:`open_sweep_run`, from the Hydra callback) and closed when it ends, so its
  duration is the sweep's. Several workers joining one study each get their own parent (tags
  ``host`` and ``pid`` tell them apart): a parent shared by tag would have no true start or end and
  no single owner to close it, and two workers starting together would race to create it. When a
  sweep ends, its parent receives the study-wide summary (best trial, counts, top trials, history)
  and, as ``objective``, the best objective of the trials this sweep ran.
- **One nested run per trial** (tag ``mlflow.parentRunId``), open while the trial computes
  (:func:`trial_run` wraps the phase's trial function), so start, end and duration are real and a
  trial that raises is FAILED (KILLED on Ctrl-C). Each trial run carries the data it was tuned on
  as an MLflow dataset (digest: the data fingerprint, name: ``symbol/timeframe``, source: the
  file) and the phase's objective as the metric ``objective``, the column to sort by.

Trials find their parent through the environment variable ``CRYPTO_TUNE_MLFLOW_SWEEP_RUN`` (also
inherited by joblib worker processes); a stale value from another store or experiment is ignored.

The values a run records are in ``_tracking_values.py``, the store and the run handle in
``_tracking_store.py``, the datasets in ``_tracking_datasets.py``; this module opens and closes
the runs.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, TypeVar

from crypto_tune._sweep_guards import held_interrupts
from crypto_tune._tracking_datasets import dataset_source, datasets, log_datasets, mlflow_dataset
from crypto_tune._tracking_store import Run, best_child_objective, experiment_id, open_mlflow
from crypto_tune._tracking_values import code_version, flatten, result_tags, settings_params
from crypto_tune.config import Settings, TrackingSettings
from crypto_tune.logs import mask_secrets

log = logging.getLogger(__name__)
SWEEP_RUN_ENV = "CRYPTO_TUNE_MLFLOW_SWEEP_RUN"


# ------------------------------------------------------------------------------ sweep parent
@dataclass
class _Sweep:
    """The parent run this process opened for its sweep, and the objectives its trials returned."""

    tracking: TrackingSettings
    experiment: str
    run_id: str
    values: list[float] = field(default_factory=list)


_SWEEP: _Sweep | None = None
_PARENT_EXPERIMENT: dict[str, str | None] = {}  # parent run id -> its experiment id (or None)


def open_sweep_run(
    tracking: TrackingSettings,
    experiment: str,
    *,
    run_name: str,
    tags: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    inputs: list[Any] | None = None,
) -> str | None:
    """Open this process's sweep parent run in ``experiment``; return its id (None when tracking
    is disabled). Trials started afterwards, here or in child processes, nest under it. It stays
    RUNNING until :func:`sweep_run` closes it; if the process exits first (Ctrl-C, a sweep stopped
    by the failure guard), it is closed as KILLED."""
    global _SWEEP
    if not tracking.enabled:
        return None
    mlflow = open_mlflow(tracking)
    client = mlflow.MlflowClient(tracking_uri=tracking.uri)
    exp_id = experiment_id(tracking, experiment)
    run_tags = {"kind": "sweep-summary", "host": socket.gethostname(), "pid": os.getpid()}
    run_tags.update(tags or {})
    run = client.create_run(
        exp_id, run_name=run_name, tags={k: mask_secrets(str(v)) for k, v in run_tags.items()}
    )
    if params:
        from mlflow.entities import Param

        clean = [Param(k, mask_secrets(str(v))) for k, v in params.items()]
        for i in range(0, len(clean), 100):
            client.log_batch(run.info.run_id, params=clean[i : i + 100])
    if inputs:
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        context = [InputTag(MLFLOW_DATASET_CONTEXT, "tuning")]
        client.log_inputs(
            run.info.run_id, [DatasetInput(d._to_mlflow_entity(), context) for d in inputs]
        )
    _SWEEP = _Sweep(tracking, experiment, run.info.run_id)
    _PARENT_EXPERIMENT[run.info.run_id] = exp_id
    os.environ[SWEEP_RUN_ENV] = run.info.run_id
    atexit.register(_abandon_sweep)
    return run.info.run_id


def _abandon_sweep() -> None:
    """atexit: a sweep that never reached its end leaves a KILLED parent, not a RUNNING one."""
    global _SWEEP
    sweep, _SWEEP = _SWEEP, None
    if sweep is None:
        return
    os.environ.pop(SWEEP_RUN_ENV, None)
    try:
        import mlflow

        mlflow.MlflowClient(tracking_uri=sweep.tracking.uri).set_terminated(
            sweep.run_id, status="KILLED"
        )
    except Exception as exc:  # the process is ending: say it, do not raise
        log.warning("sweep run %s left RUNNING: %s", sweep.run_id, mask_secrets(str(exc)))


def _sweep_parent(tracking: TrackingSettings, exp_id: str) -> str | None:
    """The sweep parent for a run in experiment ``exp_id``: the run named by the environment if
    it exists in this store and experiment, else None."""
    run_id = os.environ.get(SWEEP_RUN_ENV)
    if not run_id:
        return None
    if run_id not in _PARENT_EXPERIMENT:
        try:
            mlflow = open_mlflow(tracking)
            found = mlflow.MlflowClient(tracking_uri=tracking.uri).get_run(run_id)
            _PARENT_EXPERIMENT[run_id] = found.info.experiment_id
        except Exception:  # not in this store: a stale variable
            _PARENT_EXPERIMENT[run_id] = None
    return run_id if _PARENT_EXPERIMENT[run_id] == exp_id else None


@contextmanager
def sweep_run(
    tracking: TrackingSettings,
    experiment: str,
    *,
    run_name: str = "sweep-summary",
    tags: Mapping[str, Any] | None = None,
    status: str = "FINISHED",
    direction: str | None = "maximize",
) -> Iterator[Run | None]:
    """The sweep's parent run, resumed to log its summary, then closed with ``status`` (KILLED
    for an interrupted sweep, FAILED for a stopped one; FAILED if the block raises). Its
    ``objective`` metric is the best objective of this sweep's trials in the study's
    ``direction`` (``maximize`` or ``minimize``; None, a two-objective study: no single best).
    Without an open parent (a summary logged outside a sweep) a new run is opened instead."""
    global _SWEEP
    sweep = _SWEEP
    if sweep is None or sweep.experiment != experiment or not tracking.enabled:
        with start_run(tracking, experiment, run_name=run_name, tags=tags) as run:
            yield run
        return
    _SWEEP = None
    os.environ.pop(SWEEP_RUN_ENV, None)
    atexit.unregister(_abandon_sweep)
    mlflow = open_mlflow(tracking)
    active = mlflow.start_run(run_id=sweep.run_id)
    final = "FAILED"
    try:
        run = Run(mlflow, active)
        if tags:
            run.tags(tags)
        if direction is not None:
            values = list(sweep.values)
            child = best_child_objective(mlflow, tracking, active, direction)
            if child is not None:
                values.append(child)
            if values:
                run.metrics({"objective": min(values) if direction == "minimize" else max(values)})
        yield run
        final = status
    finally:
        mlflow.end_run(status=final)


# ------------------------------------------------------------------------------- trial runs
@dataclass(frozen=True)
class _OpenTrial:
    experiment: str
    run: Run


_TRIAL: ContextVar[_OpenTrial | None] = ContextVar("crypto_tune_trial_run", default=None)
P = ParamSpec("P")
R = TypeVar("R")


def trial_run(
    when: Callable[[Settings], bool] | None = None,
) -> Callable[[Callable[Concatenate[Settings, P], R]], Callable[Concatenate[Settings, P], R]]:
    """Decorate a trial function ``f(settings, ...)``: its MLflow run is open while it computes.

    The run (in the study's experiment, nested under the sweep's parent, with the trial's
    datasets) opens before ``f`` starts and closes when it returns (FINISHED), raises (FAILED) or
    is interrupted (KILLED). Inside ``f``, :func:`start_run` on the same experiment yields this
    run, with the given name and tags, instead of opening another. ``when(settings)`` false:
    ``f`` runs without a run. Either way a returned objective counts towards the parent's
    ``objective``.
    """

    def decorate(
        func: Callable[Concatenate[Settings, P], R],
    ) -> Callable[Concatenate[Settings, P], R]:
        @functools.wraps(func)
        def wrapper(settings: Settings, /, *args: P.args, **kwargs: P.kwargs) -> R:
            if not settings.tracking.enabled or (when is not None and not when(settings)):
                value = func(settings, *args, **kwargs)
            else:
                with _open_trial(settings):
                    value = func(settings, *args, **kwargs)
            if _SWEEP is not None and isinstance(value, float | int) and value == value:
                _SWEEP.values.append(float(value))
            return value

        return wrapper

    return decorate


@contextmanager
def _open_trial(settings: Settings) -> Iterator[None]:
    from crypto_tune.study import study_name

    experiment = study_name(settings)
    tags = {
        "kind": "trial",
        "study": experiment,
        "phase": settings.phase.name,
        "asset": settings.asset.name,
        "code_version": code_version(),
    }
    run_name = f"{settings.phase.name}-trial"
    with start_run(settings.tracking, experiment, run_name=run_name, tags=tags) as run:
        assert run is not None
        log_datasets(run, settings)
        token = _TRIAL.set(_OpenTrial(experiment, run))
        try:
            yield
        finally:
            _TRIAL.reset(token)


@contextmanager
def start_run(
    tracking: TrackingSettings,
    experiment: str,
    *,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    parent_run_id: str | None = None,
) -> Iterator[Run | None]:
    """Open a run in ``experiment`` (None when tracking is disabled); always closed on exit.

    In a sweep the run nests under the sweep's parent run (``parent_run_id`` overrides). Inside a
    :func:`trial_run` on the same experiment, the trial's open run is yielded (renamed ``run_name``,
    ``tags`` added) and left for the trial to close.
    """
    if not tracking.enabled:
        yield None
        return
    trial = _TRIAL.get()
    if trial is not None and trial.experiment == experiment and parent_run_id is None:
        more = dict(tags or {})
        if run_name:
            more["mlflow.runName"] = run_name
        trial.run.tags(more)
        yield trial.run
        return
    active, status = None, "FAILED"
    try:
        with held_interrupts():  # a sweep's Ctrl-C waits for MLflow's writes, then is raised
            mlflow = open_mlflow(tracking)
            exp_id = experiment_id(tracking, experiment)
            run_tags = dict(tags or {})
            parent = parent_run_id or _sweep_parent(tracking, exp_id)
            if parent:
                run_tags["mlflow.parentRunId"] = parent
            active = mlflow.start_run(
                experiment_id=exp_id,
                run_name=run_name,
                tags={k: mask_secrets(str(v)) for k, v in run_tags.items()},
            )
        yield Run(mlflow, active)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if active is not None:
            with held_interrupts():
                mlflow.end_run(status=status)


__all__ = [
    "SWEEP_RUN_ENV",
    "Run",
    "code_version",
    "dataset_source",
    "datasets",
    "experiment_id",
    "flatten",
    "log_datasets",
    "mlflow_dataset",
    "open_sweep_run",
    "result_tags",
    "settings_params",
    "start_run",
    "sweep_run",
    "trial_run",
]
