"""The z-score rule (the default): the prediction standardised on its own trailing
``signal_window`` bars (:func:`crypto_tune.backtest.zscore_signal`), long above ``entry``,
short below ``-entry``, a held side flattened inside ``+-exit``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crypto_tune.strategies._base import RuleSettings, TrailingRule


@dataclass(frozen=True)
class ZScoreRule(TrailingRule):
    """Scale-free: ``z(a * p + b) == z(p)`` for ``a > 0``."""

    def signal(
        self,
        predictions: np.ndarray,
        settings: RuleSettings,
        *,
        segments: np.ndarray | None = None,
    ) -> np.ndarray:
        from crypto_tune.backtest import zscore_signal  # numba: only when a signal is made

        return zscore_signal(predictions, settings.signal_window, segments=segments)


RULE = ZScoreRule(name="zscore", signal_kind="z-score of the predictions")

__all__ = ["RULE", "ZScoreRule"]
