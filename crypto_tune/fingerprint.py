"""What a study measures, as a flat mapping: the fingerprint every study records and checks.

Two processes may add trials to one study only if their trials score the same thing: the same
candles, features, label, folds and regime mask, the same objective and the same fixed (not
tuned) model or strategy settings, and in Phase 2 the same predictions. The fingerprint holds
one short value per such input; :func:`differences` names the inputs that differ, ignoring the
parameters the study tunes (their values differ from trial to trial by design).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from crypto_tune.config import LIGHTGBM_FIXED, Settings
from crypto_tune.dataset import Dataset

ATTR = "crypto_tune.fingerprint"
# Inputs of the data a study was run on (what `best.from` replays compare too); data.source is
# the provenance of downloaded files (phase=download), absent for files without one.
DATA_KEYS = ("data", "data.source", "features", "label.horizon", "folds", "regime")


def _short_hash(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def folds_key(dataset: Dataset) -> str:
    """A hash of every fold's first and last train and test bar times (and the holdout's)."""
    index = dataset.candles.index

    def span(positions: np.ndarray) -> list[str]:
        if not len(positions):
            return []
        return [str(index[positions[0]]), str(index[positions[-1]]), str(len(positions))]

    folds = [[span(f.train_idx), span(f.test_idx)] for f in dataset.folds]
    return _short_hash(folds)


def data_fingerprint(settings: Settings, datasets: Sequence[Dataset]) -> dict[str, Any]:
    """The data-side inputs: candles, features, label, folds and regime of every member."""
    regime = settings.regime
    out: dict[str, Any] = {
        "data": ",".join(d.data_fingerprint for d in datasets),
        "features": ",".join(str(w) for w in settings.features.windows),
        "label.horizon": settings.label.horizon,
        "folds": ",".join(folds_key(d) for d in datasets),
        "regime": f"{regime.name}:{regime.window}:{regime.lookback}:{regime.quantile}",
    }
    # where downloaded candles came from (exchange, market, symbol, fetched at); null otherwise
    sources = [d.report.provenance for d in datasets]
    if any(p is not None for p in sources):
        out["data.source"] = ",".join("file" if p is None else p.key() for p in sources)
    else:
        out["data.source"] = None
    return out


def study_fingerprint(
    settings: Settings,
    datasets: Sequence[Dataset],
    *,
    phase: str,
    predictions: str | None = None,
) -> dict[str, Any]:
    """Everything that changes what a trial of ``phase`` scores, one short value per input.

    Phase 1: the data inputs, ``phase.objective`` and every ``model.*`` setting. Phase 2: the
    data inputs, every ``strategy.*`` setting (objective, trade floor included), the market's
    costs as resolved (``costs.*``: market, fee, shorting, borrow, funding, maintenance margin)
    and the key of the predictions the strategies trade.
    """
    out = data_fingerprint(settings, datasets)
    if phase == "model":
        out["objective"] = settings.phase.objective
        out.update({f"model.{k}": v for k, v in settings.model.params().items()})
        out["model.lightgbm_fixed"] = LIGHTGBM_FIXED
    elif phase == "strategy":
        strategy = settings.strategy
        out.update({f"strategy.{k}": v for k, v in vars(strategy).items() if k != "market"})
        # what the exchange charges: market, fee, shorting, borrow, funding, maintenance margin
        out.update({f"costs.{k}": v for k, v in strategy.costs.describe().items()})
        if settings.asset.kind == "basket":  # how the sleeves are weighted changes the score
            asset = settings.asset
            for key in ("weights", "rebalance", "target_vol", "max_gross"):
                out[f"asset.{key}"] = getattr(asset, key)
        out["predictions"] = predictions
    return {k: _plain(v) for k, v in out.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


# Recorded by older versions but not an input: predictions are bit-identical for every thread
# count (ModelSettings.params leaves it out), so workers may differ in it.
NOT_INPUTS = ("model.num_threads",)


def differences(
    recorded: Mapping[str, Any], current: Mapping[str, Any], *, tuned: Iterable[str] = ()
) -> list[str]:
    """``["data abc -> def", ...]``: the inputs whose values differ, tuned parameters excepted.

    A key absent on one side and null on the other is no difference (an input added later, like
    ``data.source``, is absent from older fingerprints and null where it does not apply)."""
    skip = set(tuned) | set(NOT_INPUTS)
    out = []
    for key in sorted(set(recorded) | set(current)):
        if key in skip or (recorded.get(key) is None and current.get(key) is None):
            continue
        before, now = recorded.get(key, "(absent)"), current.get(key, "(absent)")
        if _plain(before) != _plain(now):
            out.append(f"{key} {before} -> {now}")
    return out


__all__ = ["ATTR", "DATA_KEYS", "data_fingerprint", "differences", "study_fingerprint"]
