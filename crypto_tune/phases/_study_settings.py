"""A best run against the fixed settings its Phase 2 study's trials traded: a setting the study
was run with is no manual override when repeated, and one that differs without being given on
the command line is refused (the backtest would trade other settings than the trials the verdict
counts, under "no overrides")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import optuna

from crypto_tune.exceptions import ConfigError
from crypto_tune.fingerprint import ATTR, differences

# a cost the market resolves from a strategy setting (crypto_tune.markets.market_costs): given on
# the command line, that setting is a manual override and so is the cost it resolves
_RESOLVES = {
    "strategy.fee": "costs.fee",
    "strategy.orders": "costs.fee",
    "strategy.allow_short": "costs.allow_short",
}


def _recorded(study: optuna.Study) -> dict[str, Any]:
    recorded = study.user_attrs.get(ATTR)
    return recorded if isinstance(recorded, dict) else {}


def beyond_study(
    overrides: Mapping[str, Any], study: optuna.Study, tuned: Iterable[str]
) -> dict[str, Any]:
    """The ``overrides`` (full keys, ``group.field``) that change what the study's trials traded:
    a value the study was run with (a fixed setting its fingerprint records, such as the
    ``universe.long_only=true`` a spot study needs repeated), and not a parameter it tunes, is
    no override.

    >>> study = optuna.create_study(study_name="s")
    >>> study.set_user_attr(ATTR, {"universe.long_only": True, "universe.top_k": 2})
    >>> given = {"universe.long_only": True, "universe.top_k": 2}
    >>> beyond_study(given, study, {"universe.top_k"})
    {'universe.top_k': 2}
    """
    recorded, tuned = _recorded(study), set(tuned)
    return {
        key: value
        for key, value in overrides.items()
        if key in tuned or key not in recorded or differences({key: recorded[key]}, {key: value})
    }


def check_study_settings(
    study: optuna.Study, current: Mapping[str, Any], *, given: Iterable[str], phase: str = "best"
) -> None:
    """Refuse a run whose fixed settings (``current``: this run's values of the study's
    fingerprint keys it checks) differ from the study's, except its tuned parameters and the keys
    ``given`` on the command line (manual overrides, said as such).

    >>> study = optuna.create_study(study_name="s")
    >>> study.set_user_attr(ATTR, {"strategy.max_leverage": 1.5, "strategy.entry": 1.0})
    >>> check_study_settings(study, {"strategy.max_leverage": 1.5}, given=())
    >>> try:
    ...     check_study_settings(study, {"strategy.max_leverage": 2.0}, given=())
    ... except ConfigError as exc:
    ...     print(str(exc).split(": ")[1])
    study 's' traded other fixed settings than this run (strategy.max_leverage 1.5 -> 2.0)
    >>> check_study_settings(study, {"strategy.max_leverage": 2.0}, given={"strategy.max_leverage"})
    >>> study.set_user_attr(ATTR, {"costs.fee": 0.0005})
    >>> check_study_settings(study, {"costs.fee": 0.0}, given={"strategy.fee"})  # resolves it
    """
    recorded, given = _recorded(study), set(given)
    skip = given | {_RESOLVES[k] for k in given if k in _RESOLVES}
    skip |= {name for t in study.get_trials(deepcopy=False) for name in t.params}
    keys = [k for k in current if k in recorded and k not in skip]
    changed = differences({k: recorded[k] for k in keys}, {k: current[k] for k in keys})
    if not changed:
        return
    first = next(k for k in keys if differences({k: recorded[k]}, {k: current[k]}))
    fix = (
        f"repeat {first}={recorded[first]} on the command line (another value there is a manual "
        "override, said as such)"
        if not first.startswith("costs.")
        else "give the market and costs it was tuned with (asset.market, strategy.fee, ...)"
    )
    raise ConfigError(
        f"phase={phase}: study '{study.study_name}' traded other fixed settings than this run "
        f"({'; '.join(changed[:3])}): {fix}"
    )


__all__ = ["beyond_study", "check_study_settings"]
