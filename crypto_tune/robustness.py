"""Robustness of a tuned strategy: parameter neighbourhoods, robust selection, the trial ledger,
the tests and the verdict.

Pure functions: the caller passes a scoring function (params -> objective) and the search space
bounds; nothing here knows Hydra, Optuna or MLflow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from crypto_tune.exceptions import ConfigError

# Conventional levels: a deflated Sharpe ratio of at least DSR_LEVEL, a probability of backtest
# overfitting below PBO_LEVEL.
DSR_LEVEL = 0.95
PBO_LEVEL = 0.5


@dataclass(frozen=True)
class Bound:
    """A numeric parameter's search range (``log`` for log-uniform ranges)."""

    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class Neighbourhood:
    """Objective values around a parameter set (each parameter moved by up to ``rel``)."""

    mean: float
    median: float
    worst: float
    std: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return {
            "mean": self.mean,
            "median": self.median,
            "worst": self.worst,
            "std": self.std,
            "n": self.n,
        }


def neighbourhood(
    params: Mapping[str, float],
    score: Callable[[dict[str, float]], float],
    bounds: Mapping[str, Bound],
    *,
    rel: float = 0.1,
    n_points: int = 32,
    seed: int = 0,
) -> Neighbourhood:
    """Score ``n_points`` random neighbours of ``params`` within ``rel`` of each tuned value.

    A log-scaled parameter moves by a factor in [1/(1+rel), 1+rel]; a linear one by +-rel of
    its search range. Neighbours are clipped to the bounds. Parameters without a bound stay put.
    """
    if not 0 < rel < 1:
        raise ConfigError(f"rel must be in (0, 1), got {rel}")
    if n_points < 1:
        raise ConfigError(f"n_points must be >= 1, got {n_points}")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_points):
        moved = dict(params)
        for name, bound in bounds.items():
            if name not in moved or moved[name] is None:
                continue
            x = float(moved[name])
            if bound.log and x > 0:
                x *= math.exp(rng.uniform(-1, 1) * math.log1p(rel))
            else:
                x += rng.uniform(-1, 1) * rel * (bound.high - bound.low)
            moved[name] = min(max(x, bound.low), bound.high)
        values.append(float(score(moved)))
    arr = np.asarray(values)
    return Neighbourhood(
        float(arr.mean()),
        float(np.median(arr)),
        float(arr.min()),
        float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
        len(arr),
    )


def select_robust(
    candidates: Sequence[Mapping[str, float]],
    score: Callable[[dict[str, float]], float],
    bounds: Mapping[str, Bound],
    *,
    rel: float = 0.1,
    n_points: int = 32,
    seed: int = 0,
) -> tuple[int, list[Neighbourhood]]:
    """Index of the candidate with the best neighbourhood mean, and every neighbourhood."""
    if not candidates:
        raise ConfigError("select_robust needs at least one candidate")
    hoods = [
        neighbourhood(c, score, bounds, rel=rel, n_points=n_points, seed=seed) for c in candidates
    ]
    return int(np.argmax([h.mean for h in hoods])), hoods


# --------------------------------------------------------------------------- the tests
@dataclass(frozen=True)
class Criterion:
    """A robustness test's pass rule: ``value >= threshold`` (``ge``) or below it (``lt``/``le``).

    ``optional`` tests (PBO, stability) need study-derived inputs; when they are unavailable
    they do not block the verdict. Any other unavailable test blocks it.
    """

    threshold: float
    direction: str
    label: str
    optional: bool = False


# Every test phase=best records in workflow.best.json as robustness.tests.{name}. Thresholds are
# the conventional ones; which of them the verdict requires is VERDICT_RULE, chosen by
# `make calibrate` (docs/methodology/verdict.md, docs/calibration.md).
TESTS: dict[str, Criterion] = {
    "psr": Criterion(DSR_LEVEL, "ge", "PSR"),
    "dsr": Criterion(DSR_LEVEL, "ge", "DSR"),
    "dsr_raw": Criterion(DSR_LEVEL, "ge", "DSR (all trials)"),
    "pbo": Criterion(PBO_LEVEL, "lt", "PBO", optional=True),
    "spa": Criterion(0.05, "le", "SPA p"),
    "reality_check": Criterion(0.05, "le", "Reality Check p"),
    "haircut": Criterion(0.05, "le", "haircut p (Holm)"),
    "haircut_bhy": Criterion(0.05, "le", "haircut p (BHY)"),
    "min_btl": Criterion(math.nan, "le", "MinBTL years"),  # threshold: the in-sample years
    "stability": Criterion(0.5, "ge", "stability", optional=True),
}
# The verdict: significant when every test named here passes. Chosen by `make calibrate`: of
# every combination of the tests, the Harvey-Liu BHY haircut alone found the most planted
# markets with false positives at or below 5%. Since issue 19 its family is the whole search
# (one-sided p-values, the chosen trial and its near-copies counted once, Phase 1's models
# included: crypto_tune/phases/_best_family.py); the figures at the users' operating point are
# in docs/calibration.md.
VERDICT_RULE: tuple[str, ...] = ("haircut_bhy",)


# PBO judges the configurations a search could have chosen: the better half of the trials that
# trade and are feasible. The worse half loses for structural reasons (costs, too few or too
# many trades) in every split, so the winner beats the median by construction and PBO reads
# low on markets without edge (16 zero-edge configurations: 0.52; 8 of them paying more costs:
# 0.13). On two null markets of our own (synthetic, planted_ic=0, seeds 12 and 13; 6 model and
# 300 strategy trials): 0.37 and 0.23 over all trials, 0.49 and 0.42 over the better half.
PBO_TOP_FRACTION = 0.5


def pbo_picks(n_ranked: int, k: int) -> list[int]:
    """Ranks (0: the best) of at most ``k`` trials spread evenly over the better half of
    ``n_ranked`` trials ranked best first (:data:`PBO_TOP_FRACTION`), best included: the
    configurations PBO judges. The top trials alone are near-copies whose ranking is noise.

    >>> pbo_picks(100, 5)
    [0, 12, 24, 37, 49]
    """
    if n_ranked <= 0 or k <= 0:
        return []
    top = max(min(k, n_ranked), math.ceil(n_ranked * PBO_TOP_FRACTION))
    return sorted({round(i) for i in np.linspace(0, top - 1, min(k, top))})


def judge_test(name: str, value: float | None, threshold: float | None = None) -> dict[str, Any]:
    """``{value, threshold, passed}`` of test ``name``; ``passed`` is None when ``value`` is
    None (not available) and False when it is NaN (computed but undefined)."""
    spec = TESTS[name]
    level = spec.threshold if threshold is None else float(threshold)
    if value is None:
        return {"value": None, "threshold": _finite_or_none(level), "passed": None}
    number = float(value)
    if not (math.isfinite(number) and math.isfinite(level)):
        passed = False
    elif spec.direction == "ge":
        passed = number >= level
    elif spec.direction == "lt":
        passed = number < level
    else:
        passed = number <= level
    return {"value": _finite_or_none(number), "threshold": _finite_or_none(level), "passed": passed}


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def rule_passes(tests: Mapping[str, Mapping[str, Any]], rule: Sequence[str] = VERDICT_RULE) -> bool:
    """True when every test of ``rule`` passed; an unavailable optional test does not block,
    an unavailable (or missing) required one does."""
    for name in rule:
        passed = (tests.get(name) or {}).get("passed")
        if passed is None and TESTS[name].optional:
            continue
        if passed is not True:
            return False
    return True


def _test_text(name: str, test: Mapping[str, Any] | None) -> str:
    label = TESTS[name].label
    value = None if test is None else test.get("value")
    if value is None:
        return f"{label} n/a"
    if name in ("spa", "reality_check", "haircut", "haircut_bhy"):  # p-values
        return f"{label} {value:.3f}" if value >= 0.001 else f"{label} < 0.001"
    return f"{label} {value:.2f}"


def _failure(name: str, test: Mapping[str, Any] | None) -> str:
    spec = TESTS[name]
    level = None if test is None else test.get("threshold")
    level_text = f"{level:g}" if level is not None else "its level"
    if test is None or test.get("value") is None:
        return f"{spec.label} not available"
    return {
        "ge": f"{spec.label} below {level_text}",
        "lt": f"{spec.label} at or above {level_text}",
        "le": f"{spec.label} above {level_text}",
    }[spec.direction]


def verdict(
    *,
    n_trials: int,
    tests: Mapping[str, Mapping[str, Any]],
    n_effective: int | None = None,
    oos_sharpe: float | None = None,
    in_sample_trades: int | None = None,
    rule: Sequence[str] = VERDICT_RULE,
    model_trials: int = 0,
    holdout_looks: int = 1,
    is_sharpe: float | None = None,
) -> tuple[str, bool]:
    """One line saying whether the edge survives its own search and what to do, and the boolean.

    Significant when :func:`rule_passes` on ``tests`` (``{name: {value, threshold, passed}}``,
    see :data:`TESTS`) for ``rule``. A strategy without in-sample trades has nothing to judge.
    The line starts ``edge significant`` / ``edge not significant`` / ``no edge to judge``,
    names the rule's numbers, then the decision; the out-of-sample Sharpe is appended when known.
    ``model_trials`` (the Phase 1 trials behind the chosen model) are named beside the strategy
    trials. ``holdout_looks`` > 1 (the holdout was evaluated with that many distinct settings
    of this study line) calls the holdout's Sharpe a holdout, no longer out of sample. When
    the edge is significant but the holdout disagrees (a holdout Sharpe at or below zero, or
    below half of ``is_sharpe``), the line says so and advises against trading.
    """
    effective = f" ({n_effective:,} effective)" if n_effective is not None else ""
    searched = (
        f"{model_trials:,} model + {n_trials:,} strategy trials"
        if model_trials > 0
        else f"{n_trials:,} trials"
    )
    if in_sample_trades == 0:
        return (
            f"no edge to judge after {searched}{effective}: the strategy made no trades "
            "in sample (threshold above every prediction?): do not trade this",
            False,
        )
    significant = rule_passes(tests, rule)
    shown = list(dict.fromkeys([*rule, "dsr", "pbo"]))
    numbers = ", ".join(_test_text(name, tests.get(name)) for name in shown)
    survives = n_effective if n_effective is not None else n_trials
    known = oos_sharpe is not None and math.isfinite(oos_sharpe)
    disagreement = ""
    if known and holdout_disagrees(oos_sharpe, is_sharpe):
        finite_is = is_sharpe is not None and math.isfinite(is_sharpe)
        shown_is = f" against {is_sharpe:.2f} in sample" if finite_is else ""
        disagreement = f"the holdout disagrees (Sharpe {oos_sharpe:.2f}{shown_is})"
    if significant and disagreement:
        text = (
            f"edge significant after {searched}{effective}: {numbers}: the edge survives "
            f"{survives:,} effective trials, but {disagreement}: do not trade it"
        )
    elif significant:
        text = (
            f"edge significant after {searched}{effective}: {numbers}: the edge survives "
            f"{survives:,} effective trials: trade it small, and stop if the holdout disagrees"
        )
    else:
        reasons = [
            _failure(name, tests.get(name))
            for name in rule
            if (tests.get(name) or {}).get("passed") is not True
            and not ((tests.get(name) or {}).get("passed") is None and TESTS[name].optional)
        ]
        text = (
            f"edge not significant after {searched}{effective}: {numbers} "
            f"({'; '.join(reasons)}): no evidence of an edge: do not trade this"
        )
    if holdout_looks > 1:
        text += (
            f"; holdout looked at {holdout_looks} times with different settings: "
            "no longer out of sample"
        )
        if known:
            text += f"; holdout Sharpe {oos_sharpe:.2f}"
    elif known:
        text += f"; out-of-sample Sharpe {oos_sharpe:.2f}"
    return text, significant


def holdout_disagrees(oos_sharpe: float | None, is_sharpe: float | None) -> bool:
    """The holdout contradicts the in-sample evidence: its Sharpe is at or below zero, or below
    half the in-sample Sharpe (the mirror of the warning for a holdout better than the
    evidence). False when the holdout Sharpe is unknown."""
    if oos_sharpe is None or not math.isfinite(oos_sharpe):
        return False
    if oos_sharpe <= 0:
        return True
    return is_sharpe is not None and math.isfinite(is_sharpe) and oos_sharpe < 0.5 * is_sharpe


def stability_ratio(neighbour_sharpe: float, sharpe: float) -> float:
    """Share of the chosen per-period Sharpe its parameter neighbourhood keeps (median
    neighbour over the chosen); NaN when the chosen Sharpe is not positive."""
    if not (math.isfinite(sharpe) and sharpe > 0 and math.isfinite(neighbour_sharpe)):
        return math.nan
    return float(neighbour_sharpe / sharpe)


def pareto_choice(values: np.ndarray, directions: Sequence[str], rule: str = "utopia") -> int:
    """Index of the Pareto-front trial that ``rule`` picks (``values``: trials x objectives).

    ``utopia`` (default): each objective is scaled to [0, 1] over the front, 1 the best value
    seen in its direction; the pick is the trial nearest (Euclidean) to the utopia point where
    every objective is at its best, i.e. the most balanced compromise. ``first``: the best trial
    on the first objective (ties broken by the second). Ties go to the lower index.
    """
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] != len(directions):
        raise ConfigError(
            f"pareto_choice: values must be (trials, {len(directions)}), got {matrix.shape}"
        )
    signs = np.array([1.0 if d == "maximize" else -1.0 for d in directions])
    scores = matrix * signs  # higher is better in every column
    if rule == "first":
        order = np.lexsort(tuple(-scores[:, j] for j in reversed(range(scores.shape[1]))))
        return int(order[0])
    if rule != "utopia":
        raise ConfigError(f"best.pareto must be one of utopia, first, got {rule!r}")
    low, high = scores.min(axis=0), scores.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    distance = np.sqrt((((high - scores) / span) ** 2).sum(axis=1))
    return int(np.argmin(distance))


__all__ = [
    "DSR_LEVEL",
    "PBO_LEVEL",
    "TESTS",
    "VERDICT_RULE",
    "Bound",
    "Criterion",
    "Neighbourhood",
    "holdout_disagrees",
    "judge_test",
    "neighbourhood",
    "pareto_choice",
    "rule_passes",
    "select_robust",
    "stability_ratio",
    "verdict",
]
