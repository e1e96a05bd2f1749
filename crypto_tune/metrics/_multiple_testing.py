"""Multiple-testing statistics for a search over many trials.

- :func:`superior_predictive_ability`: White's Reality Check and Hansen's SPA test (``arch``);
  :func:`superior_trials`: Romano & Wolf's StepM set of trials that beat cash;
- :func:`haircut_sharpe_ratio`: Harvey & Liu's Bonferroni, Holm and BHY haircuts;
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
from scipy.stats import false_discovery_control, norm
from scipy.stats import t as student_t

from crypto_tune._checks import check_int, check_real
from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.metrics._overfitting import (
    _as_matrix,
    expected_maximum_sharpe,
)
from crypto_tune.metrics._performance import _as_vector, _check_periods_per_year

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


# --- Harvey & Liu haircut Sharpe ratio ---------------------------------------------------------

# Harvey, Liu & Zhu (2016) model of the tests already run, as in Harvey & Liu's program:
# (average correlation, total tests, P(a strategy has zero mean), mean monthly return of the
# true strategies). Rows are interpolated linearly in the correlation.
_HLZ_MODEL = np.array(
    [
        [0.0, 1295, 0.39660, 0.0054995],
        [0.2, 1377, 0.44589, 0.0055508],
        [0.4, 1476, 0.48604, 0.0055413],
        [0.6, 1773, 0.59902, 0.0055512],
        [0.8, 3109, 0.83901, 0.0055956],
    ]
)
_HLZ_MONTHLY_VOL = 0.15 / math.sqrt(12.0)
_HLZ_MONTHS = 240
HAIRCUT_METHODS: tuple[str, ...] = ("bonferroni", "holm", "bhy", "average")


@dataclass(frozen=True)
class Haircut:
    """One adjustment: adjusted p-value, haircut (annualised) Sharpe and haircut share."""

    p_value: float
    sharpe: float
    haircut: float
    """``(sharpe_before - sharpe_after) / sharpe_before``, in [0, 1] (1 = cut to zero)."""


@dataclass(frozen=True)
class HaircutSharpe:
    """Harvey & Liu haircuts of one annualised Sharpe ratio for multiple testing."""

    sharpe: float
    """The annualised Sharpe ratio tested (after the autocorrelation correction)."""
    t_stat: float
    p_value: float
    """Two-sided single-test p-value."""
    bonferroni: Haircut
    holm: Haircut
    bhy: Haircut
    average: Haircut
    """Haircut at the mean of the three adjusted p-values."""

    def as_dict(self) -> dict[str, float]:
        out = {"sharpe": self.sharpe, "t_stat": self.t_stat, "p_value": self.p_value}
        for name in HAIRCUT_METHODS:
            adjusted: Haircut = getattr(self, name)
            out[f"{name}_p_value"] = adjusted.p_value
            out[f"{name}_sharpe"] = adjusted.sharpe
            out[f"{name}_haircut"] = adjusted.haircut
        return out


def autocorrelation_adjusted_sharpe(
    sharpe: float, autocorrelation: float, *, periods_per_year: float
) -> float:
    """Annualised Sharpe corrected for first-order autocorrelation ρ of the returns (Lo 2002).

    ``SR * [1 + 2ρ/(1-ρ) * (1 - (1 - ρ^q) / (q (1 - ρ)))]^(-1/2)`` with ``q`` periods a year.

    >>> round(autocorrelation_adjusted_sharpe(1.0, 0.1, periods_per_year=12), 3)
    0.912
    """
    sr = check_real("sharpe", sharpe, text="a finite number")
    rho = check_real("autocorrelation", autocorrelation, text="a finite number")
    q = _check_periods_per_year(periods_per_year)
    if not -1 < rho < 1:
        raise ConfigError(f"autocorrelation must be in (-1, 1), got {autocorrelation!r}")
    if rho == 0:
        return sr
    factor = 1.0 + 2.0 * rho / (1.0 - rho) * (1.0 - (1.0 - rho**q) / (q * (1.0 - rho)))
    return sr / math.sqrt(factor)


def _hlz_parameters(correlation: float) -> tuple[float, float]:
    """``(P(zero mean), mean monthly return of true strategies)`` at ``correlation``."""
    rho = check_real("correlation", correlation, text="a finite number")
    if not 0 <= rho <= 0.8:
        raise ConfigError(f"correlation must be in [0, 0.8], got {correlation!r}")
    p0 = float(np.interp(rho, _HLZ_MODEL[:, 0], _HLZ_MODEL[:, 2]))
    lam = float(np.interp(rho, _HLZ_MODEL[:, 0], _HLZ_MODEL[:, 3]))
    return p0, lam


def _simulated_other_pvalues(
    n_tests: int, correlation: float, n_simulations: int, seed: int, *, one_sided: bool = False
) -> np.ndarray:
    """``(n_simulations, n_tests)`` p-values (two-sided, or one-sided ``P(T > t)``) of tests
    drawn from the HLZ model.

    Each test is zero-mean with probability ``p0``, else its monthly mean is exponential with
    mean ``λ``; 240 months of returns with 15% annual volatility whose noise is equicorrelated
    at ``correlation``. t-ratio ``|μ + ε| / (σ / sqrt(240))``, normal p-values.
    """
    p0, lam = _hlz_parameters(correlation)
    rng = np.random.default_rng(seed)
    common = rng.standard_normal((n_simulations, 1))
    own = rng.standard_normal((n_simulations, n_tests))
    noise = math.sqrt(correlation) * common + math.sqrt(1.0 - correlation) * own
    true = rng.uniform(size=(n_simulations, n_tests)) > p0
    means = np.where(true, rng.exponential(lam, size=(n_simulations, n_tests)), 0.0)
    t_ratio = means * math.sqrt(_HLZ_MONTHS) / _HLZ_MONTHLY_VOL + noise
    if one_sided:
        return np.asarray(norm.sf(t_ratio))
    return np.asarray(2.0 * norm.sf(np.abs(t_ratio)))


def _holm_of_last(family: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-value of the LAST column of each row of ``family`` ``(S, m)``."""
    m = family.shape[1]
    ordered = np.sort(family, axis=1)
    adjusted = np.minimum(np.maximum.accumulate((m - np.arange(m)) * ordered, axis=1), 1.0)
    position = np.count_nonzero(family[:, :-1] < family[:, -1:], axis=1)
    return adjusted[np.arange(family.shape[0]), position]


def haircut_sharpe_ratio(
    sharpe: float,
    n_obs: int,
    *,
    periods_per_year: float,
    n_tests: int | None = None,
    other_sharpes: ArrayLike | None = None,
    autocorrelation: float = 0.0,
    correlation: float = 0.2,
    n_simulations: int = 2000,
    seed: int = 0,
    alternative: str = "two-sided",
) -> HaircutSharpe:
    """Harvey & Liu (2015) haircut of an ANNUALISED Sharpe ratio for the tests behind it.

    ``sharpe`` (> 0) is first corrected for the returns' ``autocorrelation`` (Lo 2002, see
    :func:`autocorrelation_adjusted_sharpe`); ``t = SR * sqrt(n_obs / periods_per_year)``
    and ``p = 2 * P(T_{n_obs-1} > t)``. Adjusted p-values, as in the authors' program:

    - Bonferroni: ``min(1, M p)`` with ``M = n_tests``;
    - Holm and BHY (Benjamini-Hochberg-Yekutieli, FDR): ``p`` adjusted within the family of
      ``M`` other tests plus this one. With ``other_sharpes`` (the annualised Sharpe ratios of
      the M other trials over the same ``n_obs``) the family is known and the answer exact;
      otherwise the other tests are drawn ``n_simulations`` times (``seed``) from the Harvey,
      Liu & Zhu model at average ``correlation`` in [0, 0.8] and the median is kept.

    ``alternative="greater"`` makes every p-value of the family one-sided (``P(T > t)``, the
    question "is there a positive edge"): a trial that loses money is then no discovery that
    would make the false-discovery adjustment generous, as it is with the authors' two-sided
    p-values (the default, which reproduces their figures).

    Each adjusted p-value maps back to the Sharpe ratio with that single-test p-value
    (``haircut = 1 - adjusted / original``). The authors' example (SR 1, 120 monthly
    returns, autocorrelation 0.1, 100 tests, correlation 0.4) gives adjusted p-values of
    0.465 (Bonferroni), about 0.41 (Holm) and 0.17 (BHY).
    """
    ppy = _check_periods_per_year(periods_per_year)
    n = check_int("n_obs", n_obs, low=2)
    sr = autocorrelation_adjusted_sharpe(sharpe, autocorrelation, periods_per_year=ppy)
    if not sr > 0:
        raise ConfigError(f"sharpe must be > 0 (a positive Sharpe to haircut), got {sharpe!r}")
    others: np.ndarray | None = None
    if other_sharpes is not None:
        others = _as_vector(other_sharpes, "other_sharpes")
        if others.size < 1:
            raise DataError("other_sharpes must hold at least one Sharpe ratio, got none")
        if n_tests is not None and n_tests != others.size:
            raise ConfigError(
                f"n_tests must equal the number of other_sharpes ({others.size}), got {n_tests!r}"
            )
        m = int(others.size)
    elif n_tests is None:
        raise ConfigError("n_tests is required when other_sharpes is not given, got None")
    else:
        m = check_int("n_tests", n_tests, low=1)
    sims = check_int("n_simulations", n_simulations, low=1)
    check_int("seed", seed, low=0)
    if alternative not in ("two-sided", "greater"):
        raise ConfigError(f"alternative must be 'two-sided' or 'greater', got {alternative!r}")
    sides = 2.0 if alternative == "two-sided" else 1.0

    years = n / ppy
    df = n - 1
    t_stat = sr * math.sqrt(years)
    p_value = float(sides * student_t.sf(t_stat, df))

    if others is not None:
        other_t = (np.abs(others) if sides == 2.0 else others) * math.sqrt(years)
        other_p = sides * student_t.sf(other_t, df)
        family = np.append(other_p, p_value)[None, :]
    else:
        family = np.hstack(
            [
                _simulated_other_pvalues(m, correlation, sims, seed, one_sided=sides == 1.0),
                np.full((sims, 1), p_value),
            ]
        )
    p_adjusted = {
        "bonferroni": min(1.0, m * p_value),
        "holm": float(np.median(_holm_of_last(family))),
        "bhy": float(np.median(false_discovery_control(family, axis=1, method="by")[:, -1])),
    }
    p_adjusted["average"] = sum(p_adjusted.values()) / 3.0

    def cut(p_adj: float) -> Haircut:
        adjusted_sr = float(student_t.isf(p_adj / sides, df) / math.sqrt(years))
        adjusted_sr = max(0.0, min(sr, adjusted_sr))
        return Haircut(p_value=p_adj, sharpe=adjusted_sr, haircut=(sr - adjusted_sr) / sr)

    return HaircutSharpe(
        sharpe=sr,
        t_stat=t_stat,
        p_value=p_value,
        **{name: cut(p_adjusted[name]) for name in HAIRCUT_METHODS},
    )


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
    "HAIRCUT_METHODS",
    "Haircut",
    "HaircutSharpe",
    "SPAResult",
    "TrialClusters",
    "autocorrelation_adjusted_sharpe",
    "correlation_distance",
    "default_block_size",
    "haircut_sharpe_ratio",
    "minimum_backtest_length",
    "superior_predictive_ability",
    "superior_trials",
    "trial_clusters",
]
