"""Reality Check / SPA, Harvey-Liu haircuts, MinBTL and trial clusters: published numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from arch.bootstrap import SPA
from scipy.stats import norm
from scipy.stats import t as student_t

from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.metrics import (
    autocorrelation_adjusted_sharpe,
    default_block_size,
    deflated_sharpe_ratio,
    haircut_sharpe_ratio,
    minimum_backtest_length,
    superior_predictive_ability,
    superior_trials,
    trial_clusters,
)

# --- Harvey & Liu (2015), "Backtesting" ---------------------------------------------------------
# The authors' Haircut_SR program example: annualised Sharpe 1 from 120 monthly returns with
# autocorrelation 0.1 (corrected to 0.912), 100 tests, average correlation 0.4. Adjusted p-values
# 0.465 (Bonferroni), 0.409 (Holm), 0.174 (BHY), 0.348 (average); the same values are pinned by
# the public reimplementation in mlfinlab (hudson-and-thames), tests/test_backtests.py.
HL = {"n_obs": 120, "periods_per_year": 12, "n_tests": 100, "autocorrelation": 0.1}


def test_haircut_paper_example_single_test_and_bonferroni():
    result = haircut_sharpe_ratio(1.0, correlation=0.4, **HL)
    # Lo (2002) correction: 1 / sqrt(1 + 0.2/0.9 * (1 - (1 - 0.1^12) / (12 * 0.9))) = 0.91225
    assert result.sharpe == pytest.approx(0.912245, abs=1e-6)
    # t = 0.91225 * sqrt(10) = 2.88477; two-sided p with 119 df = 0.004651
    assert result.t_stat == pytest.approx(result.sharpe * math.sqrt(10), rel=1e-12)
    assert result.t_stat == pytest.approx(2.88477, abs=1e-5)
    assert result.p_value == pytest.approx(2 * student_t.sf(result.t_stat, 119), rel=1e-12)
    assert result.p_value == pytest.approx(0.004651, abs=1e-6)
    assert result.bonferroni.p_value == pytest.approx(0.465, abs=5e-4)
    # haircut Sharpe: the Sharpe whose single-test p-value is 0.4651
    expected = student_t.isf(result.bonferroni.p_value / 2, 119) / math.sqrt(10)
    assert result.bonferroni.sharpe == pytest.approx(expected, rel=1e-12)
    assert result.bonferroni.sharpe == pytest.approx(0.2317, abs=1e-4)
    assert result.bonferroni.haircut == pytest.approx(1 - 0.2317 / 0.912245, abs=1e-4)


def test_haircut_paper_example_holm_and_bhy():
    result = haircut_sharpe_ratio(1.0, correlation=0.4, seed=0, **HL)
    assert result.holm.p_value == pytest.approx(0.409, abs=0.01)
    assert result.bhy.p_value == pytest.approx(0.174, abs=0.01)
    assert result.average.p_value == pytest.approx(0.348, abs=0.01)
    # Monte Carlo: another seed stays close, the same seed repeats exactly
    other = haircut_sharpe_ratio(1.0, correlation=0.4, seed=3, **HL)
    assert other.holm.p_value == pytest.approx(0.409, abs=0.02)
    assert other.bhy.p_value == pytest.approx(0.174, abs=0.02)
    assert haircut_sharpe_ratio(1.0, correlation=0.4, seed=0, **HL) == result
    # FWER methods cut deepest, the FDR method least
    assert result.bhy.haircut < result.holm.haircut <= result.bonferroni.haircut
    assert all(
        0 <= h.haircut <= 1 and 0 <= h.sharpe <= result.sharpe
        for h in (result.bonferroni, result.holm, result.bhy, result.average)
    )
    assert set(result.as_dict()) >= {"bonferroni_haircut", "holm_sharpe", "bhy_p_value"}


def test_autocorrelation_correction_matches_the_authors_program():
    # Haircut_SR: daily (360 a year), weekly, monthly, quarterly; SR 1, autocorrelation 0.1
    for q, expected in [(360, 0.905), (52, 0.906), (12, 0.912), (4, 0.928)]:
        assert autocorrelation_adjusted_sharpe(1.0, 0.1, periods_per_year=q) == pytest.approx(
            expected, abs=5e-4
        )
    assert autocorrelation_adjusted_sharpe(1.3, 0.0, periods_per_year=2190) == 1.3
    assert autocorrelation_adjusted_sharpe(1.0, -0.1, periods_per_year=12) > 1.0


def test_haircut_is_nonlinear_and_grows_with_tests():
    kwargs = {"n_obs": 240, "periods_per_year": 12, "correlation": 0.2, "n_simulations": 500}
    weak = haircut_sharpe_ratio(0.6, n_tests=50, **kwargs)
    strong = haircut_sharpe_ratio(1.5, n_tests=50, **kwargs)
    assert strong.bonferroni.haircut < weak.bonferroni.haircut  # big Sharpes lose less
    few = haircut_sharpe_ratio(0.8, n_tests=10, **kwargs)
    many = haircut_sharpe_ratio(0.8, n_tests=200, **kwargs)
    for method in ("bonferroni", "holm", "bhy"):
        assert getattr(few, method).haircut < getattr(many, method).haircut
    # a Sharpe insignificant after adjustment is cut to zero
    assert haircut_sharpe_ratio(0.2, n_tests=100, **kwargs).bonferroni.haircut == 1.0


def test_haircut_with_the_other_trials_is_exact_holm_and_by():
    # four other trials over 5 years of daily-like data; all p-values computed by hand
    ppy, n_obs = 252, 1260
    others = [0.3, 1.2, 0.8, -0.5]
    result = haircut_sharpe_ratio(1.0, n_obs, periods_per_year=ppy, other_sharpes=others)
    df, years = n_obs - 1, n_obs / ppy
    p = [2 * student_t.sf(abs(s) * math.sqrt(years), df) for s in [*others, 1.0]]
    mine = p[-1]
    ordered = sorted(p)
    m = len(p)
    rank = ordered.index(mine)  # 0-based
    holm = min(1.0, max((m - j) * ordered[j] for j in range(rank + 1)))
    c_m = sum(1 / k for k in range(1, m + 1))
    by = min(1.0, min(m * c_m / (j + 1) * ordered[j] for j in range(rank, m)))
    assert result.holm.p_value == pytest.approx(holm, rel=1e-12)
    assert result.bhy.p_value == pytest.approx(by, rel=1e-12)
    assert result.bonferroni.p_value == pytest.approx(min(1.0, 4 * mine), rel=1e-12)


def test_haircut_validation():
    with pytest.raises(ConfigError, match=r"sharpe must be > 0"):
        haircut_sharpe_ratio(-0.5, 120, periods_per_year=12, n_tests=10)
    with pytest.raises(ConfigError, match=r"n_tests is required"):
        haircut_sharpe_ratio(1.0, 120, periods_per_year=12)
    with pytest.raises(ConfigError, match=r"n_tests must be an int >= 1, got 0"):
        haircut_sharpe_ratio(1.0, 120, periods_per_year=12, n_tests=0)
    with pytest.raises(ConfigError, match=r"n_obs must be an int >= 2, got 1"):
        haircut_sharpe_ratio(1.0, 1, periods_per_year=12, n_tests=10)
    with pytest.raises(ConfigError, match=r"correlation must be in \[0, 0.8\], got 0.9"):
        haircut_sharpe_ratio(1.0, 120, periods_per_year=12, n_tests=10, correlation=0.9)
    with pytest.raises(ConfigError, match=r"autocorrelation must be in \(-1, 1\), got 1.0"):
        haircut_sharpe_ratio(1.0, 120, periods_per_year=12, n_tests=10, autocorrelation=1.0)
    with pytest.raises(ConfigError, match=r"n_tests must equal the number of other_sharpes \(2\)"):
        haircut_sharpe_ratio(1.0, 120, periods_per_year=12, n_tests=5, other_sharpes=[0.1, 0.2])
    with pytest.raises(DataError, match=r"other_sharpes must be finite"):
        haircut_sharpe_ratio(1.0, 120, periods_per_year=12, other_sharpes=[0.1, math.nan])
    with pytest.raises(ConfigError, match=r"periods_per_year must be a finite number > 0"):
        haircut_sharpe_ratio(1.0, 120, periods_per_year=0, n_tests=10)


# --- Minimum backtest length (Bailey, Borwein, López de Prado, Zhu 2014) ------------------------


def test_minbtl_paper_example():
    # "if only 5 years of data are available, no more than 45 independent model configurations
    # should be tried": E[max_45] = 0.42278 * Φ^-1(1 - 1/45) + 0.57722 * Φ^-1(1 - 1/(45 e))
    #                             = 0.42278 * 2.01007 + 0.57722 * 2.40104 = 2.23565 -> 4.998 years
    gamma = 0.5772156649015329
    e_max = (1 - gamma) * norm.ppf(1 - 1 / 45) + gamma * norm.ppf(1 - 1 / (45 * math.e))
    assert e_max == pytest.approx(2.2357, abs=1e-4)
    assert minimum_backtest_length(45) == pytest.approx(e_max**2, rel=1e-12)
    assert minimum_backtest_length(45) == pytest.approx(5.0, abs=0.01)


def test_minbtl_properties():
    values = [minimum_backtest_length(n) for n in (2, 10, 100, 1000, 10_000)]
    assert values == sorted(values)
    for n in (2, 10, 100, 1000, 10_000):  # the paper's upper bound 2 ln N / SR^2
        assert minimum_backtest_length(n) < 2 * math.log(n)
    assert minimum_backtest_length(1) == 0.0
    assert minimum_backtest_length(100, target_sharpe=2.0) == pytest.approx(
        minimum_backtest_length(100) / 4, rel=1e-12
    )
    with pytest.raises(ConfigError, match=r"n_trials must be an int >= 1, got 0"):
        minimum_backtest_length(0)
    with pytest.raises(ConfigError, match=r"target_sharpe must be > 0, got 0.0"):
        minimum_backtest_length(10, target_sharpe=0.0)


# --- Effective number of trials -----------------------------------------------------------------


def _near_duplicates(seed: int = 0) -> np.ndarray:
    """30 trials: 10 noisy copies (correlation ~0.9) of each of 3 independent strategies."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0005, 0.01, size=(1000, 3))
    return np.repeat(base, 10, axis=1) + rng.normal(0, 0.003, size=(1000, 30))


def test_clusters_near_duplicates_are_three_strategies():
    returns = _near_duplicates()
    clusters = trial_clusters(returns)
    assert clusters.n_effective == 3
    assert clusters.labels.tolist() == [0] * 10 + [1] * 10 + [2] * 10
    # cluster Sharpe: per period, of the inverse-variance-weighted mean of the members
    sharpes = []
    for k in range(3):
        block = returns[:, 10 * k : 10 * (k + 1)]
        w = 1 / block.var(axis=0, ddof=1)
        series = block @ (w / w.sum())
        sharpes.append(series.mean() / series.std(ddof=1))
    np.testing.assert_allclose(clusters.cluster_sharpes, sharpes, rtol=1e-12)
    assert clusters.sharpe_variance == pytest.approx(np.var(sharpes, ddof=1), rel=1e-12)
    # the DSR deflated by 3 distinct strategies is higher than by 30 raw trials
    kwargs = {"trial_sharpe_variance": clusters.sharpe_variance}
    by_clusters = deflated_sharpe_ratio(0.1, 1000, 0.0, 3.0, n_trials=3, **kwargs)
    by_trials = deflated_sharpe_ratio(0.1, 1000, 0.0, 3.0, n_trials=30, **kwargs)
    assert by_clusters > by_trials


def test_clusters_independent_noise_is_every_trial():
    rng = np.random.default_rng(1)
    clusters = trial_clusters(pd.DataFrame(rng.normal(0, 0.01, size=(1000, 40))))
    assert clusters.n_effective == 40
    assert sorted(clusters.labels.tolist()) == list(range(40))


def test_clusters_threshold_and_edge_cases():
    returns = _near_duplicates()
    assert trial_clusters(returns, min_correlation=0.99).n_effective == 30  # nothing that close
    assert trial_clusters(returns, min_correlation=-0.5).n_effective == 1  # everything merges
    one = trial_clusters(returns[:, :1])
    assert one.n_effective == 1 and math.isnan(one.sharpe_variance)
    flat = returns.copy()
    flat[:, 4] = 0.0
    with pytest.raises(DataError, match=r"returns column 4 is constant"):
        trial_clusters(flat)
    with pytest.raises(ConfigError, match=r"min_correlation must be in \(-1, 1\), got 1"):
        trial_clusters(returns, min_correlation=1)
    with pytest.raises(DataError, match=r"returns must be finite, got nan at row 2, column 1"):
        bad = returns.copy()
        bad[2, 1] = np.nan
        trial_clusters(bad)


# --- White's Reality Check / Hansen's SPA / StepM -----------------------------------------------


def test_spa_no_signal_is_not_significant_and_reproducible():
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 0.01, size=(600, 15))
    result = superior_predictive_ability(noise, reps=500, seed=7)
    assert result.lower <= result.consistent <= result.upper
    assert result.reality_check == result.upper and result.spa == result.consistent
    assert result.spa > 0.1 and result.reality_check > 0.1
    assert result.block_size == default_block_size(600) == 8
    assert superior_predictive_ability(noise, reps=500, seed=7) == result
    assert superior_trials(noise, reps=500, seed=7) == []


def test_spa_planted_signal_is_significant():
    rng = np.random.default_rng(3)
    returns = rng.normal(0, 0.01, size=(600, 15))
    returns[:, 6] += 0.0015  # per-bar Sharpe 0.15, t about 3.7
    result = superior_predictive_ability(returns, reps=500, seed=0)
    assert result.spa < 0.05 and result.reality_check < 0.05
    assert superior_trials(returns, reps=500, seed=0) == [6]


def test_spa_single_trial_matches_the_t_test():
    # one i.i.d. trial with t-stat exactly 2: the bootstrap p-value ~ 1 - Φ(2) = 0.0228
    rng = np.random.default_rng(4)
    x = rng.normal(size=2000)
    x = x - x.mean() + 2.0 * x.std(ddof=1) / math.sqrt(2000)
    result = superior_predictive_ability(x[:, None], reps=2000, seed=0)
    assert result.upper == pytest.approx(norm.sf(2.0), abs=0.015)


def test_spa_is_arch_on_sharpe_scaled_losses():
    rng = np.random.default_rng(5)
    returns = rng.normal(0.0003, [0.01, 0.02, 0.03], size=(400, 3))
    ours = superior_predictive_ability(returns, reps=300, block_size=5, seed=11)
    losses = -returns / returns.std(axis=0, ddof=1)
    direct = SPA(np.zeros(400), losses, block_size=5, reps=300, seed=11)
    direct.compute()
    assert [ours.lower, ours.consistent, ours.upper] == direct.pvalues.tolist()
    # the circular block bootstrap is available too
    circular = superior_predictive_ability(returns, reps=300, bootstrap="circular", seed=11)
    assert 0 <= circular.upper <= 1


def test_spa_validation():
    returns = np.zeros((50, 3))
    with pytest.raises(ConfigError, match=r"reps must be an int >= 1, got 0"):
        superior_predictive_ability(returns, reps=0)
    with pytest.raises(ConfigError, match=r"block_size must be <= the number of rows"):
        superior_predictive_ability(returns, block_size=51)
    with pytest.raises(ConfigError, match=r"bootstrap must be one of"):
        superior_predictive_ability(returns, bootstrap="iid")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"size must be in \(0, 1\), got 1.5"):
        superior_trials(returns, size=1.5)
    with pytest.raises(DataError, match=r"returns must be a 2-D"):
        superior_predictive_ability(np.zeros(50))
    with pytest.raises(ConfigError, match=r"seed must be an int >= 0, got -1"):
        superior_predictive_ability(returns, seed=-1)


def test_haircut_of_returns_is_the_one_sided_haircut_of_their_annual_sharpe() -> None:
    """One home for the verdicts' haircut: the same as haircut_sharpe_ratio by hand."""
    from crypto_tune.metrics import haircut_of_returns, haircut_sharpe_ratio, sharpe_moments

    rng = np.random.default_rng(7)
    returns = rng.normal(0.0015, 0.01, 2000)
    others = [0.3, -0.5, 1.1, 0.0]
    found = haircut_of_returns(returns, periods_per_year=2190.0, other_sharpes=others, seed=3)
    sr, n_obs, _, _ = sharpe_moments(returns)
    rho = float(np.corrcoef(returns[:-1], returns[1:])[0, 1])
    by_hand = haircut_sharpe_ratio(
        sr * np.sqrt(2190.0),
        n_obs,
        periods_per_year=2190.0,
        other_sharpes=others,
        autocorrelation=rho,
        seed=3,
        alternative="greater",
    )
    assert found is not None and found.bhy.p_value == by_hand.bhy.p_value
    alone = haircut_of_returns(returns, periods_per_year=2190.0, other_sharpes=[], seed=3)
    assert alone is not None and alone.bonferroni.p_value == pytest.approx(alone.p_value)  # M=1
    assert haircut_of_returns(-returns, periods_per_year=2190.0, other_sharpes=others) is None
