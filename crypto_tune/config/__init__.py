"""Typed settings from the Hydra config (one module per group of settings, :mod:`._schema`
building the whole), and the location of the packaged ``conf/``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from crypto_tune.config._data import (
    AssetSettings,
    FeatureSettings,
    LabelSettings,
    PathsSettings,
    SyntheticSettings,
)
from crypto_tune.config._periods import RegimeSettings, SplitSettings
from crypto_tune.config._resolvers import register_resolvers
from crypto_tune.config._run import (
    LIGHTGBM_FIXED,
    PHASES,
    BestSettings,
    ModelSettings,
    PhaseSettings,
    StorageSettings,
    StudySettings,
    TrackingSettings,
)
from crypto_tune.config._schema import Settings, settings_from_dict, with_market_costs
from crypto_tune.config._strategy import STRATEGY_RULES, StrategySettings


def config_dir() -> Path:
    """Absolute path of the packaged ``conf/`` directory (works installed or editable)."""
    return Path(str(resources.files("crypto_tune.conf")))


__all__ = [
    "LIGHTGBM_FIXED",
    "PHASES",
    "STRATEGY_RULES",
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
    "StudySettings",
    "SyntheticSettings",
    "TrackingSettings",
    "config_dir",
    "register_resolvers",
    "settings_from_dict",
    "with_market_costs",
]
