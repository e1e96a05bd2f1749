"""MLflow: the only module that talks to the tracker. Runs open and close here; secrets masked.

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
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from crypto_tune.config import AssetSettings, Settings, TrackingSettings
from crypto_tune.logs import mask_secrets

log = logging.getLogger(__name__)
os.environ.setdefault("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "false")
SWEEP_RUN_ENV = "CRYPTO_TUNE_MLFLOW_SWEEP_RUN"


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
    """A thin handle on an active MLflow run (metrics, params, artifacts, datasets)."""

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

    def frame(self, frame: Any, name: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, name)
            frame.to_csv(path)
            self._mlflow.log_artifact(str(path))

    def dataset(self, dataset: Any, context: str = "tuning") -> None:
        """Log an MLflow dataset (see :func:`mlflow_dataset`) as an input of this run."""
        self._mlflow.log_input(dataset, context=context)


# ----------------------------------------------------------------------------------- datasets
def dataset_source(asset: AssetSettings) -> Any:
    """Where the candles of a single-series asset come from, as an MLflow dataset source: the
    absolute file path (a ``local`` source), or for the synthetic market the recipe that
    generates it (a ``code`` source: seed, bars, planted IC, start)."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import resolve_dataset_source

    if asset.kind == "synthetic" and asset.synthetic is not None:
        syn = asset.synthetic
        recipe = {"seed": syn.seed, "n_bars": syn.n_bars, "planted_ic": syn.planted_ic}
        return CodeDatasetSource(
            {"generator": "crypto_tune.data.synthetic_market", "start": syn.start, **recipe}
        )
    from crypto_tune.dataset import asset_path

    path = str(Path(asset_path(asset)).expanduser().resolve())
    with warnings.catch_warnings():  # MLflow registers its local source twice: it warns
        warnings.simplefilter("ignore")
        return resolve_dataset_source(path)


_DATASETS: dict[tuple[str, str, str], Any] = {}  # (fingerprint, name, asset) -> dataset


def mlflow_dataset(asset: AssetSettings, candles: Any, fingerprint: str) -> Any:
    """``candles`` as an MLflow dataset: digest = the project's data fingerprint, name =
    ``symbol/timeframe``, source = :func:`dataset_source` (built once per process)."""
    from mlflow.data.pandas_dataset import from_pandas

    name = f"{asset.symbol}/{asset.timeframe}"
    key = (fingerprint, name, str(asset))
    if key not in _DATASETS:
        with warnings.catch_warnings():  # schema hints about integer columns
            warnings.simplefilter("ignore")
            _DATASETS[key] = from_pandas(
                candles, source=dataset_source(asset), name=name, digest=fingerprint
            )
    return _DATASETS[key]


def datasets(settings: Settings) -> list[Any]:
    """The MLflow datasets of ``settings`` (one per member of a basket)."""
    from crypto_tune.dataset import member_settings, prepare_dataset

    found = []
    for member in member_settings(settings):
        data = prepare_dataset(member)  # memoised: the trial itself reuses it
        found.append(mlflow_dataset(member.asset, data.candles, data.data_fingerprint))
    return found


def log_datasets(run: Run, settings: Settings) -> None:
    """Log the data of ``settings`` (every member of a basket) as inputs of ``run``.

    Data errors propagate (the trial would meet them next); a tracker that refuses the dataset
    costs a warning, never the trial.
    """
    for dataset in datasets(settings):
        try:
            run.dataset(dataset)
        except Exception as exc:
            log.warning("dataset %s not logged to MLflow: %s", dataset.name, exc)


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
    mlflow = _mlflow(tracking)
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
            mlflow = _mlflow(tracking)
            found = mlflow.MlflowClient(tracking_uri=tracking.uri).get_run(run_id)
            _PARENT_EXPERIMENT[run_id] = found.info.experiment_id
        except Exception:  # not in this store: a stale variable
            _PARENT_EXPERIMENT[run_id] = None
    return run_id if _PARENT_EXPERIMENT[run_id] == exp_id else None


def _best_child_objective(
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
    mlflow = _mlflow(tracking)
    active = mlflow.start_run(run_id=sweep.run_id)
    final = "FAILED"
    try:
        run = Run(mlflow, active)
        if tags:
            run.tags(tags)
        if direction is not None:
            values = list(sweep.values)
            child = _best_child_objective(mlflow, tracking, active, direction)
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
    mlflow = _mlflow(tracking)
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
    status = "FAILED"
    try:
        yield Run(mlflow, active)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
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
    "settings_params",
    "start_run",
    "sweep_run",
    "trial_run",
]
