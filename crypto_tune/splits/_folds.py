"""Purged walk-forward folds on a bar index, cut by calendar time.

Layout of every fold, in bar positions (``p`` = ``purge``)::

    [ train ........ ][ p ][ valid ][ p ][ test ...... ]
    max(train) + p < min(valid)   and   max(valid) + p < min(test)

``valid`` is the END of the train window (for early stopping). The ``p`` bars before ``valid``
and before ``test`` are dropped, so a label looking ``horizon <= purge`` bars ahead from a train
row never reaches the validation or test bars: callers must pass ``purge >= horizon`` of the label.

Boundaries come from the calendar (``tune_start``, ``tune_end``, months or fractions of the
period), never from row counts, so truncating future data never moves a past fold. Only bars
inside the tuning period are used by tuning folds; since every train window ends ``purge`` bars
before a test block that lies inside the tuning period, the last ``purge`` bars before
``tune_end`` are never train or valid rows (their labels look into the holdout); they can be test
rows.

Dates are ISO strings or Timestamps read as UTC (naive means UTC). A start includes bars from that
instant on. An end at midnight (e.g. ``"2023-12-31"``) includes that whole day; an end with a time
of day includes bars up to and including that instant. Fold numbers start at 0.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from crypto_tune._checks import check_int, check_real
from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.splits._dates import end_exclusive_ns, start_ns

DateLike = str | pd.Timestamp | dt.datetime | dt.date | np.datetime64

_MINUTE_NS = 60 * 10**9


@dataclass(frozen=True)
class Fold:
    """One purged split: integer positions into the index it was built on (read-only arrays)."""

    number: int
    train_idx: np.ndarray
    valid_idx: np.ndarray
    test_idx: np.ndarray
    purge: int

    def __post_init__(self) -> None:
        for name in ("train_idx", "valid_idx", "test_idx"):
            arr = np.array(getattr(self, name), dtype=np.int64).reshape(-1)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fold):
            return NotImplemented
        return (
            self.number == other.number
            and self.purge == other.purge
            and np.array_equal(self.train_idx, other.train_idx)
            and np.array_equal(self.valid_idx, other.valid_idx)
            and np.array_equal(self.test_idx, other.test_idx)
        )

    def __hash__(self) -> int:
        return hash(
            (
                self.number,
                self.purge,
                self.train_idx.tobytes(),
                self.valid_idx.tobytes(),
                self.test_idx.tobytes(),
            )
        )

    def describe(self, index: pd.DatetimeIndex) -> dict[str, Any]:
        """First/last bar time and size of each part, e.g. for ``fold_table`` or MLflow params."""
        n_bars = len(index)
        out: dict[str, Any] = {"fold": self.number}
        for part, arr in (
            ("train", self.train_idx),
            ("valid", self.valid_idx),
            ("test", self.test_idx),
        ):
            if arr.size and (arr.min() < 0 or arr.max() >= n_bars):
                raise ConfigError(
                    f"fold {self.number} {part} position {int(arr.max())} is outside "
                    f"an index of {n_bars} bars"
                )
            out[f"{part}_start"] = index[arr[0]] if arr.size else None
            out[f"{part}_end"] = index[arr[-1]] if arr.size else None
        out.update(
            n_train=int(self.train_idx.size),
            n_valid=int(self.valid_idx.size),
            n_test=int(self.test_idx.size),
            purge=self.purge,
        )
        return out


# ----------------------------------------------------------------------------- validation helpers


def _check_fraction(name: str, value: object, high: float) -> float:
    return check_real(name, value, low=0.0, high=high, closed="()", text=f"a float in (0, {high})")


def _fmt(ns: int) -> str:
    return pd.Timestamp(ns, tz="UTC").strftime("%Y-%m-%d %H:%M")


def _index_ns(index: pd.DatetimeIndex) -> np.ndarray:
    """Bar open times as UTC int64 nanoseconds, after checking the index is strictly increasing."""
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(f"index must be a pandas DatetimeIndex, got {type(index).__name__}")
    if not index.is_monotonic_increasing or not index.is_unique:
        raise DataError("index must be strictly increasing (sorted, no duplicate bars)")
    if index.hasnans:
        raise DataError("index must not contain NaT")
    utc = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return utc.as_unit("ns").asi8


def _period(
    index: pd.DatetimeIndex, tune_start: object, tune_end: object
) -> tuple[np.ndarray, int, int, int, int]:
    """(bar times ns, start ns, exclusive end ns, first position, stop position) of the period."""
    times = _index_ns(index)
    start = start_ns("tune_start", tune_start)
    stop = end_exclusive_ns("tune_end", tune_end)
    if start >= stop:
        raise ConfigError(
            f"tune_start must be before tune_end, got {tune_start!r} and {tune_end!r}"
        )
    p0, p1 = np.searchsorted(times, [start, stop], side="left")
    if p1 <= p0:
        raise ConfigError(
            f"split: no bars in the tuning period {_fmt(start)} to {_fmt(stop)} "
            f"(data covers {index[0] if len(index) else 'nothing'} to "
            f"{index[-1] if len(index) else 'nothing'})"
        )
    return times, start, stop, int(p0), int(p1)


def _make_fold(
    number: int,
    *,
    window: tuple[int, int],
    test: tuple[int, int],
    purge: int,
    valid_fraction: float,
    window_label: str,
    test_label: str,
) -> Fold:
    """Split the train window [w0, w1) into train / purge / valid / purge before test [t0, t1)."""
    (w0, w1), (t0, t1) = window, test
    name = "holdout" if number < 0 else f"fold {number}"
    short = "not enough data in the " + ("holdout" if number < 0 else "tuning") + " period"
    if t1 <= t0:
        raise ConfigError(f"split: {name} has no test bars {test_label}: {short}")
    stop = min(w1, t0) - purge  # the window's last kept bar is `purge` bars before the test
    n_window = stop - w0
    n_valid = math.ceil(valid_fraction * n_window - 1e-9) if n_window > 0 else 0
    train_stop = stop - n_valid - purge
    if n_valid < 1:
        raise ConfigError(
            f"split: {name} has no validation bars {window_label} after a purge of {purge}: "
            "not enough data in the tuning period"
        )
    if train_stop <= w0:
        raise ConfigError(
            f"split: {name} has no train bars {window_label} after {n_valid} validation bars "
            f"and two purges of {purge}: not enough data in the tuning period"
        )
    return Fold(
        number=max(number, 0),
        train_idx=np.arange(w0, train_stop),
        valid_idx=np.arange(stop - n_valid, stop),
        test_idx=np.arange(t0, t1),
        purge=purge,
    )


# ------------------------------------------------------------------------------------ splitters


def static_folds(
    index: pd.DatetimeIndex,
    *,
    tune_start: DateLike,
    tune_end: DateLike,
    n_folds: int = 5,
    purge: int,
    valid_fraction: float = 0.15,
    min_train_fraction: float = 0.3,
) -> list[Fold]:
    """Expanding walk-forward validation inside the tuning period.

    The period is cut by calendar time (to the minute) into an initial block of
    ``min_train_fraction`` of its duration and ``n_folds`` equal test blocks; fold ``k`` trains on
    every tuning bar before its test block (minus the purges and the validation slice).
    ``purge`` must be >= the label horizon.
    """
    n_folds = check_int("n_folds", n_folds, low=2)
    purge = check_int("purge", purge, low=0)
    valid_fraction = _check_fraction("valid_fraction", valid_fraction, 0.5)
    min_train_fraction = _check_fraction("min_train_fraction", min_train_fraction, 1.0)
    times, start, stop, p0, p1 = _period(index, tune_start, tune_end)

    first_test = start + round(min_train_fraction * (stop - start))
    cuts = [first_test + (k * (stop - first_test)) // n_folds for k in range(n_folds)]
    cuts = [c - c % _MINUTE_NS for c in cuts] + [stop]  # floor to the minute
    positions = np.searchsorted(times, cuts, side="left")
    folds = []
    for k in range(n_folds):
        t0, t1 = int(positions[k]), min(int(positions[k + 1]), p1)
        folds.append(
            _make_fold(
                k,
                window=(p0, t0),
                test=(t0, t1),
                purge=purge,
                valid_fraction=valid_fraction,
                window_label=f"between {_fmt(start)} and {_fmt(cuts[k])}",
                test_label=f"between {_fmt(cuts[k])} and {_fmt(cuts[k + 1])}",
            )
        )
    return folds


def walk_forward_folds(
    index: pd.DatetimeIndex,
    *,
    tune_start: DateLike,
    tune_end: DateLike,
    train_months: int = 12,
    test_months: int = 3,
    purge: int,
    valid_fraction: float = 0.15,
    expanding: bool = False,
) -> list[Fold]:
    """Retrain every ``test_months``: a ``train_months`` window (anchored at ``tune_start`` when
    ``expanding``) followed by a ``test_months`` test block, stepping through the tuning period.

    Boundaries are ``tune_start + m months``; the last test block is cut at ``tune_end``. The train
    window includes its validation slice and purges. ``purge`` must be >= the label horizon.
    """
    train_months = check_int("train_months", train_months, low=1)
    test_months = check_int("test_months", test_months, low=1)
    purge = check_int("purge", purge, low=0)
    valid_fraction = _check_fraction("valid_fraction", valid_fraction, 0.5)
    if not isinstance(expanding, bool | np.bool_):
        raise ConfigError(f"expanding must be a bool, got {expanding!r}")
    times, start, stop, p0, p1 = _period(index, tune_start, tune_end)
    anchor = pd.Timestamp(start, tz="UTC")

    def month(m: int) -> int:
        return int((anchor + pd.DateOffset(months=m)).as_unit("ns").value)

    folds: list[Fold] = []
    k = 0
    while (test_start := month(train_months + k * test_months)) < stop:
        test_stop = min(month(train_months + (k + 1) * test_months), stop)
        window_start = start if expanding else month(k * test_months)
        w0, t0, t1 = np.searchsorted(times, [window_start, test_start, test_stop], side="left")
        folds.append(
            _make_fold(
                k,
                window=(max(int(w0), p0), int(t0)),
                test=(int(t0), min(int(t1), p1)),
                purge=purge,
                valid_fraction=valid_fraction,
                window_label=f"between {_fmt(window_start)} and {_fmt(test_start)}",
                test_label=f"between {_fmt(test_start)} and {_fmt(test_stop)}",
            )
        )
        k += 1
    if not folds:
        raise ConfigError(
            f"split: the tuning period {_fmt(start)} to {_fmt(stop)} is shorter than "
            f"train_months={train_months}: no walk-forward fold fits"
        )
    return folds


def holdout_split(
    index: pd.DatetimeIndex,
    *,
    tune_start: DateLike,
    tune_end: DateLike,
    holdout_start: DateLike,
    holdout_end: DateLike,
    purge: int,
    valid_fraction: float = 0.15,
) -> Fold:
    """Train (and validate) on the whole tuning period minus ``purge`` bars at its end; test on the
    holdout, which must start after ``tune_end``. Returns one Fold numbered 0.
    """
    purge = check_int("purge", purge, low=0)
    valid_fraction = _check_fraction("valid_fraction", valid_fraction, 0.5)
    times, start, stop, p0, p1 = _period(index, tune_start, tune_end)
    h_start = start_ns("holdout_start", holdout_start)
    h_stop = end_exclusive_ns("holdout_end", holdout_end)
    if h_start < stop:
        raise ConfigError(
            f"holdout_start must be after tune_end, got {holdout_start!r} <= {tune_end!r}"
        )
    if h_start >= h_stop:
        raise ConfigError(
            f"holdout_start must be before holdout_end, got {holdout_start!r} and {holdout_end!r}"
        )
    h0, h1 = np.searchsorted(times, [h_start, h_stop], side="left")
    return _make_fold(
        -1,
        window=(p0, p1),
        test=(int(h0), int(h1)),
        purge=purge,
        valid_fraction=valid_fraction,
        window_label=f"between {_fmt(start)} and {_fmt(stop)}",
        test_label=f"between {_fmt(h_start)} and {_fmt(h_stop)}",
    )


def fold_table(folds: Sequence[Fold], index: pd.DatetimeIndex) -> pd.DataFrame:
    """One row per fold (indexed by fold number): first/last bar of each part and the sizes."""
    rows = [fold.describe(index) for fold in folds]
    empty = np.empty(0, dtype=np.int64)
    columns = list(Fold(0, empty, empty, empty, 0).describe(index))
    return pd.DataFrame(rows, columns=columns).set_index("fold")
