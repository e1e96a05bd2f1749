"""The trial ledger: every Phase 2 trial recomputed on the out-of-fold predictions, its flat and
infeasible trials dropped, the rest clustered by correlation, with Hansen's SPA and White's
Reality Check on them (the inputs of the DSR, the haircut and MinBTL; recorded in
``workflow.best.json`` so that a replay needs no study).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from crypto_tune.exceptions import ConfigError


def aggregate_bars(returns: np.ndarray, size: int) -> np.ndarray:
    """Compound consecutive groups of ``size`` rows of ``returns`` ``(T, K)``: ``(ceil(T/size),
    K)`` returns (the last group may be shorter), e.g. 4h bars to days with ``size=6``."""
    matrix = np.asarray(returns, dtype=np.float64)
    if size <= 1:
        return matrix
    starts = np.arange(0, matrix.shape[0], size)
    return np.expm1(np.add.reduceat(np.log1p(np.maximum(matrix, -1 + 1e-12)), starts, axis=0))


@dataclass(frozen=True)
class Ledger:
    """Summary of the Phase 2 trials recomputed on the out-of-fold predictions (the inputs of
    the DSR, SPA, haircut and MinBTL; recorded so that a replay needs no study)."""

    n_trials: int
    """Complete trials in the study."""
    n_recomputed: int
    n_flat: int
    """Trials that never trade (constant returns): no Sharpe, dropped."""
    n_infeasible: int
    """Ruined or too deep a drawdown: never selectable, dropped."""
    n_effective: int
    """Distinct strategies among the kept trials (correlation clusters)."""
    cluster_sharpe_variance: float
    """Variance of the clusters' per-period Sharpes (0 with one cluster)."""
    trial_sharpe_variance: float
    """Variance of every recomputed trial's per-period Sharpe (the former DSR input)."""
    sharpes: tuple[float, ...]
    """Per-period Sharpe of each kept trial."""
    spa: dict[str, float]
    """SPA / Reality Check p-values on the kept trials, and the bars per row they used."""
    ids: tuple[str, ...] = ()
    """Which trial each kept Sharpe is (``strategy#12``, ``model#3``): the chosen trial is
    found by its id, never by its value."""
    clusters: tuple[int, ...] = ()
    """Correlation cluster of each kept trial (near-copies share one)."""

    @property
    def n_kept(self) -> int:
        return len(self.sharpes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_trials": self.n_trials,
            "n_recomputed": self.n_recomputed,
            "n_flat": self.n_flat,
            "n_infeasible": self.n_infeasible,
            "n_kept": self.n_kept,
            "n_effective": self.n_effective,
            "cluster_sharpe_variance": self.cluster_sharpe_variance,
            "trial_sharpe_variance": self.trial_sharpe_variance,
            "sharpes": [round(s, 8) for s in self.sharpes],
            "ids": list(self.ids),
            "clusters": list(self.clusters),
            "spa": self.spa,
        }


def summarise_ledger(
    returns: np.ndarray,
    feasible: Sequence[bool],
    *,
    n_trials: int,
    bars_per_day: int,
    min_correlation: float = 0.5,
    max_spa_rows: int = 1000,
    reps: int = 1000,
    seed: int = 0,
    ids: Sequence[str] | None = None,
) -> Ledger:
    """The ledger of ``returns`` ``(T, K)`` (one column per recomputed trial, named by ``ids``;
    default ``"0" .. "K-1"``).

    Trials that never trade (a constant column) and infeasible ones (``feasible`` False) are
    dropped: the first have no Sharpe and the second can never be chosen, so neither belongs
    in the dispersion of what the search could pick. The kept trials are clustered by the
    correlation of their returns (:func:`crypto_tune.metrics.trial_clusters`, average linkage,
    cut at ``min_correlation``): near-duplicate parameter sets count once, and the DSR uses the
    number of clusters and the variance of the clusters' Sharpes. Hansen's SPA and White's
    Reality Check run on the kept trials, compounded to days (``bars_per_day``) or longer
    blocks when there are more than ``max_spa_rows`` bars (their cost is O(T^2 K)).
    """
    from crypto_tune import metrics

    matrix = np.asarray(returns, dtype=np.float64)
    ok = np.asarray(feasible, dtype=bool)
    if matrix.ndim != 2 or matrix.shape[1] != ok.size:
        raise ConfigError(f"ledger: returns {matrix.shape} and {ok.size} feasibility flags")
    names = [str(i) for i in range(ok.size)] if ids is None else [str(i) for i in ids]
    if len(names) != ok.size:
        raise ConfigError(f"ledger: {len(names)} ids for {ok.size} trials")
    flat = np.zeros(ok.size, dtype=bool)
    if matrix.size:
        flat = np.asarray(np.ptp(matrix, axis=0) == 0)
    finite = np.asarray(np.isfinite(matrix).all(axis=0))
    all_sharpes = [
        metrics.sharpe_ratio(matrix[:, k], periods_per_year=1.0)
        for k in range(matrix.shape[1])
        if finite[k] and not flat[k]
    ]
    all_sharpes = [s for s in all_sharpes if math.isfinite(s)]
    raw_variance = float(np.var(all_sharpes, ddof=1)) if len(all_sharpes) > 1 else 0.0
    keep = ok & ~flat & finite
    kept = matrix[:, keep]
    kept_ids = tuple(name for name, k in zip(names, keep, strict=True) if k)
    nan_spa = {"lower": math.nan, "consistent": math.nan, "upper": math.nan, "bars_per_row": 1}
    if kept.shape[1] == 0 or kept.shape[0] < 3:
        return Ledger(
            n_trials,
            matrix.shape[1],
            int(flat.sum()),
            int((~ok & ~flat).sum()),
            1,
            0.0,
            raw_variance,
            (),
            nan_spa,
        )
    clusters = metrics.trial_clusters(kept, min_correlation=min_correlation)
    variance = clusters.sharpe_variance
    sharpes = kept.mean(axis=0) / kept.std(axis=0, ddof=1)
    size = 1
    if kept.shape[0] > max_spa_rows:
        size = max(bars_per_day, math.ceil(kept.shape[0] / max_spa_rows))
    rows = aggregate_bars(kept, size)
    spa = dict(nan_spa)
    if rows.shape[0] >= 3:
        found = metrics.superior_predictive_ability(rows, reps=reps, seed=seed)
        spa = {
            "lower": found.lower,
            "consistent": found.consistent,
            "upper": found.upper,
            "bars_per_row": size,
        }
    return Ledger(
        n_trials=n_trials,
        n_recomputed=matrix.shape[1],
        n_flat=int(flat.sum()),
        n_infeasible=int((~ok & ~flat).sum()),
        n_effective=clusters.n_effective,
        cluster_sharpe_variance=float(variance) if math.isfinite(variance) else 0.0,
        trial_sharpe_variance=raw_variance,
        sharpes=tuple(float(s) for s in sharpes),
        spa=spa,
        ids=kept_ids,
        clusters=tuple(int(c) for c in clusters.labels),
    )


__all__ = ["Ledger", "aggregate_bars", "summarise_ledger"]
