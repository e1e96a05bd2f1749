"""The contexts strategy evaluations share: a single asset's fixed model and its cached
out-of-fold predictions as fold arrays, or a basket's members on their union grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crypto_tune.config import ModelSettings
from crypto_tune.dataset import Dataset
from crypto_tune.evaluation._folds import FoldArrays
from crypto_tune.model import OutOfFold


@dataclass(frozen=True)
class StrategyContext:
    """What every strategy trial of a sweep shares (built once per process)."""

    dataset: Dataset
    model: ModelSettings
    model_source: str
    oof: OutOfFold
    folds: tuple[FoldArrays, ...]
    periods_per_year: float
    bar_hours: float

    @property
    def predictions_key(self) -> str:
        return self.oof.key

    def describe(self) -> str:
        oof = self.oof
        how = "from cache" if oof.from_cache else f"trained in {oof.train_seconds:.1f}s"
        return (
            f"model from {self.model_source}; predictions {how} "
            f"({len(self.dataset.folds)} folds, {len(oof.frame)} bars)"
        )


@dataclass(frozen=True)
class PortfolioContext:
    """A basket: one context per member and, per fold, the union grid of their bars."""

    members: tuple[StrategyContext, ...]
    symbols: tuple[str, ...]
    grids: tuple[tuple[int, tuple[np.ndarray, ...]], ...]
    periods_per_year: float
    bar_hours: float
    model_source: str

    @property
    def predictions_key(self) -> str:
        return ",".join(m.oof.key for m in self.members)

    def describe(self) -> str:
        parts = ", ".join(
            f"{s} {'cached' if m.oof.from_cache else 'trained'}"
            for s, m in zip(self.symbols, self.members, strict=True)
        )
        return (
            f"model from {self.model_source}; portfolio of {len(self.members)} equal sleeves "
            f"({parts}), {len(self.grids)} folds"
        )


__all__ = ["PortfolioContext", "StrategyContext"]
