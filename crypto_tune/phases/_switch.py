"""``regime=switch``: one account that switches parameter sets with the causal regime.

``crypto-tune phase=best regime=switch`` reads the calm and the volatile sets (model + strategy)
that ``phase=regimes`` tuned (:mod:`crypto_tune.phases._regimes`), labels every bar with
:func:`crypto_tune.regimes.switch_labels` (raw causal labels plus hysteresis: ``regime.confirm``
bars) and runs **one** backtest per segment (each tuning fold, the holdout) in which the bar's set
decides everything: the signal is the regime's own model's z-score (its window), its entry/exit
levels, its stop-loss and take-profit (those of the bar whose signal opens the trade) and its
size. The engine takes one entry/exit level per run, so each set's signal is mapped by an
increasing, sign-preserving piecewise-linear function that sends its exit level to 0.5 and its
entry level to 1 (:func:`normalised_signal`): the engine's fixed levels 1 / 0.5 then reproduce
each set's own rule exactly. Bars still "unknown" (warm-up) are flat. Beside it, the single set
(regime=all's best) on the same bars, overall and per regime.
``crypto-tune phase=report regime=switch`` draws that run (:mod:`crypto_tune.report._switch`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crypto_tune import metrics
from crypto_tune._json import json_value, provenance
from crypto_tune.backtest import BacktestResult
from crypto_tune.config import Settings
from crypto_tune.dataset import prepare_dataset, write_atomic_parquet
from crypto_tune.evaluation import backtest_segment
from crypto_tune.phases._regimes import SETS, TUNED, regime_settings
from crypto_tune.phases._switch_backtest import (
    normalised_signal,
    parameter_set,
    per_regime,
    segment_stats,
    set_params,
    switch_costs,
    switch_segments,
    switched_backtest,
    trade_count,
)
from crypto_tune.regimes import switch_count, switch_labels
from crypto_tune.timeframes import periods_per_year

log = logging.getLogger("crypto_tune.switch")


def run_switch_best(settings: Settings) -> None:
    """The switched account beside the single set, in and out of sample, overall and per regime;
    prints the table and writes ``paths.best/<study.name>/workflow.best.json``."""
    from crypto_tune.phases._best_choice import command_line_overrides
    from crypto_tune.phases._results import best_folder

    started = time.perf_counter()
    timeframe = settings.asset.timeframe
    ppy = periods_per_year(timeframe)
    overrides = command_line_overrides(settings, "strategy")
    chosen = {r: parameter_set(settings, r, overrides) for r in TUNED}
    dataset = prepare_dataset(settings)
    raw = dataset.regime
    labels_all = switch_labels(raw, settings.regime.confirm).astype(object).to_numpy()
    segs = switch_segments(settings, dataset, chosen)
    candles = dataset.candles
    sets = {r: chosen[r].strategy for r in SETS}
    results: dict[str, list[BacktestResult]] = {"switch": [], "single_set": []}
    seg_labels = []
    for k, pos in enumerate(segs.positions):
        labels = labels_all[pos]
        seg_labels.append(labels)
        preds = {r: segs.predictions[r][k] for r in SETS}
        results["switch"].append(
            switched_backtest(candles, pos, preds, labels, sets, timeframe=timeframe)
        )
        results["single_set"].append(
            backtest_segment(
                candles,
                pos,
                segs.predictions["all"][k],
                np.ones(len(pos), dtype=bool),
                chosen["all"].strategy,
                timeframe=timeframe,
            )
        )
    n_is = segs.in_sample
    report: dict[str, dict[str, Any]] = {}
    curves = {}
    labels_by_segment = {
        "in_sample": np.concatenate(seg_labels[:n_is]),
        "out_of_sample": np.concatenate(seg_labels[n_is:]),
    }
    for name, parts in results.items():
        report[name] = {}
        for segment, chunk in (("in_sample", slice(0, n_is)), ("out_of_sample", slice(n_is, None))):
            returns = np.concatenate([p.returns.to_numpy() for p in parts[chunk]])
            labels = np.concatenate(seg_labels[chunk])
            trades = sum(trade_count(p) for p in parts[chunk])
            report[name][segment] = segment_stats(returns, trades, ppy) | {
                "per_regime": per_regime(returns, labels, ppy)
            }
            curves[(name, segment)] = pd.concat([p.returns for p in parts[chunk]])
    switches = {
        "in_sample": sum(switch_count(x) for x in seg_labels[:n_is]),
        "out_of_sample": switch_count(seg_labels[n_is]),
        "raw_in_sample": sum(
            switch_count(raw.astype(object).to_numpy()[p]) for p in segs.positions[:n_is]
        ),
        "raw_out_of_sample": switch_count(raw.astype(object).to_numpy()[segs.positions[n_is]]),
    }
    is_returns = curves[("switch", "in_sample")].to_numpy()
    sr, n_obs, skew, kurt = metrics.sharpe_moments(is_returns)
    psr = metrics.probabilistic_sharpe_ratio(sr, n_obs, skew, kurt)
    n_trials = _strategy_trials(settings)
    better = {
        seg: json_value(
            (report["switch"][seg]["sharpe"] or 0.0) - (report["single_set"][seg]["sharpe"] or 0.0)
        )
        for seg in ("in_sample", "out_of_sample")
    }
    split = settings.split
    document: dict[str, Any] = {
        **provenance(settings, [dataset]),
        "asset": {
            "name": settings.asset.name,
            "symbol": settings.asset.symbol,
            "timeframe": timeframe,
            "symbols": [settings.asset.symbol],
            "data_fingerprint": dataset.data_fingerprint,
        },
        "regime": "switch",
        "periods": {
            "tune": [split.tune_start, split.tune_end],
            "holdout": [split.holdout_start, split.holdout_end],
        },
        "model": {
            "params": {r: chosen[r].model.params() for r in SETS},
            "source": {r: chosen[r].model_source for r in SETS},
        },
        "strategy": {
            "params": {r: set_params(chosen[r].strategy) for r in SETS},
            # a value every regime's study was run with is no override (as in a single best run)
            "overrides": {
                k.removeprefix("strategy."): v
                for r in TUNED
                for k, v in chosen[r].overrides.items()
            },
            "source": {r: chosen[r].strategy_source for r in SETS},
        },
        "metrics": {
            "in_sample": report["switch"]["in_sample"],
            "out_of_sample": report["switch"]["out_of_sample"],
        },
        "regime_switch": {
            "confirm": settings.regime.confirm,
            "detector": dataclasses.asdict(settings.regime),
            "switches": switches,
            **{
                r: {
                    "study": regime_settings(settings, r).study.name,
                    "model_params": chosen[r].model.params(),
                    "strategy_params": set_params(chosen[r].strategy),
                    "model_source": chosen[r].model_source,
                    "strategy_source": chosen[r].strategy_source,
                }
                for r in SETS
            },
        },
        "costs": switch_costs(chosen["all"].strategy, results["switch"], n_is),
        "comparison": {
            "single_set": {
                "study": regime_settings(settings, "all").study.name,
                "model_params": chosen["all"].model.params(),
                "strategy_params": set_params(chosen["all"].strategy),
                "strategy_source": chosen["all"].strategy_source,
                **report["single_set"],
            },
            "switch": report["switch"],
            "sharpe_gain": better,
        },
        "robustness": {
            "psr": json_value(psr),
            "dsr": None,
            "pbo": None,
            "n_trials": n_trials,
            "significant": None,
            "verdict": (
                f"not judged: the switch combines two studies ({n_trials} strategy trials); "
                f"DSR/PBO judge one search (see each regime's own phase=best). "
                f"PSR of the switched in-sample returns {_fmt(psr)}"
            ),
        },
    }
    _record_look(settings, document)
    path = _write(
        settings, best_folder(settings), document, curves, labels_by_segment, results, n_is
    )
    _print(document, path)
    log.info("regime switch best run in %.1fs", time.perf_counter() - started)


def _record_look(settings: Settings, document: dict[str, Any]) -> None:
    """Count this look at the holdout (:mod:`crypto_tune.phases._best_looks`) and say how the
    result was made (``how``), as the single-set best run does."""
    from crypto_tune.phases._best_how import (
        holdout_model_text,
        keyed,
        look_text,
        overrides_text,
    )
    from crypto_tune.phases._best_looks import record_holdout_look

    split = settings.split
    what = {
        "model": document["model"]["params"],
        "strategy": document["strategy"]["params"],
        "confirm": settings.regime.confirm,
        "holdout": [str(split.holdout_start), str(split.holdout_end)],
        "kind": "regime switch",
    }
    overrides = document["strategy"]["overrides"]
    looks = record_holdout_look(settings, what, {"kind": "regime switch", "overrides": overrides})
    n, this = looks["looks"], looks["this_look"]
    text = (
        f"holdout {split.holdout_start}..{split.holdout_end} predicted per regime set by "
        f"{holdout_model_text(0)}; sets from the studies of regime=calm and regime=volatile, "
        f"switched after {settings.regime.confirm} confirming bars; "
        f"{overrides_text(keyed('strategy', overrides))}; {look_text(n, this)}"
    )
    document["how"] = {"holdout_looks": n, "holdout_look": this, "text": text}
    document["robustness"]["family"] = {"holdout_looks": n}
    if n > 1:
        document["robustness"]["verdict"] += (
            f"; holdout looked at {n} times with different settings: no longer out of sample"
        )


def _strategy_trials(settings: Settings) -> int:
    import optuna

    from crypto_tune.study import load_study

    total = 0
    for regime in SETS:
        study = load_study(regime_settings(settings, regime), phase="strategy")
        total += len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    return total


def _write(
    settings: Settings,
    folder: Path,
    document: dict[str, Any],
    curves: dict[tuple[str, str], pd.Series],
    labels: dict[str, np.ndarray],
    results: dict[str, list[BacktestResult]],
    n_is: int,
) -> Path:
    """workflow.best.json, its curves (switch, single set and each bar's hysteresis label, what
    ``phase=report regime=switch`` draws) and the switch's trades."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "workflow.best.json"
    if not settings.best.overwrite and path.exists():
        from crypto_tune.phases._best_output import timestamped_path

        path = timestamped_path(folder)
    stem = path.name.removesuffix(".json")
    frame = pd.concat(
        {seg: curves[("switch", seg)] for seg in ("in_sample", "out_of_sample")},
        names=["segment", "time"],
    ).to_frame("returns")
    single = pd.concat(
        {seg: curves[("single_set", seg)] for seg in ("in_sample", "out_of_sample")},
        names=["segment", "time"],
    )
    frame["single_set"] = single.reindex(frame.index).to_numpy()
    frame["label"] = np.concatenate([labels["in_sample"], labels["out_of_sample"]]).astype(str)
    close = prepare_dataset(settings).candles["close"].astype(float)
    hold = close.pct_change().reindex(frame.index.get_level_values("time")).fillna(0.0)
    frame["benchmark"] = hold.to_numpy()  # buy and hold of the asset over the same bars
    curve_path = path.with_name(f"{stem}.curves.parquet")
    write_atomic_parquet(frame, curve_path)
    trades = pd.concat(
        [
            r.trades.assign(segment="in_sample" if k < n_is else "out_of_sample")
            for k, r in enumerate(results["switch"])
        ],
        ignore_index=True,
    )
    trade_path = path.with_name(f"{stem}.trades.parquet")
    write_atomic_parquet(trades, trade_path)
    document["files"] = {"curves": curve_path.name, "trades": trade_path.name}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2, default=str)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def _fmt(value: Any, pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if pct:
        return f"{100 * value:.2f}%"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.3f}"


def _print(document: dict[str, Any], path: Path) -> None:
    comparison = document["comparison"]
    rows = [("switch", comparison["switch"]), ("single set", comparison["single_set"])]
    print(
        f"== regime switch: {document['asset']['symbol']} {document['asset']['timeframe']}, "
        f"confirm {document['regime_switch']['confirm']} bars; "
        f"switches IS {document['regime_switch']['switches']['in_sample']} "
        f"(raw {document['regime_switch']['switches']['raw_in_sample']}), "
        f"OOS {document['regime_switch']['switches']['out_of_sample']} "
        f"(raw {document['regime_switch']['switches']['raw_out_of_sample']})"
    )
    if (document.get("how") or {}).get("text"):
        print(f"how: {document['how']['text']}")
    head = f"{'':<12}{'':<5}{'sharpe':>8}{'return':>10}{'max dd':>9}{'trades':>8}"
    head += f"{'calm sharpe':>13}{'vol. sharpe':>13}"
    print(head)
    for name, data in rows:
        for seg, short in (("in_sample", "IS"), ("out_of_sample", "OOS")):
            m = data[seg]
            per = m["per_regime"]
            print(
                f"{name:<12}{short:<5}{_fmt(m['sharpe']):>8}{_fmt(m['total_return'], True):>10}"
                f"{_fmt(m['max_drawdown'], True):>9}{m['n_trades']:>8}"
                f"{_fmt(per['calm']['sharpe']):>13}{_fmt(per['volatile']['sharpe']):>13}"
            )
    for regime in SETS:
        params = document["regime_switch"][regime]["strategy_params"]
        shown = ", ".join(
            f"{k}={_fmt(params[k]) if isinstance(params[k], float) else params[k]}"
            for k in ("entry", "exit", "signal_window", "stop_loss", "take_profit")
            if k in params
        )
        print(f"{regime:<12}{shown}")
    print(f"robustness: {document['robustness']['verdict']}")
    print(f"wrote {path}")


__all__ = ["normalised_signal", "run_switch_best", "switched_backtest"]
