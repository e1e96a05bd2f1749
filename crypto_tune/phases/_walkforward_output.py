"""The walk-forward record: stitched windows beside buy-and-hold, ``walkforward.json``, the curves,
the trades and the page, the printed table and the MLflow run.

A basket's benchmark generalises the single asset's (buy-and-hold over the strategy's own bars):
the members bought in equal capital at the first stitched bar and left alone (equal,
unrebalanced sleeves on the union of their bars, :func:`crypto_tune.portfolio.combine_returns`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crypto_tune import metrics
from crypto_tune._json import json_value
from crypto_tune.config import Settings
from crypto_tune.dataset import Dataset, write_atomic_parquet
from crypto_tune.phases._walkforward_window import WindowResult, performance
from crypto_tune.study import study_name
from crypto_tune.timeframes import periods_per_year
from crypto_tune.walkforward import efficiency, flat_params, stitch, window_labels

_clean = json_value  # NaN/inf -> None, NumPy scalars -> Python numbers


def benchmark(
    closes: Mapping[str, pd.Series], results: Sequence[WindowResult], index: pd.Index
) -> pd.Series:
    """Buy-and-hold over the stitched bars ``index``: the asset, or the members in equal,
    unrebalanced sleeves (each over its own test bars, combined on their union)."""
    from crypto_tune.portfolio import combine_returns
    from crypto_tune.report import buy_and_hold

    if len(closes) == 1:
        (close,) = closes.values()
        return buy_and_hold(close, index)
    held = {}
    for symbol, close in closes.items():
        first, *rest = [r.member_index[symbol] for r in results]
        held[symbol] = buy_and_hold(close, first.append(rest) if rest else first)
    out = combine_returns(held).reindex(index)
    if out.isna().any():  # pragma: no cover - the portfolio's bars are the members' union
        raise AssertionError("walk-forward: the benchmark misses a stitched bar")
    return out.rename("benchmark")


def windows_made(settings: Settings) -> dict[str, Any]:
    """How a walk-forward's windows were made, as its documents record it: the period, the
    split, the trial budgets and the objectives."""
    split, wf = settings.split, settings.walkforward
    return {
        "period": [wf.start or split.tune_start, wf.end or split.holdout_end],
        "split": {
            "train_months": split.train_months,
            "test_months": split.test_months,
            "expanding": split.expanding,
            "purge": split.purge,
            "n_folds": split.n_folds,
            "valid_fraction": split.valid_fraction,
        },
        "budgets": {"model_trials": wf.model_trials, "strategy_trials": wf.strategy_trials},
        "objectives": {"model": settings.phase.objective, "strategy": settings.strategy.objective},
    }


def summarise(
    settings: Settings, datasets: Mapping[str, Dataset], results: list[WindowResult]
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The walkforward.json document and the stitched curves (returns, benchmark, window)."""
    from crypto_tune.fingerprint import data_fingerprint

    ppy = periods_per_year(settings.asset.timeframe)
    returns = stitch([r.returns for r in results])
    closes = {symbol: d.candles["close"] for symbol, d in datasets.items()}
    hold = benchmark(closes, results, returns.index)
    n_trades = sum(r.out_of_sample["n_trades"] for r in results)
    stitched = performance(returns.to_numpy(), n_trades, ppy) | {"psr": _psr(returns.to_numpy())}
    bench = performance(hold.to_numpy(), 1, ppy) | {"psr": _psr(hold.to_numpy())}
    bench.pop("n_trades")
    is_annual = [r.in_sample["annual_return"] for r in results]
    asset = settings.asset
    document: dict[str, Any] = {
        "version": 1,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "crypto-tune " + " ".join(settings.command_line),
        "study": settings.study.name,
        "studies": [
            study_name(settings, phase=f"wf{r.number}.{p}")
            for r in results
            for p in ("model", "strategy")
        ],
        "asset": {
            "name": asset.name,
            "symbol": asset.symbol,
            "timeframe": asset.timeframe,
            "symbols": list(datasets),
            "data_fingerprint": ",".join(d.data_fingerprint for d in datasets.values()),
        },
        "fingerprint": data_fingerprint(settings, list(datasets.values())),
        "regime": settings.regime.name,
        **windows_made(settings),
        "windows": [r.as_dict() for r in results],
        "stitched": stitched
        | {
            "start": returns.index[0].isoformat(),
            "end": returns.index[-1].isoformat(),
        },
        "benchmark": bench,
        "efficiency": _clean(efficiency(stitched["annual_return"], is_annual)),
        "in_sample_annual_return_mean": _clean(
            float(np.mean([r for r in is_annual if r is not None]))
            if any(r is not None for r in is_annual)
            else None
        ),
    }
    if asset.kind == "basket":
        document["portfolio"] = {
            "weights": asset.weights,
            "rebalance": asset.rebalance,
            "target_vol": asset.target_vol,
            "max_gross": asset.max_gross,
            "benchmark": "equal, unrebalanced buy-and-hold sleeves of the members",
        }
    curves = pd.DataFrame(
        {
            "returns": returns.to_numpy(),
            "benchmark": hold.to_numpy(),
            "window": window_labels(returns.index, [r.returns for r in results]),
        },
        index=returns.index,
    )
    return document, curves


def _psr(returns: np.ndarray) -> float | None:
    sr, n, skew, kurt = metrics.sharpe_moments(returns)
    if n < 2:
        return None
    return _clean(metrics.probabilistic_sharpe_ratio(sr, n, skew, kurt))


def output_folder(settings: Settings) -> Path:
    """``paths.outputs/walkforward/<study.name>``."""
    return Path(settings.paths.root) / "walkforward" / settings.study.name


def write_outputs(
    settings: Settings, document: dict, curves: pd.DataFrame, results: list[WindowResult]
) -> dict[str, Path]:
    """walkforward.json, the curves and trades (Parquet) and the HTML page, in one folder."""
    from crypto_tune.report._walkforward import walkforward_page

    folder = output_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": folder / "walkforward.json",
        "curves": folder / "walkforward.curves.parquet",
        "trades": folder / "walkforward.trades.parquet",
        "html": folder / "walkforward.html",
    }
    write_atomic_parquet(curves, paths["curves"])
    trades = pd.concat([r.trades for r in results], ignore_index=True)
    write_atomic_parquet(trades, paths["trades"])
    document["files"] = {k: p.name for k, p in paths.items() if k != "json"}
    walkforward_page(document, curves, paths["html"])
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2, default=str)
    os.chmod(tmp, 0o644)
    os.replace(tmp, paths["json"])
    return paths


def _fmt(value: Any) -> str:
    return "—" if value is None else f"{value:.2f}"


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _short(params: dict[str, Any]) -> str:
    return " ".join(
        f"{k.split('.')[-1]}={v:.3g}" if isinstance(v, float) else f"{k.split('.')[-1]}={v}"
        for k, v in params.items()
    )


def _portfolio_line(portfolio: Mapping[str, Any]) -> str:
    """Mean gross exposure and the pairwise correlations of the members' OOS strategy returns."""
    oos = portfolio["out_of_sample"]
    corr = oos["correlation"]
    names = list(corr)
    pairs = [
        f"{a}/{b} {'—' if corr[a][b] is None else f'{corr[a][b]:.2f}'}"
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    ]
    return f"mean gross {oos['mean_gross']:.2f}, correlation {', '.join(pairs)}"


def print_table(document: dict, path: Path) -> None:
    """The per-window table, the stitched record beside buy-and-hold, the efficiency."""
    split = document["split"]
    print(
        f"== walk-forward: {document['asset']['symbol']} {document['asset']['timeframe']}, "
        f"{len(document['windows'])} windows, train {split['train_months']} months "
        f"({'anchored' if split['expanding'] else 'rolling'}), test {split['test_months']} "
        f"months, {document['period'][0]}..{document['period'][1]}"
    )
    header = (
        f"{'k':>2}  {'train':<23}  {'test':<23}  {'IS Sharpe':>9}  {'OOS Sharpe':>10}  "
        f"{'OOS return':>10}  {'trades':>6}  {'OOS IC':>7}"
    )
    print(header)
    for w in document["windows"]:
        ins, oos = w["in_sample"], w["out_of_sample"]
        ic = oos.get("ic")
        print(
            f"{w['number']:>2}  {w['train_start'][:10]}..{w['train_end'][:10]}  "
            f"{w['test_start'][:10]}..{w['test_end'][:10]}  {_fmt(ins['sharpe']):>9}  "
            f"{_fmt(oos['sharpe']):>10}  {_pct(oos['total_return']):>10}  "
            f"{oos['n_trades']:>6}  {'—' if ic is None else f'{ic:.4f}':>7}"
        )
    from crypto_tune.report._walkforward import window_notes

    for _, note in window_notes(document["windows"]):  # what a dash above means
        print(note)
    print("chosen parameters:")
    for w in document["windows"]:
        print(f"{w['number']:>2}  model: {_short(flat_params(w['model_params']))}")
        print(f"{'':>2}  strategy: {_short(w['strategy_params'])}")
        if "portfolio" in w:
            print(f"{'':>2}  portfolio: {_portfolio_line(w['portfolio'])}")
    st, bh = document["stitched"], document["benchmark"]
    print(f"{'':<14}{'Sharpe':>8}{'return':>10}{'annual':>9}{'max DD':>9}{'PSR':>7}{'trades':>8}")
    for name, row in (("walk-forward", st), ("buy & hold", bh)):
        trades = row.get("n_trades")
        print(
            f"{name:<14}{_fmt(row['sharpe']):>8}{_pct(row['total_return']):>10}"
            f"{_pct(row['annual_return']):>9}{_pct(row['max_drawdown']):>9}"
            f"{_fmt(row['psr']):>7}{'' if trades is None else trades:>8}"
        )
    eff = document["efficiency"]
    print(
        f"walk-forward efficiency: {_fmt(eff)} (annualised OOS return "
        f"{_pct(st['annual_return'])} / mean annualised IS return "
        f"{_pct(document['in_sample_annual_return_mean'])})"
        + ("" if eff is not None else ": undefined, the in-sample return is not positive")
    )
    print(f"wrote {path}")


def log_to_mlflow(settings: Settings, document: dict, paths: dict[str, Path]) -> None:
    """One run in ``<study.name>.walkforward``: settings, stitched and per-window metrics, files."""
    from crypto_tune.tracking import flatten, log_datasets, result_tags, start_run

    tags = result_tags(settings, "walkforward", document)
    with start_run(
        settings.tracking,
        study_name(settings, phase="walkforward"),
        run_name="walkforward",
        tags=tags,
    ) as run:
        if run is None:
            return
        log_datasets(run, settings)
        run.params(
            flatten(
                {
                    "split": document["split"],
                    "budgets": document["budgets"],
                    "objectives": document["objectives"],
                    **({"portfolio": document["portfolio"]} if "portfolio" in document else {}),
                }
            )
            | {"period": document["period"]}
        )
        numbers: dict[str, Any] = {"efficiency": document["efficiency"]}
        for group in ("stitched", "benchmark"):
            for key, value in document[group].items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    numbers[f"{group}.{key}"] = value
        run.metrics({k: float(v) for k, v in numbers.items() if v is not None})
        for w in document["windows"]:
            per = {
                "window.is_sharpe": w["in_sample"]["sharpe"],
                "window.oos_sharpe": w["out_of_sample"]["sharpe"],
                "window.oos_return": w["out_of_sample"]["total_return"],
                "window.oos_trades": w["out_of_sample"]["n_trades"],
            }
            if "portfolio" in w:
                per["window.oos_mean_gross"] = w["portfolio"]["out_of_sample"]["mean_gross"]
            run.metrics({k: float(v) for k, v in per.items() if v is not None}, step=w["number"])
        for path in paths.values():
            run.file(path)


__all__ = [
    "benchmark",
    "log_to_mlflow",
    "output_folder",
    "print_table",
    "summarise",
    "write_outputs",
]
