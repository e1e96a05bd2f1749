"""Information coefficient (IC) of predictions against realised targets, per fold and pooled.

``predictions`` and ``targets`` are 1-D array-likes of one shape ``(n_samples,)``, matched by
position. Two pandas Series must share the same index (a DataError otherwise, so a misaligned
pair is never correlated silently). NaN marks a missing value: only pairs where both sides are
finite are used (a forward-return target is NaN on the last bars); infinite values raise a
DataError. Degenerate input returns ``float("nan")``; each docstring states the rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from crypto_tune.exceptions import DataError
from crypto_tune.metrics._performance import _as_vector

_NAN = float("nan")
MIN_PAIRS = 3
"""Fewest finite pairs for a correlation: with 2 points every correlation is exactly +-1."""


def _finite_pairs(predictions: ArrayLike, targets: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as float arrays restricted to the positions where both are finite."""
    if (
        isinstance(predictions, pd.Series)
        and isinstance(targets, pd.Series)
        and not predictions.index.equals(targets.index)
    ):
        raise DataError("predictions and targets are pandas Series with different indexes")
    x = _as_vector(predictions, "predictions", allow_nan=True)
    y = _as_vector(targets, "targets", allow_nan=True)
    if x.shape != y.shape:
        raise DataError(f"predictions and targets must have one length, got {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation, NaN under MIN_PAIRS pairs or when either side is constant."""
    if x.size < MIN_PAIRS or np.ptp(x) == 0 or np.ptp(y) == 0:
        return _NAN
    dx = x - x.mean()
    dy = y - y.mean()
    scale = math.sqrt(float(np.dot(dx, dx)) * float(np.dot(dy, dy)))
    if not scale > 0:  # deviations so small that their squares underflow
        return _NAN
    return min(1.0, max(-1.0, float(np.dot(dx, dy)) / scale))


def information_coefficient(predictions: ArrayLike, targets: ArrayLike) -> float:
    """Pearson correlation of ``predictions`` and ``targets`` over pairs where both are finite.

    Shapes ``(n_samples,)`` each. NaN when fewer than 3 finite pairs remain or when either side
    is constant over them (zero variance).

    >>> information_coefficient([1, 2, 3, 4], [1, 3, 2, 4])
    0.8
    """
    x, y = _finite_pairs(predictions, targets)
    return _pearson(x, y)


def rank_information_coefficient(predictions: ArrayLike, targets: ArrayLike) -> float:
    """Spearman correlation: Pearson of the ranks, ties given their AVERAGE rank.

    Shapes ``(n_samples,)`` each; pairs with a non-finite side are dropped before ranking. NaN
    when fewer than 3 finite pairs remain or when either side is constant over them.
    """
    from scipy.stats import rankdata  # here: importing scipy.stats takes ~0.35 s

    x, y = _finite_pairs(predictions, targets)
    if x.size < MIN_PAIRS:
        return _NAN
    return _pearson(rankdata(x, method="average"), rankdata(y, method="average"))


def information_ratio(values: ArrayLike) -> float:
    """ICIR: ``mean / std(ddof=1)`` of per-fold ICs, shape ``(n_folds,)``.

    NaN propagates: one NaN fold IC makes the ratio NaN (the caller decides what a degenerate
    fold means). NaN also when fewer than 2 values or all values equal (zero std).

    >>> round(information_ratio([0.1, 0.2, 0.3]), 12)
    2.0
    """
    v = _as_vector(values, "values", allow_nan=True)
    if v.size < 2 or np.isnan(v).any() or np.ptp(v) == 0:
        return _NAN
    std = float(np.std(v, ddof=1))
    return float(v.mean() / std) if std > 0 else _NAN


def hit_rate(predictions: ArrayLike, targets: ArrayLike) -> float:
    """Share of pairs where ``sign(prediction) == sign(target)``.

    Shapes ``(n_samples,)`` each. Pairs with a non-finite side or with a zero on either side
    (no direction) are excluded. NaN when no pair remains.
    """
    x, y = _finite_pairs(predictions, targets)
    keep = (x != 0) & (y != 0)
    if not keep.any():
        return _NAN
    return float(np.mean(np.sign(x[keep]) == np.sign(y[keep])))


def _mean(values: list[float]) -> float:
    """Mean that propagates NaN (one NaN fold -> NaN)."""
    return float(np.mean(values)) if values else _NAN


def ic_summary(fold_predictions: Sequence[tuple[ArrayLike, ArrayLike]]) -> dict[str, Any]:
    """Per-fold and aggregate IC statistics of walk-forward out-of-sample predictions.

    ``fold_predictions``: one ``(predictions, targets)`` pair per fold, each of shape
    ``(n_samples_fold,)``. Returns a dict with keys

    - ``fold_ic``, ``fold_rank_ic``, ``fold_hit_rate``: ``list[float]``, one value per fold;
    - ``fold_n_obs``: ``list[int]``, finite pairs per fold;
    - ``mean_ic``, ``mean_rank_ic``, ``mean_hit_rate``: ``float``, plain means over folds;
    - ``icir``, ``rank_icir``: ``float``, :func:`information_ratio` of the fold (rank) ICs;
    - ``n_folds``: ``int``; ``n_valid_folds``: ``int``, folds whose IC is not NaN.

    A NaN fold value propagates into its mean and ratio: callers decide what it means.
    """
    if isinstance(fold_predictions, (str, bytes)) or not isinstance(fold_predictions, Sequence):
        raise DataError(
            "fold_predictions must be a sequence of (predictions, targets) pairs, "
            f"got {type(fold_predictions).__name__}"
        )
    if len(fold_predictions) == 0:
        raise DataError("fold_predictions must hold at least one (predictions, targets) pair")
    ics: list[float] = []
    rank_ics: list[float] = []
    hits: list[float] = []
    n_obs: list[int] = []
    for fold, pair in enumerate(fold_predictions):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise DataError(
                f"fold_predictions[{fold}] must be a (predictions, targets) pair, "
                f"got {type(pair).__name__}"
            )
        predictions, targets = pair
        x, y = _finite_pairs(predictions, targets)
        ics.append(_pearson(x, y))
        rank_ics.append(rank_information_coefficient(x, y))
        hits.append(hit_rate(x, y))
        n_obs.append(int(x.size))
    return {
        "fold_ic": ics,
        "fold_rank_ic": rank_ics,
        "fold_hit_rate": hits,
        "fold_n_obs": n_obs,
        "mean_ic": _mean(ics),
        "mean_rank_ic": _mean(rank_ics),
        "mean_hit_rate": _mean(hits),
        "icir": information_ratio(ics),
        "rank_icir": information_ratio(rank_ics),
        "n_folds": len(ics),
        "n_valid_folds": sum(not math.isnan(ic) for ic in ics),
    }


__all__ = [
    "hit_rate",
    "ic_summary",
    "information_coefficient",
    "information_ratio",
    "rank_information_coefficient",
]
