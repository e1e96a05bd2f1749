"""Typed, validated settings built from the composed Hydra config (the structured-config schema).

Every group of ``conf/`` has a frozen dataclass in a sibling module (``_data``,
``_periods``, ``_strategy``, ``_run``); :class:`Settings` holds them all.
:func:`settings_from_dict` checks the whole config before any work: unknown keys, missing
values, wrong types and out-of-range values each raise one
:class:`~crypto_tune.exceptions.ConfigError` naming the key and the value.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crypto_tune.config._data import (
    AssetSettings,
    FeatureSettings,
    LabelSettings,
    PathsSettings,
)
from crypto_tune.config._periods import RegimeSettings, SplitSettings
from crypto_tune.config._run import (
    BestSettings,
    DownloadSettings,
    ModelSettings,
    PhaseSettings,
    SearchPresetSettings,
    StorageSettings,
    StudySettings,
    TrackingSettings,
    WalkForwardSettings,
)
from crypto_tune.config._strategy import StrategySettings
from crypto_tune.config._universe import UniverseSettings
from crypto_tune.config._validate import _fail
from crypto_tune.exceptions import ConfigError
from crypto_tune.markets import market_costs


@dataclass(frozen=True)
class Settings:
    """The whole validated configuration; the only object phases receive."""

    experiment_name: str
    seed: int
    paths: PathsSettings
    asset: AssetSettings
    model: ModelSettings
    strategy: StrategySettings
    regime: RegimeSettings
    split: SplitSettings
    phase: PhaseSettings
    storage: StorageSettings
    tracking: TrackingSettings
    label: LabelSettings
    features: FeatureSettings
    study: StudySettings
    best: BestSettings = field(default_factory=BestSettings)
    walkforward: WalkForwardSettings = field(default_factory=WalkForwardSettings)
    hparams_search: SearchPresetSettings = field(default_factory=SearchPresetSettings)
    download: DownloadSettings = field(default_factory=DownloadSettings)
    universe: UniverseSettings = field(default_factory=UniverseSettings)
    # The overrides given on the command line for this run (filled by the CLI, not by YAML).
    command_line: tuple[str, ...] = ()

    def validate(self) -> None:
        self.asset.validate("asset")
        self.model.validate("model")
        self.strategy.validate("strategy")
        self.regime.validate("regime")
        self.label.validate("label")
        self.split.validate("split", horizon=self.label.horizon)
        self.phase.validate("phase")
        self.storage.validate("storage")
        self.features.validate("features")
        self.best.validate("best")
        self.walkforward.validate("walkforward")
        self.download.validate("download")
        self.universe.validate("universe", asset_kind=self.asset.kind, rule=self.strategy.name)
        self.hparams_search.check_phase("hparams_search", self.phase.name)


# --------------------------------------------------------------------------------------------
# Building dataclasses from plain mappings, with key-naming errors.

_RENAMED = {"from": "from_file"}  # YAML keys that are Python keywords


def _type_name(tp: Any) -> str:
    names = {int: "an int", float: "a number", bool: "true or false", str: "a string"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(key: str, value: Any, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        for option in inner[:-1]:  # the first type the value fits (str | tuple[str, ...])
            try:
                return _coerce(key, value, option)
            except ConfigError:
                continue
        return _coerce(key, value, inner[-1])
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            _fail(key, "a mapping", value)
        return _build(tp, value, key)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            _fail(key, "a list", value)
        (item_type, _) = typing.get_args(tp)
        return tuple(_coerce(key, item, item_type) for item in value)
    if value is None:
        _fail(key, _type_name(tp), value)
    if tp is bool:
        if not isinstance(value, bool):
            _fail(key, "true or false", value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            _fail(key, "an int", value)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            _fail(key, "a number", value)
        return float(value)
    if tp is str:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            _fail(key, "a string", value)
        return str(value)
    return value


@functools.cache
def _schema(cls: type) -> tuple[dict[str, Any], dict[str, dataclasses.Field]]:
    return typing.get_type_hints(cls), {f.name: f for f in dataclasses.fields(cls)}


def _build(cls: type, mapping: Mapping[str, Any], prefix: str) -> Any:
    hints, fields = _schema(cls)
    values: dict[str, Any] = {}
    for raw_key, value in mapping.items():
        name = _RENAMED.get(str(raw_key), str(raw_key))
        key = f"{prefix}.{raw_key}" if prefix else str(raw_key)
        if name not in fields:
            known = ", ".join(sorted(_RENAMED.get(k, k) for k in fields if not k.startswith("_")))
            raise ConfigError(f"{key} is not a known key (known: {known})")
        values[name] = _coerce(key, value, hints[name])
    for name, f in fields.items():
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if name not in values and no_default:
            raise ConfigError(f"{prefix + '.' if prefix else ''}{name} is required but missing")
    return cls(**values)


def settings_from_dict(config: Mapping[str, Any]) -> Settings:
    """Build and validate :class:`Settings` from a resolved config mapping (no ``hydra`` key)."""
    config = {k: v for k, v in config.items() if k != "hydra"}
    config.setdefault("best", {})
    storage = config.get("storage")
    if isinstance(storage, dict) and isinstance(storage.get("url"), str):
        from crypto_tune.config._resolvers import database_url

        config["storage"] = {**storage, "url": database_url(storage["url"])}
    settings = _build(Settings, config, "")
    settings.validate()
    return with_market_costs(settings)


def with_market_costs(settings: Settings) -> Settings:
    """``settings`` with ``strategy.market`` resolved from ``asset.market`` and the overrides
    (:func:`crypto_tune.markets.market_costs`; a forbidden combination is a ConfigError)."""
    asset, strategy = settings.asset, settings.strategy
    costs = market_costs(
        asset.market,
        fee=strategy.fee,
        orders=strategy.orders,
        allow_short=strategy.allow_short,
        borrow_rate=asset.borrow_rate,
        funding=asset.funding,
        maintenance_margin=asset.maintenance_margin,
    )
    return dataclasses.replace(settings, strategy=dataclasses.replace(strategy, market=costs))
