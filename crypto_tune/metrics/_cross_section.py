"""Cross-sectional information coefficient of a panel: per bar across symbols, then averaged.

Qlib's definition: at every bar ``t`` correlate the predictions of the symbols present at ``t``
with their realised targets (Pearson for the IC, Spearman for the rank IC); the IC of the panel
is the mean of these per-bar values, its ICIR their mean over their standard deviation (not
annualised) and its t-statistic ``ICIR * sqrt(n_bars)``. The pooled IC (one correlation over
every row, what a single-series study reports) is kept beside it: it mixes the time-series and
the cross-sectional parts of the signal.

Shapes: ``predictions``, ``targets`` and ``bars`` are 1-D arrays of one length ``n_rows`` (one
row per symbol and bar of a long panel); ``bars`` holds each row's integer bar id. Rows with a
non-finite prediction or target are ignored. Conventions for degenerate input: a bar with fewer
than ``min_names`` usable rows, or whose predictions or targets are all equal, has no IC (it is
left out of the mean, not counted as 0); with no bar left every statistic is NaN.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from crypto_tune.exceptions import DataError

_NAN = float("nan")


def _rows(
    predictions: ArrayLike, targets: ArrayLike, bars: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(predictions, dtype=float).reshape(-1)
    y = np.asarray(targets, dtype=float).reshape(-1)
    b = np.asarray(bars).reshape(-1)
    if not (x.size == y.size == b.size):
        raise DataError(
            f"predictions, targets and bars must have one length, got {x.size}, {y.size}, {b.size}"
        )
    keep = np.isfinite(x) & np.isfinite(y)
    x, y, b = x[keep], y[keep], b[keep]
    order = np.argsort(b, kind="stable")
    return x[order], y[order], b[order]


def _ranks(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank, as ``scipy.stats.rankdata``) within each
    group ``[start, end)`` of consecutive positions covering ``values``: one sort for every
    group (a 1h universe's Phase 1 trial ranked 70,000 bars one ``rankdata`` call each)."""
    n = values.size
    if n == 0:
        return np.empty_like(values, dtype=float)
    group = np.repeat(np.arange(starts.size), ends - starts)
    order = np.lexsort((values, group))  # by group, then value (stable)
    ranked, group = values[order], group[order]
    position = np.arange(n) - starts[group]  # 0-based place within the group
    first = np.empty(n, dtype=bool)  # a run of equal values starts here
    first[0] = True
    first[1:] = (ranked[1:] != ranked[:-1]) | (group[1:] != group[:-1])
    run = np.cumsum(first) - 1
    run_start = np.flatnonzero(first)
    run_last = np.append(run_start[1:], n) - 1
    # rankdata's average rank of a tie run: 0.5 * (#smaller + #smaller-or-equal + 1)
    average = 0.5 * (position[run_start] + (position[run_last] + 1) + 1)
    out = np.empty(n, dtype=float)
    out[order] = average[run]
    return out


def _grouped_pearson(
    x: np.ndarray, y: np.ndarray, b: np.ndarray, min_names: int
) -> tuple[np.ndarray, np.ndarray]:
    """(bar ids, Pearson correlation per bar) for ``x``/``y`` sorted by bar ``b``."""
    if b.size == 0:
        return np.zeros(0, dtype=b.dtype), np.zeros(0)
    ids, counts = np.unique(b, return_counts=True)
    group = np.repeat(np.arange(ids.size), counts)
    mean_x = np.bincount(group, x) / counts
    mean_y = np.bincount(group, y) / counts
    dx, dy = x - mean_x[group], y - mean_y[group]
    sxy = np.bincount(group, dx * dy)
    sxx = np.bincount(group, dx * dx)
    syy = np.bincount(group, dy * dy)
    scale = np.sqrt(sxx * syy)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.clip(sxy / scale, -1.0, 1.0)
    # constant within the bar (a spread of float residue only) or too few names: no IC
    tiny_x = sxx <= 1e-24 * np.maximum(1.0, np.bincount(group, x * x))
    tiny_y = syy <= 1e-24 * np.maximum(1.0, np.bincount(group, y * y))
    corr[(counts < min_names) | tiny_x | tiny_y | ~(scale > 0)] = np.nan
    return ids, corr


def ic_by_bar(
    predictions: ArrayLike,
    targets: ArrayLike,
    bars: ArrayLike,
    *,
    rank: bool = False,
    min_names: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """``(bar_ids, ic)``: the correlation across symbols at every bar (sorted bar ids).

    ``rank=True`` gives Spearman's (Pearson on average ranks within the bar). NaN where the bar
    has no IC (see the module's conventions).

    >>> ids, ic = ic_by_bar([1, 2, 3, 3, 2, 1], [1, 2, 3, 1, 2, 3], [0, 0, 0, 1, 1, 1])
    >>> ids.tolist(), ic.round(6).tolist()
    ([0, 1], [1.0, -1.0])
    """
    if min_names < 2:
        raise DataError(f"min_names must be an int >= 2, got {min_names!r}")
    x, y, b = _rows(predictions, targets, bars)
    if rank and b.size:
        _, starts, counts = np.unique(b, return_index=True, return_counts=True)
        ends = starts + counts
        x, y = _ranks(x, starts, ends), _ranks(y, starts, ends)
    return _grouped_pearson(x, y, b, min_names)


def _mean_std(values: np.ndarray) -> tuple[float, float, int]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return _NAN, _NAN, 0
    std = float(np.std(finite, ddof=1)) if finite.size > 1 else _NAN
    return float(np.mean(finite)), std, int(finite.size)


def cross_sectional_summary(
    predictions: ArrayLike, targets: ArrayLike, bars: ArrayLike, *, min_names: int = 3
) -> dict[str, float]:
    """Mean per-bar IC and rank IC, their ICIR and t-statistics, and the pooled IC.

    Keys: ``ic``, ``rank_ic`` (means over bars), ``icir``, ``rank_icir`` (mean / std of the
    per-bar values), ``ic_t``, ``rank_ic_t`` (``icir * sqrt(n_bars)``), ``n_bars`` (bars with an
    IC), ``pooled_ic``, ``pooled_rank_ic`` (one correlation over every row).
    """
    _, ic = ic_by_bar(predictions, targets, bars, min_names=min_names)
    _, ric = ic_by_bar(predictions, targets, bars, rank=True, min_names=min_names)
    out: dict[str, float] = {}
    for name, values in (("ic", ic), ("rank_ic", ric)):
        mean, std, n = _mean_std(values)
        ir = mean / std if n > 1 and std > 0 else _NAN
        out[name] = mean
        out[f"{name.replace('ic', 'icir')}"] = ir
        out[f"{name}_t"] = ir * math.sqrt(n) if math.isfinite(ir) else _NAN
        out["n_bars"] = float(n)
    x, y, _ = _rows(predictions, targets, bars)
    pooled = ic_by_bar(x, y, np.zeros(x.size, dtype=int), min_names=min_names)[1]
    pooled_rank = ic_by_bar(x, y, np.zeros(x.size, dtype=int), rank=True, min_names=min_names)[1]
    out["pooled_ic"] = float(pooled[0]) if pooled.size else _NAN
    out["pooled_rank_ic"] = float(pooled_rank[0]) if pooled_rank.size else _NAN
    return out


__all__ = ["cross_sectional_summary", "ic_by_bar"]
