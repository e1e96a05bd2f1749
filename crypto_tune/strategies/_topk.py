"""The universe's portfolio rule (``strategy=topk``): long the top k predictions, short the
bottom k, rebalanced on a schedule with a cap on turnover. It trades ranks across symbols in
its own kernel (:mod:`crypto_tune.universe`); its options are ``universe.*``."""

from __future__ import annotations

from crypto_tune.strategies._base import Rule

RULE = Rule(name="topk", signal_kind="cross-sectional rank of the predictions", portfolio=True)

__all__ = ["RULE"]
