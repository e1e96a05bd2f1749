"""``python -m bench --out DIR [--quick]``: every benchmark in one run.

Writes ``DIR/results.json`` and ``DIR/results.md`` (also printed): the backtest engine against
the plain-Python reference, seconds per Phase 1 trial and the share outside LightGBM training,
the prediction cache's time cut for Phase 2, Phase 2 sweep throughput through the CLI against
a bare Optuna loop on SQLite and PostgreSQL, Phase 1 trials/s on PostgreSQL with 1 and 2 worker
processes and in joblib batch mode, universe studies against issue 23's targets (one Phase 1
trial on the ten 1h symbols pooled against ten single-asset trials, one Phase 2 trial on the ten
4h symbols: ``bench/bench_universe.py``; skipped when ../shared/data lacks them) and a profiled
split of one sweep trial. Real ETH 4h candles from ../shared/data are used when present, else
the synthetic market (said in the results). ``--quick`` runs every part at tiny sizes (30
trials) for the smoke test; ``--only universe`` (or ``make bench BENCH_ARGS="--only universe"``)
runs one section. A full run takes about 30 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ETH_FILE = ROOT.parent / "shared" / "data" / "binance_ETHUSDT_4h.csv"
ETH_1H_FILE = ETH_FILE.with_name("binance_ETHUSDT_1h.csv")
# The "5-year market": five tuning years of hourly ETH candles (2019-2023, 2024 held
# out), ~43,800 bars against the default market's ~6,600 (ETH 4h, 2021-2023).
FIVE_YEARS = ["asset=eth", "asset.timeframe=1h", "split.tune_start=2019-01-01"]
SECTIONS = (
    "engine",
    "api",
    "phase1",
    "phase1_study",
    "phase1_markets",
    "cache",
    "sweep",
    "sweep_5y",
    "sampler_ab",
    "samplers",
    "samplers_long",
    "workers",
    "universe",
    "walkforward",
    "sweep_profile",
)

# the sections that run on choose_data's market (the universe section reads its own symbols)
DATA_SECTIONS = (
    "phase1",
    "phase1_study",
    "cache",
    "sweep",
    "sampler_ab",
    "samplers",
    "samplers_long",
    "workers",
    "walkforward",
    "sweep_profile",
)


def progress(message: str) -> None:
    """One progress line, flushed at once."""
    print(message, flush=True)


def choose_data(quick: bool) -> tuple[list[str], str]:
    """(data overrides, note): real ETH 4h when present, else the synthetic market."""
    if quick:
        return ["asset=synthetic", "debug=fast"], "quick run: synthetic market (debug=fast)"
    if ETH_FILE.exists():
        return ["asset=eth"], "real Binance ETHUSDT 4h candles (../shared/data)"
    return ["asset=synthetic"], "../shared/data absent: fell back to asset=synthetic"


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """Date, machine, versions and the git commit of this run."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in (
        "optuna",
        "hydra-core",
        "hydra-optuna-sweeper",
        "lightgbm",
        "numba",
        "numpy",
        "pandas",
    ):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "absent"
    commit = _git("rev-parse", "HEAD")
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_at_start": os.getloadavg()[0],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "git_commit": commit or "unknown",
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "versions": versions,
    }


# ----------------------------------------------------------------------------- markdown
def _fmt(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def _ok(flag: bool) -> str:
    return "met" if flag else "MISSED"


def _samplers_table(samplers: dict[str, Any] | None, title: str) -> list[str]:
    """One samplers section's table (bench/bench_samplers.py); the sweep's own sampler marked."""
    if not samplers or not samplers.get("samplers"):
        return []
    rows = samplers["samplers"]
    first = next(iter(rows.values()))
    at_n, at_s = list(first["best_at_trials"]), list(first["best_at_seconds"])
    # keys are numbers in the run, strings once read back from results.json
    label_n = {n: f"{int(n):,}" for n in at_n}
    label_s = {t: f"{float(t):g}" for t in at_s}
    sweep = samplers.get("sweep_sampler", {})
    default = "tpe-multivariate" if sweep.get("multivariate") else "tpe"
    lines = [
        "",
        f"{title}: best {samplers['objective']} reached (mean of seeds {samplers['seeds']}), a "
        f"bare ask-and-tell loop on the real objective, {samplers['storage']}; "
        f"(default): the sampler a Phase 2 sweep runs",
        "",
        "| sampler | trials/s | "
        + " | ".join(f"best at {label_n[n]} trials" for n in at_n)
        + " | "
        + " | ".join(f"best at {label_s[t]} s" for t in at_s)
        + " |",
        "|---|---|" + "---|" * (len(at_n) + len(at_s)),
    ]

    def _v(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    for name, r in rows.items():
        shown = f"{name} (default)" if name == default else name
        lines.append(
            f"| {shown} | {_fmt(r['trials_per_s'], 1)} | "
            + " | ".join(_v(r["best_at_trials"][n]) for n in at_n)
            + " | "
            + " | ".join(_v(r["best_at_seconds"][s]) for s in at_s)
            + " |"
        )
    return lines


def render_markdown(results: dict[str, Any]) -> str:
    """The results as a markdown report: header, one table per section, the commands."""
    meta = results["meta"]
    lines = [
        "# crypto-tune benchmarks",
        "",
        f"- date: {meta['date']}; {'quick run' if results['quick'] else 'full run'}, "
        f"{_fmt(results['total_s'] / 60, 1)} min",
        f"- machine: {meta['cpu']}, {meta['cores']} cores ({meta['cores_usable']} usable), "
        f"load average at start {meta['load_average_at_start']:.2f}; Python {meta['python']}",
        f"- git commit: {meta['git_commit'][:12]}"
        + (" + uncommitted changes" if meta["git_dirty"] else ""),
        "- versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
        (
            f"- data: {results['data']['note']} (`{' '.join(results['data']['overrides'])}`)"
            if any(name in results for name in DATA_SECTIONS)
            else "- data: none of the sections run reads the ETH 4h market (the universe "
            "section says its own)"
        ),
        "",
        "| section | measure | value | target / note |",
        "|---|---|---|---|",
    ]
    row = lines.append
    table_start = len(lines)
    engine = results.get("engine")
    if engine:
        row(
            f"| engine | fast backtest, {engine['n_bars']:,} bars | "
            f"{_fmt(1000 * engine['fast_s'], 3)} ms/call | numba kernel, after JIT |"
        )
        row(
            f"| engine | plain-Python reference | {_fmt(1000 * engine['reference_s'], 1)} ms/call "
            "| tests/reference_backtest.py |"
        )
        row(f"| engine | speedup | {_fmt(engine['speedup'], 0)}x | same returns (checked) |")
    api = results.get("api")
    if api:
        row(
            f"| api | run_backtest, {api['n_bars']:,} bars, pandas in and out | "
            f"{_fmt(1000 * api['api_s'], 3)} ms/call; {_fmt(1000 * api['api_with_trades_s'], 3)} "
            f"with the trade table ({api['n_trades']:,} trades) | built on first use |"
        )
        row(
            f"| api | vs the plain-Python reference through pandas | "
            f"{_fmt(api['speedup'], 0)}x; {_fmt(api['speedup_with_trades'], 0)}x with trades | "
            "≥ 20x |"
        )
        row(
            f"| api | the wrapping (pandas in and out, checks) against the kernel "
            f"(`simulate_returns`: {_fmt(1000 * api['kernel_s'], 3)} ms/call) | "
            f"{_fmt(api['wrapping_vs_kernel'], 2)}x | ≤ 1x, alternated rounds, medians |"
        )
    p1 = results.get("phase1")
    if p1:
        where = f"{p1['asset']} {p1['timeframe']}, {p1['split']} split, {p1['n_folds']} folds"
        row(
            f"| phase1 | s/trial ({where}, no MLflow) | {_fmt(p1['s_per_trial'], 3)} s | "
            f"mean of {p1['n_trials']} param sets |"
        )
        row(
            f"| phase1 | LightGBM training s/trial | {_fmt(p1['lgb_s_per_trial'], 3)} s | "
            "lightgbm.train wrapped |"
        )
        row(
            f"| phase1 | share outside LightGBM training | {p1['share_outside_lgb']:.1%} | "
            f"target < {p1['target_share_outside_lgb']:.0%}: {_ok(p1['meets_target'])} |"
        )
        parts = ", ".join(
            f"{k} {_fmt(v, 1)}" for k, v in p1["breakdown_ms_per_trial"].items() if k != "lgb_train"
        )
        outside_ms = _fmt(1000 * p1["outside_lgb_s_per_trial"], 1)
        row(f"| phase1 | outside LightGBM, ms/trial | {outside_ms} ms | {parts} |")
    cache = results.get("cache")
    if cache:
        warm_ms = _fmt(cache["warm_ms_per_trial"], 2)
        row(
            f"| cache | Phase 2 trial, cached predictions | {warm_ms} ms"
            f" | mean of {cache['warm_trials']} trials |"
        )
        row(
            f"| cache | Phase 2 trial, retraining per trial | "
            f"{_fmt(cache['retrain_ms_per_trial'], 1)} ms | mean of {cache['retrain_trials']} |"
        )
        row(
            f"| cache | ratio / time cut | {_fmt(cache['ratio'], 0)}x / {cache['time_cut']:.2%} | "
            f"original claim > {cache['claimed_time_cut']:.0%}: "
            f"{_ok(cache['time_cut'] > cache['claimed_time_cut'])} |"
        )
    if len(lines) == table_start:  # none of the summary table's sections ran (--only)
        del lines[table_start - 3 :]
    study = results.get("phase1_study")
    if study:
        lines += [
            "",
            f"Phase 1 studies, {study['n_trials']} trials each, one after another in this run "
            "(wall: the whole `crypto-tune -m phase=model` command; trials: first start to last "
            "completion)",
            "",
            "| variant | wall | trials | vs baseline | best IC | pruned | target |",
            "|---|---|---|---|---|---|---|",
        ]
        for label, run in study["runs"].items():
            target = ""
            if label == study["default"]:
                target = (
                    f">= {study['target_speedup']:.0f}x, IC within "
                    f"{study['target_ic_within']:.0%}: {_ok(study['meets_target'])}"
                )
            row(
                f"| {label} | {_fmt(run['wall_s'], 1)} s | {_fmt(run['trials_span_s'], 1)} s | "
                f"{_fmt(run['speedup_vs_baseline'], 2)}x | {run['best_ic']:.4f} "
                f"({run['best_ic_vs_baseline']:.0%}) | {run['pruned']} of "
                f"{run['complete'] + run['pruned'] + run['failed']} | {target} |"
            )
    markets = results.get("phase1_markets")
    if markets:
        lines += [
            "",
            f"Phase 1's default pruner on several markets and seeds: {markets['n_trials']} trials "
            "a study, the default against `phase.pruner=none` (both num_threads=auto), one after "
            "the other",
            "",
            "| market | seed | default | unpruned | time | best IC default | unpruned | pruned | "
            f"within {markets['target_ic_within']:.0%} |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for s in markets["studies"]:
            row(
                f"| {s['market']} | {s['seed']} | {_fmt(s['default_s'], 1)} s | "
                f"{_fmt(s['unpruned_s'], 1)} s | {s['default_s'] / s['unpruned_s']:.0%} | "
                f"{s['default_best_ic']:.4f} | {s['unpruned_best_ic']:.4f} | "
                f"{s['pruned']} of {markets['n_trials']} | {_ok(s['ic_within'])} |"
            )
        row(
            f"| all | | | | median {markets['median_time_ratio']:.0%} | mean "
            f"{markets['mean_default_best_ic']:.4f} | mean {markets['mean_unpruned_best_ic']:.4f} "
            f"| | {markets['within']} of {len(markets['studies'])} |"
        )
    for key, title in (
        ("sweep", "Phase 2 sweep throughput"),
        ("sweep_5y", "Phase 2 sweep throughput on five years of hourly candles"),
    ):
        sweep = results.get(key)
        if not sweep:
            continue
        if "skipped" in sweep:
            lines += ["", f"{title}: skipped ({sweep['skipped']})"]
            continue
        market = f" ({' '.join(sweep['market'])})" if "market" in sweep else ""
        lines += [
            "",
            f"{title}{market} (ms/trial = (wall - time to first trial) / (n - 1))",
            "",
            "| storage | trials | crypto-tune sweep ms/trial | bare optuna ms/trial | "
            "sweep/bare | sweep speed vs bare | "
            f"target (>= {1 / sweep['target_sweep_over_bare']:.0%}) | same params |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for run in sweep["runs"]:
            s, b = run["sweep"], run["bare"]
            row(
                f"| {run['storage']} | {run['n_trials']:,} | {_fmt(s['ms_per_trial'], 1)} "
                f"({_fmt(s['trials_per_s'], 1)}/s; first trial after "
                f"{_fmt(s['to_first_trial_s'], 1)} s) | {_fmt(b['ms_per_trial'], 1)} "
                f"({_fmt(b['trials_per_s'], 1)}/s) | "
                f"{_fmt(run['sweep_over_bare'], 2)} | {run['sweep_speed_vs_bare']:.0%} | "
                f"{_ok(run['meets_target'])} | {'yes' if run['same_first_20_params'] else 'no'} |"
            )
        if "skipped" in sweep["postgres"]:
            row(f"| postgres | - | skipped: {sweep['postgres']['skipped']} | | | | | |")
        kernel = sweep.get("kernel")
        if kernel:
            lines += [
                "",
                f"The kernel's own limit: {_fmt(kernel['trials_per_s'], 0)} trials/s "
                f"({_fmt(kernel['ms_per_trial'], 2)} ms/trial: `evaluate_strategy` alone, every "
                f"fold's backtest and the objective, over {kernel['n']} drawn parameter sets); "
                "sweep trials/s as a share of it: "
                + ", ".join(
                    f"{r['storage']} {r['n_trials']:,}: "
                    f"{r['sweep']['trials_per_s'] / kernel['trials_per_s']:.1%}"
                    for r in sweep["runs"]
                ),
            ]
    ab = results.get("sampler_ab")
    if ab:
        lines += [
            "",
            f"The default sampler against Optuna's own TPE: one Phase 2 sweep of "
            f"{ab['n_trials']:,} trials on SQLite each (ms/trial = (wall - time to first trial) / "
            "(n - 1))",
            "",
            "| sampler | ms/trial | trials/s | wall | best value |",
            "|---|---|---|---|---|",
        ]
        for label, run in ab["runs"].items():
            row(
                f"| {label} | {_fmt(run['ms_per_trial'], 1)} | {_fmt(run['trials_per_s'], 1)} | "
                f"{_fmt(run['wall_s'], 1)} s | {run['best_value']:.4f} |"
            )
        lines += [
            "",
            f"Same trials (every trial's parameters, values and state): "
            f"{'yes' if ab['same_trials'] else 'NO'}; the default {_fmt(ab['speedup'], 2)}x "
            "faster a trial",
        ]
    for key, title in (
        ("samplers", "Phase 2 samplers"),
        ("samplers_long", "Phase 2 samplers at 3,000 trials, independent and multivariate TPE"),
    ):
        lines += _samplers_table(results.get(key), title)
    workers = results.get("workers")
    if workers and "skipped" in workers:
        lines += ["", f"Phase 1 workers on PostgreSQL: skipped: {workers['skipped']}"]
    elif workers:
        lines += [
            "",
            f"Phase 1 on PostgreSQL, {workers['n_trials']} trials, the same parameter sets in each "
            "run (trials/s = n / (last completion - first trial start); "
            f"{workers['cores_usable']} cores)",
            "",
            "| mode | processes | trials/s | vs one worker | mean trial | wall | target |",
            "|---|---|---|---|---|---|---|",
        ]
        for label, run in workers["runs"].items():
            target = ""
            if label == "workers=2":
                target = (
                    f">= {workers['target_two_over_one']}x one worker: "
                    f"{_ok(workers['meets_target'])}"
                )
            row(
                f"| {label} | {run['processes']} | {_fmt(run['trials_per_s'], 2)} | "
                f"{_fmt(run['speedup_vs_one_worker'], 2)}x | {_fmt(run['mean_trial_s'], 2)} s | "
                f"{_fmt(run['wall_s'], 1)} s | {target} |"
            )
    universe = results.get("universe")
    if universe:
        lines += ["", *render_universe(universe)]
    prof = results.get("sweep_profile")
    if prof:
        lines += [
            "",
            f"One sweep trial's time under cProfile ({prof['n_trials']} trials; "
            f"{_fmt(prof['total_ms_per_trial'], 1)} ms/trial profiled; cProfile inflates "
            "Python-heavy code, read the shares)",
            "",
            "| part | ms/trial | share |",
            "|---|---|---|",
        ]
        for name, part in {**prof["split"], **prof["detail"]}.items():
            row(f"| {name} | {_fmt(part['ms_per_trial'], 2)} | {part['share']:.1%} |")
    if "walkforward" in results:
        lines += ["", *render_walkforward(results["walkforward"])]
    for name, error in results.get("errors", {}).items():
        row(f"\n**{name} failed**: {error}")
    lines += ["", "Commands", ""]
    lines += [f"- `{c}`" for c in results["commands"]]
    return "\n".join(lines) + "\n"


def render_walkforward(wf: dict[str, Any]) -> list[str]:
    """The walk-forward section's lines (issue 24): wall time against the issue's baseline."""
    lines = [
        "Walk-forward (issue 24): one `crypto-tune phase=walkforward` run as a user runs it "
        f"(a subprocess): `{wf['command']}`",
        "",
        "| measure | value | target / note |",
        "|---|---|---|",
        f"| wall time, {wf['windows']} windows, {wf['budgets']['model_trials']} + "
        f"{wf['budgets']['strategy_trials']} trials a window "
        f"| {_fmt(wf['seconds'] / 60, 2)} min ({_fmt(wf['seconds_per_window'], 1)} s a window) "
        + (
            f"| {_fmt(wf['speedup_vs_issue'], 2)}x the issue's 7 min 17 s (target 2x: "
            f"{_ok(wf['speedup_vs_issue'] >= 2)}; that figure is from another day's load) |"
            if wf.get("speedup_vs_issue")
            else "| quick run: no target |"
        ),
        f"| stitched out-of-sample Sharpe | {_fmt(wf['stitched_oos_sharpe'] or float('nan'))} "
        "| the test blocks chained |",
    ]
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _render_drawn(p1: dict[str, Any]) -> list[str]:
    """The row of the trials at parameter sets drawn from the search space (absent in results
    written before it was measured)."""
    drawn = p1.get("drawn")
    if not drawn:
        return []
    each = "; ".join(
        f"{_fmt(r['universe_s'], 1)} s against {_fmt(r['single_s'], 1)} s "
        f"(learning_rate {r['params']['model.learning_rate']:.3g}, "
        f"num_boost_round {r['params']['model.num_boost_round']}, feature_fraction "
        f"{r['params']['model.feature_fraction']:.2f} against "
        f"{r['single_params']['model.feature_fraction']:.2f})"
        for r in drawn["sets"]
    )
    return [
        "| a study's first trials as it draws them "
        f"({_count(len(drawn['sets']), 'parameter set')} of the search spaces, Optuna's "
        "RandomSampler, one seed: corresponding draws; pruner off): pooled / single-asset | "
        f"{_fmt(drawn['universe_s'], 1)} s against {_fmt(drawn['single_s'], 1)} s: "
        f"{_fmt(drawn['ratio'], 2)}x | target < {p1['target_ratio']:.0f}x (wall): "
        f"{_ok(drawn['meets_target'])}; {each} |"
    ]


def render_universe(universe: dict[str, Any]) -> list[str]:
    """The universe section's lines: skipped with its reason, or its table (issue 23)."""
    if "skipped" in universe:
        return [f"Universe studies (issue 23): skipped: {universe['skipped']}"]
    p1, p2 = universe["phase1"], universe["phase2"]
    eq = p1["equal_rounds"]
    n = len(p1["symbols"])
    singles = p1["singles"].values()
    per_symbol = [r["seconds"] for r in singles]
    rounds = [b for r in singles for b in r["best_iterations"]]
    lines = [
        f"Universe studies (issue 23): {'the' if n == 10 else f'the first {n} of the'} ten "
        "symbols of `conf/asset/universe.yaml` (Binance spot candles of ../shared/data), each "
        "trial through `run_phase` as a sweep calls it, in this process",
        "",
        "| measure | value | target / note |",
        "|---|---|---|",
        f"| Phase 1 trial, {n} {p1['timeframe']} symbols pooled: {p1['panel_rows']:,} panel rows "
        f"({p1['panel_rows_through_holdout']:,} from the tuning years {p1['tune']} through the "
        f"holdout, {p1['panel_rows_tune']:,} in the tuning years) x {p1['n_features']} "
        f"features; {p1['n_folds']} folds of "
        f"{p1['fold_rows'][0]['train']:,}-{p1['fold_rows'][-1]['train']:,} train rows "
        f"| {_fmt(p1['universe_s'], 1)} s ({_fmt(p1['universe_cpu_s'], 1)} s CPU) "
        f"| default model ({p1.get('model', '?')}; the single-asset trials "
        f"{p1.get('single_model', '?')}), num_threads={p1['num_threads']}; "
        f"per-bar IC objective {p1['universe_objective']:.4f}; best iteration per fold "
        f"{', '.join(str(b) for b in p1['universe_best_iterations'])} |",
        f"| {n} single-asset Phase 1 trials, same symbols, {p1['timeframe']} "
        f"| {_fmt(p1['single_s'], 1)} s ({_fmt(p1['single_cpu_s'], 1)} s CPU) "
        f"| sum; each {_fmt(min(per_symbol), 1)}-"
        f"{_fmt(max(per_symbol), 1)} s ({min(r['bars'] for r in singles):,}-"
        f"{max(r['bars'] for r in singles):,} candles read per symbol); best iterations "
        f"{min(rounds)}-{max(rounds)}, median {statistics.median(rounds):g} |",
        f"| pooled / single-asset | {_fmt(p1['ratio'], 2)}x ({_fmt(p1['cpu_ratio'], 2)}x in "
        f"CPU time) | target < {p1['target_ratio']:.0f}x (wall): {_ok(p1['meets_target'])} |",
        f"| a study's later trial (each fold's LightGBM datasets built by the trial before): "
        f"pooled / single-asset | {_fmt(p1['later_universe_s'], 1)} s against "
        f"{_fmt(p1['later_single_s'], 1)} s: {_fmt(p1['later_ratio'], 2)}x "
        f"({_fmt(p1['later_cpu_ratio'], 2)}x in CPU time) | target < "
        f"{p1['target_ratio']:.0f}x (wall): {_ok(p1['later_meets_target'])} |",
        f"| the same trials at equal work ({eq['rounds']} boosting rounds a fold, no early "
        f"stopping): pooled / single-asset | {_fmt(eq['universe_s'], 1)} s against "
        f"{_fmt(eq['single_s'], 1)} s: {_fmt(eq['ratio'], 2)}x; a later trial "
        f"{_fmt(eq['later_universe_s'], 1)} s against {_fmt(eq['later_single_s'], 1)} s: "
        f"{_fmt(eq['later_ratio'], 2)}x | the panel's own cost, its model's extra rounds "
        "apart (the pooled rows carry twice the features) |",
        *_render_drawn(p1),
        f"| Phase 2 trial, {len(p2['symbols'])} {p2['timeframe']} symbols tuned "
        f"{p2['tune']}, cached predictions ({p2['n_folds']} folds, "
        f"{p2['n_test_bars']:,} test bars) | {_fmt(p2['ms_median'], 2)} ms median | "
        f"target < {_fmt(p2['target_ms'], 0)} ms: {_ok(p2['meets_target'])}; "
        f"{p2['n_trials']:,} trials after {p2['warmup_trials']} warm-up: mean "
        f"{_fmt(p2['ms_mean'], 2)}, p10 {_fmt(p2['ms_p10'], 2)}, p90 {_fmt(p2['ms_p90'], 2)} ms; "
        f"model from {p2['model_source']} |",
        f"| of which the portfolio kernel | {_fmt(p2['kernel_ms_median'], 2)} ms median | "
        "the rest (context lookup, parameters, objective) "
        f"{_fmt(p2['outside_kernel_ms_median'], 2)} ms |",
    ]
    return lines


# ---------------------------------------------------------------------------------- main
def _write(out: Path, results: dict[str, Any]) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")


def _five_year_sweep(quick: bool, data: list[str], work_dir: Path, progress: Any) -> dict:
    """The Phase 2 sweep at 3,000 trials on SQLite over five years of hourly ETH candles
    (:data:`FIVE_YEARS`); skipped with a note without them (the quick run: the given market)."""
    from bench.bench_sweep import bench_sweep

    if not quick and not ETH_1H_FILE.exists():
        return {"skipped": f"{ETH_1H_FILE} absent"}
    market = data if quick else FIVE_YEARS
    counts = (30,) if quick else (3000,)
    out = bench_sweep(
        market, work_dir=work_dir, trial_counts=counts, pg_url=None, progress=progress
    )
    return {**out, "market": market}


def _long_samplers_budget(quick: bool) -> dict[str, Any]:
    """The samplers_long section's budget: the issue's 3,000 trials, five seeds (tiny if quick)."""
    if quick:
        return {"n_trials": 20, "seeds": (1,), "at_trials": (10, 20), "at_seconds": (1.0,)}
    return {"n_trials": 3000, "at_trials": (300, 1000, 3000), "at_seconds": (10.0, 30.0, 60.0)}


def run(out: Path, *, quick: bool, only: Sequence[str] = ()) -> dict[str, Any]:
    """Run every benchmark, writing results.json after each section; return the results."""
    from bench.bench_api import bench_api
    from bench.bench_cache import bench_cache
    from bench.bench_engine import bench_engine
    from bench.bench_phase1 import bench_phase1
    from bench.bench_phase1_markets import bench_phase1_markets
    from bench.bench_phase1_study import VARIANTS as PHASE1_VARIANTS
    from bench.bench_phase1_study import bench_phase1_study
    from bench.bench_sampler_ab import bench_sampler_ab
    from bench.bench_samplers import bench_samplers
    from bench.bench_sweep import DEFAULT_PG_URL, bench_sweep, profile_sweep
    from bench.bench_universe import bench_universe
    from bench.bench_walkforward import bench_walkforward
    from bench.bench_workers import bench_workers

    data, note = choose_data(quick)
    pg_url = os.environ.get("CRYPTO_TUNE_TEST_PG_URL", DEFAULT_PG_URL)
    work = out / "work"
    started = time.perf_counter()
    this = ["python", "-m", "bench", "--out", str(out), *(["--quick"] if quick else [])]
    this += [f"--only={','.join(only)}"] if only else []
    results: dict[str, Any] = {
        "quick": quick,
        "meta": machine_info(),
        "data": {"overrides": data, "note": note},
        "errors": {},
        "commands": [shlex.join(this)],
    }
    progress(f"[bench] {'quick' if quick else 'full'} run into {out}; data: {note}")
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        (
            "engine",
            lambda: bench_engine(**({"n_bars": 2000, "repeats": 2, "inner": 5} if quick else {})),
        ),
        (
            "api",
            lambda: bench_api(**({"n_bars": 2000, "repeats": 2, "inner": 5} if quick else {})),
        ),
        (
            "phase1",
            lambda: bench_phase1(
                data, work_dir=work / "phase1", n_trials=2 if quick else 5, progress=progress
            ),
        ),
        (
            "phase1_study",
            lambda: bench_phase1_study(
                data,
                work_dir=work / "phase1_study",
                n_trials=4 if quick else 30,
                variants=dict(list(PHASE1_VARIANTS.items())[:2]) if quick else None,
                progress=progress,
            ),
        ),
        (
            "phase1_markets",
            lambda: bench_phase1_markets(
                work_dir=work / "phase1_markets",
                markets={"synthetic": data} if quick else None,
                seeds=(0,) if quick else (0, 1, 2),
                n_trials=4 if quick else 30,
                progress=progress,
            ),
        ),
        (
            "cache",
            lambda: bench_cache(
                data,
                work_dir=work / "cache",
                warm_trials=30 if quick else 300,
                retrain_trials=1 if quick else 3,
                progress=progress,
            ),
        ),
        (
            "sweep",
            lambda: bench_sweep(
                data,
                work_dir=work / "sweep",
                trial_counts=(30,) if quick else (200, 3000),
                pg_url=pg_url,
                progress=progress,
            ),
        ),
        (
            "sweep_5y",
            lambda: _five_year_sweep(quick, data, work / "sweep_5y", progress),
        ),
        (
            "sampler_ab",
            lambda: bench_sampler_ab(
                data,
                work_dir=work / "sampler_ab",
                n_trials=30 if quick else 3000,
                progress=progress,
            ),
        ),
        (
            "samplers",
            lambda: bench_samplers(
                data,
                work_dir=work / "samplers",
                progress=progress,
                **(
                    {"n_trials": 20, "seeds": (1,), "at_trials": (10, 20), "at_seconds": (1.0,)}
                    if quick
                    else {}
                ),
            ),
        ),
        (
            "samplers_long",
            lambda: bench_samplers(
                data,
                work_dir=work / "samplers_long",
                samplers=("tpe", "tpe-multivariate"),
                progress=progress,
                **_long_samplers_budget(quick),
            ),
        ),
        (
            "workers",
            lambda: bench_workers(
                data,
                work_dir=work / "workers",
                n_trials=4 if quick else 40,
                pg_url=pg_url,
                progress=progress,
            ),
        ),
        (
            "universe",
            lambda: bench_universe(work_dir=work / "universe", quick=quick, progress=progress),
        ),
        (
            "walkforward",
            lambda: bench_walkforward(
                data, work_dir=work / "walkforward", quick=quick, progress=progress
            ),
        ),
        # Last: it runs Hydra in this process.
        (
            "sweep_profile",
            lambda: profile_sweep(
                data, work_dir=work / "sweep", n_trials=30 if quick else 300, progress=progress
            ),
        ),
    ]
    for name, step in steps:
        if only and name not in only:
            continue
        began = time.perf_counter()
        progress(f"[bench] {name} ...")
        try:
            results[name] = step()
        except Exception as exc:  # one failing section must not lose the others
            results["errors"][name] = f"{type(exc).__name__}: {exc}"
            progress(f"[bench] {name} FAILED: {type(exc).__name__}: {exc}")
        progress(f"[bench] {name} done in {time.perf_counter() - began:.1f}s")
        results["total_s"] = time.perf_counter() - started
        _write(out, results)
    results["commands"] += results.get("phase1_study", {}).get("commands", [])
    for study in results.get("phase1_markets", {}).get("studies", []):
        results["commands"] += study["commands"]
    for name in ("phase1", "cache"):
        if name in results:
            results["commands"].append(
                f"in-process: crypto_tune.cli.preflight({results[name]['overrides']!r})"
            )
    results["commands"] += results.get("sweep", {}).get("commands", [])
    results["commands"] += results.get("sweep_5y", {}).get("commands", [])
    results["commands"] += results.get("sampler_ab", {}).get("commands", [])
    results["commands"] += results.get("workers", {}).get("commands", [])
    if "universe" in results and "skipped" not in results["universe"]:
        results["commands"].append(
            "in-process: crypto_tune.phases.run_phase on crypto_tune.cli.preflight(['phase=model', "
            "'asset=universe', ...]) and on each symbol's ['phase=model', 'asset=binance', "
            "'asset.symbol=...', ...]; then ['phase=strategy', 'asset=universe', "
            "'strategy=topk', ...] (bench/bench_universe.py)"
        )
    if "walkforward" in results:
        results["commands"].append(results["walkforward"]["command"])
    if "sweep" in results:
        results["commands"].append(
            "in-process: optuna ask/tell over the sweep's own search space with "
            "the sampler and storage of the composed sweep config"
        )
    if "sweep_profile" in results:
        profiled = results["sweep_profile"]["command"]
        results["commands"].append(f"in-process under cProfile: {profiled}")
    results["meta"]["load_average_at_end"] = os.getloadavg()[0]
    results["total_s"] = time.perf_counter() - started
    _write(out, results)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``--out DIR [--quick]``, run the benches, print and write the markdown table."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for results.json/.md")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 30 trials (smoke test)")
    parser.add_argument(
        "--only", default="", help=f"comma-separated sections to run (of {', '.join(SECTIONS)})"
    )
    args = parser.parse_args(argv)
    only = tuple(s for s in args.only.split(",") if s)
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"--only: unknown sections {sorted(unknown)} (known: {', '.join(SECTIONS)})")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(ROOT)  # the config's relative paths (../shared/data) are the project's
    results = run(out, quick=args.quick, only=only)
    text = render_markdown(results)
    (out / "results.md").write_text(text)
    print(text, flush=True)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
