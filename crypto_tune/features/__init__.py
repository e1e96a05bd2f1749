"""Causal Alpha158-style features and the forward-return label.

Example::

    feats = compute_features(candles)  # 85 float64 columns, NaN warm-up
    label = forward_return(candles, horizon=6)  # NaN for the last 6 bars
"""

from crypto_tune.features._alpha import (
    DEFAULT_WINDOWS,
    compute_features,
    empty_features,
    feature_names,
    warm_up_bars,
)
from crypto_tune.features._label import forward_return

__all__ = [
    "DEFAULT_WINDOWS",
    "compute_features",
    "empty_features",
    "feature_names",
    "forward_return",
    "warm_up_bars",
]
