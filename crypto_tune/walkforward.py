"""Walk-forward optimisation, the pure part: window arithmetic and stitching (no I/O, no Optuna).

A walk-forward run cuts ``[start, end]`` into outer windows with
:func:`crypto_tune.splits.walk_forward_folds` (``train_months`` of training, rolling or anchored
at ``start`` when ``expanding``, then ``test_months`` of test). Inside each window's training span
the tuning folds are :func:`crypto_tune.splits.static_folds`, over the bars from the window's
first bar to its last kept bar, ``purge`` bars before the test block::

    [ window's training span ........................ ][ p ][ test ...... ]
    [ inner fold 0 train ][p][v][p][ test ] ...  up to   ^ last kept bar

so no inner row, and no label of one (horizon <= purge), reaches a bar of the window's test
period. The refit trains on the whole span (the outer fold's train and valid bars) and predicts
the test block; the test blocks of consecutive windows are contiguous and are stitched into one
out-of-sample series.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.splits import Fold, static_folds, walk_forward_folds
from crypto_tune.splits._folds import DateLike


@dataclass(frozen=True)
class Window:
    """One walk-forward window: the refit's fold (train span -> test block) and its tuning folds.

    ``refit``: train and valid bars together are the training span, ``test_idx`` the test block;
    ``folds``: the purged folds Phase 1 and Phase 2 of this window tune on (positions into the
    same index, all before ``refit.test_idx[0] - refit.purge``).
    """

    number: int
    refit: Fold
    folds: tuple[Fold, ...]

    @property
    def span(self) -> tuple[int, int]:
        """First and last bar position of the training span (inclusive)."""
        return int(self.refit.train_idx[0]), int(self.refit.valid_idx[-1])

    @property
    def test(self) -> tuple[int, int]:
        """First and last bar position of the test block (inclusive)."""
        return int(self.refit.test_idx[0]), int(self.refit.test_idx[-1])

    def dates(self, index: pd.DatetimeIndex) -> dict[str, str]:
        """First/last bar time of the training span and of the test block (ISO strings)."""
        (a, b), (c, d) = self.span, self.test
        names = ("train_start", "train_end", "test_start", "test_end")
        return {n: index[p].isoformat() for n, p in zip(names, (a, b, c, d), strict=True)}

    def last_tuning_position(self) -> int:
        """The last bar any tuning fold of this window uses (train, valid or test rows)."""
        return max(
            int(max(f.train_idx.max(), f.valid_idx.max(), f.test_idx.max())) for f in self.folds
        )


def _inclusive_end(stamp: pd.Timestamp) -> pd.Timestamp:
    """An end that includes the bar at ``stamp`` and nothing after it.

    (A midnight end means "that whole day" to the splitters; one nanosecond later is an instant.)
    """
    return stamp + pd.Timedelta(1, "ns")


def tuning_folds(
    index: pd.DatetimeIndex,
    *,
    first: int,
    last: int,
    n_folds: int,
    purge: int,
    valid_fraction: float,
    min_train_fraction: float,
) -> list[Fold]:
    """The purged tuning folds over the bars ``first..last`` (positions, inclusive) of ``index``.

    Cut by the calendar from the two bars' times only, so every bar after ``last`` may be
    dropped from ``index`` without moving a fold (what the truncation test checks).
    """
    return static_folds(
        index,
        tune_start=index[first],
        tune_end=_inclusive_end(index[last]),
        n_folds=n_folds,
        purge=purge,
        valid_fraction=valid_fraction,
        min_train_fraction=min_train_fraction,
    )


def walkforward_windows(
    index: pd.DatetimeIndex,
    *,
    start: DateLike,
    end: DateLike,
    train_months: int,
    test_months: int,
    expanding: bool,
    purge: int,
    valid_fraction: float,
    n_folds: int,
    min_train_fraction: float,
) -> list[Window]:
    """The windows of a walk-forward run over ``[start, end]`` (see the module docstring)."""
    outer = walk_forward_folds(
        index,
        tune_start=start,
        tune_end=end,
        train_months=train_months,
        test_months=test_months,
        purge=purge,
        valid_fraction=valid_fraction,
        expanding=expanding,
    )
    windows = []
    for fold in outer:
        first, last = int(fold.train_idx[0]), int(fold.valid_idx[-1])
        try:
            inner = tuning_folds(
                index,
                first=first,
                last=last,
                n_folds=n_folds,
                purge=purge,
                valid_fraction=valid_fraction,
                min_train_fraction=min_train_fraction,
            )
        except ConfigError as exc:
            raise ConfigError(
                f"walkforward window {fold.number} ({index[first]:%Y-%m-%d} to "
                f"{index[last]:%Y-%m-%d}) is too short for split.n_folds={n_folds} tuning "
                f"folds: {exc}"
            ) from None
        window = Window(number=fold.number, refit=fold, folds=tuple(inner))
        if window.last_tuning_position() + purge >= int(fold.test_idx[0]):  # pragma: no cover
            raise AssertionError(f"window {fold.number}: a tuning fold reaches the test block")
        windows.append(window)
    return windows


def stitch(parts: Sequence[pd.Series]) -> pd.Series:
    """The test windows' per-bar returns as one series; refuses overlapping or unordered parts."""
    parts = [p for p in parts if len(p)]
    if not parts:
        raise DataError("stitch: no test window has any bar")
    for before, after in itertools.pairwise(parts):
        if not before.index[-1] < after.index[0]:
            raise DataError(
                f"stitch: test windows overlap or are out of order "
                f"({before.index[-1]} is not before {after.index[0]})"
            )
    out = pd.concat(parts)
    out.name = "returns"
    return out


def window_labels(index: pd.Index, parts: Sequence[pd.Series]) -> np.ndarray:
    """The window number of every bar of the stitched ``index`` (-1 for a bar of no window)."""
    labels = np.full(len(index), -1, dtype=np.int64)
    where = pd.Index(index)
    for number, part in enumerate(parts):
        labels[where.get_indexer(part.index)] = number
    return labels


def efficiency(oos_annual_return: float | None, is_annual_returns: Sequence[float]) -> float | None:
    """Walk-forward efficiency: annualised out-of-sample return over the windows' mean
    annualised in-sample return. None when the in-sample mean is not positive (no ratio means
    anything then) or either side is unknown."""
    finite = [r for r in is_annual_returns if r is not None and math.isfinite(r)]
    if oos_annual_return is None or not math.isfinite(oos_annual_return) or not finite:
        return None
    mean_is = float(np.mean(finite))
    if mean_is <= 0:
        return None
    return float(oos_annual_return / mean_is)


def flat_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A window's ``model_params`` as one flat mapping of numbers and names.

    A basket's are keyed by symbol (``{"ETHUSDT": {"num_leaves": 9, ...}, ...}``): they collapse
    to one member's when every member has the same (a basket's Phase 1 tunes one set for all),
    else become ``SYMBOL.name`` keys. A single asset's are returned as they are.

    >>> flat_params({"A": {"x": 1}, "B": {"x": 1}}), flat_params({"A": {"x": 1}, "B": {"x": 2}})
    ({'x': 1}, {'A.x': 1, 'B.x': 2})
    """
    nested = [v for v in params.values() if isinstance(v, Mapping)]
    if not params or len(nested) != len(params):
        return dict(params)
    if all(v == nested[0] for v in nested):
        return dict(nested[0])
    return {f"{symbol}.{k}": v for symbol, member in params.items() for k, v in member.items()}


__all__ = [
    "Window",
    "efficiency",
    "flat_params",
    "stitch",
    "tuning_folds",
    "walkforward_windows",
    "window_labels",
]
