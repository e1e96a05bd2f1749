"""Phase 1's default pruner where users run it: the default study against the unpruned one on
several markets and sampler seeds, each with the best IC it reached and its wall time.

The issue's condition (the default's best IC within 10% of the unpruned study's) is measured by
``phase1_study`` on one market and one seed; a pruner's loss varies from study to study, so this
section runs :func:`bench.bench_phase1_study.bench_phase1_study` on each of :data:`MARKETS` (the
real candles of ``../shared/data``; a market whose file is absent is skipped, the synthetic
market stands in when none is there) for each of :data:`SEEDS`, the default against
``phase.pruner=none`` (both ``model.num_threads=auto``), and summarises: the studies whose
default kept its best IC within 10%, the mean best IC of each, and the median time saved.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.bench_phase1_study import TARGET_IC_WITHIN, bench_phase1_study

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data"
# name -> (the overrides that select it, the candles file it reads)
MARKETS: dict[str, tuple[list[str], str]] = {
    "ETH 4h": (["asset=eth"], "binance_ETHUSDT_4h.csv"),
    "BTC 4h": (["asset=btc"], "binance_BTCUSDT_4h.csv"),
    "SOL 4h": (["asset=sol"], "binance_SOLUSDT_4h.csv"),
    "ETH 1h": (["asset=eth", "asset.timeframe=1h"], "binance_ETHUSDT_1h.csv"),
}
SEEDS: tuple[int, ...] = (0, 1, 2)
VARIANTS: dict[str, list[str]] = {
    "default": [],
    "phase.pruner=none": ["phase.pruner=none"],
}


def available_markets(data_dir: Path = DATA_DIR) -> dict[str, list[str]]:
    """The markets of :data:`MARKETS` whose candles are in ``data_dir``; the synthetic market
    when none is."""
    found = {name: over for name, (over, file) in MARKETS.items() if (data_dir / file).exists()}
    return found or {"synthetic": ["asset=synthetic"]}


def bench_phase1_markets(
    *,
    work_dir: Path,
    markets: dict[str, list[str]] | None = None,
    seeds: Sequence[int] = SEEDS,
    n_trials: int = 30,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The default and the unpruned Phase 1 study of ``n_trials`` trials per market and seed."""
    markets = available_markets() if markets is None else markets
    studies = []
    for name, overrides in markets.items():
        for seed in seeds:
            progress(f"[bench] phase1_markets: {name}, seed {seed}")
            run = bench_phase1_study(
                [*overrides, f"seed={seed}"],
                work_dir=work_dir / f"{name.replace(' ', '_')}_{seed}",
                n_trials=n_trials,
                variants=VARIANTS,
                progress=progress,
            )
            default, unpruned = (run["runs"][label] for label in VARIANTS)
            studies.append(
                {
                    "market": name,
                    "seed": seed,
                    "default_s": default["wall_s"],
                    "unpruned_s": unpruned["wall_s"],
                    "default_best_ic": default["best_ic"],
                    "unpruned_best_ic": unpruned["best_ic"],
                    "pruned": default["pruned"],
                    "ic_within": default["best_ic"] >= (1 - TARGET_IC_WITHIN) * unpruned["best_ic"],
                    "commands": run["commands"],
                }
            )
    return {
        "n_trials": n_trials,
        "seeds": list(seeds),
        "studies": studies,
        "within": sum(s["ic_within"] for s in studies),
        "mean_default_best_ic": statistics.fmean(s["default_best_ic"] for s in studies),
        "mean_unpruned_best_ic": statistics.fmean(s["unpruned_best_ic"] for s in studies),
        "median_time_ratio": statistics.median(s["default_s"] / s["unpruned_s"] for s in studies),
        "target_ic_within": TARGET_IC_WITHIN,
    }
