"""PSR, expected maximum Sharpe, DSR and PBO: published numbers and every convention pinned."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm, rankdata

from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.metrics import (
    deflated_sharpe_ratio,
    expected_maximum_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    sharpe_moments,
)

# --- the Deflated Sharpe Ratio paper's worked example ------------------------------------------
# Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", numerical example: annualised
# SR 2.5 on daily data (250 days a year), T = 1250, skew -3, RAW kurtosis 10, N = 100 trials
# whose annualised Sharpe ratios have variance 1/2. Everything is converted to per period.
PAPER_SR = 2.5 / math.sqrt(250)
PAPER_T = 1250
PAPER_SKEW = -3.0
PAPER_KURTOSIS = 10.0
PAPER_TRIALS = 100
PAPER_VARIANCE = 0.5 / 250


def test_dsr_paper_expected_maximum_sharpe():
    # sqrt(0.002) * (0.42278 * Φ^-1(0.99) + 0.57722 * Φ^-1(1 - 1/(100 e)))
    #   = 0.044721 * (0.42278 * 2.32635 + 0.57722 * 2.68016) = 0.044721 * 2.53060 = 0.11317
    # per day, i.e. 0.11317 * sqrt(250) = 1.789 annualised.
    sr0 = expected_maximum_sharpe(PAPER_TRIALS, PAPER_VARIANCE)
    assert sr0 == pytest.approx(0.1132, abs=1e-4)
    assert sr0 == pytest.approx(0.113172, abs=1e-6)
    assert sr0 * math.sqrt(250) == pytest.approx(1.7894, abs=1e-4)


def test_dsr_paper_result():
    # z = (0.158114 - 0.113172) * sqrt(1249) / sqrt(1 + 3 * 0.158114 + 9/4 * 0.158114^2)
    #   = 0.044942 * 35.3412 / 1.237174 = 1.28382 -> Φ(z) = 0.9004
    dsr = deflated_sharpe_ratio(
        PAPER_SR,
        PAPER_T,
        PAPER_SKEW,
        PAPER_KURTOSIS,
        n_trials=PAPER_TRIALS,
        trial_sharpe_variance=PAPER_VARIANCE,
    )
    assert dsr == pytest.approx(0.9004, abs=1e-4)
    assert dsr == pytest.approx(
        probabilistic_sharpe_ratio(
            PAPER_SR,
            PAPER_T,
            PAPER_SKEW,
            PAPER_KURTOSIS,
            benchmark=expected_maximum_sharpe(PAPER_TRIALS, PAPER_VARIANCE),
        ),
        abs=1e-15,
    )


def test_dsr_conventions_change_the_answer():
    kwargs = {"n_trials": PAPER_TRIALS, "trial_sharpe_variance": PAPER_VARIANCE}
    # excess kurtosis 7 passed by mistake instead of the raw 10
    excess = deflated_sharpe_ratio(PAPER_SR, PAPER_T, PAPER_SKEW, 7.0, **kwargs)
    assert excess == pytest.approx(0.9018, abs=1e-4)
    # annualised Sharpe and variance instead of per period: a different (meaningless) number
    annualised = deflated_sharpe_ratio(
        2.5, PAPER_T, PAPER_SKEW, PAPER_KURTOSIS, n_trials=PAPER_TRIALS, trial_sharpe_variance=0.5
    )
    assert annualised != pytest.approx(0.9004, abs=1e-2)


# --- PSR ---------------------------------------------------------------------------------------


def test_psr_normal_returns_equal_the_closed_form():
    # skew 0, kurtosis 3: denominator 1 + SR^2 / 2 (Lo 2002)
    for sharpe, n_obs, benchmark in [(0.1, 101, 0.0), (0.05, 1000, 0.02), (-0.03, 500, 0.0)]:
        expected = norm.cdf(
            (sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(1 + sharpe**2 / 2)
        )
        assert probabilistic_sharpe_ratio(sharpe, n_obs, 0.0, 3.0, benchmark) == pytest.approx(
            expected, abs=1e-15
        )
    # 0.1 * 10 / sqrt(1.005) = 0.997509 -> 0.840741
    assert probabilistic_sharpe_ratio(0.1, 101, 0.0, 3.0) == pytest.approx(0.8407413, abs=1e-7)
    assert probabilistic_sharpe_ratio(0.07, 50, -1.0, 6.0, benchmark=0.07) == 0.5


def test_psr_kurtosis_is_raw_not_excess():
    raw = probabilistic_sharpe_ratio(0.2, 100, 0.0, 3.0)  # normal, raw kurtosis 3
    as_excess = probabilistic_sharpe_ratio(0.2, 100, 0.0, 0.0)  # the same normal, excess 0
    # denominators 1 + 0.5 * 0.04 = 1.02 and 1 - 0.25 * 0.04 = 0.99
    assert raw == pytest.approx(norm.cdf(0.2 * math.sqrt(99) / math.sqrt(1.02)), abs=1e-15)
    assert as_excess == pytest.approx(norm.cdf(0.2 * math.sqrt(99) / math.sqrt(0.99)), abs=1e-15)
    assert as_excess > raw  # passing excess kurtosis overstates the confidence


def test_psr_grows_with_track_record_and_shrinks_with_bad_moments():
    values = [probabilistic_sharpe_ratio(0.05, n, 0.0, 3.0) for n in (10, 50, 250, 1000, 5000)]
    assert values == sorted(values) and len(set(values)) == len(values)
    normal = probabilistic_sharpe_ratio(0.1, 250, 0.0, 3.0)
    assert probabilistic_sharpe_ratio(0.1, 250, -2.0, 3.0) < normal  # negative skew
    assert probabilistic_sharpe_ratio(0.1, 250, 0.0, 12.0) < normal  # fat tails
    assert probabilistic_sharpe_ratio(0.1, 250, 1.0, 3.0) > normal  # positive skew helps


@settings(max_examples=50, deadline=None)
@given(
    sharpe=st.floats(0.001, 0.5),
    n_obs=st.integers(2, 5000),
    skew=st.floats(-3.0, 3.0),
    extra_kurtosis=st.floats(0.0, 30.0),
)
def test_psr_is_a_probability_increasing_in_n_obs(sharpe, n_obs, skew, extra_kurtosis):
    kurtosis = 1.0 + skew**2 + extra_kurtosis  # any real distribution has kurtosis >= 1 + skew^2
    psr = probabilistic_sharpe_ratio(sharpe, n_obs, skew, kurtosis)
    assert 0.5 <= psr <= 1.0  # a positive Sharpe against a zero benchmark
    assert probabilistic_sharpe_ratio(sharpe, n_obs + 10, skew, kurtosis) >= psr


def test_psr_validation():
    with pytest.raises(ConfigError, match=r"n_obs must be an int >= 2, got 1"):
        probabilistic_sharpe_ratio(0.1, 1, 0.0, 3.0)
    with pytest.raises(ConfigError, match=r"n_obs must be an int >= 2, got 2.5"):
        probabilistic_sharpe_ratio(0.1, 2.5, 0.0, 3.0)
    with pytest.raises(ConfigError, match="sharpe must be a finite number"):
        probabilistic_sharpe_ratio(math.inf, 100, 0.0, 3.0)
    with pytest.raises(ConfigError, match="benchmark must be a finite number"):
        probabilistic_sharpe_ratio(0.1, 100, 0.0, 3.0, benchmark=math.nan)
    # 1 - 0 + (-5 - 1)/4 * 1 = -0.5: impossible for a raw kurtosis
    with pytest.raises(ConfigError, match=r"must be > 0, got -0.5 .*kurtosis must be RAW"):
        probabilistic_sharpe_ratio(1.0, 100, 0.0, -5.0)
    # NaN moments from a degenerate series give NaN, not an error
    assert math.isnan(probabilistic_sharpe_ratio(math.nan, 100, math.nan, math.nan))


# --- expected maximum Sharpe and DSR -------------------------------------------------------------


def test_expected_maximum_sharpe_rules():
    assert expected_maximum_sharpe(1, 0.3) == 0.0  # one trial: no selection
    assert expected_maximum_sharpe(100, 0.0) == 0.0
    # scales with sqrt(V)
    assert expected_maximum_sharpe(50, 0.04) == pytest.approx(2 * expected_maximum_sharpe(50, 0.01))
    values = [expected_maximum_sharpe(n, 1.0) for n in (2, 10, 100, 1000, 10000)]
    assert values == sorted(values)
    # with one trial the DSR is the PSR against zero
    assert deflated_sharpe_ratio(0.1, 250, -0.5, 5.0, n_trials=1, trial_sharpe_variance=0.2) == (
        probabilistic_sharpe_ratio(0.1, 250, -0.5, 5.0)
    )


def test_expected_maximum_sharpe_approximates_the_maximum_of_normals():
    rng = np.random.default_rng(7)
    simulated = rng.standard_normal((20_000, 100)).max(axis=1).mean()  # about 2.508
    assert expected_maximum_sharpe(100, 1.0) == pytest.approx(2.5306, abs=1e-4)
    assert expected_maximum_sharpe(100, 1.0) == pytest.approx(simulated, abs=0.05)


def test_expected_maximum_sharpe_validation():
    with pytest.raises(ConfigError, match=r"n_trials must be an int >= 1, got 0"):
        expected_maximum_sharpe(0, 0.1)
    with pytest.raises(ConfigError, match=r"n_trials must be an int >= 1, got True"):
        expected_maximum_sharpe(True, 0.1)
    with pytest.raises(ConfigError, match=r"trial_sharpe_variance must be >= 0, got -0.1"):
        expected_maximum_sharpe(10, -0.1)
    with pytest.raises(ConfigError, match="n_trials must be an int >= 1"):
        deflated_sharpe_ratio(0.1, 100, 0.0, 3.0, n_trials=0, trial_sharpe_variance=0.1)


# --- sharpe_moments ------------------------------------------------------------------------------


def test_sharpe_moments_hand_computed():
    # deviations (1, -1, -1, 1, 0) * 0.01: m2 = 0.8e-4, m3 = 0, m4 = 0.8e-8 -> kurtosis 1.25
    sharpe, n_obs, skew, kurtosis = sharpe_moments([0.015, -0.005, -0.005, 0.015, 0.005])
    assert n_obs == 5
    assert skew == pytest.approx(0.0, abs=1e-12)
    assert sharpe == pytest.approx(0.5)
    assert kurtosis == pytest.approx(1.25)
    # deviations (-1, -1, -1, -1, 4) * 0.01: m2 = 4, m3 = 12, m4 = 52 (x 1e-4, 1e-6, 1e-8)
    # -> skew 12 / 8 = 1.5, raw kurtosis 52 / 16 = 3.25; std(ddof=1) = sqrt(5) * 0.01
    sharpe, n_obs, skew, kurtosis = sharpe_moments([0.0, 0.0, 0.0, 0.0, 0.05])
    assert sharpe == pytest.approx(1 / math.sqrt(5))
    assert n_obs == 5
    assert skew == pytest.approx(1.5)
    assert kurtosis == pytest.approx(3.25)


def test_sharpe_moments_match_scipy_population_moments():
    returns = np.random.default_rng(3).standard_t(df=5, size=400) * 0.01 + 0.001
    sharpe, n_obs, skew, kurtosis = sharpe_moments(pd.Series(returns))
    assert n_obs == 400
    assert sharpe == pytest.approx(returns.mean() / returns.std(ddof=1), rel=1e-12)
    assert skew == pytest.approx(scipy.stats.skew(returns, bias=True), rel=1e-10)
    assert kurtosis == pytest.approx(
        scipy.stats.kurtosis(returns, fisher=False, bias=True), rel=1e-10
    )
    assert kurtosis > 3.0  # Student t: fat tails, reported RAW
    psr = probabilistic_sharpe_ratio(*sharpe_moments(returns))
    assert 0.5 < psr < 1.0


def test_sharpe_moments_degenerate():
    for returns in ([], [0.01], [0.01, 0.01, 0.01]):
        sharpe, n_obs, skew, kurtosis = sharpe_moments(returns)
        assert n_obs == len(returns)
        assert math.isnan(sharpe) and math.isnan(skew) and math.isnan(kurtosis)
    with pytest.raises(DataError, match="returns must be finite"):
        sharpe_moments([0.01, np.nan, 0.02])


# --- PBO (CSCV) ----------------------------------------------------------------------------------


def _blocks(means: list[list[int]]) -> np.ndarray:
    """T = 8 rows, N columns: block k of column j holds (m + 1, m - 1) / 100 with m = means[j][k].

    Over a half made of blocks i and j the per-period Sharpe of a column is
    sqrt(3) / 2 * g(m_i, m_j) with g = (m_i + m_j) / sqrt(4 + (m_i - m_j)^2), so g orders the
    columns (rows m+1, m-1, m'+1, m'-1 have mean (m+m')/2 and squared deviations 4 + (m-m')^2).
    """
    columns = []
    for column in means:
        values = []
        for m in column:
            values += [(m + 1) / 100, (m - 1) / 100]
        columns.append(values)
    return np.array(columns).T


def test_pbo_hand_enumerated_rank_two_counts_as_overfit():
    # blocks 1..4:  A = (2, 2, 2, -1), B = (1, 0, -1, -1), C = (1, 1, -2, 2); S = 4, N = 3
    # g values: g(2,2)=2, g(2,-1)=1/sqrt13=.277, g(1,0)=1/sqrt5=.447, g(1,-1)=0, g(0,-1)=-.447,
    #           g(-1,-1)=-1, g(1,1)=1, g(1,-2)=-.277, g(1,2)=3/sqrt5=1.342, g(-2,2)=0
    # IS    | IS g (A, B, C)     | n* | OOS   | OOS g (A, B, C)     | rank | ω    | λ      | overfit
    # {1,2} | 2,    .447,  1    | A  | {3,4} | .277, -1,    0      | 3    | 3/4  | ln 3   | no
    # {1,3} | 2,    0,    -.277 | A  | {2,4} | .277, -.447, 1.342  | 2    | 2/4  | 0      | yes
    # {1,4} | .277, 0,     1.342| C  | {2,3} | 2,    -.447, -.277  | 2    | 2/4  | 0      | yes
    # {2,3} | 2,    -.447, -.277| A  | {1,4} | .277, 0,     1.342  | 2    | 2/4  | 0      | yes
    # {2,4} | .277, -.447, 1.342| C  | {1,3} | 2,    0,     -.277  | 1    | 1/4  | ln 1/3 | yes
    # {3,4} | .277, -1,    0    | A  | {1,2} | 2,    .447,  1      | 3    | 3/4  | ln 3   | no
    # PBO = 4/6. With ω = rank/N it would be 1/6 (rank 2 -> ω 2/3 > 1/2), and with λ < 0
    # instead of λ <= 0 also 1/6: the value pins both conventions.
    matrix = _blocks([[2, 2, 2, -1], [1, 0, -1, -1], [1, 1, -2, 2]])
    assert probability_of_backtest_overfitting(matrix, n_splits=4) == pytest.approx(4 / 6)


def test_pbo_hand_enumerated_oos_tie_is_averaged():
    # A duplicated (A = B, the same trades from two parameter sets), C as above; S = 4, N = 3.
    # A and B tie in every half, so the IS winner is A (first) or C and OOS ranks are
    # 2.5 (A, B above C), 1.5 (C above A, B), 3 or 1 (for C).
    # IS    | n* | OOS   | OOS g (A=B, C) | rank | ω     | λ        | overfit
    # {1,2} | A  | {3,4} | .277, 0        | 2.5  | 5/8   | ln 5/3   | no
    # {1,3} | A  | {2,4} | .277, 1.342    | 1.5  | 3/8   | ln 3/5   | yes
    # {1,4} | C  | {2,3} | 2,   -.277     | 1    | 1/4   | ln 1/3   | yes
    # {2,3} | A  | {1,4} | .277, 1.342    | 1.5  | 3/8   | ln 3/5   | yes
    # {2,4} | C  | {1,3} | 2,   -.277     | 1    | 1/4   | ln 1/3   | yes
    # {3,4} | A  | {1,2} | 2,    1        | 2.5  | 5/8   | ln 5/3   | no
    # PBO = 4/6. "min" or "ordinal" ranks would give A rank 2 (ω 1/2, λ 0) twice -> PBO 1.
    a, c = [2, 2, 2, -1], [1, 1, -2, 2]
    matrix = _blocks([a, a, c])
    assert probability_of_backtest_overfitting(matrix, n_splits=4) == pytest.approx(4 / 6)


def test_pbo_flat_configuration_ranks_with_sharpe_zero():
    # column F never trades (all zeros), X earns in block 1 and loses in block 2; S = 2, N = 2.
    # IS block 1: X (> 0) beats F (0); OOS block 2: X < 0 = F -> rank 1, ω 1/3 -> overfit.
    # IS block 2: F (0) beats X (< 0); OOS block 1: F = 0 < X -> rank 1, ω 1/3 -> overfit.
    flat = np.zeros(8)
    x = np.array([0.02, 0.0, 0.03, 0.01, -0.02, 0.0, -0.03, -0.01])
    assert probability_of_backtest_overfitting(np.column_stack([flat, x]), n_splits=2) == 1.0


def test_pbo_dominant_configuration_is_zero():
    rng = np.random.default_rng(11)
    noise = rng.normal(0.0, 0.01, size=(640, 8))
    noise[:, 5] += 0.02  # column 5 dominates in every block
    assert probability_of_backtest_overfitting(noise, n_splits=16) == 0.0


def test_pbo_of_pure_noise_is_about_one_half():
    # iid columns: the IS winner's OOS rank is uniform on 1..N, so E[PBO] = 1/2 exactly (N even).
    # One matrix is a noisy estimate (sd about 0.15 for T=800, N=50, S=10), so average 100
    # seeded matrices: the sd of the mean is about 0.016 and the tolerance 0.06 is 3.7 sd.
    rng = np.random.default_rng(2024)
    values = [
        probability_of_backtest_overfitting(rng.normal(0.0, 0.01, size=(800, 50)), n_splits=10)
        for _ in range(100)
    ]
    assert all(0.0 <= value <= 1.0 for value in values)
    assert np.mean(values) == pytest.approx(0.5, abs=0.06)


def test_pbo_accepts_a_dataframe_and_drops_the_last_remainder_rows():
    matrix = _blocks([[2, 2, 2, -1], [1, 0, -1, -1], [1, 1, -2, 2]])
    frame = pd.DataFrame(matrix, columns=["A", "B", "C"])
    assert probability_of_backtest_overfitting(frame, n_splits=4) == pytest.approx(4 / 6)
    # 11 rows, S = 4: blocks of 2 rows, the last 3 rows are dropped whatever they hold
    padded = np.vstack([matrix, [[9.0, -9.0, 0.5]] * 3])
    assert probability_of_backtest_overfitting(padded, n_splits=4) == pytest.approx(4 / 6)


def _naive_pbo(matrix: np.ndarray, n_splits: int) -> float:
    """Reference CSCV, written straight from the paper with np.std on each half."""
    n_configs = matrix.shape[1]
    block_size = matrix.shape[0] // n_splits
    blocks = [matrix[k * block_size : (k + 1) * block_size] for k in range(n_splits)]
    logits = []
    for chosen in itertools.combinations(range(n_splits), n_splits // 2):
        rest = [k for k in range(n_splits) if k not in chosen]
        in_sample = np.vstack([blocks[k] for k in chosen])
        out_sample = np.vstack([blocks[k] for k in rest])
        is_sharpe = in_sample.mean(axis=0) / in_sample.std(axis=0, ddof=1)
        oos_sharpe = out_sample.mean(axis=0) / out_sample.std(axis=0, ddof=1)
        rank = rankdata(oos_sharpe)[np.argmax(is_sharpe)]
        omega = rank / (n_configs + 1)
        logits.append(math.log(omega / (1 - omega)))
    return float(np.mean(np.array(logits) <= 0))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_splits=st.sampled_from([2, 4, 6, 8]),
    rows_per_block=st.integers(1, 6),
    extra_rows=st.integers(0, 5),
    n_configs=st.integers(2, 7),
)
def test_pbo_matches_a_direct_implementation(seed, n_splits, rows_per_block, extra_rows, n_configs):
    rows_per_block = max(rows_per_block, 2 if n_splits == 2 else 1)
    n_rows = n_splits * rows_per_block + min(extra_rows, n_splits - 1)
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0005, 0.01, size=(n_rows, n_configs))
    value = probability_of_backtest_overfitting(matrix, n_splits=n_splits)
    assert value == _naive_pbo(matrix, n_splits)
    # a power-of-two rescaling is exact and leaves every Sharpe ratio unchanged
    assert probability_of_backtest_overfitting(matrix * 4.0, n_splits=n_splits) == value


def test_pbo_validation():
    matrix = np.random.default_rng(0).normal(size=(40, 3))
    for bad in (3, 0, 1, -2, 2.0, True):
        with pytest.raises(ConfigError, match=rf"n_splits must be an even int >= 2, got {bad!r}"):
            probability_of_backtest_overfitting(matrix, n_splits=bad)
    with pytest.raises(
        ConfigError, match=r"n_splits must be <= the number of rows .*\(10\), got 12"
    ):
        probability_of_backtest_overfitting(matrix[:10], n_splits=12)
    with pytest.raises(ConfigError, match=r"n_splits must be <= 22"):
        probability_of_backtest_overfitting(np.zeros((100, 3)), n_splits=24)
    with pytest.raises(ConfigError, match=r"at least 2 columns .*got 1"):
        probability_of_backtest_overfitting(matrix[:, :1], n_splits=4)
    with pytest.raises(ConfigError, match=r"at least 4 rows for n_splits=2 .*got 3"):
        probability_of_backtest_overfitting(matrix[:3], n_splits=2)
    with pytest.raises(DataError, match=r"2-D .*got shape \(40,\)"):
        probability_of_backtest_overfitting(matrix[:, 0], n_splits=4)
    bad_matrix = matrix.copy()
    bad_matrix[7, 2] = np.nan
    with pytest.raises(DataError, match=r"finite, got nan at row 7, column 2"):
        probability_of_backtest_overfitting(bad_matrix, n_splits=4)
