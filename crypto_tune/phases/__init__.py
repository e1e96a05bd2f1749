"""One function per phase; the CLI dispatches on ``phase.name``."""

from __future__ import annotations

from crypto_tune.config import Settings
from crypto_tune.phases._dispatch import preflight_phase, run_phase

__all__ = ["Settings", "preflight_phase", "run_phase"]
