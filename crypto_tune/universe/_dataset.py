"""The door to a universe's data: its files, their candles, the panel, the folds on its calendar.

``prepare_universe(settings)`` reads every symbol (``asset.path`` with ``{symbol}`` for each of
``asset.symbols``, or every candle file of a folder), builds the :class:`~crypto_tune.universe.
Panel` and cuts the folds and the holdout on the panel's calendar (purge and embargo in bars of
time, hence across every symbol at once). Memoised per process; the fingerprints name the
candles, the features, the label and the folds so that studies and caches can check them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crypto_tune.config import AssetSettings, Settings
from crypto_tune.data import CandleReport, load_candles
from crypto_tune.dataset import asset_path, data_fingerprint, make_folds
from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.memo import memo
from crypto_tune.splits import Fold, holdout_split
from crypto_tune.timeframes import timeframe_minutes
from crypto_tune.universe._panel import Panel, build_panel, off_calendar

_SUFFIXES = (".csv", ".parquet", ".pq", ".feather", ".json", ".gz")


@dataclass(frozen=True)
class UniverseDataset:
    """A universe's panel, its folds and holdout (positions on ``panel.index``), fingerprints."""

    panel: Panel
    reports: dict[str, CandleReport]
    files: dict[str, str]
    candles: dict[str, pd.DataFrame]  # each symbol's candles as read (what MLflow logs)
    fingerprints: dict[str, str]  # each symbol's data fingerprint; data_fingerprint names them all
    folds: tuple[Fold, ...]
    holdout: Fold
    data_fingerprint: str
    feature_key: str
    label_key: str

    def rows(self, bars: np.ndarray) -> np.ndarray:
        """Positions of the panel's rows whose bar is in ``bars``."""
        wanted = np.zeros(len(self.panel.index), dtype=bool)
        wanted[np.asarray(bars, dtype=np.int64)] = True
        return np.nonzero(wanted[self.panel.bar])[0]


def _symbol_of(name: str, timeframe: str) -> str:
    """``binance_BTCUSDT_4h.csv`` -> ``BTCUSDT``; ``BTCUSDT.csv`` -> ``BTCUSDT``."""
    stem = name.split(".")[0]
    parts = [p for p in re.split(r"[_\-]", stem) if p]
    if len(parts) >= 2 and parts[-1].lower() == timeframe.lower():
        return parts[-2]
    return parts[-1] if parts else stem


def universe_files(asset: AssetSettings) -> dict[str, str]:
    """``{symbol: file}`` of a universe: the path template per symbol, or a folder's files (of
    ``asset.symbols`` when given, else all of them). A name ending in another timeframe is
    skipped, unless it is a finer one that divides the universe's and the symbol has no file of
    its own: the coarsest such is read and resampled, as a template's absent file is."""
    path = str(asset.path)
    if "{symbol}" in path:
        return {symbol: asset_path(asset, symbol) for symbol in asset.symbols}
    folder = Path(path)
    if not folder.is_dir():
        raise ConfigError(f"asset.path: {path} is neither a {{symbol}} template nor a folder")
    found: dict[str, str] = {}
    finer: dict[str, tuple[int, str]] = {}  # symbol -> (minutes, file) of its finer files
    twins: dict[str, list[str]] = {}  # symbol -> its files of the timeframe
    want = timeframe_minutes(asset.timeframe)
    other_timeframe = re.compile(r"[_\-](\d+[mhdw])$", re.IGNORECASE)
    for file in sorted(folder.iterdir()):
        if not file.is_file() or not file.name.lower().endswith(_SUFFIXES):
            continue
        stem = file.name.split(".")[0]
        tail = other_timeframe.search(stem)
        if tail and tail.group(1).lower() != asset.timeframe.lower():
            try:  # a finer file that divides the timeframe is resampled, as a template's is
                minutes = timeframe_minutes(tail.group(1))
            except ConfigError:
                continue
            symbol = _symbol_of(file.name, tail.group(1))
            if minutes < want and want % minutes == 0 and minutes > finer.get(symbol, (0, ""))[0]:
                finer[symbol] = (minutes, str(file))
            continue
        symbol = _symbol_of(file.name, asset.timeframe)
        twins.setdefault(symbol, []).append(file.name)
        found.setdefault(symbol, str(file))
    for symbol, (_, finer_path) in finer.items():  # the coarsest finer file, if none of its own
        found.setdefault(symbol, finer_path)
    if asset.symbols:
        missing = [s for s in asset.symbols if s not in found]
        if missing:
            raise ConfigError(f"asset.path: no file for {', '.join(missing)} in {path}")
        found = {s: found[s] for s in asset.symbols}
    for symbol in found:  # two files of one symbol: which one is meant is anyone's guess
        if len(twins.get(symbol, [])) > 1:
            raise ConfigError(
                f"asset.path: {path} has {len(twins[symbol])} {asset.timeframe} files for "
                f"{symbol} ({', '.join(twins[symbol])}): keep one"
            )
    if len(found) < 2:
        raise ConfigError(
            f"asset.path: a universe needs at least two symbols, {path} has {len(found)}"
        )
    return found


def _key(payload: object) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _before_final(candles: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The candles a phase may see: before ``split.final_start`` unless ``phase=final``."""
    start = getattr(settings.split, "final_start", None)
    if start is None or settings.phase.name == "final":
        return candles
    stamp = pd.Timestamp(start)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return candles[candles.index < stamp]


def _check_blocks_have_rows(
    panel: Panel,
    candles: dict[str, pd.DataFrame],
    folds: Sequence[Fold],
    holdout: Fold,
    settings: Settings,
) -> None:
    """Every fold's train and test block and the holdout hold panel rows (a train block with no
    labelled row crashed LightGBM; an empty test block or holdout was scored or traded as if
    it were there): refused in one line naming the block, its period and the symbols listed."""
    in_panel = np.zeros(len(panel.index), dtype=bool)  # bars with a row
    in_panel[panel.bar] = True
    labelled = np.zeros(len(panel.index), dtype=bool)  # bars with a row the model can learn from
    labelled[panel.bar[np.isfinite(panel.label)]] = True
    blocks = [(f"fold {f.number}'s train block", f.train_idx, labelled) for f in folds]
    blocks += [(f"fold {f.number}'s test block", f.test_idx, in_panel) for f in folds]
    blocks.append(("the holdout", holdout.test_idx, in_panel))
    for name, positions, needed in blocks:
        bars = np.asarray(positions, dtype=np.int64)
        if not len(bars) or needed[bars].any():
            continue
        start, end = panel.index[bars[0]], panel.index[bars[-1]]
        listed = [
            s for s, c in candles.items() if len(c) and c.index[0] <= end and c.index[-1] >= start
        ]
        universe = settings.universe
        raise ConfigError(
            f"universe: {name} ({start:%Y-%m-%d}..{end:%Y-%m-%d}) has no panel rows: fewer than "
            f"universe.min_symbols={universe.min_symbols} symbols trade there past their warm-up "
            f"(listed then: {', '.join(listed) or 'none'}); move split.tune_start or the holdout, "
            "lower universe.min_symbols or add symbols"
        )


def _check_members(
    candles: dict[str, pd.DataFrame],
    files: dict[str, str],
    fingerprints: dict[str, str],
    timeframe: str,
) -> None:
    """Every member's candles on the universe's calendar, and no two members the same candles
    (a file copied under another name: a book long one and short the other pays fees for
    nothing): refused in one line naming the file(s)."""
    off = off_calendar(candles, timeframe)
    if off is not None:
        symbol, stamp, origin = off
        raise DataError(
            f"{files[symbol]}: candle at {stamp:%Y-%m-%d %H:%M} is off the universe's "
            f"{timeframe} calendar (bars every {timeframe} from {origin:%Y-%m-%d %H:%M} UTC, "
            "the earliest candle of any symbol)"
        )
    seen: dict[str, str] = {}
    for symbol, frame in candles.items():
        if not len(frame):
            continue
        digest = fingerprints[symbol]
        if digest in seen:
            first = seen[digest]
            raise DataError(
                f"{files[symbol]}: the same candles as {files[first]} ({len(frame):,} rows): "
                f"{symbol} and {first} are one market under two names; keep one"
            )
        seen[digest] = symbol


_MEMORY: dict[str, UniverseDataset] = memo("universe_datasets", {})


def prepare_universe(settings: Settings) -> UniverseDataset:
    """Load, panel and fold the universe of ``settings`` (memoised per process)."""
    asset, universe = settings.asset, settings.universe
    files = universe_files(asset)
    if len(files) < universe.min_symbols:
        raise ConfigError(
            f"universe.min_symbols: {universe.min_symbols} symbols must trade at a bar for it to "
            f"be in the panel, the universe has {len(files)} ({', '.join(files)}): lower "
            "universe.min_symbols or add symbols"
        )
    memo_key = _key(
        {
            "files": files,
            "timeframe": asset.timeframe,
            "windows": settings.features.windows,
            "universe": [universe.features, universe.label, universe.warmup, universe.min_symbols],
            "horizon": settings.label.horizon,
            "split": settings.split,
            "final_unlocked": settings.phase.name == "final",
        }
    )
    if memo_key in _MEMORY:
        return _MEMORY[memo_key]
    candles: dict[str, pd.DataFrame] = {}
    reports: dict[str, CandleReport] = {}
    for symbol, file in files.items():
        frame, report = load_candles(file, timeframe=asset.timeframe)
        candles[symbol] = _before_final(frame, settings)
        reports[symbol] = report
    fingerprints = {s: data_fingerprint(c) for s, c in candles.items()}
    _check_members(candles, files, fingerprints, asset.timeframe)
    panel = build_panel(
        candles,
        timeframe=asset.timeframe,
        windows=settings.features.windows,
        horizon=settings.label.horizon,
        cs_features=universe.features,
        label=universe.label,
        warmup=universe.warmup,
        min_symbols=universe.min_symbols,
    )
    split = settings.split
    try:
        folds = make_folds(panel.index, settings)
        holdout = holdout_split(
            panel.index,
            tune_start=split.tune_start,
            tune_end=split.tune_end,
            holdout_start=split.holdout_start,
            holdout_end=split.holdout_end,
            purge=split.purge,
            valid_fraction=split.valid_fraction,
        )
    except ConfigError as exc:
        raise ConfigError(
            f"universe: its calendar runs from {panel.index[0]:%Y-%m-%d} to "
            f"{panel.index[-1]:%Y-%m-%d}, too little for the split: {exc}"
        ) from None
    _check_blocks_have_rows(panel, candles, folds, holdout, settings)
    data = _key(fingerprints)
    features = _key(
        {
            "data": data,
            "windows": list(settings.features.windows),
            "cs": universe.features,
            "warmup": universe.warmup,
            "min_symbols": universe.min_symbols,
            "version": 1,
        }
    )
    digest = hashlib.sha256(np.ascontiguousarray(panel.label).tobytes())
    digest.update(np.ascontiguousarray(panel.bar).tobytes())
    digest.update(np.ascontiguousarray(panel.sym).tobytes())
    dataset = UniverseDataset(
        panel=panel,
        reports=reports,
        files=files,
        candles=candles,
        fingerprints=fingerprints,
        folds=tuple(folds),
        holdout=holdout,
        data_fingerprint=data,
        feature_key=features,
        label_key=digest.hexdigest()[:16],
    )
    _MEMORY[memo_key] = dataset
    return dataset


__all__ = ["UniverseDataset", "prepare_universe", "universe_files"]
