"""The phases of a universe (``asset=universe``): dispatch and the checks made before any work.

:mod:`crypto_tune.phases._dispatch` hands every universe run here (one line each in
``run_phase`` and ``preflight_phase``); the phases themselves live in ``_universe_model``,
``_universe_strategy``, ``_universe_best`` and ``_universe_report``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from crypto_tune.config import Settings
from crypto_tune.config._universe import UNIVERSE_RULE, check_shorting
from crypto_tune.exceptions import ConfigError

UNIVERSE_PHASES: dict[str, tuple[str, str]] = {
    "inspect": ("crypto_tune.phases._universe_inspect", "run_universe_inspect"),
    "model": ("crypto_tune.phases._universe_model", "run_universe_model_trial"),
    "strategy": ("crypto_tune.phases._universe_strategy", "run_universe_strategy_trial"),
    "best": ("crypto_tune.phases._universe_best", "run_universe_best"),
    "report": ("crypto_tune.phases._universe_report", "run_universe_report"),
    "walkforward": ("crypto_tune.phases._universe_walkforward", "run_universe_walkforward"),
}
_TRADING = ("strategy", "best", "report", "walkforward")


def run_universe_phase(settings: Settings) -> float | list[float] | None:
    """Run the universe phase of ``settings``; sweep phases return the objective."""
    module, function = UNIVERSE_PHASES[settings.phase.name]
    phase: Callable[[Settings], float | list[float] | None] = getattr(
        importlib.import_module(module), function
    )
    return phase(settings)


def check_universe(settings: Settings) -> None:
    """The options a universe run needs, each refused in one line naming the key."""
    phase = settings.phase.name
    if phase not in UNIVERSE_PHASES:
        raise ConfigError(
            f"phase={phase} does not run on asset=universe yet (it runs "
            f"phase={'|'.join(UNIVERSE_PHASES)})"
        )
    if not settings.asset.symbol:
        raise ConfigError(
            "asset.symbol must name the universe (it is part of the study name) when asset.path "
            "is a folder without asset.symbols, got ''"
        )
    if settings.regime.name != "all":
        raise ConfigError(
            f"asset=universe trades every bar: use regime=all, got {settings.regime.name}"
        )
    if phase in _TRADING and settings.strategy.name != UNIVERSE_RULE:
        raise ConfigError(
            f"asset=universe trades a portfolio: add strategy={UNIVERSE_RULE} "
            f"(got strategy={settings.strategy.name})"
        )
    if phase == "best":
        _check_best_options(settings)
    check_shorting(
        settings.universe,
        allow_short=settings.strategy.costs.allow_short,
        market=settings.asset.market,
    )


def _check_best_options(settings: Settings) -> None:
    """The ``best.*`` option a universe's best run does not honour, refused:
    ``best.selection=robust`` (its neighbourhoods perturb a single asset's continuous rule
    parameters; a portfolio's search space is a few integers and choices). ``best.from``,
    ``best.overwrite``, ``best.top_k`` (PBO), ``best.pareto`` and ``best.retrain_months`` are
    honoured."""
    best = settings.best
    if best.selection != "best":
        raise ConfigError(
            "best.selection must be best on asset=universe (the neighbourhood selection runs "
            f"on a single asset or a basket), got {best.selection!r}"
        )


def preflight_universe(settings: Settings, *, multirun: bool) -> None:
    """Fail fast: options, storage, the data (the panel is built now), the Phase 1 study."""
    from crypto_tune.study import check_storage
    from crypto_tune.universe._dataset import prepare_universe

    check_universe(settings)
    phase = settings.phase.name
    if multirun and phase not in ("model", "strategy"):
        raise ConfigError(
            f"phase={phase} is a single run: drop -m (sweeps are phase=model|strategy)"
        )
    if phase == "inspect":  # no study: the data and the folds only
        prepare_universe(settings)
        return
    check_storage(settings)
    if phase == "walkforward":
        from crypto_tune.phases._universe_walkforward import universe_windows

        if settings.split.name != "walk_forward":  # the study names would say split=static
            raise ConfigError(
                "phase=walkforward re-tunes walk-forward windows: add split=walk_forward "
                f"(got split={settings.split.name})"
            )
        universe_windows(settings, prepare_universe(settings))  # too short a window fails now
        return
    prepare_universe(settings)
    if phase == "best" and settings.best.from_file:  # a file from other data: refused now
        from crypto_tune.phases._best_choice import load_replay

        load_replay(settings)
    # the model from the Phase 1 study: Phase 2 and a best run (a replay trades the file's
    # model; a report draws its workflow.best.json only)
    replay = phase == "best" and settings.best.from_file
    if phase in ("strategy", "best") and not replay and settings.phase.model_source == "study":
        from crypto_tune.study import best_params, load_study

        best_params(load_study(settings, phase="model"))
    if phase == "model" and multirun:
        from crypto_tune.phases._universe_model import universe_model_fingerprint
        from crypto_tune.study import check_fingerprint

        check_fingerprint(
            settings, universe_model_fingerprint(settings), phase="model", record=False
        )
    if phase == "strategy":  # a study scored on other inputs is refused before the first trial
        from crypto_tune.phases._universe_strategy import (
            universe_context,
            universe_strategy_fingerprint,
        )
        from crypto_tune.study import check_fingerprint

        fingerprint = universe_strategy_fingerprint(settings, universe_context(settings))
        check_fingerprint(settings, fingerprint, phase="strategy", record=False)
    if phase in ("best", "report"):
        from crypto_tune.phases._universe_model import (
            UNIVERSE_DATA_KEYS,
            universe_model_fingerprint,
        )
        from crypto_tune.study import best_params, check_studied_data, load_study

        best_params(load_study(settings, phase="strategy"))
        if not replay:  # a replay's file was checked against these data above
            current = universe_model_fingerprint(settings)
            check_studied_data(
                settings, {k: current[k] for k in UNIVERSE_DATA_KEYS}, phases=("model", "strategy")
            )


__all__ = ["UNIVERSE_PHASES", "check_universe", "preflight_universe", "run_universe_phase"]
