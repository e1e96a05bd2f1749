"""``phase=final``: open the locked final holdout once per study line.

With ``split.final_start``/``split.final_end`` set, no phase sees the candles from
``final_start`` on (:func:`crypto_tune.dataset.lock_final`): tuning, the best run and every
look at the ordinary holdout happen without them. ``phase=final`` reads the study line's best
run (``workflow.best.json``, or ``best.from``), refits its model on everything before the final
holdout (tuning period and holdout, the best run's boosting rounds, same purge), predicts the
final holdout and trades it with the best run's strategy. The opening is recorded in the study
storage (the ``{study.name}.holdout`` study, beside the holdout's looks): the same settings
replay the recorded result; other settings are refused, since the final holdout opens once.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from crypto_tune import metrics
from crypto_tune.config import Settings, StrategySettings
from crypto_tune.exceptions import ConfigError
from crypto_tune.phases._inputs import check_datasets
from crypto_tune.phases._phase import Phase

log = logging.getLogger("crypto_tune.final")
ATTR = "final"


def _best_document(settings: Settings) -> tuple[Path, dict[str, Any]]:
    from crypto_tune.phases._results import best_folder

    file = Path(str(settings.best.from_file or best_folder(settings) / "workflow.best.json"))
    if not file.is_file():
        raise ConfigError(
            f"phase=final: no best run at {file}: run `crypto-tune phase=best` on this study "
            "line first (or give best.from=FILE)"
        )
    try:
        document = json.loads(file.read_text())
        document["model"]["params"], document["strategy"]["params"]
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"best.from: {file} is not a workflow.best.json") from None
    return file, document


def _opening_key(document: dict[str, Any], settings: Settings) -> str:
    import hashlib

    payload = {
        "model": document["model"]["params"],
        "strategy": document["strategy"]["params"],
        "final": [settings.split.final_start, settings.split.final_end],
        "regime": settings.regime.name,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_final(settings: Settings) -> None:
    """Refit, predict and trade the final holdout once; print and record the result."""
    from crypto_tune.data import time_index
    from crypto_tune.dataset import data_fingerprint, prepare_dataset, regime_mask
    from crypto_tune.evaluation import backtest_segment
    from crypto_tune.model import fit_refit
    from crypto_tune.phases._best_runs import _summary
    from crypto_tune.splits import holdout_split
    from crypto_tune.study import open_study
    from crypto_tune.timeframes import periods_per_year

    split = settings.split
    if split.final_start is None or split.final_end is None:
        raise ConfigError(
            "split.final_start: phase=final opens a locked final holdout; set "
            "split.final_start and split.final_end (before tuning, so no phase sees it)"
        )
    if settings.asset.kind == "basket":
        raise ConfigError("phase=final: a basket's final holdout is not supported yet (asset)")
    file, document = _best_document(settings)
    dataset = prepare_dataset(settings)  # phase=final: the whole series, final holdout included
    index = dataset.candles.index
    stamp = _utc(split.final_start)
    locked = data_fingerprint(dataset.candles[index < stamp])
    made_on = (document.get("asset") or {}).get("data_fingerprint")
    if made_on is not None and made_on != locked:
        raise ConfigError(
            f"best.from: {file} was made on other candles than this study line's "
            f"({made_on} -> {locked}): phase=final judges the best run of these data"
        )
    key = _opening_key(document, settings)
    study = open_study(settings, "holdout", create=True)
    recorded = study.user_attrs.get(ATTR)
    if isinstance(recorded, dict) and recorded.get("key") != key:
        raise ConfigError(
            f"split.final_start: the final holdout of study line {settings.study.name} was "
            f"opened on {recorded.get('at')} for other settings ({recorded.get('best')}); "
            "it opens once: a new final holdout needs new data after it"
        )
    if isinstance(recorded, dict):
        log.info("the final holdout was opened on %s: its recorded result", recorded.get("at"))
        _print(recorded)
        return
    model = dataclasses.replace(settings.model, **document["model"]["params"])
    known = {f.name for f in dataclasses.fields(StrategySettings)}
    strategy = dataclasses.replace(
        settings.strategy,
        **{k: v for k, v in document["strategy"]["params"].items() if k in known},
    )
    fold = holdout_split(
        time_index(dataset.candles),
        tune_start=split.tune_start,
        tune_end=split.holdout_end,
        holdout_start=split.final_start,
        holdout_end=split.final_end,
        purge=split.purge,
        valid_fraction=split.valid_fraction,
    )
    if len(fold.test_idx) == 0:
        raise ConfigError(f"split.final_start..final_end: no bars of {settings.asset.symbol}")
    rounds = document["model"].get("holdout_best_iteration")
    rounds = (
        int(rounds) if isinstance(rounds, int | float) and rounds > 0 else model.num_boost_round
    )
    fitted = fit_refit(
        dataset.features, dataset.label, fold, model, seed=settings.seed, num_rounds=rounds
    )
    mask = regime_mask(dataset, settings.regime.name)
    result = backtest_segment(
        dataset.candles,
        fold.test_idx,
        fitted.test_predictions,
        mask[fold.test_idx],
        strategy,
        timeframe=settings.asset.timeframe,
    )
    ppy = periods_per_year(settings.asset.timeframe)
    summary = _summary(result.returns.to_numpy(), result.trades, result.positions.to_numpy(), ppy)
    labels = dataset.label.to_numpy()[fold.test_idx]
    keep = np.isfinite(labels) & mask[fold.test_idx]
    close = dataset.candles["close"].to_numpy()[fold.test_idx]
    entry = {
        "key": key,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "best": str(file),
        "period": [split.final_start, split.final_end],
        "refit_rounds": rounds,
        "metrics": summary,
        "ic": _finite(metrics.information_coefficient(fitted.test_predictions[keep], labels[keep])),
        "buy_and_hold_return": _finite(float(close[-1] / close[0] - 1.0)) if len(close) else None,
        "in_sample_sharpe": ((document.get("metrics") or {}).get("in_sample") or {}).get("sharpe"),
        "holdout_sharpe": ((document.get("metrics") or {}).get("out_of_sample") or {}).get(
            "sharpe"
        ),
    }
    entry = json.loads(json.dumps(entry, default=str))
    study.set_user_attr(ATTR, entry)
    target = file.with_name("final.json")
    target.write_text(json.dumps(entry, indent=2) + "\n")
    _print(entry)
    print(f"wrote {target}")


def _print(entry: dict[str, Any]) -> None:
    m = entry.get("metrics") or {}

    def num(value: Any, form: str) -> str:
        return format(value, form) if isinstance(value, int | float) else "-"

    print(
        f"== final holdout {entry['period'][0]}..{entry['period'][1]} (opened {entry['at']}, "
        f"once): Sharpe {num(m.get('sharpe'), '.2f')}, return {num(m.get('total_return'), '.2%')}"
        f", max drawdown {num(m.get('max_drawdown'), '.2%')}, trades {m.get('n_trades', '-')}, "
        f"IC {num(entry.get('ic'), '.4f')}; "
        f"buy-and-hold {num(entry.get('buy_and_hold_return'), '.2%')}"
    )
    print(
        f"for comparison: in-sample Sharpe {num(entry.get('in_sample_sharpe'), '.2f')}, "
        f"holdout Sharpe {num(entry.get('holdout_sharpe'), '.2f')}"
    )


def _finite(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _utc(value: str) -> Any:
    import pandas as pd

    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def preflight_final(settings: Settings, *, multirun: bool) -> None:
    """The data readable (the best run and the lock are read when the phase runs)."""
    check_datasets(settings, storage=False)


PHASE = Phase(run=run_final, preflight=preflight_final)

__all__ = ["PHASE", "run_final"]
