"""``python -m bench.soak --out DIR [--trials N] [--quick]``: three workers, one killed, a count.

Three ``crypto-tune -m phase=strategy storage=postgres`` workers, the same command each, share one
fresh PostgreSQL study (``N`` trials each, default 1,000). When half of the ``3 N`` trials are
complete, worker 0 is killed with SIGKILL and restarted (the same command: ``N`` more trials).
Then the study is counted:

* every asked trial is recorded once: trial numbers are exactly 0..T-1, and T equals what the
  processes asked (``N`` by each process that ran to its end, plus what the killed one asked
  before it died, which must be between 1 and ``N``);
* no trial is left RUNNING once the workers are done, the killed worker's trial included (failed
  by a live worker, or by the restarted one, once its heartbeat is older than the grace period);
* complete = asked - failed, every complete trial holds its value, and every failed trial was
  running when the kill landed.

Heartbeat and grace are short (``CRYPTO_TUNE_HEARTBEAT``/``CRYPTO_TUNE_GRACE``, default 1 s and
3 s) so the soak stays short. The figures (trials/s before the kill and overall, failed trials,
how long the killed trial stayed RUNNING, the checks) are printed and written to
``DIR/results.json``; the workers' logs are under ``DIR/work``. The predictions the strategies
trade are trained once, in this process, before the workers start; the killed worker is restarted
one heartbeat interval after the kill. ``--quick`` (the smoke test): the synthetic market and 150
trials per worker (enough for the workers to outlive the grace period after the kill). Exit 1 when
a check fails, 2 when PostgreSQL is unreachable.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def progress(message: str) -> None:
    print(f"[soak] {message}", flush=True)


class Worker:
    """One ``crypto-tune -m`` subprocess, its output in a log file."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str]) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        with open(log, "w", encoding="utf-8") as out:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=60)

    def tail(self) -> str:
        return " | ".join(self.log.read_text(encoding="utf-8").strip().splitlines()[-3:])


def _trials(storage: str, name: str) -> list[Any]:
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    except KeyError:  # not created yet
        return []


class StateCounter:
    """Trials per state of one study by one SQL count (cheap enough to poll while workers run)."""

    def __init__(self, storage: str, name: str) -> None:
        import sqlalchemy as sa

        self.engine = sa.create_engine(storage)
        self.query = sa.text(
            "SELECT t.state, count(*) FROM trials t JOIN studies s ON s.study_id = t.study_id "
            "WHERE s.study_name = :name GROUP BY t.state"
        )
        self.name = name

    def __call__(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            rows = connection.execute(self.query, {"name": self.name}).all()
        return {str(state): int(n) for state, n in rows}


def count_check(
    trials: Sequence[Any], *, finished_asks: int, per_worker: int, running_at_kill: set[int]
) -> dict[str, Any]:
    """The final count of the study (see the module doc): figures and named pass/fail checks."""
    from optuna.trial import TrialState

    numbers = sorted(t.number for t in trials)
    states = [t.state for t in trials]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    failed = [t.number for t in trials if t.state == TrialState.FAIL]
    running = [t.number for t in trials if t.state == TrialState.RUNNING]
    killed_asked = len(trials) - finished_asks
    checks = {
        "every trial recorded once (numbers 0..T-1)": numbers == list(range(len(trials))),
        "the killed worker asked between 1 and N": 1 <= killed_asked <= per_worker,
        "no trial left RUNNING": not running,
        "complete == asked - failed": len(complete) == len(trials) - len(failed)
        and all(s in (TrialState.COMPLETE, TrialState.FAIL) for s in states),
        "every complete trial holds its value": all(t.values for t in complete),
        "every failed trial was running at the kill": set(failed) <= running_at_kill,
    }
    return {
        "asked": len(trials),
        "asked_by_finished_processes": finished_asks,
        "asked_by_killed_process": killed_asked,
        "complete": len(complete),
        "failed": len(failed),
        "failed_numbers": failed,
        "running": running,
        "checks": checks,
        "ok": all(checks.values()),
    }


def soak(
    out: Path,
    *,
    per_worker: int,
    quick: bool,
    pg_url: str,
    heartbeat: int = 1,
    grace: int = 3,
) -> dict[str, Any]:
    """Run the soak (see the module doc) and return its figures."""
    from bench.__main__ import choose_data, machine_info
    from bench.bench_sweep import mask, postgres_problem, sweep_overrides

    problem = postgres_problem(pg_url)
    if problem is not None:
        raise SystemExit(f"soak: PostgreSQL is needed: {problem}")
    import optuna

    from crypto_tune.cli import preflight
    from crypto_tune.config._resolvers import database_url
    from crypto_tune.evaluation import strategy_context

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data, note = choose_data(quick)
    tag = uuid.uuid4().hex[:8]
    work = out / "work" / tag
    cache = out / "work" / "cache"
    overrides = [
        *sweep_overrides(data, outputs=work, cache=cache),
        "storage=postgres",
        f"storage.url={pg_url}",
        f"experiment_name=soak{tag}",
    ]
    progress(f"{'quick' if quick else 'full'} run; data: {note}; preparing the predictions ...")
    settings = preflight(overrides)
    if settings is None:
        raise RuntimeError("preflight returned no settings")
    strategy_context(settings)  # trains and caches the predictions every worker trades
    storage = database_url(pg_url)
    name = f"{settings.study.name}.strategy"
    argv = [
        sys.executable,
        "-m",
        "crypto_tune",
        "-m",
        *overrides,
        f"hydra.sweeper.n_trials={per_worker}",
    ]
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "CRYPTO_TUNE_HEARTBEAT": str(heartbeat),
        "CRYPTO_TUNE_GRACE": str(grace),
        "CRYPTO_TUNE_RETRIES": "0",
    }
    restart_after = heartbeat
    total = 3 * per_worker
    progress(f"3 workers x {per_worker} trials on study {name} ({mask(pg_url)})")
    counts = StateCounter(storage, name)
    started = time.monotonic()
    workers = [Worker(argv, work / f"worker{k}.log", env) for k in range(3)]
    try:
        while counts().get("COMPLETE", 0) < total // 2:
            for worker in workers:
                if worker.process.poll() is not None:
                    raise RuntimeError(f"a worker exited before the kill: {worker.tail()}")
            time.sleep(0.2)
        victim = workers[0]
        victim.kill()
        killed_at, killed_wall = time.monotonic(), dt.datetime.now()
        at_kill = _trials(storage, name)
        # RUNNING, or FAIL already: a live worker may fail the killed trial (after the grace
        # period) before this look returns; nothing else fails (no retries, valid trials)
        running_at_kill = {t.number for t in at_kill if t.state.name in ("RUNNING", "FAIL")}
        complete_at_kill = sum(t.state.name == "COMPLETE" for t in at_kill)
        progress(
            f"killed worker 0 (SIGKILL) at {complete_at_kill} complete trials; running then: "
            f"{sorted(running_at_kill)}; restarting it in {restart_after} s"
        )
        time.sleep(restart_after)
        workers.append(Worker(argv, work / "worker0-restarted.log", env))
        failed_after: float | None = None
        while any(w.process.poll() is None for w in workers[1:]):
            if failed_after is None and counts().get("FAIL", 0):
                failed_after = time.monotonic() - killed_at
            time.sleep(0.2)
        codes = [w.process.wait() for w in workers[1:]]
    finally:
        for worker in workers:
            worker.kill()
    wall = time.monotonic() - started
    trials = _trials(storage, name)
    count = count_check(
        trials,
        finished_asks=3 * per_worker,  # two survivors and the restarted worker, N each
        per_worker=per_worker,
        running_at_kill=running_at_kill,
    )
    count["checks"]["every finished worker exited 0"] = all(c == 0 for c in codes)
    count["ok"] = all(count["checks"].values())
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    first = min(t.datetime_start for t in trials if t.datetime_start is not None)
    last = max(t.datetime_complete for t in complete if t.datetime_complete is not None)
    failed_by = [
        w.log.name
        for w in workers[1:]
        if "its worker sent no heartbeat" in w.log.read_text(encoding="utf-8")
    ]
    results = {
        "meta": machine_info(),
        "quick": quick,
        "data": {"overrides": data, "note": note},
        "study": name,
        "postgres": mask(pg_url),
        "workers": 3,
        "trials_per_worker": per_worker,
        "heartbeat_s": heartbeat,
        "grace_s": grace,
        "restart_after_s": restart_after,
        "wall_s": wall,
        "trials_per_s_before_kill": complete_at_kill
        / max((killed_wall - first).total_seconds(), 1e-9),
        "trials_per_s_overall": len(complete) / max((last - first).total_seconds(), 1e-9),
        "complete_at_kill": complete_at_kill,
        "running_at_kill": sorted(running_at_kill),
        "killed_trial_failed_after_s": failed_after,
        "failed_by": failed_by,
        "exit_codes": codes,
        **count,
        "command": mask(shlex.join(["crypto-tune", *argv[3:]])) + "  (x3, one killed and rerun)",
        "env": {k: env[k] for k in ("CRYPTO_TUNE_HEARTBEAT", "CRYPTO_TUNE_GRACE")},
    }
    optuna.delete_study(study_name=name, storage=storage)
    return results


def summary(results: dict[str, Any]) -> str:
    """The figures as a few lines."""
    lines = [
        f"soak: {results['workers']} workers x {results['trials_per_worker']} Phase 2 trials on "
        f"PostgreSQL, one killed (SIGKILL) at {results['complete_at_kill']} complete and "
        f"restarted; {results['wall_s']:.0f} s",
        f"trials/s: {results['trials_per_s_before_kill']:.1f} before the kill (3 workers), "
        f"{results['trials_per_s_overall']:.1f} overall",
        f"asked {results['asked']} (killed worker: {results['asked_by_killed_process']}), "
        f"complete {results['complete']}, failed {results['failed']} "
        f"{results['failed_numbers']}, running {len(results['running'])}",
    ]
    after = results["killed_trial_failed_after_s"]
    if after is not None:
        lines.append(
            f"the killed trial was failed {after:.1f} s after the kill (grace "
            f"{results['grace_s']} s, heartbeat {results['heartbeat_s']} s)"
        )
    for check, passed in results["checks"].items():
        lines.append(f"  {'ok  ' if passed else 'FAIL'} {check}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from bench.bench_sweep import DEFAULT_PG_URL

    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", required=True, type=Path, help="folder for results.json")
    parser.add_argument("--trials", type=int, default=None, help="trials per worker (1000)")
    parser.add_argument("--quick", action="store_true", help="synthetic market, 150 per worker")
    parser.add_argument("--heartbeat", type=int, default=1, help="CRYPTO_TUNE_HEARTBEAT (1)")
    parser.add_argument("--grace", type=int, default=None, help="CRYPTO_TUNE_GRACE (3; quick 2)")
    args = parser.parse_args(argv)
    per_worker = args.trials or (150 if args.quick else 1000)
    if per_worker < 2:
        parser.error(f"--trials must be >= 2, got {per_worker}")
    grace = args.grace or (2 if args.quick else 3)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(ROOT)  # the config's relative paths (../shared/data) are the project's
    pg_url = os.environ.get("CRYPTO_TUNE_TEST_PG_URL", DEFAULT_PG_URL)
    try:
        results = soak(
            out,
            per_worker=per_worker,
            quick=args.quick,
            pg_url=pg_url,
            heartbeat=args.heartbeat,
            grace=grace,
        )
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(summary(results), flush=True)
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
