"""The z-score rule (the default): the prediction standardised on its own trailing
``signal_window`` bars (:func:`crypto_tune.backtest.zscore_signal`), long above ``entry``,
short below ``-entry``, a held side flattened inside ``+-exit``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crypto_tune.strategies._base import Rule, RuleSettings


@dataclass(frozen=True)
class ZScoreRule(Rule):
    """Scale-free: ``z(a * p + b) == z(p)`` for ``a > 0``."""

    def window_key(self, settings: RuleSettings) -> tuple[object, ...]:
        return (self.name, settings.signal_window)

    def signal(
        self,
        predictions: np.ndarray,
        settings: RuleSettings,
        *,
        segments: np.ndarray | None = None,
    ) -> np.ndarray:
        from crypto_tune.backtest import zscore_signal  # numba: only when a signal is made

        return zscore_signal(predictions, settings.signal_window, segments=segments)

    def levels(self, settings: RuleSettings) -> tuple[float, float | None]:
        # (validation keeps exit <= entry; a perturbed neighbour may not: clamp, never fail)
        exit_ = None if settings.exit is None else min(settings.exit, settings.entry)
        return settings.entry, exit_


RULE = ZScoreRule(name="zscore", signal_kind="z-score of the predictions")

__all__ = ["RULE", "ZScoreRule"]
