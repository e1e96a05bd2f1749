"""How a run goes: the model, the phase, the storage, tracking, the study, the best run,
walk-forward, downloads and search presets."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from crypto_tune.config._validate import _check_choice, _check_date, _check_range, _fail
from crypto_tune.exceptions import ConfigError
from crypto_tune.objectives import MODEL_OBJECTIVES
from crypto_tune.pruning import DEFAULT_PRUNER, PRUNERS

if typing.TYPE_CHECKING:
    pass

PHASES = tuple(
    sorted(
        p.name.removesuffix(".yaml")
        for p in (resources.files("crypto_tune.conf") / "phase").iterdir()
        if p.name.endswith(".yaml")
    )
)
STORAGES = ("sqlite", "postgres", "grpc")
MODEL_SOURCES = ("study", "config")
SELECTIONS = ("best", "robust")
PARETO_RULES = ("utopia", "first")


# The version of the LightGBM parameters every fit sets besides ModelSettings' own
# (crypto_tune.model.lightgbm_params): part of what identifies a trained model, in the
# prediction caches' keys and the Phase 1 study fingerprint. 2: feature_pre_filter off.
LIGHTGBM_FIXED = 2


@dataclass(frozen=True)
class ModelSettings:
    name: str = "lightgbm"
    learning_rate: float = 0.03
    num_leaves: int = 15
    max_depth: int = -1
    min_data_in_leaf: int = 200
    feature_fraction: float = 0.7
    bagging_fraction: float = 0.7
    bagging_freq: int = 1
    lambda_l1: float = 0.0
    lambda_l2: float = 1.0
    num_boost_round: int = 400
    early_stopping_rounds: int = 40
    # "auto": the machine's share of this process (crypto_tune.model.thread_plan); an int: that
    # many LightGBM threads per fit, folds one after another (0: LightGBM's own default).
    num_threads: int | str = "auto"

    def validate(self, key: str) -> None:
        _check_choice(f"{key}.name", self.name, ("lightgbm",))
        _check_range(f"{key}.learning_rate", self.learning_rate, low=0, high=1, low_open=True)
        _check_range(f"{key}.num_leaves", self.num_leaves, low=2, high=131072)
        if self.max_depth == 0 or self.max_depth < -1:
            _fail(f"{key}.max_depth", "-1 (no limit) or an int >= 1", self.max_depth)
        _check_range(f"{key}.min_data_in_leaf", self.min_data_in_leaf, low=1)
        for name in ("feature_fraction", "bagging_fraction"):
            _check_range(f"{key}.{name}", getattr(self, name), low=0, high=1, low_open=True)
        _check_range(f"{key}.bagging_freq", self.bagging_freq, low=0)
        _check_range(f"{key}.lambda_l1", self.lambda_l1, low=0)
        _check_range(f"{key}.lambda_l2", self.lambda_l2, low=0)
        _check_range(f"{key}.num_boost_round", self.num_boost_round, low=1)
        _check_range(f"{key}.early_stopping_rounds", self.early_stopping_rounds, low=0)
        if isinstance(self.num_threads, str):
            _check_choice(f"{key}.num_threads", self.num_threads, ("auto",))
        else:
            _check_range(f"{key}.num_threads", self.num_threads, low=0)

    def params(self) -> dict[str, Any]:
        """The tunable model parameters (what identifies a trained model), by config key.

        ``num_threads`` is not one: predictions are bit-identical for every thread count
        (``deterministic``, ``force_row_wise``; tests/test_model_oof.py), so it changes how fast
        a model trains, never what it predicts.
        """
        skip = ("name", "num_threads")
        fields = dataclasses.fields(self)
        return {f.name: getattr(self, f.name) for f in fields if f.name not in skip}


@dataclass(frozen=True)
class PhaseSettings:
    name: str = "model"
    objective: str = "ic"
    model_source: str = "study"
    pruner: str = DEFAULT_PRUNER  # Phase 1: crypto_tune/pruning.py

    def validate(self, key: str) -> None:
        _check_choice(f"{key}.name", self.name, PHASES)
        _check_choice(f"{key}.objective", self.objective, MODEL_OBJECTIVES)
        _check_choice(f"{key}.model_source", self.model_source, MODEL_SOURCES)
        _check_choice(f"{key}.pruner", self.pruner, PRUNERS)


@dataclass(frozen=True)
class StorageSettings:
    name: str = "sqlite"
    url: str = ""

    def validate(self, key: str) -> None:
        _check_choice(f"{key}.name", self.name, STORAGES)
        if "://" not in self.url:
            _fail(
                f"{key}.url", "a database URL like sqlite:///file.db or postgresql://...", self.url
            )


@dataclass(frozen=True)
class TrackingSettings:
    name: str = "mlflow"
    uri: str = ""
    artifact_location: str | None = None
    enabled: bool = True
    per_trial_runs: bool = False


@dataclass(frozen=True)
class StudySettings:
    name: str


@dataclass(frozen=True)
class BestSettings:
    """``phase=best`` options: ``best.from=FILE`` replays a workflow.best.json."""

    from_file: str | None = None
    overwrite: bool = True
    selection: str = "best"
    top_k: int = 16
    retrain_months: int = 0
    pareto: str = "utopia"

    def validate(self, key: str) -> None:
        _check_choice(f"{key}.selection", self.selection, SELECTIONS)
        _check_choice(f"{key}.pareto", self.pareto, PARETO_RULES)
        _check_range(f"{key}.top_k", self.top_k, low=2)
        _check_range(f"{key}.retrain_months", self.retrain_months, low=0)


@dataclass(frozen=True)
class WalkForwardSettings:
    """``phase=walkforward`` options: the trial budgets of every window's two studies and the
    period the windows cover (null: ``split.tune_start`` and ``split.holdout_end``)."""

    model_trials: int = 30
    strategy_trials: int = 300
    start: str | None = None
    end: str | None = None

    def validate(self, key: str) -> None:
        _check_range(f"{key}.model_trials", self.model_trials, low=1)
        _check_range(f"{key}.strategy_trials", self.strategy_trials, low=1)
        start = _check_date(f"{key}.start", self.start) if self.start is not None else None
        end = _check_date(f"{key}.end", self.end) if self.end is not None else None
        if start is not None and end is not None and end <= start:
            raise ConfigError(f"{key}.end ({self.end}) must be after {key}.start ({self.start})")


@dataclass(frozen=True)
class DownloadSettings:
    """``phase=download`` options (conf/phase/download.yaml): the ccxt exchange, the period
    (``until`` null: up to the last closed bar), the folder the files go to, bars per request,
    retries of a failed request, and ccxt constructor options merged over ours (``ccxt``)."""

    exchange: str = "binance"
    since: str = "2017-01-01"
    until: str | None = None
    folder: str = ""
    limit: int = 1000
    retries: int = 5
    ccxt: dict[str, Any] = field(default_factory=dict)

    def validate(self, key: str) -> None:
        if not self.exchange:
            _fail(f"{key}.exchange", "a ccxt exchange id like binance", self.exchange)
        since = _check_date(f"{key}.since", self.since)
        if self.until is not None and _check_date(f"{key}.until", self.until) <= since:
            raise ConfigError(
                f"{key}.until ({self.until}) must be after {key}.since ({self.since})"
            )
        _check_range(f"{key}.limit", self.limit, low=1, high=5000)
        _check_range(f"{key}.retries", self.retries, low=0, high=50)
        if not isinstance(self.ccxt, Mapping):
            _fail(f"{key}.ccxt", "a mapping of ccxt constructor options", self.ccxt)


@dataclass(frozen=True)
class SearchPresetSettings:
    """Set by a ``conf/hparams_search/<name>.yaml`` preset (metric, sampler and space of one
    phase in one file): its name and the phases it is meant for; empty without a preset."""

    name: str | None = None
    phases: tuple[str, ...] = ()

    def check_phase(self, key: str, phase: str) -> None:
        for name in self.phases:
            _check_choice(f"{key}.phases", name, PHASES)
        if self.name is not None and self.phases and phase not in self.phases:
            raise ConfigError(
                f"hparams_search={self.name} is for phase={'|'.join(self.phases)}, "
                f"not phase={phase}"
            )
