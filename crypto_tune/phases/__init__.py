"""One function per phase; the CLI dispatches on ``phase.name``."""

from __future__ import annotations

from crypto_tune.config import Settings
from crypto_tune.phases._dispatch import SWEEP_PHASES, preflight_phase, run_phase

__all__ = ["SWEEP_PHASES", "Settings", "preflight_phase", "run_phase"]
