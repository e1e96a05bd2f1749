"""Causal market regimes, to score models and strategies separately in calm and volatile markets.

Example::

    labels = volatility_regime(candles, window=30, lookback=500)
    calm = regime_mask(labels, "calm")
"""

from crypto_tune.regimes._switch import switch_count, switch_labels
from crypto_tune.regimes._volatility import REGIMES, regime_mask, volatility_regime

__all__ = ["REGIMES", "regime_mask", "switch_count", "switch_labels", "volatility_regime"]
