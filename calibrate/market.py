"""``python -m calibrate.market``: one synthetic market through Phase 1, Phase 2 and best.

The three phases run in this process through :func:`crypto_tune.cli.main` (Hydra cleared
between them), in a private outputs folder, with ``debug=fast`` sizes and tracking off. The
calm-regime volatility, which the config does not expose, is set by wrapping the synthetic
market generator. Writes the market's record (tests, verdict, Sharpes) to ``--record``.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the market, write its record, remove its work folder."""
    parser = argparse.ArgumentParser(prog="python -m calibrate.market")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--planted-ic", type=float, required=True)
    parser.add_argument("--annual-vol", type=float, default=0.5)
    parser.add_argument("--model-trials", type=int, default=3)
    parser.add_argument("--strategy-trials", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)

    import crypto_tune.dataset as dataset
    from crypto_tune.data import synthetic_market

    dataset.synthetic_market = functools.partial(synthetic_market, annual_vol=args.annual_vol)
    shutil.rmtree(args.work, ignore_errors=True)
    common = [
        "debug=fast",
        "tracking.enabled=false",
        f"paths.outputs={args.work}",
        f"asset.synthetic.seed={args.seed}",
        f"asset.synthetic.planted_ic={args.planted_ic}",
    ]
    began = time.perf_counter()
    _phase(["-m", "phase=model", f"hydra.sweeper.n_trials={args.model_trials}", *common])
    _phase(["-m", "phase=strategy", f"hydra.sweeper.n_trials={args.strategy_trials}", *common])
    _phase(["phase=best", *common])
    found = sorted((args.work / "best").glob("*/workflow.best.json"))
    doc = json.loads(found[0].read_text())
    rob = doc["robustness"]
    ledger = {k: v for k, v in (rob["inputs"].get("ledger") or {}).items() if k != "sharpes"}
    record = {
        "name": args.record.stem,
        "planted_ic": args.planted_ic,
        "annual_vol": args.annual_vol,
        "seed": args.seed,
        "budgets": {"model": args.model_trials, "strategy": args.strategy_trials},
        "seconds": time.perf_counter() - began,
        "model_ic": doc["metrics"]["model"]["ic"],
        "holdout_ic": doc["metrics"]["model"]["holdout_ic"],
        "in_sample_sharpe": doc["metrics"]["in_sample"]["sharpe"],
        "out_of_sample_sharpe": doc["metrics"]["out_of_sample"]["sharpe"],
        "n_trades": doc["metrics"]["in_sample"]["n_trades"],
        "n_trials": rob["n_trials"],
        "n_effective": rob.get("n_effective"),
        "ledger": ledger,
        "tests": rob["tests"],
        "verdict": rob["verdict"],
        "significant": rob["significant"],
    }
    args.record.parent.mkdir(parents=True, exist_ok=True)
    args.record.write_text(json.dumps(record, indent=2, default=str) + "\n")
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
