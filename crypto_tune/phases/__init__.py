"""One module per phase (``_NAME.py`` defining ``PHASE``); the CLI dispatches on ``phase.name``."""

from __future__ import annotations

from crypto_tune.config import Settings
from crypto_tune.phases._dispatch import is_sweep, phase_for, preflight_phase, run_phase
from crypto_tune.phases._phase import Phase

__all__ = ["Phase", "Settings", "is_sweep", "phase_for", "preflight_phase", "run_phase"]
