"""Purged, calendar-cut walk-forward folds (integer positions into a bar index).

Example::

    folds = static_folds(feats.index, tune_start="2021-01-01", tune_end="2023-12-31", purge=6)
    print(fold_table(folds, feats.index))
"""

from crypto_tune.splits._coverage import coverage_text, period_coverage
from crypto_tune.splits._dates import end_exclusive_ns, start_ns
from crypto_tune.splits._folds import (
    Fold,
    fold_table,
    holdout_split,
    static_folds,
    walk_forward_folds,
)

__all__ = [
    "Fold",
    "coverage_text",
    "end_exclusive_ns",
    "fold_table",
    "holdout_split",
    "period_coverage",
    "start_ns",
    "static_folds",
    "walk_forward_folds",
]
