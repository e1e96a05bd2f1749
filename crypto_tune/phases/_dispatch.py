"""Dispatch on ``phase.name`` and the checks each phase makes before any work."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from crypto_tune.config import Settings
from crypto_tune.exceptions import ConfigError

SWEEP_PHASES = ("model", "strategy")


# phase name -> (module, function); imported on use so a phase loads only what it needs
PHASE_FUNCTIONS: dict[str, tuple[str, str]] = {
    "inspect": ("crypto_tune.phases._inspect", "run_inspect"),
    "model": ("crypto_tune.phases._model", "run_model_trial"),
    "strategy": ("crypto_tune.phases._strategy", "run_strategy_trial"),
    "best": ("crypto_tune.phases._best", "run_best"),
    "report": ("crypto_tune.phases._report", "run_report"),
    "walkforward": ("crypto_tune.phases._walkforward", "run_walkforward"),
    "regimes": ("crypto_tune.phases._regimes", "run_regimes"),
    "download": ("crypto_tune.phases._download", "run_download"),
    "final": ("crypto_tune.phases._final", "run_final"),
}


def run_phase(settings: Settings) -> float | None:
    """Run the phase of ``settings``; sweep phases return the objective for the sweeper."""
    if settings.asset.kind == "universe":  # a universe's phases: crypto_tune/phases/_universe.py
        from crypto_tune.phases._universe import run_universe_phase

        return run_universe_phase(settings)  # type: ignore[return-value]
    module, function = PHASE_FUNCTIONS[settings.phase.name]
    if settings.phase.name == "best":  # score with the objective the strategy was tuned on
        from crypto_tune.phases._best_objective import with_studied_objective

        settings = with_studied_objective(settings)
    phase: Callable[[Settings], float | None] = getattr(importlib.import_module(module), function)
    return phase(settings)


def preflight_phase(settings: Settings, *, multirun: bool) -> None:
    """Fail fast, before Hydra starts: data readable, storage reachable, inputs present."""
    from crypto_tune.study import check_storage

    phase = settings.phase.name
    if settings.asset.kind == "universe":  # a universe's checks: crypto_tune/phases/_universe.py
        from crypto_tune.phases._universe import preflight_universe

        return preflight_universe(settings, multirun=multirun)
    if settings.regime.name == "switch" or phase == "regimes":
        from crypto_tune.phases._regimes import preflight_switch

        if settings.regime.name != "switch":
            raise ConfigError(
                f"phase=regimes tunes every regime: use regime=switch, got regime="
                f"{settings.regime.name} (one regime: -m phase=model regime={settings.regime.name})"
            )
        preflight_switch(settings, multirun=multirun)
        return
    if multirun and phase not in SWEEP_PHASES:
        raise ConfigError(
            f"phase={phase} is a single run: drop -m (sweeps are phase=model|strategy)"
        )
    if phase == "inspect":
        return
    if phase == "download":  # no dataset yet: the exchange, the asset, a writable folder
        from crypto_tune.phases._download import preflight_download

        preflight_download(settings)
        return
    if phase == "walkforward":
        from crypto_tune.phases._walkforward import preflight_walkforward

        if settings.split.name != "walk_forward":  # the study names would say split=static
            raise ConfigError(
                f"phase=walkforward re-tunes walk-forward windows: add split=walk_forward "
                f"(got split={settings.split.name})"
            )

        preflight_walkforward(settings)
        return
    if multirun or phase in ("strategy", "best", "report"):
        check_storage(settings)
    from crypto_tune.dataset import member_settings, prepare_dataset

    for member in member_settings(settings):  # data errors surface now; the sweep reuses it
        prepare_dataset(member)
    replay = phase == "best" and settings.best.from_file is not None
    if phase in ("strategy", "best") and settings.phase.model_source == "study" and not replay:
        from crypto_tune.study import best_params, load_study

        best_params(load_study(settings, phase="model"))
    if phase == "model" and multirun:
        from crypto_tune.phases._model import model_fingerprint
        from crypto_tune.study import check_fingerprint

        check_fingerprint(settings, model_fingerprint(settings), phase="model", record=False)
    if phase == "strategy":
        from crypto_tune.evaluation import strategy_context
        from crypto_tune.phases._strategy import check_study_predictions

        check_study_predictions(settings, strategy_context(settings))
    if replay:
        from crypto_tune.phases._best_choice import load_replay

        load_replay(settings)
    if phase == "best" and not replay:
        from crypto_tune.study import best_params, load_study

        best_params(load_study(settings, phase="strategy"))
