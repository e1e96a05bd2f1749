"""A sweep's two guards in the task: trials that keep failing stop the sweep, and Ctrl-C lands
inside a trial, never between the sweeper's bookkeeping steps."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from crypto_tune.logs import mask_secrets

log = logging.getLogger("crypto_tune")


class FailureGuard:
    """Stops a sweep whose trials keep failing (the sweeper itself tolerates every failure).

    A trial that cannot be evaluated raises InvalidTrialError and is recorded as FAIL; once at
    least ``min_trials`` trials ran here and more than ``max_rate`` of them failed, the sweep
    stops with one line naming the last error.
    """

    def __init__(self, min_trials: int = 5, max_rate: float = 0.5) -> None:
        self.min_trials, self.max_rate = min_trials, max_rate
        self.trials = self.failures = 0

    def record(self, error: Exception | None) -> str | None:
        """Count a trial; the one-line reason to stop the sweep, or None to go on."""
        self.trials += 1
        if error is None:
            return None
        self.failures += 1
        log.warning("trial failed: %s", mask_secrets(str(error)))
        if self.trials >= self.min_trials and self.failures / self.trials > self.max_rate:
            return f"{self.failures} of {self.trials} trials failed; last: {error}"
        return None


class DeferredInterrupt:
    """Ctrl-C in a sweep lands inside a trial, never between the sweeper's bookkeeping steps.

    Inside a trial the interrupt is raised at once (the trial is marked FAIL by ``cli._task``).
    Between trials (the sweeper asking Optuna for the next trial, or recording the last one) it
    is held and raised when the next trial starts, before any work, so the trial the sweeper has
    just created is marked FAIL too instead of staying RUNNING. A second Ctrl-C is never held.
    Inside a trial it is recorded as well: raised in a finalizer (a LightGBM booster's
    ``__del__`` run by the garbage collector), Python ignores it and the trial goes on, so the
    next trial's start raises it.
    """

    def __init__(self) -> None:
        self.requested = False
        self.in_task = False
        self.holding = 0  # depth of held_interrupts() blocks (MLflow's writes) now running

    def install(self) -> None:
        import signal
        import sys

        signal.signal(signal.SIGINT, self._handle)
        _INSTALLED[:] = [self]
        previous = sys.unraisablehook

        def quiet(unraisable: sys.UnraisableHookArgs) -> None:
            # the interrupt a finalizer swallowed is recorded (see the class): no traceback
            if not (self.requested and isinstance(unraisable.exc_value, KeyboardInterrupt)):
                previous(unraisable)

        sys.unraisablehook = quiet

    def _handle(self, signum: int, frame: object) -> None:
        held, self.requested = self.requested, True
        if (self.in_task and not self.holding) or held:
            raise KeyboardInterrupt

    def enter_task(self) -> None:
        self.in_task = True
        if self.requested:
            raise KeyboardInterrupt


_INSTALLED: list[DeferredInterrupt] = []  # the process's guard, once a sweep installed it


@contextmanager
def held_interrupts() -> Iterator[None]:
    """Hold a sweep's Ctrl-C while the block runs and raise it at the block's end: an interrupt
    inside MLflow's writes left its SQLite store locked and runs RUNNING (the sweep's next writes
    waited, then failed). Outside a sweep, or a second Ctrl-C: nothing is held."""
    guard = _INSTALLED[0] if _INSTALLED else None
    if guard is None:
        yield
        return
    guard.holding += 1
    try:
        yield
    finally:
        guard.holding -= 1
        if not guard.holding and guard.requested and guard.in_task:
            raise KeyboardInterrupt


__all__ = ["DeferredInterrupt", "FailureGuard", "held_interrupts"]
