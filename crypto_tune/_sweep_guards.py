"""A sweep's two guards in the task: trials that keep failing stop the sweep, and Ctrl-C lands
inside a trial, never between the sweeper's bookkeeping steps."""

from __future__ import annotations

import logging

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

    def install(self) -> None:
        import signal

        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        held, self.requested = self.requested, True
        if self.in_task or held:
            raise KeyboardInterrupt

    def enter_task(self) -> None:
        self.in_task = True
        if self.requested:
            raise KeyboardInterrupt


__all__ = ["DeferredInterrupt", "FailureGuard"]
