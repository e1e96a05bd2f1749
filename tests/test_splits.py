"""Purged calendar folds: hand-checked positions, date rules, validation and the fold table."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.splits import Fold, fold_table, holdout_split, static_folds, walk_forward_folds

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DAILY_100 = pd.date_range("2021-01-01", periods=100, freq="D", tz="UTC")  # 2021-01-01 .. 04-10
DAILY_2021 = pd.date_range("2021-01-01", "2021-12-31", freq="D", tz="UTC")


def rng(start: int, stop: int) -> np.ndarray:
    return np.arange(start, stop)


def test_static_folds_hand_checked() -> None:
    # 100 days; the first 30 are the initial train block, then 5 test blocks of 14 days.
    folds = static_folds(
        DAILY_100,
        tune_start="2021-01-01",
        tune_end="2021-04-10",
        n_folds=5,
        purge=2,
        valid_fraction=0.25,
    )
    assert [f.number for f in folds] == [0, 1, 2, 3, 4]
    assert [(f.test_idx[0], f.test_idx[-1]) for f in folds] == [
        (30, 43),
        (44, 57),
        (58, 71),
        (72, 85),
        (86, 99),
    ]
    # fold 0: window [0, 30) -> kept [0, 28), valid = ceil(0.25 * 28) = 7 bars, purge 2 before it
    first = folds[0]
    np.testing.assert_array_equal(first.valid_idx, rng(21, 28))
    np.testing.assert_array_equal(first.train_idx, rng(0, 19))
    # fold 4: window [0, 86) -> kept [0, 84), valid = ceil(0.25 * 84) = 21 bars
    last = folds[4]
    np.testing.assert_array_equal(last.valid_idx, rng(63, 84))
    np.testing.assert_array_equal(last.train_idx, rng(0, 61))
    assert all(f.purge == 2 for f in folds)


def test_static_folds_ceil_valid_size_without_float_noise() -> None:
    # 0.07 * 100 is 7.000000000000001 in floats: the validation slice must still be 7 bars
    index = pd.date_range("2021-01-01", periods=200, freq="D", tz="UTC")
    folds = static_folds(
        index, tune_start="2021-01-01", tune_end="2021-07-19", n_folds=2, purge=0,
        valid_fraction=0.07, min_train_fraction=0.5,
    )  # fmt: skip
    assert folds[0].test_idx[0] == 100
    np.testing.assert_array_equal(folds[0].valid_idx, rng(93, 100))


def test_walk_forward_rolling_hand_checked() -> None:
    folds = walk_forward_folds(
        DAILY_2021,
        tune_start="2021-01-01",
        tune_end="2021-12-31",
        train_months=6,
        test_months=2,
        purge=3,
        valid_fraction=0.1,
    )
    # tests start on Jul 1 (day 181), Sep 1 (243), Nov 1 (304); the last ends on Dec 31
    assert [(f.test_idx[0], f.test_idx[-1]) for f in folds] == [(181, 242), (243, 303), (304, 364)]
    # fold 0: window Jan 1 - Jun 30 = [0, 181) -> kept [0, 178), valid ceil(17.8) = 18 bars
    np.testing.assert_array_equal(folds[0].valid_idx, rng(160, 178))
    np.testing.assert_array_equal(folds[0].train_idx, rng(0, 157))
    # fold 1 rolls: window Mar 1 - Aug 31 = [59, 243) -> kept [59, 240), valid ceil(18.1) = 19
    np.testing.assert_array_equal(folds[1].valid_idx, rng(221, 240))
    np.testing.assert_array_equal(folds[1].train_idx, rng(59, 218))
    assert folds[2].train_idx[0] == 120  # May 1


def test_walk_forward_expanding_anchors_start() -> None:
    folds = walk_forward_folds(
        DAILY_2021, tune_start="2021-01-01", tune_end="2021-12-31", train_months=6,
        test_months=2, purge=3, valid_fraction=0.1, expanding=True,
    )  # fmt: skip
    assert [f.train_idx[0] for f in folds] == [0, 0, 0]
    # fold 2: window [0, 304) -> kept [0, 301), valid ceil(30.1) = 31 bars
    np.testing.assert_array_equal(folds[2].valid_idx, rng(270, 301))
    np.testing.assert_array_equal(folds[2].train_idx, rng(0, 267))


def test_walk_forward_month_end_anchor_is_clipped_not_drifting() -> None:
    # anchored at Jan 31: boundaries Feb 28, Mar 31, Apr 30 (each from the anchor, no drift)
    index = pd.date_range("2021-01-31", "2021-05-15", freq="D", tz="UTC")
    folds = walk_forward_folds(
        index, tune_start="2021-01-31", tune_end="2021-05-15", train_months=1,
        test_months=1, purge=0,
    )  # fmt: skip
    starts = [index[f.test_idx[0]].strftime("%m-%d") for f in folds]
    assert starts == ["02-28", "03-31", "04-30"]


def test_holdout_split_hand_checked() -> None:
    fold = holdout_split(
        DAILY_100,
        tune_start="2021-01-01",
        tune_end="2021-03-11",  # days 0..69
        holdout_start="2021-03-15",  # day 73
        holdout_end="2021-04-01",  # day 90
        purge=5,
        valid_fraction=0.1,
    )
    # window [0, 70) minus purge 5 at tune_end -> kept [0, 65); valid ceil(6.5) = 7 bars
    np.testing.assert_array_equal(fold.valid_idx, rng(58, 65))
    np.testing.assert_array_equal(fold.train_idx, rng(0, 53))
    np.testing.assert_array_equal(fold.test_idx, rng(73, 91))
    assert fold.number == 0


def test_end_date_includes_whole_day_and_instant_is_inclusive() -> None:
    index = pd.date_range("2023-12-01", "2024-01-10", freq="4h", tz="UTC")
    fold = holdout_split(
        index, tune_start="2023-12-01", tune_end="2023-12-31", holdout_start="2024-01-01",
        holdout_end="2024-01-02", purge=0,
    )  # fmt: skip
    assert index[fold.valid_idx[-1]] == pd.Timestamp("2023-12-31T20:00Z")
    assert index[fold.test_idx[-1]] == pd.Timestamp("2024-01-02T20:00Z")
    # a time of day is an inclusive instant; naive and other-zone values are read as UTC
    fold = holdout_split(
        index, tune_start=pd.Timestamp("2023-12-01"), tune_end="2023-12-31T08:00",
        holdout_start=pd.Timestamp("2024-01-01T01:00", tz="Europe/Paris"),
        holdout_end="2024-01-01T08:00Z", purge=0,
    )  # fmt: skip
    assert index[fold.valid_idx[-1]] == pd.Timestamp("2023-12-31T08:00Z")
    assert [str(t.time()) for t in index[fold.test_idx]] == ["00:00:00", "04:00:00", "08:00:00"]


def test_naive_index_is_read_as_utc() -> None:
    aware = static_folds(DAILY_100, tune_start="2021-01-01", tune_end="2021-04-10", purge=1)
    naive = static_folds(
        DAILY_100.tz_localize(None), tune_start="2021-01-01", tune_end="2021-04-10", purge=1
    )
    assert aware == naive


def test_tuning_folds_use_only_the_tuning_period() -> None:
    folds = static_folds(DAILY_100, tune_start="2021-01-11", tune_end="2021-03-31", purge=3)
    used = np.concatenate([np.r_[f.train_idx, f.valid_idx, f.test_idx] for f in folds])
    assert used.min() == 10 and used.max() == 89  # 2021-01-11 .. 2021-03-31
    # train and valid rows stop `purge` bars before tune_end: their labels stay inside the period
    assert max(np.r_[f.train_idx, f.valid_idx].max() for f in folds) < 89 - 3 + 1


def test_fold_is_frozen_read_only_and_comparable() -> None:
    fold = Fold(number=1, train_idx=[0, 1], valid_idx=[3], test_idx=[5, 6], purge=1)
    assert fold.train_idx.dtype == np.int64
    with pytest.raises(dataclasses.FrozenInstanceError):
        fold.purge = 2  # type: ignore[misc]
    with pytest.raises(ValueError):
        fold.train_idx[0] = 9
    assert fold == Fold(1, np.array([0, 1]), np.array([3]), np.array([5, 6]), 1)
    assert fold != Fold(1, np.array([0, 1]), np.array([3]), np.array([5, 7]), 1)
    assert len({fold, Fold(1, [0, 1], [3], [5, 6], 1)}) == 1


def test_describe_and_fold_table() -> None:
    folds = static_folds(DAILY_100, tune_start="2021-01-01", tune_end="2021-04-10", purge=2,
                         valid_fraction=0.25)  # fmt: skip
    info = folds[0].describe(DAILY_100)
    assert list(info) == [
        "fold", "train_start", "train_end", "valid_start", "valid_end", "test_start",
        "test_end", "n_train", "n_valid", "n_test", "purge",
    ]  # fmt: skip
    assert info["train_end"] == pd.Timestamp("2021-01-19", tz="UTC")  # position 18
    assert info["test_start"] == pd.Timestamp("2021-01-31", tz="UTC")  # position 30
    assert (info["n_train"], info["n_valid"], info["n_test"], info["purge"]) == (19, 7, 14, 2)
    table = fold_table(folds, DAILY_100)
    assert list(table.index) == [0, 1, 2, 3, 4] and table.index.name == "fold"
    assert table["n_test"].tolist() == [14, 14, 14, 14, 14]
    with pytest.raises(ConfigError, match="outside an index of 50 bars"):
        folds[4].describe(DAILY_100[:50])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_folds": 1}, r"^n_folds must be an int >= 2, got 1$"),
        ({"n_folds": 2.0}, r"^n_folds must be an int >= 2, got 2.0$"),
        ({"purge": -1}, r"^purge must be an int >= 0, got -1$"),
        ({"valid_fraction": 0.5}, r"^valid_fraction must be a float in \(0, 0.5\), got 0.5$"),
        ({"valid_fraction": 0}, r"^valid_fraction must be a float in \(0, 0.5\), got 0$"),
        ({"min_train_fraction": 1.0}, r"^min_train_fraction must be a float in \(0, 1.0\)"),
        ({"tune_start": "2021-05-01"}, r"^tune_start must be before tune_end, got '2021-05-01'"),
        ({"tune_start": "not a date"}, r"^tune_start must be an ISO date or a Timestamp"),
        ({"tune_end": None}, r"^tune_end must be an ISO date or a Timestamp, got None$"),
        ({"tune_start": "2019-01-01", "tune_end": "2019-12-31"}, r"^split: no bars in the tuning"),
        ({"purge": 60}, r"^split: fold 0 has no validation bars between 2021-01-01 00:00 and "),
        # window of 30 days, 16 kept after the purge, 3 valid, then 14 more purged: none left
        (
            {"purge": 14},
            r"^split: fold 0 has no train bars between 2021-01-01 00:00 and 2021-01-31",
        ),
    ],
)
def test_static_folds_validation(kwargs: dict, message: str) -> None:
    args = {"tune_start": "2021-01-01", "tune_end": "2021-04-10", "purge": 2} | kwargs
    with pytest.raises(ConfigError, match=message):
        static_folds(DAILY_100, **args)


def test_missing_future_data_names_the_empty_fold() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^split: fold 3 has no test bars between 2021-03-14 00:00 and 2021-03-28 00:00: "
        r"not enough data in the tuning period$",
    ):
        static_folds(DAILY_100[:70], tune_start="2021-01-01", tune_end="2021-04-10", purge=2)


def test_walk_forward_and_holdout_validation() -> None:
    base = {"tune_start": "2021-01-01", "tune_end": "2021-12-31", "purge": 1}
    with pytest.raises(ConfigError, match=r"^train_months must be an int >= 1, got 0$"):
        walk_forward_folds(DAILY_2021, train_months=0, **base)
    with pytest.raises(ConfigError, match=r"^test_months must be an int >= 1, got 1.5$"):
        walk_forward_folds(DAILY_2021, test_months=1.5, **base)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^expanding must be a bool, got 'yes'$"):
        walk_forward_folds(DAILY_2021, expanding="yes", **base)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"shorter than train_months=12: no walk-forward fold"):
        walk_forward_folds(DAILY_2021, train_months=12, **base)
    hold = {"holdout_start": "2021-12-01", "holdout_end": "2021-12-31", "purge": 1}
    with pytest.raises(ConfigError, match=r"^holdout_start must be after tune_end"):
        holdout_split(DAILY_2021, tune_start="2021-01-01", tune_end="2021-12-01", **hold)
    with pytest.raises(ConfigError, match=r"^split: holdout has no test bars between 2022-"):
        holdout_split(
            DAILY_2021, tune_start="2021-01-01", tune_end="2021-11-30", purge=1,
            holdout_start="2022-01-01", holdout_end="2022-02-01",
        )  # fmt: skip


def test_bad_index_is_a_data_error() -> None:
    with pytest.raises(DataError, match="strictly increasing"):
        static_folds(DAILY_100[::-1], tune_start="2021-01-01", tune_end="2021-04-10", purge=1)
    with pytest.raises(DataError, match="DatetimeIndex"):
        static_folds(pd.RangeIndex(100), tune_start="2021-01-01", tune_end="2021-04-10", purge=1)


def test_real_eth_4h_layout() -> None:
    path = DATA / "binance_ETHUSDT_4h.csv"
    if not path.exists():
        pytest.skip(f"{path} not available")
    index = pd.read_csv(path, index_col=0, parse_dates=True).index
    folds = static_folds(index, tune_start="2021-01-01", tune_end="2023-12-31", purge=6)
    hold = holdout_split(index, tune_start="2021-01-01", tune_end="2023-12-31",
                         holdout_start="2024-01-01", holdout_end="2025-12-31", purge=6)  # fmt: skip
    table = fold_table([*folds, hold], index)
    assert table["test_end"].iloc[4] == pd.Timestamp("2023-12-31T20:00Z")
    assert table["test_start"].iloc[5] == pd.Timestamp("2024-01-01T00:00Z")
    assert table["valid_end"].iloc[5] == pd.Timestamp("2023-12-30T20:00Z")  # 6 bars purged
    # equal calendar blocks of about 153 days -> about 920 4h bars each
    assert table["n_test"].iloc[:5].between(900, 925).all()
