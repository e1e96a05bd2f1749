"""The download's progress: a tqdm bar on a terminal, a plain line now and then otherwise."""

from __future__ import annotations

import sys
import time
from typing import IO


class Progress:
    """Bars done out of ``total``: tqdm when ``stream`` is a terminal, else a line at most every
    ``every`` seconds (and at the end)."""

    def __init__(
        self,
        label: str,
        total: int,
        *,
        unit: str = "bars",
        stream: IO[str] | None = None,
        every: float = 10.0,
    ) -> None:
        self.label, self.total, self.unit, self.every = label, max(int(total), 0), unit, every
        self.stream = sys.stderr if stream is None else stream
        self.done, self.last = 0, ""
        self._shown, self._shown_done = -float("inf"), -1
        self._bar = None
        if getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

            self._bar = tqdm(total=self.total, unit=unit, desc=label, file=self.stream)

    def update(self, done: int, last: str) -> None:
        done = min(max(done, self.done), self.total)
        if self._bar is not None:
            self._bar.update(done - self.done)
        self.done, self.last = done, last
        if self._bar is None and time.monotonic() - self._shown >= self.every:
            self._line()

    def _line(self) -> None:
        share = 100.0 * self.done / self.total if self.total else 100.0
        print(
            f"{self.label}: {self.done:,} of {self.total:,} {self.unit} ({share:.0f}%), "
            f"to {self.last}",
            file=self.stream,
            flush=True,
        )
        self._shown, self._shown_done = time.monotonic(), self.done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.done and self.done != self._shown_done:
            self._line()


__all__ = ["Progress"]
