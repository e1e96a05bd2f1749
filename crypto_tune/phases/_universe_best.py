"""``phase=best asset=universe strategy=topk``: the best portfolio in and out of sample.

In sample: the chosen portfolio (below) traded on the out-of-fold predictions of the tuning folds
(what Phase 2 scored). Out of sample: one LightGBM refit on the whole tuning period (train and
validation bars of the holdout split, the folds' median best iteration, no early stopping)
predicts the holdout, traded by the same rule. Beside both: the benchmark (equal-weight
buy-and-hold of the universe), turnover, net and gross exposure, each symbol's contribution, the
per-bar cross-sectional IC; then the verdict (:mod:`crypto_tune.phases._universe_verdict`).
The portfolio is the study's best trial or a replayed file's, with the command line's manual
overrides on top (:mod:`crypto_tune.phases._universe_choice`). Writes ``workflow.best.json``
(the contract of every best run: ``metrics.in_sample``, ``metrics.out_of_sample``,
``metrics.benchmark``, ``robustness``), named as a single asset's by ``best.overwrite``
(:func:`crypto_tune.phases._best_output._target_path`), and its curves
``workflow.best.universe_curves.csv`` under ``paths.best/<study.name>/``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crypto_tune import metrics
from crypto_tune._json import json_document, json_value
from crypto_tune.config import ModelSettings, Settings
from crypto_tune.model import fit_booster, predict, refit_rounds
from crypto_tune.phases._best_how import holdout_coverage
from crypto_tune.phases._universe_choice import (
    choose_universe,
    describe_universe_how,
    record_universe_look,
)
from crypto_tune.phases._universe_strategy import (
    UniverseContext,
    make_segment,
    portfolio_params,
    run_segment,
    score_matrix,
    universe_context,
)
from crypto_tune.phases._universe_verdict import universe_robustness
from crypto_tune.universe import PortfolioResult
from crypto_tune.universe._summary import (
    benchmark_summary,
    buy_and_hold,
    contributions,
    portfolio_summary,
    symbol_ic,
)

log = logging.getLogger("crypto_tune.best")


def holdout_predictions(
    settings: Settings, context: UniverseContext, model: ModelSettings, *, retrain_months: int = 0
) -> np.ndarray:
    """Per panel row: the predictions of ``model`` on the holdout bars (NaN elsewhere), from one
    refit on the holdout split's training span (train and validation bars), or with
    ``retrain_months`` (``best.retrain_months``) from a refit every that many months on every
    bar before its block (expanding window, same purge:
    :func:`~crypto_tune.phases._best_runs.holdout_refits` on the panel's calendar). Each refit
    trains the folds' median best iteration, without early stopping, as a single asset's."""
    from crypto_tune.phases._best_runs import holdout_refits

    data, oof = context.data, context.oof
    rounds = refit_rounds(oof.best_iterations)
    fixed = dataclasses.replace(model, num_boost_round=rounds, early_stopping_rounds=0)
    blocks = [data.holdout] if retrain_months == 0 else holdout_refits(settings, data.panel.index)
    holdout = np.asarray(data.holdout.test_idx)
    empty = np.zeros(0, dtype=np.int64)
    panel = data.panel
    out = np.full(panel.n_rows, np.nan)
    for block in blocks:
        bars = np.intersect1d(np.asarray(block.test_idx), holdout)
        if not len(bars):
            continue
        first = int(min(block.train_idx.min(), block.valid_idx.min()))
        last = int(max(block.train_idx.max(), block.valid_idx.max()))
        train = data.rows(np.arange(first, last + 1))
        booster, _ = fit_booster(
            panel.features, panel.label, train, empty, fixed, seed=settings.seed
        )
        test = data.rows(bars)
        out[test] = predict(booster, panel.features[test])
    if retrain_months:
        log.info("holdout: walk-forward, retrained every %d month(s)", retrain_months)
    return out


def curves_path(document: Path) -> Path:
    """The curves written beside a universe's ``workflow.best[.<time>].json`` (named after its
    stem, so a document kept under another name keeps its curves): what the report draws."""
    return document.with_name(f"{document.name.removesuffix('.json')}.universe_curves.csv")


def _ic_by_bar(context: UniverseContext, prediction: np.ndarray) -> pd.Series:
    panel = context.data.panel
    ids, ic = metrics.ic_by_bar(prediction, panel.forward, panel.bar, rank=True)
    return pd.Series(ic, index=panel.index[ids], name="rank_ic")


def _ic_block(series: pd.Series) -> dict[str, Any]:
    values = series.to_numpy()
    finite = values[np.isfinite(values)]
    std = float(np.std(finite, ddof=1)) if finite.size > 1 else np.nan
    mean = float(np.mean(finite)) if finite.size else np.nan
    return {
        "rank_ic": json_value(mean),
        "rank_ic_t": json_value(mean / std * np.sqrt(finite.size) if std > 0 else np.nan),
        "n_bars": int(finite.size),
    }


def _curves(
    index: pd.DatetimeIndex, period: str, results: list[PortfolioResult], bench: np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "period": period,
            "net": np.concatenate([r.net for r in results]),
            "gross": np.concatenate([r.gross for r in results]),
            "benchmark": bench,
            "turnover": np.concatenate([r.turnover for r in results]),
            "long": np.concatenate([r.long for r in results]),
            "short": np.concatenate([r.short for r in results]),
        },
        index=index,
    )


def run_universe_best(settings: Settings) -> None:
    """Choose, refit, trade in and out of sample, judge, write ``workflow.best.json``."""
    from crypto_tune._json import provenance
    from crypto_tune.phases._best_output import _target_path
    from crypto_tune.study import load_study

    choice = choose_universe(settings)
    settings, study = choice.settings, choice.study
    context = universe_context(settings, (choice.model, choice.model_source))
    data, ppy = context.data, context.periods_per_year
    fee = portfolio_params(settings).fee
    symbols = data.panel.symbols
    coverage = holdout_coverage(settings, data.panel.index[data.holdout.test_idx])
    is_results = [run_segment(settings, context, s) for s in context.segments]
    is_bench = np.concatenate([buy_and_hold(s.returns, s.tradable) for s in context.segments])
    holdout = holdout_predictions(
        settings, context, choice.model, retrain_months=settings.best.retrain_months
    )
    segment = make_segment(
        settings, data, score_matrix(data, holdout), np.asarray(data.holdout.test_idx)
    )
    oos_results = [run_segment(settings, context, segment)]
    oos_bench = buy_and_hold(segment.returns, segment.tradable)
    in_sample = portfolio_summary(is_results, periods_per_year=ppy, fee=fee)
    out_of_sample = portfolio_summary(oos_results, periods_per_year=ppy, fee=fee)
    is_ic, oos_ic = _ic_by_bar(context, context.oof.prediction), _ic_by_bar(context, holdout)
    model_study = (  # the Phase 1 trials the model was chosen among (none: config or file)
        load_study(settings, phase="model") if choice.model_source.startswith("study:") else None
    )
    looks = record_universe_look(choice)
    robustness = universe_robustness(
        settings,
        context,
        study,
        holdout_looks=looks["looks"],
        chosen=choice.trial_id,
        is_returns=np.concatenate([r.net for r in is_results]),
        in_sample=in_sample,
        out_of_sample=out_of_sample,
        model_trials=0 if model_study is None else len(model_study.trials),
    )
    from crypto_tune.phases._universe_model import score_universe

    scores = score_universe(data, context.oof)
    split = settings.split
    strategy = dataclasses.asdict(settings.strategy)
    strategy.pop("market", None)
    document = {
        **{k: v for k, v in provenance(settings, []).items() if k != "fingerprint"},
        "kind": "universe",
        "asset": {
            "name": settings.asset.name,
            "symbol": settings.asset.symbol,
            "timeframe": settings.asset.timeframe,
            "symbols": list(symbols),
            "data_fingerprint": data.data_fingerprint,
            "files": data.files,
        },
        "regime": settings.regime.name,
        "periods": {
            "tune": [split.tune_start, split.tune_end],
            "holdout": [split.holdout_start, split.holdout_end],
            "holdout_data": coverage,
        },
        "model": {
            "source": choice.model_source,
            "params": choice.model.params(),
            "overrides": choice.model_overrides,
            "predictions": context.oof.key,
        },
        "strategy": {
            "params": strategy,
            "universe": dataclasses.asdict(settings.universe),
            "tuned": choice.tuned,
            "overrides": choice.overrides,
            "source": choice.source,
            "holdout_retrain_months": settings.best.retrain_months,
        },
        "metrics": {
            "model": {
                **{k: json_value(scores[k]) for k in ("ic", "rank_ic", "icir", "rank_ic_t")},
                "pooled_ic": json_value(scores["pooled_ic"]),
                "folds": [{k: json_value(v) for k, v in f.items()} for f in scores["folds"]],
                "holdout": _ic_block(oos_ic),
            },
            "in_sample": in_sample,
            "out_of_sample": out_of_sample,
            "benchmark": {
                "in_sample": benchmark_summary(is_bench, periods_per_year=ppy),
                "out_of_sample": benchmark_summary(oos_bench, periods_per_year=ppy),
            },
        },
        "symbols": {
            s: {
                "in_sample": a,
                "out_of_sample": b,
                "rank_ic_in_sample": c,
                "rank_ic_out_of_sample": d,
            }
            for s, a, b, c, d in zip(
                symbols,
                contributions(is_results, symbols).values(),
                contributions(oos_results, symbols).values(),
                symbol_ic(
                    context.oof.prediction, data.panel.forward, data.panel.sym, symbols
                ).values(),
                symbol_ic(holdout, data.panel.forward, data.panel.sym, symbols).values(),
                strict=True,
            )
        },
        "costs": {**settings.strategy.costs.describe(), "slippage": settings.strategy.slippage},
        "robustness": robustness,
        "how": describe_universe_how(choice, looks, coverage),
    }
    path = _target_path(settings, looks["key"])  # best.overwrite; never the replayed file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_document(document), indent=2, allow_nan=False))
    is_index = data.panel.index[np.concatenate([s.bars for s in context.segments])]
    curves = pd.concat(
        [
            _curves(is_index, "in_sample", is_results, is_bench),
            _curves(data.panel.index[segment.bars], "out_of_sample", oos_results, oos_bench),
        ]
    )
    curves = curves.join(pd.concat([is_ic, oos_ic]).rename("rank_ic"), how="left")
    curves.to_csv(curves_path(path), index_label="timestamp")
    _print(settings, document, path)
    _track(settings, document, [path, curves_path(path)])


def _track(settings: Settings, document: dict[str, Any], files: list[Any]) -> None:
    """The best run in MLflow (the study's ``best`` experiment): parameters, the IS/OOS and
    benchmark figures, the per-bar IC, the robustness numbers, the verdict; the files."""
    from crypto_tune.study import study_name
    from crypto_tune.tracking import flatten, result_tags, start_run

    tags = result_tags(settings, "best", document)
    name = study_name(settings, phase="best")
    with start_run(settings.tracking, name, run_name="best", tags=tags) as run:
        if run is None:
            return
        run.params(flatten({"strategy": document["strategy"]["universe"]}))
        m = document["metrics"]
        numbers = flatten(
            {
                "in_sample": m["in_sample"],
                "out_of_sample": m["out_of_sample"],
                "benchmark": m["benchmark"],
                "model": {k: v for k, v in m["model"].items() if k != "folds"},
                "robustness": {
                    k: document["robustness"][k] for k in ("psr", "dsr", "pbo", "n_trials")
                },
            }
        )
        run.metrics({k: float(v) for k, v in numbers.items() if isinstance(v, int | float)})
        for file in files:
            run.file(file)


def _print(settings: Settings, document: dict[str, Any], path: Any) -> None:
    rows: list[tuple[str, ...]] = [
        ("", "in sample", "out of sample", "benchmark IS", "benchmark OOS")
    ]
    m = document["metrics"]
    for key in ("sharpe", "cagr", "max_drawdown", "total_return", "turnover_per_year"):
        rows.append(
            (
                key,
                *(
                    _fmt(block.get(key))
                    for block in (
                        m["in_sample"],
                        m["out_of_sample"],
                        m["benchmark"]["in_sample"],
                        m["benchmark"]["out_of_sample"],
                    )
                ),
            )
        )
    lines = ["  ".join(f"{c:>16}" for c in row) for row in rows]
    model = m["model"]
    lines.append(
        f"per-bar rank IC: tuning folds {_fmt(model['rank_ic'])} (t {_fmt(model['rank_ic_t'])}), "
        f"holdout {_fmt(model['holdout']['rank_ic'])} (t {_fmt(model['holdout']['rank_ic_t'])})"
    )
    lines.append(f"how: {document['how']['text']}")
    lines.append(f"verdict: {document['robustness']['verdict']}")
    lines.append(f"wrote {path}")
    log.info("best portfolio of %s:\n%s", settings.study.name, "\n".join(lines))


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


__all__ = ["curves_path", "holdout_predictions", "run_universe_best"]
