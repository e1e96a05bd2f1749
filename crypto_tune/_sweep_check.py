"""Before a sweep's first trial: ``hydra.sweeper.n_trials`` is valid, and every swept
parameter's extreme values pass the settings validation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

from crypto_tune._config_to_settings import settings_from_config
from crypto_tune._config_tree import (
    ABSENT,
    assign,
    collect_interpolations,
    copy_tree,
    lookup,
    untyped_leaf,
)
from crypto_tune.config import settings_from_dict
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


def _named_keys(text: str) -> list[tuple[str, ...]] | None:
    """The keys the interpolations of ``text`` read, each as its path (``("split", "purge")``),
    or None when they cannot be told from the text: a relative key (``${.x}``), a key built by
    an interpolation, a resolver that may read the config around it (one not in
    ``ARGUMENT_ONLY_RESOLVERS``), or a text OmegaConf cannot parse."""
    from omegaconf.grammar.gen.OmegaConfGrammarParser import OmegaConfGrammarParser as Grammar
    from omegaconf.grammar_parser import parse

    from crypto_tune.config._resolvers import ARGUMENT_ONLY_RESOLVERS

    try:
        pending: list[Any] = [parse(text)]
    except Exception:  # the slow path raises it, keyed to the swept value
        return None
    keys: list[tuple[str, ...]] = []
    while pending:
        node = pending.pop()
        if isinstance(node, Grammar.InterpolationResolverContext):
            if node.resolverName().getText() not in ARGUMENT_ONLY_RESOLVERS:
                return None
        elif isinstance(node, Grammar.InterpolationNodeContext):
            if not isinstance(node.getChild(1), Grammar.ConfigKeyContext):
                return None  # ${.x}, ${..x} (relative) or ${[x]}
            parts = []
            for part in node.configKey():
                if part.interpolation() is not None:
                    return None  # ${a.${b}}: a key made by an interpolation
                parts.append(part.getText())
            keys.append(tuple(parts))
        pending.extend(getattr(node, "children", None) or ())  # a token has none
    return keys


def _resolved_once(task_cfg: DictConfig) -> tuple[dict[str, Any], list[tuple[str, ...]]] | None:
    """``task_cfg`` resolved once to a plain mapping (as :func:`settings_from_config` resolves
    it), and every key its interpolations read; None when it does not resolve, or when an
    interpolation may read a key it does not name."""
    from omegaconf.errors import OmegaConfBaseException

    raw = OmegaConf.to_container(task_cfg, resolve=False)
    texts: list[str] = []
    collect_interpolations(raw, texts)
    read: list[tuple[str, ...]] = []
    for text in texts:
        keys = _named_keys(text)
        if keys is None:
            return None
        read.extend(keys)
    try:
        resolved = OmegaConf.to_container(task_cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException:  # the slow path raises it, keyed to the swept value
        return None
    if not isinstance(resolved, dict):
        return None
    return {str(k): v for k, v in resolved.items()}, read


def _stored_as_given(value: object) -> bool:
    """OmegaConf stores ``value`` in an untyped node as it is: not an interpolation, not
    ``???`` (missing), a plain scalar."""
    if isinstance(value, str):
        return "${" not in value and value != "???"
    return value is None or isinstance(value, bool | int | float)


def _independent(
    plain: dict[str, Any],
    read: list[tuple[str, ...]],
    trial: DictConfig,
    key: str,
    values: list[object],
) -> bool:
    """Setting ``key`` to each of ``values`` in the resolved ``plain`` mapping gives what
    resolving the config with the value set gives: no interpolation reads the key (nor a key
    holding it, nor one inside it), the key is an untyped scalar leaf, and each value is stored
    as given."""
    path = tuple(key.split("."))
    if any(ref[: len(path)] == path or path[: len(ref)] == ref for ref in read):
        return False
    node = lookup(plain, key)
    if node is ABSENT or isinstance(node, dict | list) or not untyped_leaf(trial, key):
        return False
    return all(_stored_as_given(value) for value in values)


def check_sweep(full: DictConfig, task_cfg: DictConfig, overrides: Sequence[str]) -> None:
    """Before the first trial: ``hydra.sweeper.n_trials`` is a positive int, and every swept
    parameter's extreme values (see :func:`_probe_values`) pass the settings validation.

    The search space is parsed by the Optuna sweeper's own function, from the config's
    ``hydra.sweeper.params`` followed by the command line (the command line wins), exactly as
    the sweeper does. Each value is checked alone, with every other key at its composed value.
    Validity sets in the schema are intervals, so the ends decide; a value excluded inside a
    range (far from both ends) is not caught here and fails its trial.

    The config is resolved once, and a value is checked on a copy of that mapping with the one
    key set; when that copy may differ from the config resolved with the value set (an
    interpolation that may read the key, see :func:`_independent`), the config is resolved
    again with the value set, so the value reaches every key that interpolates it.
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
    once = _resolved_once(trial)
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
        probes = _probe_values(distribution)
        if once is not None and _independent(*once, trial, key, probes):
            for value in probes:
                tree = copy_tree(once[0])
                assign(tree, key, value)
                try:
                    settings_from_dict(tree)
                except ConfigError as exc:
                    raise ConfigError(f"{lines[key]} includes {value!r}: {exc}") from None
            continue
        try:
            for value in probes:
                OmegaConf.update(trial, key, value, merge=False)
                try:
                    settings_from_config(trial)
                except ConfigError as exc:
                    raise ConfigError(f"{lines[key]} includes {value!r}: {exc}") from None
        finally:
            OmegaConf.update(trial, key, original, merge=False)


__all__ = ["check_sweep"]
