"""The trading rules (a registry) and the sizings.

A rule is one module of this package that defines ``RULE`` (a :class:`Rule`), plus its
``conf/strategy/<name>.yaml`` (its settings) and ``conf/search/strategy/<name>.yaml`` (what
Phase 2 tunes); nothing else names it. :data:`RULES` finds every such module here.
"""

from __future__ import annotations

import importlib
import pkgutil

from crypto_tune.exceptions import ConfigError
from crypto_tune.strategies._base import Rule, RuleSettings, TrailingRule, search_space_keys
from crypto_tune.strategies._sizing import SIZINGS, Sizing, SizingSettings


def _discover() -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        rule = getattr(module, "RULE", None)
        if isinstance(rule, Rule):
            if rule.name in rules:
                raise RuntimeError(f"two strategy rules are named {rule.name!r}")
            rules[rule.name] = rule
    return rules


RULES: dict[str, Rule] = _discover()


def rule_for(name: str) -> Rule:
    """The registered rule ``name`` (``strategy.name``)."""
    try:
        return RULES[name]
    except KeyError:
        raise ConfigError(
            f"strategy.name must be one of {', '.join(RULES)}, got {name!r}"
        ) from None


def sizing_for(name: str) -> Sizing:
    """The sizing ``name`` (``strategy.sizing``)."""
    try:
        return SIZINGS[name]
    except KeyError:
        raise ConfigError(
            f"strategy.sizing must be one of {', '.join(SIZINGS)}, got {name!r}"
        ) from None


__all__ = [
    "RULES",
    "SIZINGS",
    "Rule",
    "RuleSettings",
    "Sizing",
    "SizingSettings",
    "TrailingRule",
    "rule_for",
    "search_space_keys",
    "sizing_for",
]
