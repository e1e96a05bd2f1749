"""``python -m calibrate.market``: one synthetic market through Phase 1, Phase 2 and best.

The three phases run in this process through :func:`crypto_tune.cli.main` (Hydra cleared
between them), in a private outputs folder, at an operating point's budgets and overrides
(``--point``, :mod:`calibrate.plan`) and tracking off. The calm-regime volatility and the null
market's kind (``--options``: drift, jumps, tails), which the config does not expose, are set by
wrapping the synthetic market generator. Writes the market's record (the best run's
``robustness`` as written, without its replay inputs; Sharpes; the commit) to ``--record``,
atomically: a record exists only for a market run to its end. A market stopped midway starts
again from scratch (its work folder is removed first): the sweeps would add their budget to a
half-done study, not complete it.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def _phase(argv: list[str]) -> None:
    from hydra.core.global_hydra import GlobalHydra

    from crypto_tune import cli

    GlobalHydra.instance().clear()
    try:
        cli.main(argv)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise RuntimeError(f"crypto-tune {' '.join(argv)} exited with {exc.code}") from None


def git_state(root: Path) -> dict[str, object]:
    """The commit the package runs from, and whether its code or config had local changes."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False, timeout=30
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    changed = git("diff", "HEAD", "--", "crypto_tune", "conf")
    untracked = git("ls-files", "--others", "--exclude-standard", "--", "crypto_tune", "conf")
    local = changed + untracked
    return {
        "commit": git("rev-parse", "HEAD") or None,
        "dirty": bool(local),
        # which local state (another developer's work in progress) the market ran on
        "local_changes": hashlib.sha256(local.encode()).hexdigest()[:12] if local else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the market, write its record, remove its work folder."""
    parser = argparse.ArgumentParser(prog="python -m calibrate.market")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--planted-ic", type=float, required=True)
    parser.add_argument("--annual-vol", type=float, default=0.5)
    parser.add_argument("--point", default="fast", help="operating point (calibrate.plan)")
    parser.add_argument("--kind", default="flat", help="the market's kind, for the record")
    parser.add_argument("--options", default="{}", help="synthetic_market keyword options, as JSON")
    parser.add_argument("--model-trials", type=int, default=None, help="default: the point's")
    parser.add_argument("--strategy-trials", type=int, default=None, help="default: the point's")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)

    from calibrate.plan import ROOT, points

    point = points()[args.point]
    model_trials = args.model_trials or point.model_trials
    strategy_trials = args.strategy_trials or point.strategy_trials
    options = json.loads(args.options)

    import crypto_tune.dataset as dataset
    from crypto_tune.data import synthetic_market

    dataset.synthetic_market = functools.partial(
        synthetic_market, annual_vol=args.annual_vol, **options
    )
    shutil.rmtree(args.work, ignore_errors=True)
    common = [
        *point.overrides,
        "tracking.enabled=false",
        f"paths.outputs={args.work}",
        f"asset.synthetic.seed={args.seed}",
        f"asset.synthetic.planted_ic={args.planted_ic}",
    ]
    began = time.perf_counter()
    _phase(["-m", "phase=model", f"hydra.sweeper.n_trials={model_trials}", *common])
    _phase(["-m", "phase=strategy", f"hydra.sweeper.n_trials={strategy_trials}", *common])
    _phase(["phase=best", *common])
    found = sorted((args.work / "best").glob("*/workflow.best.json"))
    doc = json.loads(found[0].read_text())
    rob = doc["robustness"]
    inputs = rob.get("inputs") or {}
    ledger = {k: v for k, v in (inputs.get("ledger") or {}).items() if k != "sharpes"}
    record = {
        "name": args.record.stem,
        "point": point.name,
        "kind": args.kind,
        "options": options,
        "planted_ic": args.planted_ic,
        "annual_vol": args.annual_vol,
        "seed": args.seed,
        "budgets": {"model": model_trials, "strategy": strategy_trials},
        **git_state(ROOT),
        "seconds": time.perf_counter() - began,
        "model_ic": doc["metrics"]["model"]["ic"],
        "holdout_ic": doc["metrics"]["model"]["holdout_ic"],
        "periods": doc.get("periods"),
        "in_sample_sharpe": doc["metrics"]["in_sample"]["sharpe"],
        "out_of_sample_sharpe": doc["metrics"]["out_of_sample"]["sharpe"],
        "n_trades": doc["metrics"]["in_sample"]["n_trades"],
        "n_trials": rob["n_trials"],
        "n_effective": rob.get("n_effective"),
        "ledger": ledger,
        "tests": rob["tests"],
        "verdict": rob["verdict"],
        "significant": rob["significant"],
        "family": rob.get("family"),
        "holdout_looks": doc.get("holdout_looks"),
        "robustness": {k: v for k, v in rob.items() if k != "inputs"},
    }
    args.record.parent.mkdir(parents=True, exist_ok=True)
    partial = args.record.with_suffix(".json.partial")
    partial.write_text(json.dumps(record, indent=2, default=str) + "\n")
    os.replace(partial, args.record)
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
