"""The sweep's live progress bar (issue 22, item 9): on a terminal, done of n_trials, rate, ETA
and the best so far; nothing extra in logs and CI."""

from __future__ import annotations

import io
import logging
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from crypto_tune.progress import SweepProgress, TrialLines


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_shows_done_of_total_eta_and_the_best_so_far() -> None:
    screen = _Terminal()
    bar = SweepProgress(4, maximize=False, stream=screen)
    for value in (3.0, 1.5, None, 2.0):  # minimised; a failed trial counts, never best
        bar.update(value)
    bar.close()
    text = screen.getvalue()
    assert "4/4 trials" in text and "ETA" in text and "best 1.5" in text
    assert (bar.done, bar.best) == (4, 1.5)


def test_not_a_terminal_writes_nothing() -> None:
    log = io.StringIO()
    bar = SweepProgress(2, maximize=True, stream=log)
    bar.update(1.0)
    bar.update(float("nan"))
    bar.close()
    assert log.getvalue() == "" and bar.best == 1.0


def test_several_objectives_show_no_single_best() -> None:
    screen = _Terminal()
    bar = SweepProgress(1, maximize=None, stream=screen)
    bar.update((1.0, 0.2))
    bar.close()
    assert "1/1 trials" in screen.getvalue() and "best" not in screen.getvalue()


@pytest.mark.slow
def test_a_sweep_on_a_terminal_draws_the_bar(tmp_path: Path) -> None:
    """A real sweep with its stderr on a pseudo-terminal: the bar reaches n_trials."""
    main, child = pty.openpty()
    args = ["-m", "phase=model", "debug=fast", f"paths.outputs={tmp_path}"]
    args += ["tracking.enabled=false", "hydra.sweeper.n_trials=3"]
    done = subprocess.Popen(
        [sys.executable, "-m", "crypto_tune", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=child,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    assert done.wait(timeout=600) == 0
    screen = b"".join(chunks).decode(errors="replace")
    assert "3/3 trials" in screen and "ETA" in screen and "best " in screen, screen[-2000:]


def test_walk_forward_counts_windows() -> None:
    """Issue 22.9: walk-forward showed a line per window step and no bar."""
    screen = _Terminal()
    bar = SweepProgress(3, maximize=True, stream=screen, label="walk-forward", unit="window")
    for value in (0.4, -0.2, 1.1):
        bar.update(value)
    bar.close()
    text = screen.getvalue()
    assert "walk-forward: 3/3 windows" in text and "best 1.1" in text


def test_trial_lines_log_the_first_trial_then_every_interval(caplog) -> None:
    """A line on the first trial (no rate yet), none within the interval, then one with the
    rate of the trials after the first and the best value's parameters."""
    logger = logging.getLogger("test.trial_lines")
    lines = TrialLines("portfolio trials", logger, every_s=3600.0)
    with caplog.at_level(logging.INFO, logger="test.trial_lines"):
        lines.update(0.5, {"top_k": 2, "weights": "equal"})
        lines.update(0.9, {"top_k": 3, "weights": "inverse_vol"})
        lines.update(0.1, {"top_k": 1, "weights": "equal"})
        lines.every_s = 0.0
        lines.update(0.2, {"top_k": 4, "weights": "equal"})
    messages = [r.getMessage() for r in caplog.records]
    assert (
        messages[0] == "portfolio trials: 1 in this process, best 0.5000 with top_k=2 weights=equal"
    )
    assert len(messages) == 2
    assert messages[1].startswith("portfolio trials: 4 in this process (")
    assert messages[1].endswith("/s), best 0.9000 with top_k=3 weights=inverse_vol")
