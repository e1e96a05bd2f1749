"""What a phase is (:class:`Phase`): the function that runs it, the checks it makes before any
work, and whether Hydra sweeps it. A phase ``NAME`` is the module ``crypto_tune.phases._NAME``
defining ``PHASE``, plus ``conf/phase/NAME.yaml``; the dispatcher finds it by that name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from crypto_tune.config import Settings


def no_checks(settings: Settings, *, multirun: bool) -> None:
    """A phase that needs nothing checked before it starts."""


@dataclass(frozen=True)
class Phase:
    """One phase: ``run`` (a sweep phase returns the objective to the sweeper), ``preflight``
    (fails fast, before Hydra starts: data readable, storage reachable, inputs present) and
    ``sweep`` (whether ``-m`` sweeps it; every other phase is a single run)."""

    run: Callable[[Settings], float | list[float] | None]
    preflight: Callable[..., None] = no_checks
    sweep: bool = False


__all__ = ["Phase", "no_checks"]
