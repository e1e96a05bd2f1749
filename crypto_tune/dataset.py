"""Everything a phase needs from the data, computed once per process and cached on disk.

``prepare_dataset(settings)`` loads the candles of the asset (validated), computes the causal
features, the forward-return label, the causal regime labels and the folds. Results are memoised
in memory for a data fingerprint and feature config (so a sweep computes them once, not once per
trial), and features are cached on disk under ``paths.cache``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crypto_tune.config import AssetSettings, Settings
from crypto_tune.data import CandleReport, load_candles, synthetic_market
from crypto_tune.exceptions import ConfigError
from crypto_tune.features import compute_features, forward_return
from crypto_tune.regimes import volatility_regime
from crypto_tune.splits import Fold, holdout_split, static_folds, walk_forward_folds

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dataset:
    """Candles, features, label, regimes and folds of one asset, with their fingerprints."""

    candles: pd.DataFrame
    report: CandleReport
    features: pd.DataFrame
    label: pd.Series
    regime: pd.Series
    folds: tuple[Fold, ...]
    holdout: Fold
    data_fingerprint: str
    feature_key: str


def asset_path(asset: AssetSettings, symbol: str | None = None) -> str:
    """The file of ``asset`` (the basket template filled with ``symbol``)."""
    path = str(asset.path)
    return path.replace("{symbol}", symbol) if symbol else path


def load_asset(asset: AssetSettings) -> tuple[pd.DataFrame, CandleReport]:
    """Validated candles of a single-series asset (file or synthetic)."""
    if asset.kind == "synthetic":
        syn = asset.synthetic
        assert syn is not None
        market = synthetic_market(
            seed=syn.seed,
            n_bars=syn.n_bars,
            timeframe=asset.timeframe,
            start=syn.start,
            planted_ic=syn.planted_ic,
        )
        candles = market.candles
        from crypto_tune.data import find_gaps

        report = CandleReport(
            source=f"synthetic(seed={syn.seed}, planted_ic={syn.planted_ic})",
            timeframe=asset.timeframe,
            n_rows=len(candles),
            start=candles.index[0],
            end=candles.index[-1],
            n_duplicates_dropped=0,
            gaps=find_gaps(candles.index, asset.timeframe),
            price_min=float(candles["low"].min()),
            price_max=float(candles["high"].max()),
        )
        return candles, report
    if asset.kind == "basket":
        raise ConfigError(
            "asset=basket: a basket has no single series; load its members (member_settings)"
        )
    path = Path(asset_path(asset))
    if not path.exists():
        raise ConfigError(
            f"asset.path: file {path} not found (for asset={asset.name} set paths.data, "
            "CRYPTO_TUNE_DATA_DIR or asset.path)"
        )
    return load_candles(path, timeframe=asset.timeframe)


def member_settings(settings: Settings) -> list[Settings]:
    """The single-asset settings of each basket member (``[settings]`` for a single asset).

    Members keep the basket's study name, model, strategy, split and regime; only the asset
    changes (a file asset per symbol, from the basket's path template).
    """
    import dataclasses

    asset = settings.asset
    if asset.kind != "basket":
        return [settings]
    return [
        dataclasses.replace(
            settings,
            asset=AssetSettings(
                name=symbol.lower(),
                kind="file",
                symbol=symbol,
                timeframe=asset.timeframe,
                path=asset_path(asset, symbol),
            ),
        )
        for symbol in asset.symbols
    ]


def data_fingerprint(candles: pd.DataFrame) -> str:
    """A short content hash of the candles (index and OHLCV values)."""
    hashed = pd.util.hash_pandas_object(candles, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def _key(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]


def write_atomic_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` via a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        frame.to_parquet(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _features_cached(
    candles: pd.DataFrame, fingerprint: str, settings: Settings
) -> tuple[pd.DataFrame, str]:
    windows = list(settings.features.windows)
    key = _key({"data": fingerprint, "windows": windows, "version": 1})
    path = Path(settings.paths.cache) / "features" / f"{key}.parquet"
    if path.exists():
        try:
            frame = pd.read_parquet(path)
            if frame.index.equals(candles.index):
                return frame, key
        except (OSError, ValueError):
            log.warning("feature cache %s unreadable; recomputing", path)
    frame = compute_features(candles, windows=windows)
    write_atomic_parquet(frame, path)
    return frame, key


def make_folds(index: pd.DatetimeIndex, settings: Settings) -> tuple[Fold, ...]:
    split = settings.split
    common = dict(
        tune_start=split.tune_start,
        tune_end=split.tune_end,
        purge=split.purge,
        valid_fraction=split.valid_fraction,
    )
    if split.name == "walk_forward":
        folds = walk_forward_folds(
            index,
            train_months=split.train_months,
            test_months=split.test_months,
            expanding=split.expanding,
            **common,
        )
    else:
        folds = static_folds(
            index, n_folds=split.n_folds, min_train_fraction=split.min_train_fraction, **common
        )
    return tuple(folds)


_MEMORY: dict[str, Dataset] = {}


def prepare_dataset(settings: Settings) -> Dataset:
    """Load, featurise, label and fold the asset of ``settings`` (memoised per process)."""
    memo = _key(
        {
            "asset": settings.asset,
            "windows": settings.features.windows,
            "label": settings.label.horizon,
            "regime": settings.regime,
            "split": settings.split,
            "cache": settings.paths.cache,
        }
    )
    if memo in _MEMORY:
        return _MEMORY[memo]
    candles, report = load_asset(settings.asset)
    fingerprint = data_fingerprint(candles)
    features, feature_key = _features_cached(candles, fingerprint, settings)
    label = forward_return(candles, horizon=settings.label.horizon)
    regime = settings.regime
    labels = volatility_regime(
        candles, window=regime.window, lookback=regime.lookback, quantile=regime.quantile
    )
    folds = make_folds(candles.index, settings)
    split = settings.split
    holdout = holdout_split(
        candles.index,
        tune_start=split.tune_start,
        tune_end=split.tune_end,
        holdout_start=split.holdout_start,
        holdout_end=split.holdout_end,
        purge=split.purge,
        valid_fraction=split.valid_fraction,
    )
    dataset = Dataset(
        candles=candles,
        report=report,
        features=features,
        label=label,
        regime=labels,
        folds=folds,
        holdout=holdout,
        data_fingerprint=fingerprint,
        feature_key=feature_key,
    )
    _MEMORY[memo] = dataset
    return dataset


def regime_mask(dataset: Dataset, regime_name: str) -> np.ndarray:
    """Boolean array: bars scored and traded under ``regime_name``."""
    from crypto_tune.regimes import regime_mask as _mask

    return _mask(dataset.regime, regime_name).to_numpy(dtype=bool)
