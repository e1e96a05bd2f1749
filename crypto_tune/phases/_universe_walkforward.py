"""``phase=walkforward asset=universe strategy=topk split=walk_forward``: re-tune every window.

The windows are those of every walk-forward run (:func:`crypto_tune.walkforward.
walkforward_windows`), cut on the universe's calendar. In each window, on its past only: Phase 1
(``walkforward.model_trials`` LightGBM trials over the pooled panel, scored by the per-bar IC on
the window's own purged tuning folds, study ``{study.name}.wf{k}.model``), then Phase 2
(``walkforward.strategy_trials`` portfolio trials on that model's out-of-fold predictions, study
``.wf{k}.strategy``); then the pinned model is refit on the window's training span and the best
portfolio trades the test block from flat. The test blocks are stitched beside the equal-weight
buy-and-hold of the universe over the same blocks. A rerun resumes every study; workers on one
storage share them. Writes ``paths.best/<study.name>/walkforward.universe.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from crypto_tune import metrics
from crypto_tune._json import json_value
from crypto_tune.config import Settings
from crypto_tune.objectives import MODEL_OBJECTIVES
from crypto_tune.phases._tuning import (
    log_tuned,
    model_settings,
    pinned_model,
    search_space,
    trial_value,
    tune_window_study,
)
from crypto_tune.phases._universe_best import holdout_predictions
from crypto_tune.phases._universe_model import score_universe, universe_model_fingerprint
from crypto_tune.phases._universe_strategy import (
    UniverseContext,
    evaluate_universe,
    make_segment,
    run_segment,
    score_matrix,
    universe_strategy_fingerprint,
)
from crypto_tune.phases._universe_verdict import with_trial
from crypto_tune.phases._walkforward import windows_on
from crypto_tune.phases._walkforward_output import windows_made
from crypto_tune.study import study_name
from crypto_tune.timeframes import periods_per_year
from crypto_tune.universe._dataset import UniverseDataset, prepare_universe
from crypto_tune.universe._oof import universe_oof
from crypto_tune.universe._summary import buy_and_hold
from crypto_tune.walkforward import Window

log = logging.getLogger("crypto_tune.walkforward")


def universe_windows(settings: Settings, data: UniverseDataset) -> list[Window]:
    """The walk-forward windows on the universe's calendar."""
    return windows_on(settings, data.panel.index)


def _model_value(settings: Settings, data: UniverseDataset, params: dict[str, Any]) -> float:
    model = model_settings(settings, params)
    oof = universe_oof(data, model, seed=settings.seed, cache_dir=settings.paths.cache)
    summary = score_universe(data, oof)
    clean = {k: float(summary[k]) if np.isfinite(summary[k]) else 0.0 for k in ("ic", "rank_ic")}
    clean["icir"] = float(summary["icir"]) if np.isfinite(summary["icir"]) else 0.0
    return float(MODEL_OBJECTIVES[settings.phase.objective](clean))


def run_window(
    settings: Settings, data: UniverseDataset, window: Window, total: int
) -> dict[str, Any]:
    """Tune (or resume) both studies of ``window``, refit, trade its test block."""
    wf, k = settings.walkforward, window.number
    local = dataclasses.replace(data, folds=window.folds, holdout=window.refit)
    dates = window.dates(data.panel.index)
    head = f"wf {k + 1}/{total} test {dates['test_start'][:10]}..{dates['test_end'][:10]}"
    model_space = search_space(settings, "model")
    strategy_space = search_space(settings, "strategy")
    clock = time.perf_counter()
    study, tuned = tune_window_study(
        settings,
        k,
        "model",
        model_space,
        universe_model_fingerprint(settings, local),
        lambda p: _model_value(settings, local, p),
        wf.model_trials,
    )
    params, number, value = pinned_model(study, wf.model_trials)
    model = model_settings(settings, params | model_space.fixed)
    log_tuned(
        log,
        head,
        "model",
        study,
        budget=wf.model_trials,
        tuned=tuned,
        started=clock,
        label=settings.phase.objective,
        value=value,
        number=number,
    )
    oof = universe_oof(local, model, seed=settings.seed, cache_dir=settings.paths.cache)
    ppy = periods_per_year(settings.asset.timeframe)
    scores = score_matrix(local, oof.prediction)
    segments = tuple(make_segment(settings, local, scores, f.test_idx) for f in local.folds)
    context = UniverseContext(local, oof, f"{study.study_name}#{number}", ppy, segments)
    clock = time.perf_counter()
    s_study, s_tuned = tune_window_study(
        settings,
        k,
        "strategy",
        strategy_space,
        universe_strategy_fingerprint(settings, context),
        lambda p: evaluate_universe(with_trial(settings, p), context)[0][0],
        wf.strategy_trials,
    )
    best = s_study.best_trial
    log_tuned(
        log,
        head,
        "strategy",
        s_study,
        budget=wf.strategy_trials,
        tuned=s_tuned,
        started=clock,
        label=settings.strategy.primary_objective,
        value=trial_value(best),
        number=best.number,
    )
    chosen = with_trial(settings, {**best.params, **strategy_space.fixed})
    prediction = holdout_predictions(chosen, context, model)
    test = np.asarray(window.refit.test_idx)
    segment = make_segment(chosen, local, score_matrix(local, prediction), test)
    result = run_segment(chosen, context, segment)
    panel = data.panel
    _, ic = metrics.ic_by_bar(prediction, panel.forward, panel.bar, rank=True)
    finite = ic[np.isfinite(ic)]
    return {
        "window": k,
        **dates,
        "model": {"trial": number, settings.phase.objective: value, "params": params},
        "strategy": {"trial": best.number, "value": trial_value(best), "params": best.params},
        "returns": result.net,
        "benchmark": buy_and_hold(segment.returns, segment.tradable),
        "turnover": float(result.turnover.sum()),
        "test_rank_ic": float(finite.mean()) if finite.size else float("nan"),
        "bars": panel.index[test],
    }


def run_universe_walkforward(settings: Settings) -> None:
    """Every window in turn (a rerun resumes), then the stitched test blocks."""
    from crypto_tune.phases._results import best_folder

    data = prepare_universe(settings)
    windows = universe_windows(settings, data)
    results = [run_window(settings, data, w, len(windows)) for w in windows]
    ppy = periods_per_year(settings.asset.timeframe)
    net = np.concatenate([r["returns"] for r in results])
    bench = np.concatenate([r["benchmark"] for r in results])
    stitched = {
        k: json_value(v) for k, v in metrics.performance_summary(net, periods_per_year=ppy).items()
    }
    benchmark = {
        k: json_value(v)
        for k, v in metrics.performance_summary(bench, periods_per_year=ppy).items()
    }
    rows = []
    for r in results:
        perf = metrics.performance_summary(r["returns"], periods_per_year=ppy)
        rows.append(
            {
                **{k: r[k] for k in ("window", "train_start", "train_end", "test_start")},
                "test_end": r["test_end"],
                "model": r["model"],
                "strategy": r["strategy"],
                "sharpe": json_value(perf["sharpe"]),
                "total_return": json_value(perf["total_return"]),
                "turnover": r["turnover"],
                "test_rank_ic": json_value(r["test_rank_ic"]),
            }
        )
    document = {
        "kind": "universe",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "study": settings.study.name,
        "command": "crypto-tune " + " ".join(settings.command_line),
        **_how_made(settings, data, len(windows)),
        "windows": rows,
        "stitched": stitched,
        "benchmark": benchmark,
    }
    folder = best_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "walkforward.universe.json"
    path.write_text(json.dumps(document, indent=2, default=str))
    _log_to_mlflow(settings, document, path)
    lines = [
        f"{r['test_start'][:10]}..{r['test_end'][:10]}  Sharpe {_f(r['sharpe'])}  "
        f"return {_f(r['total_return'])}  test rank IC {_f(r['test_rank_ic'])}"
        for r in rows
    ]
    lines.append(
        f"stitched: Sharpe {_f(stitched['sharpe'])} total {_f(stitched['total_return'])} | "
        f"buy and hold: Sharpe {_f(benchmark['sharpe'])} total {_f(benchmark['total_return'])}"
    )
    lines.append(f"wrote {path}")
    log.info("walk-forward of %s:\n%s", settings.study.name, "\n".join(lines))


def _how_made(settings: Settings, data: UniverseDataset, n_windows: int) -> dict[str, Any]:
    """What the walk-forward ran on: the studies, the data, the windows, budgets, objectives."""
    asset = settings.asset
    return {
        "studies": [
            study_name(settings, phase=f"wf{k}.{p}")
            for k in range(n_windows)
            for p in ("model", "strategy")
        ],
        "asset": {
            "name": asset.name,
            "symbol": asset.symbol,
            "timeframe": asset.timeframe,
            "market": asset.market,
            "symbols": list(data.panel.symbols),
            "files": dict(data.files),
            "data_fingerprint": data.data_fingerprint,
        },
        "universe": dataclasses.asdict(settings.universe),
        **windows_made(settings),
    }


def _log_to_mlflow(settings: Settings, document: dict[str, Any], path: Any) -> None:
    """One run in ``<study.name>.walkforward``: the data, settings, stitched and per-window
    metrics, the document."""
    from crypto_tune.tracking import flatten, log_datasets, result_tags, start_run

    tags = result_tags(settings, "walkforward", document)
    name = study_name(settings, phase="walkforward")
    with start_run(settings.tracking, name, run_name="walkforward", tags=tags) as run:
        if run is None:
            return
        log_datasets(run, settings)
        keys = ("split", "budgets", "objectives", "universe")
        run.params(flatten({k: document[k] for k in keys}) | {"period": document["period"]})
        numbers = {
            f"{group}.{key}": float(value)
            for group in ("stitched", "benchmark")
            for key, value in document[group].items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
        run.metrics(numbers)
        for w in document["windows"]:
            per = {
                "window.oos_sharpe": w["sharpe"],
                "window.oos_return": w["total_return"],
                "window.turnover": w["turnover"],
                "window.test_rank_ic": w["test_rank_ic"],
            }
            run.metrics({k: float(v) for k, v in per.items() if v is not None}, step=w["window"])
        run.file(path)


def _f(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3g}"


__all__ = ["run_universe_walkforward", "run_window", "universe_windows"]
