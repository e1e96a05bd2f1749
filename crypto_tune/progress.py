"""A live progress bar for a sweep on a terminal: trials done of this process's
``hydra.sweeper.n_trials``, the rate, the time left and the best value so far (tqdm).

On a terminal (the stream is a TTY) the bar redraws in place on stderr; in logs and CI (not a
TTY) it writes nothing, and the phases' own plain lines (one per Phase 1 trial, one every 10 s
in Phase 2) are the record. Failed trials count as done and never become the best.

>>> import io
>>> bar = SweepProgress(3, maximize=True, stream=io.StringIO())  # not a TTY: silent
>>> for value in (0.5, None, 0.7):
...     bar.update(value)
>>> bar.done, bar.best
(3, 0.7)
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO


class SweepProgress:
    """Counts this process's trials and shows them as a bar when ``stream`` is a terminal.

    ``total``: the trials this process will run (None: unknown); ``maximize``: the direction of
    the (first) objective, None for several objectives (no single best is shown); ``unit``:
    what is counted (``window`` for walk-forward).
    """

    def __init__(
        self,
        total: int | None,
        *,
        maximize: bool | None,
        stream: TextIO | None = None,
        label: str = "sweep",
        unit: str = "trial",
    ) -> None:
        if total is not None and (isinstance(total, bool) or total < 0):
            raise ValueError(f"total must be None or an int >= 0, got {total!r}")
        self.total, self.maximize = total, maximize
        self.done = 0
        self.best: float | None = None
        out = sys.stderr if stream is None else stream
        self._bar: Any = None
        if out.isatty():
            from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs installed

            size = shutil.get_terminal_size((100, 24))  # a size of 0 (some ptys): the fallback

            self._bar = tqdm(
                total=total,
                desc=label,
                unit=unit,
                file=out,
                ncols=min(size.columns, 120),
                nrows=size.lines,  # tqdm hides a bar below a terminal of 0 lines
                bar_format="{desc}: {n}/{total} " + unit + "s |{bar}| {rate_fmt} ETA {remaining}"
                "{postfix}",
            )

    def update(self, value: Any) -> None:
        """One more trial done: ``value`` is its objective (a float, or a tuple for several
        objectives), None when it failed."""
        self.done += 1
        if self.maximize is not None and isinstance(value, int | float) and math.isfinite(value):
            better = self.best is None or (
                value > self.best if self.maximize else value < self.best
            )
            if better:
                self.best = float(value)
        if self._bar is not None:
            if self.best is not None:
                self._bar.set_postfix_str(f"best {self.best:.4g}", refresh=False)
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class TrialLines:
    """The plain record of a long Phase 2 sweep in its log: a line on its first trial, then one
    every ``every_s`` seconds: ``<label>: N in this process (R/s), best B with <its params>``
    (the rate counts the trials after the first)."""

    def __init__(self, label: str, logger: logging.Logger, every_s: float = 10.0) -> None:
        self.label, self.logger, self.every_s = label, logger, every_s
        self.count = 0
        self.best = -math.inf
        self.best_params: dict[str, Any] = {}
        self.started = self.last = 0.0

    def update(self, value: float, params: Mapping[str, Any]) -> None:
        """One more trial of this process, its (first) objective ``value`` and parameters."""
        now = time.perf_counter()
        if self.count == 0:
            self.started = now
        self.count += 1
        if value > self.best:
            self.best, self.best_params = value, dict(params)
        if self.count > 1 and now - self.last < self.every_s:
            return
        self.last = now
        elapsed = now - self.started
        rate = f" ({(self.count - 1) / elapsed:.1f}/s)" if self.count > 1 and elapsed > 0 else ""
        shown = " ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in self.best_params.items()
        )
        self.logger.info(
            "%s: %d in this process%s, best %.4f with %s",
            self.label,
            self.count,
            rate,
            self.best,
            shown,
        )


__all__ = ["SweepProgress", "TrialLines"]
