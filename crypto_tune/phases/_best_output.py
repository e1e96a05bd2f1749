"""Where the best run's results go: the study's folder ``paths.best/<study.name>/`` and a
``workflow.best.json`` there that never overwrites the file being replayed, the files written
beside it (curves, trades, refit models), the table printed on the terminal, the MLflow run and
the run's own HTML report.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from crypto_tune._json import json_document
from crypto_tune.config import Settings
from crypto_tune.costs import applied_leverage, bridge_lines
from crypto_tune.dataset import write_atomic_parquet
from crypto_tune.phases._best_document import BENCHMARK_KEYS
from crypto_tune.phases._best_runs import MemberRun
from crypto_tune.phases._results import best_folder, fold_ic_frame
from crypto_tune.splits import coverage_text
from crypto_tune.strategies import RULES

log = logging.getLogger("crypto_tune.best")


def _target_path(settings: Settings, settings_key: str | None = None) -> Path:
    """Where this run's workflow.best.json goes; never the file being replayed, and never over
    a result made with other settings (``how.settings_key``): with ``best.overwrite`` only a
    file of the same settings is replaced; another one is kept under a timestamped name."""
    folder = best_folder(settings)
    path = folder / "workflow.best.json"
    replayed = settings.best.from_file
    is_replayed = replayed is not None and Path(replayed).resolve() == path.resolve()
    if not path.exists():
        return path
    if settings.best.overwrite and not is_replayed:
        if settings_key is None or _settings_key(path) in (None, settings_key):
            return path
        kept = timestamped_path(folder)
        stem = kept.name.removesuffix(".json")
        for sibling in folder.glob("workflow.best.*"):  # its curves, trades, models and page
            rest = sibling.name.removeprefix("workflow.best.")
            if not rest[:1].isdigit():
                sibling.rename(folder / f"{stem}.{rest}")
        _rename_files(kept, stem)
        log.info("kept the best run made with other settings as %s", kept)
        return path
    return timestamped_path(folder)


def _rename_files(document_path: Path, stem: str) -> None:
    """Point a kept document's ``files`` at its renamed curves, trades and models."""

    def renamed(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: renamed(v) for k, v in value.items()}
        if isinstance(value, str) and value.startswith("workflow.best."):
            return f"{stem}.{value.removeprefix('workflow.best.')}"
        return value

    try:
        document = json.loads(document_path.read_text())
    except (OSError, ValueError):
        return
    if isinstance(document.get("files"), dict):
        document["files"] = renamed(document["files"])
        tmp = document_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(document, indent=2, default=str))
        os.replace(tmp, document_path)


def _settings_key(path: Path) -> str | None:
    try:
        return (json.loads(path.read_text()).get("how") or {}).get("settings_key")
    except (OSError, ValueError, AttributeError):
        return None


def timestamped_path(folder: Path) -> Path:
    """``folder/workflow.best.<UTC time>.json``, ``-2``, ``-3``... when taken (two runs in one
    second keep both files)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate, n = folder / f"workflow.best.{stamp}.json", 2
    while candidate.exists():
        candidate, n = folder / f"workflow.best.{stamp}-{n}.json", n + 1
    return candidate


def _write_outputs(
    settings: Settings,
    document: dict,
    is_returns: pd.Series,
    oos_returns: pd.Series,
    hold: tuple[pd.Series, pd.Series],
    runs: list[MemberRun],
) -> dict[str, Path]:
    """The JSON, the curves (strategy and buy-and-hold returns), the trades and the refit
    model(s), beside each other in the study's folder."""
    from crypto_tune.report import trade_records

    is_hold, oos_hold = hold
    path = _target_path(settings, (document.get("how") or {}).get("settings_key"))
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.name.removesuffix(".json")
    curves = path.with_name(f"{stem}.curves.parquet")
    frame = pd.concat(
        {"in_sample": is_returns, "out_of_sample": oos_returns}, names=["segment", "time"]
    ).to_frame("returns")
    benchmark = pd.concat(
        {"in_sample": is_hold, "out_of_sample": oos_hold}, names=["segment", "time"]
    )
    frame["benchmark"] = benchmark.reindex(frame.index).fillna(0.0).to_numpy()
    write_atomic_parquet(frame, curves)
    trades = path.with_name(f"{stem}.trades.parquet")
    records = [
        trade_records(run.is_trades, run.is_returns, segment="in_sample", symbol=run.symbol)
        for run in runs
    ] + [
        trade_records(run.oos.trades, [run.oos.returns], segment="out_of_sample", symbol=run.symbol)
        for run in runs
    ]
    table = pd.concat(records, ignore_index=True)
    write_atomic_parquet(table.sort_values(["segment", "entry_time"], kind="stable"), trades)
    models = {}
    for run in runs:
        suffix = "" if len(runs) == 1 else f".{run.symbol}"
        models[run.symbol] = path.with_name(f"{stem}.model{suffix}.txt")
        run.fitted.booster.save_model(str(models[run.symbol]))
    document["files"] = {
        "curves": curves.name,
        "trades": trades.name,
        "model": models[runs[0].symbol].name if len(runs) == 1 else None,
        "models": {symbol: file.name for symbol, file in models.items()},
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(json_document(document), handle, indent=2, default=str)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    written = {"json": path, "curves": curves, "trades": trades}
    return written | {f"model.{s}": f for s, f in models.items()}


# Percentages from this size on are printed in three significant digits (1.48e+07%): a market
# that rises 1000-fold keeps its digits inside the table's 14-character column.
_LONG_PERCENT = 1e6


def _fmt(value: Any, key: str) -> str:
    """One table cell: "—" for a missing value, percentages for shares and returns."""
    if value is None:
        return "—"
    if key in ("max_drawdown", "win_rate", "total_return", "exposure", "cagr", "volatility"):
        if isinstance(value, str):
            return value
        percent = 100 * value
        return f"{percent:.3g}%" if abs(percent) >= _LONG_PERCENT else f"{percent:.2f}%"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.3g}" if 0 < abs(value) < 0.01 else f"{value:.3f}"
    return str(value)


def _print_table(document: dict, path: Path) -> None:
    ins, oos = document["metrics"]["in_sample"], document["metrics"]["out_of_sample"]
    params = document["strategy"]["params"]
    overrides = document["strategy"]["overrides"]
    bench = document["metrics"].get("benchmark") or {}
    bis, boos = bench.get("in_sample", {}), bench.get("out_of_sample", {})
    head = f"{'':<16}{'in-sample':>14}{'out-of-sample':>16}"
    lines = [head + (f"{'buy&hold IS':>14}{'buy&hold OOS':>14}" if bench else "")]
    keys = ("sharpe", "sortino", "max_drawdown", "win_rate", "total_return", "n_trades")
    for key in (*keys, "trades_per_year", "exposure"):
        row = f"{key:<16}{_fmt(ins.get(key), key):>14}{_fmt(oos.get(key), key):>16}"
        if bench and key in BENCHMARK_KEYS:
            row += f"{_fmt(bis.get(key), key):>14}{_fmt(boos.get(key), key):>14}"
        lines.append(row)
    rule = RULES.get(str(params.get("name")))
    for key in rule.tuned if rule is not None else ():
        mark = " (override)" if key in overrides else ""
        lines.append(f"{key:<16}{_fmt(params.get(key), key):>14}{mark}")
    sizing = params.get("sizing", "fixed")
    # what the backtest applied: the market's cap where it lends less (1 on spot, no borrowing)
    cap = applied_leverage(params.get("max_leverage"), document.get("costs"))
    lev = applied_leverage(params.get("leverage"), document.get("costs"))
    size = (
        f"volatility target {_fmt(params.get('target_vol'), 'volatility')}, leverage capped at "
        f"{cap}"
        if sizing == "vol_target"
        else f"fixed leverage {lev}"
    )
    lines.append(f"{'size':<16}{size}")
    model = document["metrics"]["model"]
    rob = document["robustness"]
    print(
        f"== best run: {document['asset']['name']} {document['asset']['timeframe']}, "
        f"tune {document['periods']['tune'][0]}..{document['periods']['tune'][1]}, "
        f"holdout {document['periods']['holdout'][0]}..{document['periods']['holdout'][1]}"
        f"{coverage_text(covered) if (covered := document['periods'].get('holdout_data')) else ''}"
    )
    how = document.get("how") or {}
    if how.get("text"):
        print(f"how: {how['text']}")
    print("\n".join(lines))
    print(
        f"model: IC {model['ic']:.4f}, rank IC {model['rank_ic']:.4f}, holdout IC "
        f"{_fmt(model['holdout_ic'], 'ic')}"
    )
    for line in bridge_lines(document.get("costs")):  # the gross-to-net bridge
        print(line)
    print(
        f"robustness: PSR {_fmt(rob['psr'], 'psr')}, DSR {_fmt(rob['dsr'], 'dsr')}, "
        f"PBO {_fmt(rob['pbo'], 'pbo')} over {rob['n_trials']:,} trials"
    )
    for symbol, member in (document.get("members") or {}).items():
        ins_m, oos_m = member["in_sample"], member["out_of_sample"]
        print(
            f"  {symbol:<10} sharpe {_fmt(ins_m['sharpe'], 'sharpe'):>8} in / "
            f"{_fmt(oos_m['sharpe'], 'sharpe'):>8} out, trades {ins_m['n_trades']} / "
            f"{oos_m['n_trades']}, IC {member['ic']:.4f} / {_fmt(member['holdout_ic'], 'ic')}"
        )
    hood = rob.get("neighbourhood")
    if hood:
        print(
            f"stability: objective over {hood['n']} neighbours (each parameter moved by up to "
            f"10%): mean {hood['mean']:.3f}, median {hood['median']:.3f}, worst {hood['worst']:.3f}"
        )
    signal = document.get("signal")
    if signal:
        beyond = [signal[s].get("beyond_entry") for s in ("in_sample", "out_of_sample")]
        if None not in beyond:
            print(
                f"signal ({signal['kind']}): beyond the entry level on {100 * beyond[0]:.1f}% "
                f"of bars in sample, {100 * beyond[1]:.1f}% out of sample"
            )
    objective = document["strategy"].get("objective")
    if objective:
        print(objective["note"])
    print(f"verdict: {rob['verdict']}")
    for warning in document.get("warnings", []):
        print(f"warning: {warning}")
    print(f"wrote {path}")


def _log_to_mlflow(settings: Settings, document: dict, paths: dict[str, Path], page: Path) -> None:
    from crypto_tune.study import study_name
    from crypto_tune.tracking import flatten, result_tags, start_run

    tags = result_tags(settings, "best", document)
    with start_run(
        settings.tracking, study_name(settings, phase="best"), run_name="best", tags=tags
    ) as run:
        if run is None:
            return
        params = flatten(
            {
                "model": document["model"]["params"],
                "strategy": document["strategy"]["params"],
                "overrides": document["strategy"]["overrides"],
            }
        )
        run.params(params)
        numbers = {}
        for segment in ("in_sample", "out_of_sample"):
            for key, value in document["metrics"][segment].items():
                numbers[f"{segment}.{key}"] = value
            for key, value in ((document.get("costs") or {}).get(segment) or {}).items():
                numbers[f"costs.{segment}.{key}"] = value  # the gross-to-net bridge
        for key in ("ic", "rank_ic", "icir", "holdout_ic"):
            numbers[f"model.{key}"] = document["metrics"]["model"][key]
        for key in ("psr", "dsr", "pbo", "n_trials"):
            numbers[f"robustness.{key}"] = document["robustness"][key]
        run.metrics({k: float(v) for k, v in numbers.items() if isinstance(v, int | float)})
        for path in paths.values():
            run.file(path)
        run.file(page, None)


def best_report(document: dict, paths: dict[str, Path]) -> Path:
    """The best run's own HTML page (table, verdict, equity and drawdown in and out of sample)."""
    from crypto_tune.report import build_report, read_best_files, write_report

    files = read_best_files(document, paths["json"])
    html = build_report(
        title=f"crypto-tune best run: {document.get('study', document['experiment'])}",
        model_study=None,
        strategy_study=None,
        best=document,
        equity=files.equity,
        benchmark=files.benchmark,
        trades=files.trades,
        fold_ic=fold_ic_frame(document),
    )
    stem = paths["json"].name.removesuffix(".json")
    return write_report(html, paths["json"].with_name(f"{stem}.html"))
