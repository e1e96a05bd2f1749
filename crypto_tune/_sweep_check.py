"""Before a sweep's first trial: ``hydra.sweeper.n_trials`` is valid, and every swept
parameter's extreme values pass the settings validation."""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

from crypto_tune._config_to_settings import settings_from_config
from crypto_tune.exceptions import ConfigError


def _probe_values(distribution: object) -> list[object]:
    """The values of a search-space distribution that preflight validates: every choice of a
    ``choice()``; for a ``range()`` or an ``interval()``, both ends (Optuna may sample either)
    and the nearest value inside each end (the next step, or the next float)."""
    import math

    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(distribution, CategoricalDistribution):
        values: list[object] = list(distribution.choices)
    elif isinstance(distribution, IntDistribution):
        ilow, ihigh, istep = distribution.low, distribution.high, distribution.step
        values = [ilow, min(ilow + istep, ihigh), max(ihigh - istep, ilow), ihigh]
    elif isinstance(distribution, FloatDistribution):
        low, high, step = distribution.low, distribution.high, distribution.step
        if step is not None:
            inner = [min(low + step, high), max(high - step, low)]
        else:
            inner = [math.nextafter(low, high), math.nextafter(high, low)]
        values = [low, inner[0], inner[1], high]
    else:  # pragma: no cover - the sweeper builds only these three
        return []
    unique: list[object] = []
    for value in values:
        if not any(value == u and type(value) is type(u) for u in unique):
            unique.append(value)
    return unique


def check_sweep(full: DictConfig, task_cfg: DictConfig, overrides: Sequence[str]) -> None:
    """Before the first trial: ``hydra.sweeper.n_trials`` is a positive int, and every swept
    parameter's extreme values (see :func:`_probe_values`) pass the settings validation.

    The search space is parsed by the Optuna sweeper's own function, from the config's
    ``hydra.sweeper.params`` followed by the command line (the command line wins), exactly as
    the sweeper does. Each value is checked alone, with every other key at its composed value.
    Validity sets in the schema are intervals, so the ends decide; a value excluded inside a
    range (far from both ends) is not caught here and fails its trial.
    """
    import copy

    target = str(OmegaConf.select(full, "hydra.sweeper._target_", default=""))
    if "optuna" not in target and target != "crypto_tune.sweeper.CryptoTuneSweeper":
        return  # another sweeper: its own rules
    n_trials = OmegaConf.select(full, "hydra.sweeper.n_trials")
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ConfigError(f"hydra.sweeper.n_trials must be an int >= 1, got {n_trials!r}")
    from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides

    node = OmegaConf.select(full, "hydra.sweeper.params")
    params = OmegaConf.to_container(node, resolve=False) if isinstance(node, DictConfig) else {}
    assert isinstance(params, dict)
    lines = {str(k): f"{k!s}={v}" for k, v in params.items()}
    lines.update({line.split("=", 1)[0]: line for line in overrides})
    space: dict[str, object] = {}
    fixed: set[str] = set()
    for line in lines.values():
        try:
            distributions, values, _ = create_params_from_overrides([line])
        except Exception as exc:  # the sweeper's own errors, as one line naming the parameter
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"{line}: {first}") from None
        space.update(distributions)
        fixed.update(values)
    trial = copy.deepcopy(task_cfg)  # one copy: each value is set, checked, then put back
    for key, distribution in space.items():
        if key in fixed:  # a fixed value on the command line replaces the search space
            continue
        parent_key, _, leaf = key.rpartition(".")
        parent = OmegaConf.select(trial, parent_key) if parent_key else trial
        if not isinstance(parent, DictConfig) or leaf not in parent:
            raise ConfigError(f"{lines[key]}: {key} is not a known key")
        container = OmegaConf.to_container(parent, resolve=False)
        assert isinstance(container, dict)  # parent is a DictConfig
        original = container[leaf]
        try:
            for value in _probe_values(distribution):
                OmegaConf.update(trial, key, value, merge=False)
                try:
                    settings_from_config(trial)
                except ConfigError as exc:
                    raise ConfigError(f"{lines[key]} includes {value!r}: {exc}") from None
        finally:
            OmegaConf.update(trial, key, original, merge=False)


__all__ = ["check_sweep"]
