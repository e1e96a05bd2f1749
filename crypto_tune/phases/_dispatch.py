"""Dispatch on ``phase.name``: phase ``NAME`` is the :class:`~crypto_tune.phases._phase.Phase`
named ``PHASE`` in ``crypto_tune.phases._NAME`` (imported on use, so a phase loads only what it
needs). A universe's phases have their own table (:mod:`crypto_tune.phases._universe`), and
``regime=switch`` its own checks (:mod:`crypto_tune.phases._regimes`)."""

from __future__ import annotations

import importlib

from crypto_tune.config import PHASES, Settings
from crypto_tune.exceptions import ConfigError
from crypto_tune.phases._phase import Phase


def phase_for(name: str) -> Phase:
    """The phase ``name`` (one of ``conf/phase/*.yaml``)."""
    if name not in PHASES:
        raise ConfigError(f"phase.name must be one of {', '.join(PHASES)}, got {name!r}")
    phase = getattr(importlib.import_module(f"crypto_tune.phases._{name}"), "PHASE", None)
    if not isinstance(phase, Phase):
        raise TypeError(f"crypto_tune.phases._{name} defines no PHASE")
    return phase


def is_sweep(name: str) -> bool:
    """Whether ``-m`` sweeps the phase ``name`` (else it is a single run)."""
    return phase_for(name).sweep


def run_phase(settings: Settings) -> float | list[float] | None:
    """Run the phase of ``settings``; sweep phases return the objective for the sweeper."""
    if settings.asset.kind == "universe":  # a universe's phases: crypto_tune/phases/_universe.py
        from crypto_tune.phases._universe import run_universe_phase

        return run_universe_phase(settings)
    return phase_for(settings.phase.name).run(settings)


def preflight_phase(settings: Settings, *, multirun: bool) -> None:
    """Fail fast, before Hydra starts: data readable, storage reachable, inputs present."""
    name = settings.phase.name
    if settings.asset.kind == "universe":  # a universe's checks: crypto_tune/phases/_universe.py
        from crypto_tune.phases._universe import preflight_universe

        return preflight_universe(settings, multirun=multirun)
    if settings.regime.name == "switch":  # every phase of a regime switch
        from crypto_tune.phases._regimes import preflight_switch

        preflight_switch(settings, multirun=multirun)
        return
    phase = phase_for(name)
    if multirun and not phase.sweep:
        sweeps = "|".join(n for n in PHASES if is_sweep(n))
        raise ConfigError(f"phase={name} is a single run: drop -m (sweeps are phase={sweeps})")
    phase.preflight(settings, multirun=multirun)


__all__ = ["is_sweep", "phase_for", "preflight_phase", "run_phase"]
