"""Harvey & Liu (2015) haircut of a Sharpe ratio for the tests behind it: Bonferroni, Holm and
BHY (Benjamini-Hochberg-Yekutieli) adjustments within the family of the other trials (known, or
drawn from the Harvey, Liu & Zhu model), one- or two-sided, with Lo's (2002) correction for
autocorrelation. The verdict's test (``haircut_bhy``) is the one-sided BHY p-value.

References: Harvey & Liu (2015), "Backtesting"; Harvey, Liu & Zhu (2016), "... and the
Cross-Section of Expected Returns"; Lo (2002), "The Statistics of Sharpe Ratios".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from crypto_tune._checks import check_int, check_real
from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.metrics._overfitting import sharpe_moments
from crypto_tune.metrics._performance import _as_vector, _check_periods_per_year

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
    from scipy.stats import norm  # here: importing scipy.stats takes ~0.35 s

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

    from scipy.stats import false_discovery_control
    from scipy.stats import t as student_t

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


def haircut_of_returns(
    returns: ArrayLike,
    *,
    periods_per_year: float,
    other_sharpes: ArrayLike | None,
    seed: int = 0,
) -> HaircutSharpe | None:
    """The one-sided haircut of the chosen strategy's per-bar ``returns`` among the annualised
    Sharpe ratios of the ``other_sharpes`` of its family (None or empty: a family of one), its
    lag-1 autocorrelation estimated from the returns. None when the Sharpe is not positive or
    there are too few bars: no edge to haircut (a verdict reads that as p = 1)."""
    values = _as_vector(returns, "returns")
    sr, n_obs, _, _ = sharpe_moments(values)
    annual = sr * math.sqrt(periods_per_year) if math.isfinite(sr) else math.nan
    if not annual > 0 or n_obs <= 2:
        return None
    rho = float(np.corrcoef(values[:-1], values[1:])[0, 1])
    others = (
        None if other_sharpes is None or len(np.atleast_1d(other_sharpes)) == 0 else other_sharpes
    )
    return haircut_sharpe_ratio(
        annual,
        n_obs,
        periods_per_year=periods_per_year,
        other_sharpes=others,
        n_tests=None if others is not None else 1,
        autocorrelation=min(max(rho, -0.99), 0.99) if math.isfinite(rho) else 0.0,
        seed=seed,
        alternative="greater",
    )


__all__ = [
    "HAIRCUT_METHODS",
    "Haircut",
    "HaircutSharpe",
    "autocorrelation_adjusted_sharpe",
    "haircut_of_returns",
    "haircut_sharpe_ratio",
]
