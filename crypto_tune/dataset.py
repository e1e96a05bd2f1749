"""Everything a phase needs from the data, computed once per process and cached on disk.

``prepare_dataset(settings)`` loads the candles of the asset (validated), computes the causal
features, the forward-return label, the causal regime labels and the folds. Results are memoised
in memory for a data fingerprint and feature config (so a sweep computes them once, not once per
trial), and features are cached on disk under ``paths.cache``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crypto_tune._made import make_folders, wrote
from crypto_tune.config import AssetSettings, Settings
from crypto_tune.data import (
    CandleReport,
    bar_statistics,
    finer_file,
    freqtrade_candles,
    load_candles,
    synthetic_market,
    time_index,
)
from crypto_tune.exceptions import ConfigError
from crypto_tune.features import compute_features, forward_return
from crypto_tune.memo import memo
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

    @functools.cached_property
    def label_key(self) -> str:
        """A content hash of the label: its values on every bar, hence its definition and
        horizon (two horizons on the same folds never share a key)."""
        return frame_digest(self.label.to_frame())[:16]


def asset_path(asset: AssetSettings, symbol: str | None = None) -> str:
    """The file of ``asset`` (a basket's or a universe's template filled with ``symbol``); when
    it is absent, the finer file of the same name it is resampled from
    (:func:`~crypto_tune.data.finer_file`: ``binance_ETHUSDT_4h.csv`` for a 1d timeframe)."""
    path = str(asset.path)
    path = path.replace("{symbol}", symbol) if symbol else path
    if asset.kind != "synthetic" and not Path(path).exists():
        finer = finer_file(path, asset.timeframe)
        if finer is not None:
            return str(finer)
    return path


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
            n_duplicates_dropped=0,
            gaps=find_gaps(time_index(candles), asset.timeframe),
            **bar_statistics(candles),
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
    if path.is_dir():  # a Freqtrade exchange folder: user_data/data/<exchange>/
        path = freqtrade_candles(path, asset.symbol, asset.timeframe, market=asset.market)
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
            settings, asset=file_asset(symbol, asset.timeframe, asset_path(asset, symbol))
        )
        for symbol in asset.symbols
    ]


def file_asset(symbol: str, timeframe: str, path: str) -> AssetSettings:
    """The single-file asset of one ``symbol`` of a basket or a universe, read from ``path``."""
    return AssetSettings(
        name=symbol.lower(), kind="file", symbol=symbol, timeframe=timeframe, path=path
    )


def data_fingerprint(candles: pd.DataFrame) -> str:
    """A short content hash of the candles (index and OHLCV values)."""
    hashed = pd.util.hash_pandas_object(candles, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def _key(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]


_CHECKSUM = b"crypto_tune.sha256"


def frame_digest(frame: pd.DataFrame) -> str:
    """A content hash of ``frame`` (values, index, column names) that survives a Parquet trip."""
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    index = frame.index
    if isinstance(index, pd.DatetimeIndex):
        labels = index.asi8.tobytes() + str(index.tz).encode()
    else:
        labels = pd.util.hash_pandas_object(index.to_series(), index=False).to_numpy().tobytes()
    digest = hashlib.sha256(rows.tobytes())
    digest.update(labels)
    digest.update(json.dumps([str(c) for c in frame.columns]).encode())
    return digest.hexdigest()


def write_atomic_parquet(
    frame: pd.DataFrame, path: Path, metadata: dict[str, str] | None = None
) -> None:
    """Write ``frame`` to ``path`` via a temporary file in the same folder, flushed to disk, and
    an atomic rename; the file records a checksum of its content (and ``metadata``).

    Concurrent writers of the same path each write their own temporary file; the last rename
    wins and readers only ever see a complete file. On any error (a full disk, a read-only
    folder) the temporary file is removed and the error raised: nothing half-written remains.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    make_folders(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with warnings.catch_warnings():  # pyarrow 25 reads a tz-aware index via .values
            warnings.filterwarnings("ignore", message="DatetimeIndex.values returning")
            table = pa.Table.from_pandas(frame)
        extra = {k.encode(): str(v).encode() for k, v in (metadata or {}).items()}
        extra[_CHECKSUM] = frame_digest(frame).encode()
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
        pq.write_table(table, tmp)
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.chmod(tmp, 0o644)
        existed = path.exists()
        os.replace(tmp, path)
        wrote(path, existed=existed)  # a refused run's checks remove the new file again
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_checked_parquet(path: Path) -> tuple[pd.DataFrame, dict[str, str]] | None:
    """(frame, metadata) of a cache file written by :func:`write_atomic_parquet`, or None when
    it is absent, unreadable, truncated, or its content does not match its checksum (logged as
    a warning; the caller rebuilds and rewrites it). A file without a checksum (written by an
    older version) is rebuilt too."""
    import pyarrow.parquet as pq

    try:
        with open(path, "rb") as handle:  # one open file: a concurrent rename cannot mix versions
            table = pq.read_table(handle)
        frame = table.to_pandas()
    except FileNotFoundError:
        return None
    except Exception as exc:  # truncated or corrupt Parquet: any pyarrow error
        log.warning("cache file %s is unreadable (%s): rebuilding it", path, str(exc)[:120])
        return None
    metadata = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    expected = metadata.get(_CHECKSUM.decode())
    if expected is None:
        log.info("cache file %s has no checksum (older version): rebuilding it", path)
        return None
    if frame_digest(frame) != expected:
        log.warning("cache file %s is corrupt (checksum mismatch): rebuilding it", path)
        return None
    return frame, metadata


def _features_cached(
    candles: pd.DataFrame, fingerprint: str, settings: Settings
) -> tuple[pd.DataFrame, str]:
    windows = list(settings.features.windows)
    key = _key({"data": fingerprint, "windows": windows, "version": 1})
    path = Path(settings.paths.cache) / "features" / f"{key}.parquet"
    cached = read_checked_parquet(path)
    if cached is not None and cached[0].index.equals(candles.index):
        return cached[0], key
    frame = compute_features(candles, windows=windows)
    write_atomic_parquet(frame, path)
    return frame, key


def make_folds(index: pd.DatetimeIndex, settings: Settings) -> tuple[Fold, ...]:
    split = settings.split
    if split.name == "walk_forward":
        folds = walk_forward_folds(
            index,
            tune_start=split.tune_start,
            tune_end=split.tune_end,
            purge=split.purge,
            valid_fraction=split.valid_fraction,
            train_months=split.train_months,
            test_months=split.test_months,
            expanding=split.expanding,
        )
    else:
        folds = static_folds(
            index,
            tune_start=split.tune_start,
            tune_end=split.tune_end,
            purge=split.purge,
            valid_fraction=split.valid_fraction,
            n_folds=split.n_folds,
            min_train_fraction=split.min_train_fraction,
        )
    return tuple(folds)


def _split_data(
    candles: pd.DataFrame, report: CandleReport, settings: Settings
) -> tuple[tuple[Fold, ...], Fold]:
    """The folds and the holdout of ``candles``; when the split cannot be cut, the error names
    the data source and the period its bars cover (a file too short or starting too late is the
    file's fault, not the split's)."""
    index = time_index(candles)
    split = settings.split
    try:
        folds = make_folds(index, settings)
        holdout = holdout_split(
            index,
            tune_start=split.tune_start,
            tune_end=split.tune_end,
            holdout_start=split.holdout_start,
            holdout_end=split.holdout_end,
            purge=split.purge,
            valid_fraction=split.valid_fraction,
        )
    except ConfigError as exc:
        late = ""
        if len(index) and index[0] > pd.Timestamp(split.tune_start, tz=index.tz):
            late = f", starting after split.tune_start {split.tune_start}"
        bars = "1 bar" if len(index) == 1 else f"{len(index)} bars"
        raise ConfigError(
            f"{report.source}: the data hold {bars} from {report.start:%Y-%m-%d %H:%M} to "
            f"{report.end:%Y-%m-%d %H:%M}{late}, too little for the split "
            f"(give more data, or set split.tune_start/tune_end/holdout_* inside them): {exc}"
        ) from None
    return folds, holdout


_MEMORY: dict[str, Dataset] = memo("datasets", {})


def lock_final(
    candles: pd.DataFrame, report: CandleReport, settings: Settings
) -> tuple[pd.DataFrame, CandleReport]:
    """The candles a phase may see: everything before ``split.final_start`` (the locked final
    holdout) unless the phase is ``final``, the one that opens it."""
    start = settings.split.final_start
    if start is None or settings.phase.name == "final":
        return candles, report
    stamp = pd.Timestamp(start)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    kept = candles[time_index(candles) < stamp]
    if len(kept) == len(candles):
        return candles, report
    if kept.empty:
        raise ConfigError(f"split.final_start ({start}): no candles before it")
    import dataclasses

    return kept, dataclasses.replace(
        report,
        gaps=tuple(g for g in report.gaps if g.before < stamp),
        **bar_statistics(kept),  # nothing of the locked bars: their prices, moves, flat runs
    )


def prepare_dataset(settings: Settings) -> Dataset:
    """Load, featurise, label and fold the asset of ``settings`` (memoised per process).

    With a locked final holdout (``split.final_start``) every phase but ``final`` sees only the
    candles before it (:func:`lock_final`): features, labels, folds and fingerprints alike."""
    memo = _key(
        {
            "asset": settings.asset,
            "windows": settings.features.windows,
            "label": settings.label.horizon,
            "regime": settings.regime,
            "split": settings.split,
            "cache": settings.paths.cache,
            "final_unlocked": settings.phase.name == "final",
        }
    )
    if memo in _MEMORY:
        return _MEMORY[memo]
    candles, report = lock_final(*load_asset(settings.asset), settings)
    folds, holdout = _split_data(candles, report, settings)  # before any cache is written
    fingerprint = data_fingerprint(candles)
    features, feature_key = _features_cached(candles, fingerprint, settings)
    label = forward_return(candles, horizon=settings.label.horizon)
    regime = settings.regime
    labels = volatility_regime(
        candles, window=regime.window, lookback=regime.lookback, quantile=regime.quantile
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
