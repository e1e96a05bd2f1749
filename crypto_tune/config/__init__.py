"""Typed settings from the Hydra config, and the location of the packaged ``conf/``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from crypto_tune.config._resolvers import register_resolvers
from crypto_tune.config._schema import (
    AssetSettings,
    BestSettings,
    FeatureSettings,
    LabelSettings,
    ModelSettings,
    PathsSettings,
    PhaseSettings,
    RegimeSettings,
    Settings,
    SplitSettings,
    StorageSettings,
    StrategySettings,
    SyntheticSettings,
    TrackingSettings,
    settings_from_dict,
    with_market_costs,
)


def config_dir() -> Path:
    """Absolute path of the packaged ``conf/`` directory (works installed or editable)."""
    return Path(str(resources.files("crypto_tune.conf")))


__all__ = [
    "AssetSettings",
    "BestSettings",
    "FeatureSettings",
    "LabelSettings",
    "ModelSettings",
    "PathsSettings",
    "PhaseSettings",
    "RegimeSettings",
    "Settings",
    "SplitSettings",
    "StorageSettings",
    "StrategySettings",
    "SyntheticSettings",
    "TrackingSettings",
    "config_dir",
    "register_resolvers",
    "settings_from_dict",
    "with_market_costs",
]
