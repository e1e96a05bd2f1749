"""The raw threshold rule: long when the prediction is above ``threshold``, short below
``-threshold`` (prediction units, so a threshold tuned on one model's scale need not suit
another's; the default rule, ``zscore``, is scale-free)."""

from __future__ import annotations

from crypto_tune.strategies._base import Rule

RULE = Rule(name="threshold", signal_kind="raw predictions")

__all__ = ["RULE"]
