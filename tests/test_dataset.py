"""crypto_tune.dataset: candles -> features -> label -> regimes -> folds, memoised and cached."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from crypto_tune.cli import settings_from_config
from crypto_tune.config import Settings, config_dir, register_resolvers
from crypto_tune.dataset import (
    asset_path,
    load_asset,
    member_settings,
    prepare_dataset,
    read_checked_parquet,
    regime_mask,
)
from crypto_tune.exceptions import ConfigError


def _settings(tmp_path: Path, *overrides: str) -> Settings:
    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir())):
        cfg = compose("config", overrides=["debug=fast", f"paths.outputs={tmp_path}", *overrides])
    return settings_from_config(cfg)


def test_basket_members_are_file_assets_from_the_path_template(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "asset=basket", "paths.data=/d")
    members = member_settings(settings)
    assert [m.asset.symbol for m in members] == ["ETHUSDT", "BTCUSDT", "SOLUSDT"]
    assert members[1].asset.path == "/d/binance_BTCUSDT_4h.csv"
    assert asset_path(settings.asset, "SOLUSDT") == "/d/binance_SOLUSDT_4h.csv"
    assert {m.study.name for m in members} == {settings.study.name}
    with pytest.raises(ConfigError, match=r"^asset=basket: a basket has no single series"):
        load_asset(settings.asset)
    single = _settings(tmp_path)
    assert member_settings(single) == [single]


def test_a_missing_file_names_the_key_the_file_and_the_fix(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "asset=eth", f"paths.data={tmp_path}")
    with pytest.raises(ConfigError, match=r"^asset\.path: file .*ETHUSDT_4h\.csv not found"):
        load_asset(settings.asset)


def test_prepare_dataset_is_memoised_and_caches_checked_features(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    dataset = prepare_dataset(settings)
    assert prepare_dataset(settings) is dataset
    n = len(dataset.candles)
    assert len(dataset.features) == len(dataset.label) == len(dataset.regime) == n
    first_holdout = int(dataset.holdout.test_idx.min())
    assert dataset.folds and all(int(f.test_idx.max()) < first_holdout for f in dataset.folds)
    cached = list((Path(settings.paths.cache) / "features").glob("*.parquet"))
    assert len(cached) == 1
    read = read_checked_parquet(cached[0])
    assert read is not None and read[0].shape == dataset.features.shape
    mask = regime_mask(dataset, "all")
    assert mask.dtype == np.bool_ and mask.shape == (n,)
    calm, volatile = regime_mask(dataset, "calm"), regime_mask(dataset, "volatile")
    assert not (calm & volatile).any() and (calm | volatile).sum() <= mask.sum()
