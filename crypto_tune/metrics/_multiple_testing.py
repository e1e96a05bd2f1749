"""Multiple-testing statistics for a search over many trials.

- :func:`superior_predictive_ability`: White's Reality Check and Hansen's SPA test (``arch``);
  :func:`superior_trials`: Romano & Wolf's StepM set of trials that beat cash;
- Harvey & Liu's haircuts: :mod:`crypto_tune.metrics._haircut`;
- :func:`minimum_backtest_length`: Bailey, Borwein, López de Prado & Zhu's MinBTL;
- :func:`trial_clusters`: the effective number of distinct trials and the variance of their
  Sharpe ratios, the ``n_trials`` and ``trial_sharpe_variance`` the DSR needs.

Conventions: ``returns`` is a finite ``(T, K)`` matrix, one row per bar and one column per
trial (ndarray or DataFrame), against a benchmark of 0 (cash). Sharpe ratios given to
:func:`haircut_sharpe_ratio` and :func:`minimum_backtest_length` are ANNUALISED, as in their
papers; the Sharpe ratios :func:`trial_clusters` returns are PER PERIOD, as in
:mod:`crypto_tune.metrics._overfitting`.

References: White (2000), "A Reality Check for Data Snooping"; Hansen (2005), "A Test for
Superior Predictive Ability"; Romano & Wolf (2005), "Stepwise Multiple Testing as Formalized
Data Snooping"; Harvey & Liu (2015), "Backtesting"; Harvey, Liu & Zhu (2016), "... and the
Cross-Section of Expected Returns"; Lo (2002), "The Statistics of Sharpe Ratios"; Bailey,
Borwein, López de Prado & Zhu (2014), "Pseudo-Mathematics and Financial Charlatanism";
López de Prado (2019), "A Data Science Solution to the Multiple-Testing Crisis in Financial
Research".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from crypto_tune._checks import check_int, check_real
from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.metrics._overfitting import (
    _as_matrix,
    expected_maximum_sharpe,
)

Bootstrap = Literal["stationary", "circular", "moving block"]
BOOTSTRAPS: tuple[str, ...] = ("stationary", "circular", "moving block")

# --- White's Reality Check and Hansen's SPA ------------------------------------------------------


@dataclass(frozen=True)
class SPAResult:
    """Bootstrap p-values of "no trial beats cash" (``arch``'s three re-centerings).

    ``upper`` re-centres every trial at its own mean, so all K count (the least favourable
    null): White's Reality Check. ``consistent`` leaves trials far below cash (beyond a
    ``sqrt(2 log log T)`` bound) un-centred: Hansen's SPA p-value. ``lower`` leaves every
    trial below cash un-centred: a lower bound. ``lower <= consistent <= upper``.
    """

    lower: float
    consistent: float
    upper: float
    block_size: int
    reps: int

    @property
    def reality_check(self) -> float:
        """White's Reality Check p-value (the ``upper`` p-value)."""
        return self.upper

    @property
    def spa(self) -> float:
        """Hansen's SPA p-value (the ``consistent`` p-value)."""
        return self.consistent


def default_block_size(n_periods: int) -> int:
    """Mean block length ``max(1, round(T ** (1/3)))``, the rate that minimises the error of block
    bootstrap variance estimates (Hall, Horowitz & Jing 1995); ``arch`` itself uses ``sqrt(T)``.

    >>> default_block_size(1000)
    10
    """
    n = check_int("n_periods", n_periods, low=1)
    return max(1, round(n ** (1.0 / 3.0)))


def _studentized_losses(
    returns: ArrayLike | pd.DataFrame, block_size: int | None, reps: int, seed: int, bootstrap: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """Validated ``(benchmark_losses, trial_losses, block_size)`` for ``arch``.

    A trial's loss is its return divided by its standard deviation, negated: the mean loss
    differential against cash is then the trial's per-period Sharpe ratio, so the test
    statistic is the best Sharpe ratio (Hansen's studentization, with the full-sample scale).
    A constant trial keeps its raw returns (a flat one is 0 every bar).
    """
    matrix = _as_matrix(returns)
    n_periods, _ = matrix.shape
    if n_periods < 2:
        raise DataError(f"returns must have at least 2 rows (periods), got {n_periods}")
    check_int("reps", reps, low=1)
    check_int("seed", seed, low=0)
    if bootstrap not in BOOTSTRAPS:
        raise ConfigError(f"bootstrap must be one of {list(BOOTSTRAPS)}, got {bootstrap!r}")
    if block_size is None:
        block = default_block_size(n_periods)
    else:
        block = check_int("block_size", block_size, low=1)
        if block > n_periods:
            raise ConfigError(
                f"block_size must be <= the number of rows of returns ({n_periods}), got {block}"
            )
    scale = matrix.std(axis=0, ddof=1)
    scale[~(scale > 0)] = 1.0
    return np.zeros(n_periods), -matrix / scale, block


def superior_predictive_ability(
    returns: ArrayLike | pd.DataFrame,
    *,
    reps: int = 1000,
    block_size: int | None = None,
    bootstrap: Bootstrap = "stationary",
    seed: int = 0,
) -> SPAResult:
    """White's Reality Check and Hansen's SPA test: does ANY trial beat cash (return 0)?

    ``returns``: ``(T, K)`` per-bar returns of the K trials. Null hypothesis: no trial has a
    positive expected Sharpe ratio; a small p-value says the best trial's edge survives the
    search over all K. ``arch.bootstrap.SPA`` draws ``reps`` resamples by the ``bootstrap``
    (stationary by default, Politis & Romano 1994) with mean block length ``block_size``
    (default :func:`default_block_size`, ``T ** (1/3)``); ``seed`` makes it reproducible.
    Each trial is scaled by its standard deviation first, so the statistic is the largest
    per-period Sharpe ratio. arch's variance estimate costs O(T² K): aggregate long bar
    histories (e.g. to daily returns) before testing thousands of bars.
    """
    from arch.bootstrap import SPA  # imported here: arch costs seconds, metrics must not

    benchmark, losses, block = _studentized_losses(returns, block_size, reps, seed, bootstrap)
    test = SPA(benchmark, losses, block_size=block, reps=reps, bootstrap=bootstrap, seed=seed)
    test.compute()
    pvalues = test.pvalues
    return SPAResult(
        lower=float(pvalues["lower"]),
        consistent=float(pvalues["consistent"]),
        upper=float(pvalues["upper"]),
        block_size=block,
        reps=reps,
    )


def superior_trials(
    returns: ArrayLike | pd.DataFrame,
    *,
    size: float = 0.05,
    reps: int = 1000,
    block_size: int | None = None,
    bootstrap: Bootstrap = "stationary",
    seed: int = 0,
) -> list[int]:
    """Column indices of the trials that beat cash by Romano & Wolf's StepM (``arch``).

    Controls the family-wise error rate at ``size``; same data, scaling and bootstrap as
    :func:`superior_predictive_ability`. An empty list: no trial is shown to beat cash.
    """
    level = check_real("size", size, text="a finite number")
    if not 0 < level < 1:
        raise ConfigError(f"size must be in (0, 1), got {size!r}")
    from arch.bootstrap import StepM  # imported here: arch costs seconds, metrics must not

    benchmark, losses, block = _studentized_losses(returns, block_size, reps, seed, bootstrap)
    test = StepM(
        benchmark, losses, size=level, block_size=block, reps=reps, bootstrap=bootstrap, seed=seed
    )
    test.compute()
    indices = cast("list[int]", test.superior_models)  # ndarray in: column indices out
    return sorted(int(i) for i in indices)


# --- Minimum backtest length -------------------------------------------------------------------


def minimum_backtest_length(n_trials: int, *, target_sharpe: float = 1.0) -> float:
    """Years of data below which ``n_trials`` skill-less trials are expected to show an
    annualised in-sample Sharpe ratio of ``target_sharpe`` (Bailey, Borwein, López de Prado,
    Zhu 2014, MinBTL).

    ``MinBTL = (E[max_N] / SR)^2`` with ``E[max_N] = (1 - γ) Φ^-1(1 - 1/N) + γ Φ^-1(1 - 1/(N e))``
    the expected maximum of N independent standard normals (the DSR's
    :func:`expected_maximum_sharpe` with unit variance); it is below ``2 ln N / SR^2``. Trials
    are assumed independent: pass the effective number (:func:`trial_clusters`). One trial
    has no selection: 0.0. The paper: 45 trials and a Sharpe of 1 need about 5 years.

    >>> round(minimum_backtest_length(45), 2)
    5.0
    """
    n = check_int("n_trials", n_trials, low=1)
    target = check_real("target_sharpe", target_sharpe, text="a finite number")
    if not target > 0:
        raise ConfigError(f"target_sharpe must be > 0, got {target_sharpe!r}")
    return (expected_maximum_sharpe(n, 1.0) / target) ** 2


# --- Effective number of trials ----------------------------------------------------------------


@dataclass(frozen=True)
class TrialClusters:
    """Trials grouped into distinct strategies by the correlation of their returns."""

    labels: np.ndarray
    """Cluster of each trial (column), ``0 .. n_effective - 1`` in order of first appearance."""
    cluster_sharpes: np.ndarray
    """PER-PERIOD Sharpe ratio (ddof=1) of each cluster's inverse-variance-weighted returns."""

    @property
    def n_effective(self) -> int:
        """Number of distinct strategies: the DSR's ``n_trials``."""
        return int(self.cluster_sharpes.size)

    @property
    def sharpe_variance(self) -> float:
        """Variance (ddof=1) of the cluster Sharpe ratios: the DSR's ``trial_sharpe_variance``.

        NaN with a single cluster (no dispersion to measure).
        """
        if self.cluster_sharpes.size < 2:
            return float("nan")
        return float(np.var(self.cluster_sharpes, ddof=1))


def correlation_distance(correlation: ArrayLike) -> np.ndarray:
    """``sqrt((1 - ρ) / 2)``: 0 for identical, 0.707 for uncorrelated, 1 for opposite trials."""
    rho = np.clip(np.asarray(correlation, dtype=float), -1.0, 1.0)
    return np.sqrt(0.5 * (1.0 - rho))


def trial_clusters(
    returns: ArrayLike | pd.DataFrame, *, min_correlation: float = 0.5
) -> TrialClusters:
    """Group the trials into distinct strategies (López de Prado 2019) for the DSR.

    ``returns``: ``(T, K)`` per-bar returns, no constant column. Trials are clustered
    hierarchically (average linkage, SciPy) on the distance :func:`correlation_distance` of
    their Pearson correlations, and the tree is cut at the distance of ``min_correlation``:
    two groups merge while their trials' average correlation is at least ``min_correlation``
    (0.5 by default; near-duplicate parameter sets correlate far above, unrelated strategies
    near 0). Each cluster's returns are the inverse-variance-weighted mean of its trials'
    (López de Prado's minimum-variance allocation, ignoring correlations).
    """
    matrix = _as_matrix(returns)
    n_periods, n_trials = matrix.shape
    threshold = check_real("min_correlation", min_correlation, text="a finite number")
    if not -1 < threshold < 1:
        raise ConfigError(f"min_correlation must be in (-1, 1), got {min_correlation!r}")
    if n_periods < 3:
        raise DataError(f"returns must have at least 3 rows (periods), got {n_periods}")
    if n_trials < 1:
        raise DataError("returns must have at least 1 column (trial), got 0")
    flat = np.flatnonzero(np.ptp(matrix, axis=0) == 0)
    if flat.size:
        raise DataError(
            f"returns column {int(flat[0])} is constant (no correlation): drop flat trials first"
        )
    if n_trials == 1:
        raw = np.zeros(1, dtype=int)
    else:
        distance = correlation_distance(np.corrcoef(matrix, rowvar=False))
        np.fill_diagonal(distance, 0.0)
        tree = linkage(squareform(distance, checks=False), method="average")
        cut = float(correlation_distance(threshold))
        raw = fcluster(tree, t=cut, criterion="distance")
    _, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))  # relabel by first appearance
    labels = order[inverse].astype(int)

    weights = 1.0 / matrix.var(axis=0, ddof=1)
    sharpes = np.empty(first.size)
    for cluster in range(first.size):
        members = labels == cluster
        combined = matrix[:, members] @ (weights[members] / weights[members].sum())
        std = float(np.std(combined, ddof=1))
        sharpes[cluster] = float(combined.mean() / std) if std > 0 else math.nan
    return TrialClusters(labels=labels, cluster_sharpes=sharpes)


__all__ = [
    "BOOTSTRAPS",
    "SPAResult",
    "TrialClusters",
    "correlation_distance",
    "default_block_size",
    "minimum_backtest_length",
    "superior_predictive_ability",
    "superior_trials",
    "trial_clusters",
]
