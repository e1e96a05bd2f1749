"""Information coefficient, rank IC, ICIR, hit rate and the per-fold summary."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from crypto_tune.exceptions import DataError
from crypto_tune.metrics import (
    hit_rate,
    ic_summary,
    information_coefficient,
    information_ratio,
    rank_information_coefficient,
)

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


# --- hand-computed values -------------------------------------------------------------------


def test_ic_hand_computed():
    # deviations (-1.5, -.5, .5, 1.5) and (-1.5, .5, -.5, 1.5): covariance sum 4, sums of squares 5
    assert information_coefficient([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8, abs=1e-15)
    assert information_coefficient([1, 2, 3, 4], [8, 6, 4, 2]) == pytest.approx(-1.0)


def test_rank_ic_averages_tied_ranks():
    # predictions ranks (1, 2.5, 2.5, 4); targets ranks (1, 2, 3, 4):
    # covariance sum 2.25 + 0 + 0 + 2.25 = 4.5, sums of squares 4.5 and 5 -> 4.5/sqrt(22.5)
    value = rank_information_coefficient([1, 2, 2, 3], [1, 2, 3, 4])
    assert value == pytest.approx(3 / math.sqrt(10), abs=1e-12)
    # "min" ranks (1, 2, 2, 4) would give 4.5 / sqrt(5 * 4.75) = 0.9233, not 0.9487
    assert value != pytest.approx(4.5 / math.sqrt(5 * 4.75), abs=1e-3)


def test_rank_ic_differs_from_pearson_on_an_outlier():
    predictions, targets = [1, 2, 3, 100], [1, 2, 3, 4]
    assert rank_information_coefficient(predictions, targets) == pytest.approx(1.0)
    assert information_coefficient(predictions, targets) < 0.8


def test_ic_uses_only_pairs_where_both_are_finite():
    # kept pairs: (1, 1), (2, 3), (3, 2) -> deviations (-1, 0, 1), (-1, 1, 0) -> 1 / 2
    predictions = [1.0, np.nan, 2.0, 3.0, 4.0]
    targets = [1.0, 5.0, 3.0, 2.0, np.nan]
    assert information_coefficient(predictions, targets) == pytest.approx(0.5)
    assert rank_information_coefficient(predictions, targets) == pytest.approx(0.5)


def test_hit_rate_excludes_zeros():
    predictions = [0.1, -0.2, 0.3, 0.0, -0.1, 0.2]
    targets = [0.05, -0.1, -0.2, 0.3, 0.0, 0.1]
    # pairs 3 (prediction 0) and 4 (target 0) dropped; hits at 0, 1, 5; miss at 2 -> 3/4
    assert hit_rate(predictions, targets) == pytest.approx(0.75)


def test_information_ratio_hand_computed():
    # mean 0.2, std(ddof=1) 0.1
    assert information_ratio([0.1, 0.2, 0.3]) == pytest.approx(2.0)
    # mean 0.02, deviations (.03, -.03, .01, -.01) -> std sqrt(0.002/3)
    assert information_ratio([0.05, -0.01, 0.03, 0.01]) == pytest.approx(
        0.02 / math.sqrt(0.002 / 3)
    )


# --- degenerate input -> NaN -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("predictions", "targets"),
    [
        ([1.0, 2.0], [2.0, 1.0]),  # two pairs: any correlation would be +-1
        ([1.0, 2.0, np.nan, 4.0], [1.0, np.nan, 3.0, 2.0]),  # two finite pairs left
        ([0.3, 0.3, 0.3, 0.3], [1.0, 2.0, 3.0, 4.0]),  # constant predictions
        ([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]),  # constant targets
        ([], []),
    ],
)
def test_degenerate_correlations_are_nan(predictions, targets):
    assert math.isnan(information_coefficient(predictions, targets))
    assert math.isnan(rank_information_coefficient(predictions, targets))


def test_degenerate_hit_rate_and_ratio_are_nan():
    assert math.isnan(hit_rate([0.0, 1.0], [1.0, 0.0]))
    assert math.isnan(information_ratio([0.1]))
    assert math.isnan(information_ratio([0.1, 0.1, 0.1]))
    assert math.isnan(information_ratio([0.1, np.nan, 0.3]))  # NaN propagates


# --- validation ------------------------------------------------------------------------------


def test_length_mismatch_is_a_data_error():
    with pytest.raises(DataError, match=r"one length, got 3 and 2"):
        information_coefficient([1, 2, 3], [1, 2])


def test_misaligned_series_are_refused():
    predictions = pd.Series([1.0, 2.0, 3.0], index=[0, 1, 2])
    targets = pd.Series([1.0, 2.0, 3.0], index=[1, 2, 3])
    with pytest.raises(DataError, match="different indexes"):
        information_coefficient(predictions, targets)
    aligned = pd.Series([3.0, 1.0, 2.0], index=[0, 1, 2])
    assert information_coefficient(predictions, aligned) == pytest.approx(-0.5)


def test_infinite_and_two_dimensional_inputs_are_data_errors():
    with pytest.raises(DataError, match=r"predictions must be finite, got inf at position 1"):
        information_coefficient([1.0, np.inf, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(DataError, match=r"targets must be 1-D, got shape \(3, 1\)"):
        hit_rate([1.0, 2.0, 3.0], np.ones((3, 1)))
    with pytest.raises(DataError, match="predictions must be numeric"):
        information_coefficient(["a", "b", "c"], [1.0, 2.0, 3.0])


# --- per-fold summary ------------------------------------------------------------------------


def test_ic_summary_per_fold_and_aggregates():
    folds = [
        ([1, 2, 3, 4], [1, 3, 2, 4]),  # IC 0.8, rank IC 0.8, hit rate 1
        (np.array([1.0, 2.0, 3.0, 4.0]), np.array([4.0, 3.0, -1.0, 2.0])),
    ]
    # fold 2: deviations (-1.5, -.5, .5, 1.5), (2, 1, -3, 0): cov -3 -.5 -1.5 + 0 = -5,
    # sums of squares 5 and 14 -> -5/sqrt(70); ranks of targets (4, 3, 1, 2) -> rank IC -0.8;
    # signs: all predictions > 0, targets (+, +, -, +) -> hit rate 3/4
    summary = ic_summary(folds)
    ic2 = -5 / math.sqrt(70)
    assert summary["fold_ic"] == pytest.approx([0.8, ic2])
    assert summary["fold_rank_ic"] == pytest.approx([0.8, -0.8])
    assert summary["fold_hit_rate"] == pytest.approx([1.0, 0.75])
    assert summary["fold_n_obs"] == [4, 4]
    assert summary["mean_ic"] == pytest.approx((0.8 + ic2) / 2)
    assert summary["mean_rank_ic"] == pytest.approx(0.0, abs=1e-15)
    assert summary["mean_hit_rate"] == pytest.approx(0.875)
    assert summary["icir"] == pytest.approx(information_ratio([0.8, ic2]))
    assert summary["rank_icir"] == pytest.approx(0.0, abs=1e-15)
    assert summary["n_folds"] == 2
    assert summary["n_valid_folds"] == 2
    assert set(summary) == {
        "fold_ic",
        "fold_rank_ic",
        "fold_hit_rate",
        "fold_n_obs",
        "mean_ic",
        "mean_rank_ic",
        "mean_hit_rate",
        "icir",
        "rank_icir",
        "n_folds",
        "n_valid_folds",
    }


def test_ic_summary_propagates_a_degenerate_fold():
    folds = [([1, 2, 3, 4], [1, 3, 2, 4]), ([5, 5, 5, 5], [1, 2, 3, 4])]  # constant model
    summary = ic_summary(folds)
    assert summary["fold_ic"][0] == pytest.approx(0.8)
    assert math.isnan(summary["fold_ic"][1])
    assert math.isnan(summary["mean_ic"])
    assert math.isnan(summary["icir"])
    assert summary["n_valid_folds"] == 1


def test_ic_summary_validation():
    with pytest.raises(DataError, match="at least one"):
        ic_summary([])
    with pytest.raises(DataError, match=r"fold_predictions\[1\] must be a \(predictions"):
        ic_summary([([1, 2, 3], [1, 2, 3]), ([1, 2, 3],)])
    with pytest.raises(DataError, match="must be a sequence"):
        ic_summary(np.ones((2, 2, 3)))


# --- properties ------------------------------------------------------------------------------

_floats = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
_pair = st.integers(3, 40).flatmap(
    lambda n: st.tuples(
        arrays(np.float64, n, elements=_floats), arrays(np.float64, n, elements=_floats)
    )
)


@settings(max_examples=50, deadline=None)
@given(pair=_pair, scale=st.floats(0.1, 10.0), shift=st.floats(-10.0, 10.0))
def test_ic_is_invariant_to_positive_affine_maps(pair, scale, shift):
    x, y = pair
    assume(np.ptp(x) > 1e-3 and np.ptp(y) > 1e-3)
    ic = information_coefficient(x, y)
    assert -1.0 <= ic <= 1.0
    assert information_coefficient(scale * x + shift, y) == pytest.approx(ic, abs=1e-7)
    assert information_coefficient(-x, y) == pytest.approx(-ic, abs=1e-12)
    assert information_coefficient(y, x) == pytest.approx(ic, abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(
    pair=st.integers(3, 30).flatmap(
        lambda n: st.tuples(
            arrays(np.int64, n, elements=st.integers(-20, 20)),
            arrays(np.int64, n, elements=st.integers(-20, 20)),
        )
    )
)
def test_rank_ic_is_invariant_to_monotone_maps(pair):
    x, y = (v.astype(float) for v in pair)  # small integers: ties are frequent
    value = rank_information_coefficient(x, y)
    transformed = rank_information_coefficient(2 * x**3 + 5, np.exp(y / 10))
    if math.isnan(value):
        assert math.isnan(transformed)
    else:
        assert transformed == pytest.approx(value, abs=1e-12)
        assert -1.0 <= value <= 1.0


@settings(max_examples=50, deadline=None)
@given(pair=_pair)
def test_hit_rate_of_negated_predictions_is_the_complement(pair):
    x, y = pair
    rate = hit_rate(x, y)
    if math.isnan(rate):
        assert math.isnan(hit_rate(-x, y))
    else:
        assert 0.0 <= rate <= 1.0
        assert hit_rate(-x, y) == pytest.approx(1.0 - rate)


# --- real data -------------------------------------------------------------------------------


def test_ic_matches_pandas_on_eth_4h():
    path = DATA_DIR / "binance_ETHUSDT_4h.csv"
    if not path.exists():
        pytest.skip(f"{path} not present")
    close = pd.read_csv(path, usecols=["close"])["close"]
    past = close.pct_change(6)  # 24h momentum as the "prediction"
    future = close.shift(-1) / close - 1.0  # next-bar return; NaN on the last bar
    ic = information_coefficient(past, future)
    assert ic == pytest.approx(past.corr(future), abs=1e-12)
    assert rank_information_coefficient(past, future) == pytest.approx(
        past.corr(future, method="spearman"), abs=1e-12
    )
    assert abs(ic) < 0.2  # momentum barely predicts a 4h return
