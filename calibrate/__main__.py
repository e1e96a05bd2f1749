"""``python -m calibrate [--point default] [--null 60] [--planted 15]``: calibrate the verdict.

For every seeded synthetic market of the plan (:mod:`calibrate.plan`: null markets cycling through
no drift, bull and bear drift, jumps and heavy tails; planted markets at each ``--strengths`` IC;
calm-regime volatilities cycling through ``--vols``), run the whole pipeline (Phase 1, Phase 2,
best) at an operating point (``--point``: ``default``, ``case_study`` or ``fast``) in a
subprocess of its own (``python -m calibrate.market``), one market at a time. Each market's
record is kept in ``DIR/markets/*.json``: a rerun of the same command skips the markets done and
continues (a market stopped midway starts again). SIGINT or SIGTERM stops the run after writing
the results of the markets done so far.

Results (``DIR/results.json``, ``DIR/results.md``, ``DIR/power.png``): what each planted strength
is worth to a rule holding the sign of the true signal, before and after the default costs
(strengths whose net Sharpe is not positive are "no edge": not counted as power); the false
positives on null markets (overall and per kind) and the power per strength, each with a 95%
Clopper-Pearson interval, for the verdict ``phase=best`` applies now and for the rule chosen from
the data, scored on the half of the markets it was not chosen on (seeds of the other parity).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from calibrate.plan import (
    NULL_KINDS,
    ROOT,
    STRENGTHS,
    VOLS,
    Point,
    default_cost_per_side,
    markets,
    oracle_sharpes,
    points,
    synthetic_shape,
)

Record = dict[str, Any]
Runner = Callable[[Mapping[str, Any]], Record]
ORACLE_MARKETS = 10  # planted markets per strength behind the sign rule's Sharpe


def _log(line: str) -> None:
    print(f"[calibrate] {line}", flush=True)


def subprocess_runner(
    out: Path,
    point: Point,
    budgets: Mapping[str, int],
    *,
    retries: int = 2,
    retry_wait: float = 60.0,
) -> Runner:
    """A runner: one market through ``python -m calibrate.market``; on failure it waits and
    tries again (another developer's half-made change may fail an import for a minute), then
    returns ``{"error": ...}`` and writes ``DIR/markets/NAME.error.txt`` (no record: a rerun
    tries the market again)."""

    def run(market: Mapping[str, Any]) -> Record:
        target = out / "markets" / f"{market['name']}.json"
        command = [
            sys.executable,
            "-m",
            "calibrate.market",
            "--work",
            str(out / "work" / market["name"]),
            "--record",
            str(target),
            "--point",
            point.name,
            "--kind",
            str(market["kind"]),
            "--options",
            json.dumps(market["options"]),
            "--seed",
            str(market["seed"]),
            "--planted-ic",
            str(market["planted_ic"]),
            "--annual-vol",
            str(market["annual_vol"]),
            "--model-trials",
            str(budgets["model"]),
            "--strategy-trials",
            str(budgets["strategy"]),
        ]
        error = ""
        for attempt in range(retries + 1):
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
            if done.returncode == 0 and target.exists():
                record: Record = json.loads(target.read_text())
                target.with_suffix(".error.txt").unlink(missing_ok=True)
                return record
            error = _failure_text(done.stderr or done.stdout, out / "work" / market["name"])
            target.with_suffix(".error.txt").write_text(error)
            if attempt < retries:
                last = error.strip().splitlines()[-1:] or ["?"]
                _log(f"{market['name']}: failed ({last[0][:120]}); again in {retry_wait:.0f}s")
                time.sleep(retry_wait)
        return {**market, "error": error}

    return run


def _failure_text(output: str, work: Path) -> str:
    """What a failed market said: the first lines naming an error in its output and in its
    runs' logs (a sweep's failing trials print only Hydra's "Error executing job" there; the
    reason is in the log), then the output's tail."""
    wanted = ("Error", "error:", "Traceback", "Exception")
    lines = [ln for ln in output.splitlines() if any(w in ln for w in wanted)]
    lines = [ln for ln in lines if not ln.startswith("Error executing job")]
    for log in sorted(work.rglob("*.log"))[:20]:
        try:
            text = log.read_text(errors="replace")
        except OSError:
            continue
        lines += [f"{log.name}: {ln}" for ln in text.splitlines() if any(w in ln for w in wanted)]
    head = "\n".join(dict.fromkeys(lines[:40]))
    return (head + "\n--- output tail ---\n" if head else "") + output[-3000:]


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def _describe(market: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    if "error" in record:
        last = str(record["error"]).strip().splitlines()[-1:] or ["?"]
        return f"FAILED ({last[0][:100]})"
    word = "SIGNIFICANT" if record.get("significant") else "not significant"
    bhy = ((record.get("tests") or {}).get("haircut_bhy") or {}).get("value")
    family = record.get("family") or {}
    sharpe = record.get("in_sample_sharpe")
    return (
        f"{word} (haircut p (BHY) {_number(bhy, 3)}; family "
        f"{family.get('model_trials', '?')} + {family.get('strategy_trials', '?')} trials; "
        f"in-sample Sharpe {_number(sharpe, 2)}; {record.get('n_trades', '?')} trades)"
    )


def _number(value: Any, digits: int) -> str:
    """``value`` rounded, or what it is when it is not a number (a log line never fails)."""
    return f"{value:.{digits}f}" if isinstance(value, int | float) else str(value)


def run_all(
    plan: Sequence[Mapping[str, Any]],
    out: Path,
    runner: Runner,
    *,
    seconds_guess: float,
    bar: bool | None = None,
) -> tuple[list[Record], bool]:
    """Run the markets of ``plan`` without a record in ``out/markets`` (one at a time, in
    order), one log line per market with the ETA; a tqdm bar as well when stderr is a terminal.
    Returns (the records of the plan that exist, completed?): a KeyboardInterrupt (SIGINT, or
    SIGTERM turned into one by :func:`main`) stops the run between or inside markets and returns
    what is done."""
    folder = out / "markets"
    folder.mkdir(parents=True, exist_ok=True)
    todo = [m for m in plan if not (folder / f"{m['name']}.json").exists()]
    _log(f"{len(plan)} markets into {out}: {len(plan) - len(todo)} done before, {len(todo)} to run")
    progress = None
    if bar if bar is not None else sys.stderr.isatty():
        from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

        progress = tqdm(total=len(plan), initial=len(plan) - len(todo), unit="market")
    say = progress.write if progress is not None else print
    spent: list[float] = []
    failed: dict[str, Record] = {}
    completed = True
    try:
        for i, market in enumerate(todo, start=1):
            began = time.perf_counter()
            record = runner(market)
            spent.append(time.perf_counter() - began)
            if "error" in record:
                failed[str(market["name"])] = record
            per_market = sum(spent) / len(spent) if spent else seconds_guess
            left = per_market * (len(todo) - i)
            finish = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=left)
            say(
                f"[calibrate] {len(plan) - len(todo) + i}/{len(plan)} {market['name']}: "
                f"{_describe(market, record)} ({spent[-1]:.0f}s); ETA {_duration(left)} "
                f"({finish:%H:%M} UTC)"
            )
            sys.stdout.flush()
            if progress is not None:
                progress.update(1)
    except KeyboardInterrupt:
        completed = False
        _log("stopped: the markets done are kept; the same command continues the run")
    finally:
        if progress is not None:
            progress.close()
    records = done_records(plan, out)
    done = len(records)
    records += [r for name, r in failed.items() if not (folder / f"{name}.json").exists()]
    return records, completed and done == len(plan)


def done_records(plan: Sequence[Mapping[str, Any]], out: Path) -> list[Record]:
    """The records in ``out/markets`` of the markets of ``plan``, in the plan's order."""
    folder = out / "markets"
    return [
        json.loads((folder / f"{m['name']}.json").read_text())
        for m in plan
        if (folder / f"{m['name']}.json").exists()
    ]


def oracle_table(
    plan: Sequence[Mapping[str, Any]], out: Path, shape: Mapping[str, Any], cost: float
) -> list[dict[str, Any]]:
    """Per planted strength: the mean Sharpe of the sign rule, gross and net of ``cost``, over
    up to :data:`ORACLE_MARKETS` of the plan's markets (cached in ``out/oracle.json``)."""
    cache_path = out / "oracle.json"
    cache: dict[str, Any] = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    key = f"{json.dumps(dict(shape), sort_keys=True)} cost={cost}"
    found = cache.setdefault(key, {})
    rows = []
    for strength in sorted({float(m["planted_ic"]) for m in plan if m["planted_ic"] > 0}):
        group = [m for m in plan if float(m["planted_ic"]) == strength][:ORACLE_MARKETS]
        for m in group:
            if m["name"] not in found:
                found[m["name"]] = oracle_sharpes(m, shape, cost)
        values = [found[m["name"]] for m in group]
        gross = sum(v["gross"] for v in values) / len(values)
        net = sum(v["net"] for v in values) / len(values)
        rows.append(
            {
                "planted_ic": strength,
                "markets": len(values),
                "true_ic": sum(v["true_ic"] for v in values) / len(values),
                "gross_sharpe": gross,
                "net_sharpe": net,
                "net_edge": net > 0,
            }
        )
    cache_path.write_text(json.dumps(cache, indent=1) + "\n")
    return rows


def _pct(rate: float) -> str:
    return "—" if not math.isfinite(rate) else f"{100 * rate:.0f}%"


def _cell(row: Mapping[str, Any] | None) -> str:
    if row is None or row["n"] == 0:
        return "not measured"
    low, high = row["clopper_pearson"]
    return f"{row['significant']}/{row['n']} = {_pct(row['rate'])} ({_pct(low)}–{_pct(high)})"


def figure(
    series: Mapping[str, Sequence[Mapping[str, Any]]], out: Path, *, no_edge: Sequence[float] = ()
) -> Path:
    """Share judged significant against the planted IC (0: false positives), one line per rule
    (nudged sideways so that equal lines stay visible), 95% Clopper-Pearson error bars; the
    strengths in ``no_edge`` (costs eat them) shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for j, ic in enumerate(no_edge):
        label = "no net edge (costs eat it)" if j == 0 else None
        ax.axvspan(ic - 0.004, ic + 0.004, color="grey", alpha=0.15, lw=0, label=label)
    for i, (name, rows) in enumerate(series.items()):
        rows = [r for r in rows if r["n"] > 0]
        x = [r["planted_ic"] + 0.0015 * (i - (len(series) - 1) / 2) for r in rows]
        y = [r["rate"] for r in rows]
        err = [
            [r["rate"] - r["clopper_pearson"][0] for r in rows],
            [r["clopper_pearson"][1] - r["rate"] for r in rows],
        ]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=name)
    ax.axhline(0.05, color="grey", linestyle=":", label="5% false positives")
    ax.set_xlabel("planted IC (0 = null markets: the false-positive rate)")
    ax.set_ylabel("share judged significant (95% Clopper-Pearson)")
    ax.set_title("markets judged significant: n per point in results.md", fontsize=9)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "power.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def summarise(
    plan: Sequence[Mapping[str, Any]],
    records: list[Record],
    out: Path,
    meta: dict[str, Any],
    *,
    oracle: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Rates, the held-out rule, the tables and the figure, from the records done so far."""
    from crypto_tune.calibration import (
        choose_rule,
        held_out_rates,
        pass_table,
        rates,
    )
    from crypto_tune.exceptions import ConfigError
    from crypto_tune.robustness import TESTS, VERDICT_RULE

    good = [r for r in records if "error" not in r]
    oracle = oracle or []
    power_strengths = [o["planted_ic"] for o in oracle if o["net_edge"]]
    eaten = {o["planted_ic"] for o in oracle if not o["net_edge"]}
    current = rates(good, VERDICT_RULE)
    held = held_out_rates(good, power_strengths=power_strengths)
    by_kind = {
        kind: rates(
            [r for r in good if r["planted_ic"] == 0 and r.get("kind") == kind], VERDICT_RULE
        )
        for kind in NULL_KINDS
    }
    planned: dict[float, int] = {}
    for m in plan:
        planned[float(m["planted_ic"])] = planned.get(float(m["planted_ic"]), 0) + 1
    results: dict[str, Any] = {
        "meta": meta,
        "planned": {f"{k:g}": v for k, v in sorted(planned.items())},
        "done": len(good),
        "errors": [r["name"] for r in records if "error" in r],
        "current_rule": list(VERDICT_RULE),
        "oracle": oracle,
        "power_strengths": power_strengths,
        "rates": {"current": current, "held_out": held["rows"]},
        "held_out_rules": held["rules"],
        "held_out_errors": held["errors"],
        "false_positives_by_kind": {k: v[0] if v else None for k, v in by_kind.items()},
        "markets": records,
    }
    try:
        chosen, ranking = choose_rule(
            [r for r in good if r["planted_ic"] == 0 or r["planted_ic"] in power_strengths]
        )
        results["in_sample_choice"] = {"chosen": chosen, "ranking": ranking[:10]}
    except ConfigError as exc:
        results["in_sample_choice"] = {"error": str(exc)}

    def row_of(rows: Sequence[Mapping[str, Any]], ic: float) -> Mapping[str, Any] | None:
        return next((r for r in rows if r["planted_ic"] == ic), None)

    budgets = meta["budgets"]
    state = "complete" if meta["completed"] else "STOPPED before the end (partial figures)"
    lines = [
        f"# Verdict calibration at the `{meta['point']}` operating point",
        "",
        f"- {meta['date']}; run {state}: {len(good)} of {len(plan)} planned markets done "
        f"({len(results['errors'])} failed), {meta['pipeline_minutes']:.0f} min of pipeline runs "
        f"(median {meta['median_market_minutes']:.1f} min a market)",
        f"- operating point: {meta['point_description']}; {budgets['model']} Phase 1 + "
        f"{budgets['strategy']} Phase 2 trials; calm-regime volatilities {meta['vols']}",
        f"- command: `{meta['command']}`",
        f"- code: commit(s) {', '.join(meta['commits']) or '—'}"
        + (" with local changes in crypto_tune/conf" if meta["dirty"] else ""),
        f"- verdict rule now (`robustness.VERDICT_RULE`): {' + '.join(VERDICT_RULE)}",
        "",
        "## What each planted strength is worth",
        "",
        f"Sign of the true expected return held every bar, mean over up to {ORACLE_MARKETS} "
        f"planned markets per strength; costs {10_000 * meta['cost_per_side']:.1f} bp per side "
        "(the default strategy's fee + slippage). Strengths with net Sharpe <= 0 are "
        '"no edge": the right verdict there is no edge, and they are not counted as power.',
        "",
        "| planted IC | realised IC(1) | Sharpe gross | Sharpe net | counted as |",
        "|---|---|---|---|---|",
    ]
    for o in oracle:
        lines.append(
            f"| {o['planted_ic']:g} | {o['true_ic']:.3f} | {o['gross_sharpe']:.2f} | "
            f"{o['net_sharpe']:.2f} | {'power' if o['net_edge'] else 'no edge (costs eat it)'} |"
        )
    lines += [
        "",
        "## Judged significant (95% Clopper-Pearson interval)",
        "",
        "Held-out rule: chosen (most detections with false positives <= 5%) on the markets of "
        "one seed parity, scored on the other. "
        + "; ".join(f"chosen on {k} seeds: {' + '.join(v)}" for k, v in held["rules"].items())
        + ("; " + "; ".join(held["errors"]) if held["errors"] else ""),
        "",
        "| markets | planned | done | verdict now | held-out rule |",
        "|---|---|---|---|---|",
    ]
    null_done = sum(1 for r in good if r["planted_ic"] == 0)
    lines.append(
        f"| **null, all kinds** (false positives) | {planned.get(0.0, 0)} | {null_done} | "
        f"{_cell(row_of(current, 0.0))} | {_cell(row_of(held['rows'], 0.0))} |"
    )
    for kind in NULL_KINDS:
        group = [r for r in good if r["planted_ic"] == 0 and r.get("kind") == kind]
        held_group = [j for j in held["judged"] if j["planted_ic"] == 0 and j["kind"] == kind]
        held_k = sum(bool(j["significant"]) for j in held_group)
        n_planned = sum(1 for m in plan if m["planted_ic"] == 0 and m["kind"] == kind)
        lines.append(
            f"| null: {kind} | {n_planned} | {len(group)} | "
            f"{_cell(by_kind[kind][0] if by_kind[kind] else None)} | {held_k}/{len(held_group)} |"
        )
    for strength in sorted(s for s in planned if s > 0):
        label = f"IC {strength:g}" + (" (no net edge)" if strength in eaten else " (power)")
        n_done = sum(1 for r in good if r["planted_ic"] == strength)
        lines.append(
            f"| {label} | {planned[strength]} | {n_done} | {_cell(row_of(current, strength))} | "
            f"{_cell(row_of(held['rows'], strength))} |"
        )
    lines += [
        "",
        "## Each test alone (passed / markets)",
        "",
        *pass_table(good, list(TESTS)),
        "",
    ]
    series = {
        f"verdict now ({' + '.join(VERDICT_RULE)})": current,
        "held-out rule": held["rows"],
    }
    results["figure"] = figure(series, out, no_edge=sorted(eaten)).name if good else None
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    text = "\n".join(lines) + "\n"
    (out / "results.md").write_text(text)
    print(text, flush=True)
    return results


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None, *, runner: Runner | None = None) -> int:
    """Parse the sizes, run every market not done yet, write the results. Exit code 0 when
    every market is done, 1 when some failed, 130 when stopped."""
    parser = argparse.ArgumentParser(
        prog="python -m calibrate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--point", choices=sorted(points()), default="default")
    parser.add_argument("--out", type=Path, default=None, help="default: outputs/calibrate-POINT")
    parser.add_argument("--null", type=int, default=60, help="null markets")
    parser.add_argument("--planted", type=int, default=15, help="planted markets per strength")
    parser.add_argument("--strengths", type=float, nargs="+", default=list(STRENGTHS))
    parser.add_argument("--vols", type=float, nargs="+", default=list(VOLS))
    parser.add_argument("--kinds", nargs="+", default=list(NULL_KINDS), choices=list(NULL_KINDS))
    parser.add_argument("--model-trials", type=int, default=None, help="default: the point's")
    parser.add_argument("--strategy-trials", type=int, default=None, help="default: the point's")
    parser.add_argument("--seed", type=int, default=1000, help="first market seed")
    parser.add_argument(
        "--report-only", action="store_true", help="only summarise the markets done"
    )
    args = parser.parse_args(argv)
    point = points()[args.point]
    out = (args.out or ROOT / "outputs" / f"calibrate-{point.name}").resolve()
    (out / "markets").mkdir(parents=True, exist_ok=True)
    budgets = {
        "model": args.model_trials or point.model_trials,
        "strategy": args.strategy_trials or point.strategy_trials,
    }
    plan = markets(args.null, args.planted, args.strengths, args.vols, args.seed, args.kinds)
    began = time.perf_counter()
    if args.report_only:
        records = done_records(plan, out)
        completed = len(records) == len(plan)
    else:
        previous = signal.signal(signal.SIGTERM, _stop)
        try:
            records, completed = run_all(
                plan,
                out,
                runner or subprocess_runner(out, point, budgets),
                seconds_guess=60 * point.minutes_per_market,
            )
        finally:
            signal.signal(signal.SIGTERM, previous)
    good = [r for r in records if "error" not in r]
    minutes = sorted(r.get("seconds", 0.0) / 60 for r in good)
    meta = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "point": point.name,
        "point_description": point.description,
        "completed": completed,
        "minutes": (time.perf_counter() - began) / 60,
        "pipeline_minutes": sum(minutes),
        "median_market_minutes": minutes[len(minutes) // 2] if minutes else math.nan,
        "budgets": budgets,
        "vols": args.vols,
        "strengths": args.strengths,
        "cores": os.cpu_count(),
        "commits": sorted({str(r["commit"])[:10] for r in good if r.get("commit")}),
        "dirty": any(r.get("dirty") for r in good),
        "cost_per_side": default_cost_per_side(),
        # the run's command (the same one continues it); --report-only only rewrites the results
        "command": shlex.join(
            [
                "python",
                "-m",
                "calibrate",
                *(a for a in (argv if argv is not None else sys.argv[1:]) if a != "--report-only"),
            ]
        ),
        "report_only": args.report_only,
    }
    oracle = oracle_table(plan, out, synthetic_shape(point), meta["cost_per_side"])
    results = summarise(plan, records, out, meta, oracle=oracle)
    if not completed:
        return 130
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
