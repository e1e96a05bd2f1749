"""The README is a test: every command of its usage block runs, in order, as written.

Each command gets ``debug=fast`` (a short market and split), small trial counts and no MLflow
store; everything else is the README's text. Commands on the real candles (``asset=eth``,
``asset=basket``) run when ``../shared/data`` is present. The CSV command's ``my.csv`` is written
in the working folder first, so the command runs exactly as printed.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from conftest import ROOT, SHARED_DATA, run_cli

from crypto_tune.data import synthetic_market

pytestmark = pytest.mark.slow

TRIALS = {"model": 2, "strategy": 20}
REAL_DATA = ("asset=eth", "asset=btc", "asset=sol", "asset=basket", "experiment=eth_4h_study")


def usage_commands() -> list[str]:
    """The ``crypto-tune`` lines of the README's "Using it" block, comments removed."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Using it", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block is not None, "README: no ```bash block under '## Using it'"
    lines = [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line.startswith("crypto-tune ")]


def _job(line: str) -> list[str]:
    args = shlex.split(line)[1:]
    extra = ["debug=fast", "tracking.enabled=false"]
    phase = next((a.split("=", 1)[1] for a in args if a.startswith("phase=")), "model")
    if "-m" in args and phase in TRIALS:
        extra.append(f"hydra.sweeper.n_trials={TRIALS[phase]}")
    if phase == "walkforward":
        extra += [f"walkforward.{k}_trials={n}" for k, n in TRIALS.items()]
    return args + extra


def test_the_usage_block_is_not_empty() -> None:
    commands = usage_commands()
    assert len(commands) >= 8
    assert any("best.from=" in c for c in commands)


def test_every_usage_command_runs_as_written(tmp_path: Path) -> None:
    candles = synthetic_market(seed=3, n_bars=3000, planted_ic=0.1).candles
    candles.rename_axis("timestamp").reset_index().to_csv(tmp_path / "my.csv", index=False)
    env = {"CRYPTO_TUNE_DATA_DIR": str(SHARED_DATA)}
    ran = 0
    for line in usage_commands():
        real = any(t in line.split() for t in REAL_DATA) or "ETHUSDT" in line
        if real and not SHARED_DATA.is_dir():
            continue
        done = run_cli(*_job(line), cwd=tmp_path, env=env)
        assert done.returncode == 0, f"README command failed: {line}\n{done.stderr[-2500:]}"
        ran += 1
    assert ran >= 5


def quick_start_lines() -> list[str]:
    """The lines of the README's "Quick start" block, comments removed."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block is not None, "README: no ```bash block under '## Quick start'"
    lines = [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


def test_the_quick_start_runs_as_written() -> None:
    """Issue 22, item 5: after the quick start, `crypto-tune` was not on PATH (exit 127). Every
    make line names a target of the Makefile, and the other lines (activating .venv, then
    crypto-tune itself) run in one shell as written, with a PATH that holds no crypto-tune."""
    import os
    import subprocess

    lines = quick_start_lines()
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    for line in lines:
        if line.startswith("make "):
            assert line.split()[1] in targets, line
    shell = [line for line in lines if not line.startswith("make ")]
    assert any(line.startswith("crypto-tune ") for line in shell), shell
    if not (ROOT / ".venv" / "bin" / "activate").is_file():
        pytest.skip("no .venv here (make install makes it)")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = "/usr/bin:/bin"
    done = subprocess.run(
        ["bash", "-ec", "\n".join(shell)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "crypto-tune" in done.stdout
