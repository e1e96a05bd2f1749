"""The headline guarantee: nothing computed for bar t depends on bars after t, and folds are purged.

Property tests truncate a seeded random walk at a random bar T (or scramble everything after it)
and check that features, labels, regimes and fold boundaries for the past do not move.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto_tune.exceptions import ConfigError
from crypto_tune.features import compute_features, forward_return
from crypto_tune.regimes import volatility_regime
from crypto_tune.splits import Fold, holdout_split, static_folds, walk_forward_folds

SETTINGS = settings(max_examples=40, deadline=None)
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
SIZES = st.integers(min_value=600, max_value=1500)


def random_walk(seed: int, n: int) -> pd.DataFrame:
    """4h candles from a seeded random walk with volatility clusters, a few zero-volume bars and
    a few flat bars (high == low), so the NaN-guard paths are exercised too."""
    rng = np.random.default_rng(seed)
    sigma = 0.006 * np.exp(np.cumsum(rng.normal(0.0, 0.08, n)).clip(-2.0, 2.0))
    close = 100.0 * np.exp(np.cumsum(rng.standard_t(4, n) * sigma))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * (1.0 + rng.exponential(0.004, n))
    low = np.minimum(open_, close) * (1.0 - rng.exponential(0.004, n))
    flat = rng.random(n) < 0.005
    open_[flat] = high[flat] = low[flat] = close[flat]
    volume = rng.lognormal(5.0, 0.7, n) * (rng.random(n) > 0.005)
    index = pd.date_range("2021-01-01", periods=n, freq="4h", tz="UTC")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


def scramble_after(candles: pd.DataFrame, cut: int, seed: int) -> pd.DataFrame:
    """Same past, a completely different (but valid) future from bar ``cut`` on."""
    other = random_walk(seed + 1, len(candles)) * 3.0
    out = candles.copy()
    out.iloc[cut:] = other.iloc[cut:].to_numpy()
    return out


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, n=SIZES, data=st.data())
def test_features_are_causal(seed: int, n: int, data: st.DataObject) -> None:
    candles = random_walk(seed, n)
    cut = data.draw(st.integers(min_value=1, max_value=n), label="T")
    full = compute_features(candles)
    assert full.iloc[200:].notna().to_numpy().mean() > 0.9  # not vacuous: mostly defined
    for past in (
        compute_features(candles.iloc[:cut]),
        compute_features(scramble_after(candles, cut, seed)).iloc[:cut],
    ):
        pd.testing.assert_frame_equal(past, full.iloc[:cut], check_exact=False, rtol=1e-9, atol=0)


@SETTINGS
@given(seed=SEEDS, n=SIZES, horizon=st.integers(min_value=1, max_value=30), data=st.data())
def test_label_only_looks_horizon_ahead(
    seed: int, n: int, horizon: int, data: st.DataObject
) -> None:
    candles = random_walk(seed, n)
    cut = data.draw(st.integers(min_value=1, max_value=n), label="T")
    full = forward_return(candles, horizon=horizon)
    part = forward_return(candles.iloc[:cut], horizon=horizon)
    defined = max(cut - horizon, 0)  # rows t with t + horizon < T
    pd.testing.assert_series_equal(part.iloc[:defined], full.iloc[:defined], rtol=1e-9, atol=0)
    assert part.iloc[:defined].notna().all()
    assert part.iloc[defined:].isna().all() and len(part) - defined == min(horizon, cut)


@SETTINGS
@given(
    seed=SEEDS,
    n=SIZES,
    window=st.integers(min_value=2, max_value=40),
    lookback=st.integers(min_value=20, max_value=400),
    quantile=st.floats(min_value=0.1, max_value=0.9),
    data=st.data(),
)
def test_regimes_are_causal(
    seed: int, n: int, window: int, lookback: int, quantile: float, data: st.DataObject
) -> None:
    candles = random_walk(seed, n)
    cut = data.draw(st.integers(min_value=1, max_value=n), label="T")
    options = {"window": window, "lookback": lookback, "quantile": quantile, "min_periods": 10}
    full = volatility_regime(candles, **options)
    assert (full.iloc[window + 10 :] != "unknown").all()
    for past in (
        volatility_regime(candles.iloc[:cut], **options),
        volatility_regime(scramble_after(candles, cut, seed), **options).iloc[:cut],
    ):
        pd.testing.assert_series_equal(past, full.iloc[:cut])


def check_truncated_folds(full: list[Fold], make, cut: int) -> None:
    """Folds on index[:cut] equal the full ones for every fold whose test block ends before cut."""
    if any(f.test_idx[0] >= cut for f in full):
        with pytest.raises(ConfigError, match=r"^split: fold \d+ has no test bars between"):
            make(cut)
        return
    part = make(cut)
    assert len(part) == len(full)
    for old, new in zip(full, part, strict=True):
        if old.test_idx[-1] < cut:
            assert new == old
        else:  # the block the truncation falls in: same past, test cut short
            np.testing.assert_array_equal(new.train_idx, old.train_idx)
            np.testing.assert_array_equal(new.valid_idx, old.valid_idx)
            np.testing.assert_array_equal(new.test_idx, old.test_idx[old.test_idx < cut])


@SETTINGS
@given(
    n=SIZES,
    n_folds=st.integers(min_value=2, max_value=6),
    purge=st.integers(min_value=0, max_value=12),
    valid_fraction=st.floats(min_value=0.05, max_value=0.45),
    min_train_fraction=st.floats(min_value=0.2, max_value=0.6),
    data=st.data(),
)
def test_static_fold_boundaries_ignore_the_future(
    n: int,
    n_folds: int,
    purge: int,
    valid_fraction: float,
    min_train_fraction: float,
    data: st.DataObject,
) -> None:
    index = pd.date_range("2021-01-01", periods=n, freq="4h", tz="UTC")
    tune_end = index[int(0.85 * n)].strftime("%Y-%m-%d")
    options = {
        "tune_start": "2021-01-01",
        "tune_end": tune_end,
        "n_folds": n_folds,
        "purge": purge,
        "valid_fraction": valid_fraction,
        "min_train_fraction": min_train_fraction,
    }
    full = static_folds(index, **options)
    cut = data.draw(st.integers(min_value=n // 3, max_value=n), label="T")
    check_truncated_folds(full, lambda t: static_folds(index[:t], **options), cut)


@SETTINGS
@given(
    n=SIZES,
    train_months=st.integers(min_value=1, max_value=2),
    purge=st.integers(min_value=0, max_value=12),
    expanding=st.booleans(),
    data=st.data(),
)
def test_walk_forward_boundaries_ignore_the_future(
    n: int, train_months: int, purge: int, expanding: bool, data: st.DataObject
) -> None:
    index = pd.date_range("2021-01-01", periods=n, freq="4h", tz="UTC")
    options = {
        "tune_start": "2021-01-01",
        "tune_end": index[int(0.9 * n)].strftime("%Y-%m-%d"),
        "train_months": train_months,
        "test_months": 1,
        "purge": purge,
        "expanding": expanding,
    }
    full = walk_forward_folds(index, **options)
    cut = data.draw(st.integers(min_value=n // 2, max_value=n), label="T")
    check_truncated_folds(full, lambda t: walk_forward_folds(index[:t], **options), cut)


def check_purged(fold: Fold, horizon: int) -> None:
    """train | purge | valid | purge | test, and no label of a train/valid row reaches past it."""
    train, valid, test, purge = fold.train_idx, fold.valid_idx, fold.test_idx, fold.purge
    assert train.size and valid.size and test.size
    for part in (train, valid, test):
        assert (np.diff(part) > 0).all()
    assert not set(train) & set(test) and not set(train) & set(valid) and not set(valid) & set(test)
    assert train.max() + purge < valid.min()
    assert valid.max() + purge < test.min()
    assert not ((train >= test.min() - purge) & (train < test.min())).any()
    # with purge >= horizon, the label of the last train row ends before the first valid bar
    assert train.max() + horizon < valid.min() and valid.max() + horizon < test.min()


@SETTINGS
@given(
    n=SIZES,
    horizon=st.integers(min_value=1, max_value=12),
    extra=st.integers(min_value=0, max_value=6),
    valid_fraction=st.floats(min_value=0.05, max_value=0.45),
    gap_days=st.integers(min_value=0, max_value=5),
)
def test_folds_are_purged_and_holdout_stays_out(
    n: int, horizon: int, extra: int, valid_fraction: float, gap_days: int
) -> None:
    index = pd.date_range("2021-01-01", periods=n, freq="4h", tz="UTC")
    purge = horizon + extra  # callers pass purge >= label horizon
    tune_end = index[int(0.75 * n)].normalize()
    holdout_start = tune_end + pd.Timedelta(days=1 + gap_days)
    period = {"tune_start": "2021-01-01", "tune_end": tune_end.strftime("%Y-%m-%d")}
    holdout = holdout_split(
        index, **period, holdout_start=holdout_start, holdout_end=index[-1],
        purge=purge, valid_fraction=valid_fraction,
    )  # fmt: skip
    tuning = [
        *static_folds(index, **period, purge=purge, valid_fraction=valid_fraction),
        *walk_forward_folds(
            index, **period, train_months=1, test_months=1, purge=purge,
            valid_fraction=valid_fraction,
        ),
    ]  # fmt: skip
    tune_stop = int(index.searchsorted(tune_end + pd.Timedelta(days=1)))  # first bar after
    for fold in [*tuning, holdout]:
        check_purged(fold, horizon)
    holdout_bars = set(holdout.test_idx)
    assert min(holdout_bars) >= tune_stop + 6 * gap_days
    for fold in tuning:
        used = np.r_[fold.train_idx, fold.valid_idx, fold.test_idx]
        assert not holdout_bars & set(used)
        assert used.max() < tune_stop
        # the last `purge` bars of the tuning period label into the holdout: never train/valid
        assert np.r_[fold.train_idx, fold.valid_idx].max() < tune_stop - purge
    assert holdout.valid_idx.max() == tune_stop - purge - 1
