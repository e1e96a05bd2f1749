"""What a trading rule is (:class:`Rule`): its name, the parameters Phase 2 tunes (read from its
search-space file, their one home), the signal it trades and the entry/exit levels of that
signal. A rule is one module of this package defining ``RULE``; the registry finds it there.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

import numpy as np


class RuleSettings(Protocol):
    """The strategy settings a rule reads (:class:`crypto_tune.config.StrategySettings`)."""

    @property
    def name(self) -> str: ...
    @property
    def threshold(self) -> float: ...
    @property
    def entry(self) -> float: ...
    @property
    def exit(self) -> float | None: ...
    @property
    def signal_window(self) -> int: ...


@functools.cache
def search_space_keys(name: str) -> tuple[str, ...]:
    """The dotted keys of ``conf/search/strategy/<name>.yaml`` (what Phase 2 tunes), in order."""
    from omegaconf import OmegaConf  # config files: only when a rule's space is asked for

    path = resources.files("crypto_tune.conf") / "search" / "strategy" / f"{name}.yaml"
    if not path.is_file():
        return ()
    return tuple(str(key) for key in OmegaConf.load(str(path)))


@dataclass(frozen=True)
class Rule:
    """A time-series trading rule: the signal it trades and the levels it trades it at.

    ``signal_kind`` says in words what the signal is (the best run's document and report);
    ``portfolio`` marks a universe's portfolio rule, which trades ranks across symbols in its
    own kernel (:mod:`crypto_tune.universe`) rather than one signal through the backtest engine.
    Subclasses override :meth:`signal` (default: the raw predictions), :meth:`levels` and,
    for rule-specific limits, :meth:`check`.
    """

    name: str
    signal_kind: str
    portfolio: bool = False

    @property
    def search_space(self) -> str:
        """The search-space file of the rule, relative to ``conf/``."""
        return f"search/strategy/{self.name}.yaml"

    @property
    def tuned(self) -> tuple[str, ...]:
        """The ``strategy.*`` parameters Phase 2 tunes (the search space's keys, prefix off)."""
        prefix = "strategy."
        keys = search_space_keys(self.name)
        return tuple(k[len(prefix) :] for k in keys if k.startswith(prefix))

    def window_key(self, settings: RuleSettings) -> tuple[object, ...]:
        """What the signal depends on besides the predictions (a per-window cache key)."""
        return (self.name,)

    def signal(
        self,
        predictions: np.ndarray,
        settings: RuleSettings,
        *,
        segments: np.ndarray | None = None,
    ) -> np.ndarray:
        """The signal traded at each bar from the predictions up to that bar (causal)."""
        return np.asarray(predictions, dtype=np.float64)

    def levels(self, settings: RuleSettings) -> tuple[float, float | None]:
        """(entry, exit) in the signal's units: long above ``entry``, short below ``-entry``, a
        held side flattened inside ``+-exit`` (None: at ``entry``)."""
        return settings.threshold, None

    def check(self, settings: RuleSettings, key: str) -> None:
        """Raise :class:`~crypto_tune.exceptions.ConfigError` naming ``key.field`` when
        ``settings`` break a limit of this rule (the limits every rule shares are checked by the
        settings themselves)."""


@dataclass(frozen=True)
class TrailingRule(Rule):
    """A rule trading a transform of the prediction against its own trailing ``signal_window``
    bars (the z-score, the rank): levels ``entry``/``exit`` in the transform's units, the
    signal cached per window length."""

    def window_key(self, settings: RuleSettings) -> tuple[object, ...]:
        return (self.name, settings.signal_window)

    def levels(self, settings: RuleSettings) -> tuple[float, float | None]:
        # (validation keeps exit <= entry; a perturbed neighbour may not: clamp, never fail)
        exit_ = None if settings.exit is None else min(settings.exit, settings.entry)
        return settings.entry, exit_


__all__ = ["Rule", "RuleSettings", "TrailingRule", "search_space_keys"]
