"""Regime labels with hysteresis, for a strategy that switches parameter sets by regime.

The raw volatility labels (:func:`crypto_tune.regimes.volatility_regime`) can flip on every bar
near the threshold; a strategy switching parameters on them would churn. ``switch_labels`` keeps
the current regime until ``confirm`` consecutive bars carry the other label (``confirm=1``: the
raw labels themselves). It is a forward state machine, so bar ``t`` depends on bars ``<= t`` only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crypto_tune.exceptions import ConfigError, DataError

SWITCHED: tuple[str, ...] = ("calm", "volatile")


def switch_labels(labels: pd.Series, confirm: int = 3) -> pd.Series:
    """``labels`` ("calm"/"volatile"/"unknown") with hysteresis: the regime changes only after
    ``confirm`` consecutive bars of the other label; "unknown" bars (warm-up) keep the state
    (and stay "unknown" before the first known bar). Causal."""
    if isinstance(confirm, bool) or not isinstance(confirm, int | np.integer) or confirm < 1:
        raise ConfigError(f"regime.confirm must be an int >= 1, got {confirm!r}")
    if not isinstance(labels, pd.Series):
        raise DataError(f"labels must be a pandas Series, got {type(labels).__name__}")
    raw = labels.astype(object).to_numpy()
    out = np.empty(len(raw), dtype=object)
    state, other, run = "unknown", "", 0
    for t, label in enumerate(raw):
        if label in SWITCHED:
            if state == "unknown":
                state, run = label, 0
            elif label != state:
                run = run + 1 if label == other else 1
                other = label
                if run >= confirm:
                    state, run = label, 0
            else:
                run = 0
        out[t] = state
    categories = [*SWITCHED, "unknown"]
    return pd.Series(pd.Categorical(out, categories=categories), index=labels.index, name="regime")


def switch_count(labels: pd.Series | np.ndarray) -> int:
    """How many times the known regime changes along ``labels``."""
    values = pd.Series(np.asarray(labels, dtype=object))
    known = values[values.isin(SWITCHED)].to_numpy()
    return int((known[1:] != known[:-1]).sum()) if len(known) > 1 else 0


__all__ = ["SWITCHED", "switch_count", "switch_labels"]
