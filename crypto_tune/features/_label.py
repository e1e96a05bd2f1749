"""Forward-return label: what a model trained on the features tries to rank."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crypto_tune.exceptions import ConfigError
from crypto_tune.features._alpha import check_candles


def forward_return(candles: pd.DataFrame, *, horizon: int) -> pd.Series:
    """``close[t + horizon] / close[t] - 1``, named ``"label"``; NaN for the last ``horizon`` bars.

    The label LOOKS AHEAD by construction: folds must purge at least ``horizon`` bars between
    train and test (see :mod:`crypto_tune.splits`).
    """
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ConfigError(f"horizon must be an int >= 1, got {horizon!r}")
    check_candles(candles, columns=("close",))
    close = candles["close"].astype(np.float64)
    label = close.shift(-int(horizon)) / close - 1.0
    return label.rename("label")
