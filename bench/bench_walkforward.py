"""Walk-forward wall time (issue 24): ``crypto-tune phase=walkforward split=walk_forward`` on
the bench's market, run as a user runs it (a subprocess), at the default per-window budgets
(``walkforward.model_trials``, ``walkforward.strategy_trials``: 30 + 300), over the tuning years
2021-2023 (``walkforward.end=2023-12-31``: 12-month train, 3-month test windows, 8 of them).

``bench_walkforward(data_overrides, work_dir=...)`` returns the wall time, the windows, the
seconds per window and the stitched out-of-sample Sharpe, with the command. ``quick`` keeps the
budgets of ``debug=fast``.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ISSUE_BASELINE_S = 7 * 60 + 17  # ETH 4h, 8 windows, default budgets, when issue 24 was filed


def bench_walkforward(
    data: Sequence[str],
    *,
    work_dir: Path,
    quick: bool = False,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Time one whole walk-forward run from a fresh outputs folder."""
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    overrides = [
        "phase=walkforward",
        "split=walk_forward",
        *data,
        *([] if quick else ["walkforward.end=2023-12-31"]),
        f"paths.outputs={work_dir / 'outputs'}",
        "tracking.enabled=false",
    ]
    command = [sys.executable, "-m", "crypto_tune", *overrides]
    progress(f"[bench] walkforward: {shlex.join(['crypto-tune', *overrides])}")
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"crypto-tune exited {done.returncode}: {' | '.join(tail)}")
    found = sorted((work_dir / "outputs").rglob("walkforward.json"))
    if not found:
        raise RuntimeError(f"no walkforward.json under {work_dir / 'outputs'}")
    document = json.loads(found[0].read_text())
    windows = document.get("windows") or []
    return {
        "command": shlex.join(["crypto-tune", *overrides]),
        "seconds": seconds,
        "windows": len(windows),
        "seconds_per_window": seconds / max(1, len(windows)),
        "budgets": document.get("budgets"),
        "stitched_oos_sharpe": (document.get("stitched") or {}).get("sharpe"),
        "issue_baseline_s": None if quick else ISSUE_BASELINE_S,
        "speedup_vs_issue": None if quick else ISSUE_BASELINE_S / seconds,
    }


__all__ = ["ISSUE_BASELINE_S", "bench_walkforward"]
