"""The quantile rule: the prediction's rank among its own trailing ``signal_window`` bars,
scaled to [-1, 1] (1: the highest of the window, -1: the lowest, 0: the median), long above
``entry``, short below ``-entry``, a held side flattened inside ``+-exit``.

Scale-free like the z-score and, unlike it, blind to how far a prediction stands out: only its
order counts, so one outlier neither dominates the level nor shrinks the next signals. The
warm-up rule is the z-score's (:mod:`crypto_tune.backtest`): the history never crosses a model
boundary (``segments``) and the first ``min(window, 50)`` bars of each model carry no signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crypto_tune.exceptions import ConfigError
from crypto_tune.strategies._base import RuleSettings, TrailingRule

SIGNAL_MIN_PERIODS = 50  # as the z-score's (crypto_tune.backtest.SIGNAL_MIN_PERIODS)


def rolling_rank_signal(
    predictions: np.ndarray, window: int, *, segments: np.ndarray | None = None
) -> np.ndarray:
    """``(2 rank - n - 1) / (n - 1)``: the rank (1..n, ties averaged) of ``p[t]`` among the n
    finite predictions of bars ``t - window + 1 .. t`` of its segment; NaN where ``p[t]`` is NaN
    or fewer than ``min(window, 50)`` finite predictions are known."""
    values = pd.Series(np.asarray(predictions, dtype=np.float64))
    low = min(window, SIGNAL_MIN_PERIODS)
    groups = (
        np.zeros(len(values), dtype=np.int64)
        if segments is None
        else np.cumsum(np.r_[True, np.asarray(segments)[1:] != np.asarray(segments)[:-1]])
    )
    rolling = values.groupby(groups).rolling(window, min_periods=low)
    rank = rolling.rank(method="average").reset_index(level=0, drop=True).sort_index()
    count = rolling.count().reset_index(level=0, drop=True).sort_index()
    n = count.to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (2.0 * rank.to_numpy() - n - 1.0) / (n - 1.0)
    out[~np.isfinite(values.to_numpy()) | (n < max(low, 2))] = np.nan
    return out


@dataclass(frozen=True)
class QuantileRule(TrailingRule):
    """Trades the trailing rank of the prediction (levels in (0, 1))."""

    def signal(
        self,
        predictions: np.ndarray,
        settings: RuleSettings,
        *,
        segments: np.ndarray | None = None,
    ) -> np.ndarray:
        return rolling_rank_signal(predictions, settings.signal_window, segments=segments)

    def check(self, settings: RuleSettings, key: str) -> None:
        if not 0 < settings.entry < 1:
            raise ConfigError(
                f"{key}.entry must be in (0, 1) with {key}.name=quantile (a scaled rank), "
                f"got {settings.entry!r}"
            )


RULE = QuantileRule(name="quantile", signal_kind="trailing rank of the predictions")

__all__ = ["RULE", "QuantileRule", "rolling_rank_signal"]
