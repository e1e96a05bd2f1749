"""Calibration of the verdict on synthetic markets whose truth is known (``make calibrate``).

Pure functions over per-market records, each ``{"planted_ic": float, "n_trades": int,
"tests": {name: {value, threshold, passed}}, ...}`` as ``phase=best`` writes them: binomial
confidence intervals, the false-positive rate on null markets and the power per planted strength
of a rule (a set of tests that must all pass, :func:`crypto_tune.robustness.rule_passes`), and
the choice of the rule with the most power among those whose false-positive rate stays at or
below a level; the same rule chosen on one half of the markets and scored on the other
(:func:`held_out_rates`); what a planted signal is worth to a rule that knows it
(:func:`sign_rule_sharpe`). The runner (``python -m calibrate``) runs the pipeline and calls these.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from crypto_tune.exceptions import ConfigError
from crypto_tune.robustness import rule_passes

# Tests a rule may combine, and those of which it needs at least one (a significance test that
# accounts for the search; PBO, stability and MinBTL alone are not).
RULE_TESTS: tuple[str, ...] = (
    "dsr",
    "pbo",
    "spa",
    "reality_check",
    "haircut",
    "haircut_bhy",
    "min_btl",
    "stability",
)
SIGNIFICANCE_TESTS: frozenset[str] = frozenset(
    {"dsr", "spa", "reality_check", "haircut", "haircut_bhy"}
)
MAX_FPR = 0.05


def binomial_interval(k: int, n: int, *, level: float = 0.95, method: str = "wilson") -> tuple:
    """``(low, high)`` confidence interval of a rate of ``k`` in ``n`` (``wilson`` or
    ``exact``, Clopper-Pearson; scipy); ``(nan, nan)`` when ``n == 0``."""
    if method not in ("wilson", "exact"):
        raise ConfigError(f"method must be wilson or exact, got {method!r}")
    if n == 0:
        return (math.nan, math.nan)
    from scipy.stats import binomtest  # here: importing scipy.stats takes ~0.35 s

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method=method)
    return (float(ci.low), float(ci.high))


def judged_significant(record: Mapping[str, Any], rule: Sequence[str]) -> bool:
    """What the verdict with ``rule`` says of one market (no in-sample trades: not significant)."""
    return record.get("n_trades", 1) != 0 and rule_passes(record["tests"], rule)


def rates(records: Sequence[Mapping[str, Any]], rule: Sequence[str]) -> list[dict[str, Any]]:
    """One row per planted strength (0 = null, false positives), ascending: the count judged
    significant, the markets, the rate and its Wilson and Clopper-Pearson 95% intervals."""
    judged = [
        {"planted_ic": float(r["planted_ic"]), "significant": judged_significant(r, rule)}
        for r in records
    ]
    return _rate_rows(judged)


def _rate_rows(judged: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """:func:`rates`' rows from markets already judged (``planted_ic``, ``significant``)."""
    rows = []
    for strength in sorted({float(r["planted_ic"]) for r in judged}):
        group = [r for r in judged if float(r["planted_ic"]) == strength]
        k = sum(bool(r["significant"]) for r in group)
        rows.append(
            {
                "planted_ic": strength,
                "kind": "null (false positives)" if strength == 0 else "planted (power)",
                "significant": k,
                "n": len(group),
                "rate": k / len(group),
                "wilson": binomial_interval(k, len(group)),
                "clopper_pearson": binomial_interval(k, len(group), method="exact"),
            }
        )
    return rows


def sign_rule_sharpe(
    expected: np.ndarray, close: np.ndarray, *, cost_per_side: float, periods_per_year: float
) -> float:
    """Annualised Sharpe of holding ``sign(expected[t])`` over bar t+1, paying ``cost_per_side``
    on every unit of position traded (a flip from long to short trades 2 units).

    ``expected[t]`` is the planted expected return known at the close of bar t, ``close`` the
    closes (same length). The rule is the most a model can make of the planted signal at one
    bar's horizon, without sizing: an upper bound on what the pipeline can find.

    >>> close = np.array([100.0, 102.0, 101.0, 103.0, 102.0, 103.0])
    >>> expected = np.array([1.0, -1.0, 1.0, 1.0, 1.0, 0.0])
    >>> round(sign_rule_sharpe(expected, close, cost_per_side=0.0, periods_per_year=1.0), 2)
    0.82
    >>> round(sign_rule_sharpe(expected, close, cost_per_side=0.001, periods_per_year=1.0), 2)
    0.78
    """
    expected = np.asarray(expected, dtype=np.float64)
    close = np.asarray(close, dtype=np.float64)
    if expected.shape != close.shape or expected.ndim != 1 or len(close) < 3:
        raise ConfigError(
            f"expected and close must be 1-d of one length >= 3, got {expected.shape} and "
            f"{close.shape}"
        )
    if not math.isfinite(cost_per_side) or cost_per_side < 0:
        raise ConfigError(f"cost_per_side must be a real >= 0, got {cost_per_side}")
    position = np.sign(expected[:-1])
    traded = np.abs(np.diff(np.r_[0.0, position]))
    returns = position * (close[1:] / close[:-1] - 1.0) - cost_per_side * traded
    spread = float(returns.std(ddof=1))
    if spread == 0.0:
        return 0.0
    return float(returns.mean() / spread * math.sqrt(periods_per_year))


def candidate_rules(tests: Sequence[str] = RULE_TESTS, max_size: int = 4) -> list[tuple[str, ...]]:
    """Every set of up to ``max_size`` of ``tests`` with at least one significance test."""
    found = []
    for size in range(1, max_size + 1):
        for combo in itertools.combinations(tests, size):
            if SIGNIFICANCE_TESTS & set(combo):
                found.append(combo)
    return found


def score_rule(records: Sequence[Mapping[str, Any]], rule: Sequence[str]) -> dict[str, Any]:
    """False positives and detections of ``rule`` over ``records``."""
    null = [r for r in records if float(r["planted_ic"]) == 0]
    planted = [r for r in records if float(r["planted_ic"]) > 0]
    strongest = max((float(r["planted_ic"]) for r in planted), default=0.0)
    strong = [r for r in planted if float(r["planted_ic"]) == strongest]
    false_positives = sum(judged_significant(r, rule) for r in null)
    detections = sum(judged_significant(r, rule) for r in planted)
    return {
        "rule": list(rule),
        "false_positives": false_positives,
        "n_null": len(null),
        "fpr": false_positives / len(null) if null else math.nan,
        "detections": detections,
        "n_planted": len(planted),
        "power": detections / len(planted) if planted else math.nan,
        "strong_power": (
            sum(judged_significant(r, rule) for r in strong) / len(strong) if strong else math.nan
        ),
    }


def choose_rule(
    records: Sequence[Mapping[str, Any]],
    rules: Sequence[Sequence[str]] | None = None,
    *,
    max_fpr: float = MAX_FPR,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The rule with the most detections on planted markets among those whose false-positive
    rate on null markets is at most ``max_fpr``; ties go to fewer false positives, then fewer
    tests, then the order of :func:`candidate_rules`. Returns (chosen, every admissible rule's
    score, best first). ConfigError when no rule is admissible or there is no null market."""
    if not any(float(r["planted_ic"]) == 0 for r in records):
        raise ConfigError("choose_rule needs null markets (planted_ic 0)")
    scored = [score_rule(records, rule) for rule in (rules or candidate_rules())]
    admissible = [s for s in scored if s["fpr"] <= max_fpr]
    if not admissible:
        raise ConfigError(f"no rule keeps the false-positive rate at or below {max_fpr}")
    ranked = sorted(
        enumerate(admissible),
        key=lambda item: (
            -item[1]["detections"],
            item[1]["false_positives"],
            len(item[1]["rule"]),
            item[0],
        ),
    )
    ordered = [s for _, s in ranked]
    return ordered[0], ordered


def cross_check(
    records: Sequence[Mapping[str, Any]], *, max_fpr: float = MAX_FPR
) -> list[dict[str, Any]]:
    """The rule choice's own overfitting: choose on the markets with even seeds and score on the
    odd ones, and the reverse (one dict per direction: the rule, and its score on the half it
    was not chosen on; ``error`` when no rule is admissible on the choosing half)."""
    halves = (
        [r for r in records if int(r.get("seed", 0)) % 2 == 0],
        [r for r in records if int(r.get("seed", 0)) % 2 == 1],
    )
    found = []
    for name, (fit, check) in (("even->odd", halves), ("odd->even", halves[::-1])):
        try:
            chosen, _ = choose_rule(fit, max_fpr=max_fpr)
        except ConfigError as exc:
            found.append({"direction": name, "error": str(exc)})
            continue
        found.append({"direction": name, **score_rule(check, chosen["rule"])})
    return found


def held_out_rates(
    records: Sequence[Mapping[str, Any]],
    *,
    max_fpr: float = MAX_FPR,
    power_strengths: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Every market judged by a rule chosen on the *other* half of the markets (seeds of the
    other parity). Returns ``{"rows": rates rows, "rules": {"even": the rule chosen on the even
    seeds, "odd": ...}, "judged": one {name, kind, seed, planted_ic, significant} per market
    scored, "errors"}``. The rule is chosen among the null markets and the planted ones of
    ``power_strengths`` (default: every strength); a half on which no rule is admissible leaves
    the other half unscored (said in ``errors``)."""
    keep = None if power_strengths is None else {float(s) for s in power_strengths}
    halves: dict[str, list[Mapping[str, Any]]] = {"even": [], "odd": []}
    for r in records:
        halves["even" if int(r.get("seed", 0)) % 2 == 0 else "odd"].append(r)
    rules: dict[str, list[str]] = {}
    errors: list[str] = []
    judged: list[dict[str, Any]] = []
    for fit, check in (("even", "odd"), ("odd", "even")):
        choosing = [
            r
            for r in halves[fit]
            if keep is None or float(r["planted_ic"]) == 0 or float(r["planted_ic"]) in keep
        ]
        try:
            if not any(float(r["planted_ic"]) > 0 for r in choosing):
                raise ConfigError("no planted market to choose a rule on")
            chosen, _ = choose_rule(choosing, max_fpr=max_fpr)
        except ConfigError as exc:
            errors.append(f"chosen on the {fit} seeds: {exc}; the {check} seeds are not scored")
            continue
        rules[fit] = list(chosen["rule"])
        for r in halves[check]:
            judged.append(
                {
                    "name": r.get("name"),
                    "kind": r.get("kind"),
                    "seed": r.get("seed"),
                    "planted_ic": float(r["planted_ic"]),
                    "significant": judged_significant(r, chosen["rule"]),
                }
            )
    return {"rows": _rate_rows(judged), "rules": rules, "judged": judged, "errors": errors}


def _pct(rate: float) -> str:
    return "—" if not math.isfinite(rate) else f"{100 * rate:.0f}%"


def rate_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Markdown table of :func:`rates` rows."""
    lines = [
        "| planted IC | markets | judged significant | rate | 95% Wilson | 95% Clopper-Pearson |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        w, c = row["wilson"], row["clopper_pearson"]
        label = "0 (null)" if row["planted_ic"] == 0 else f"{row['planted_ic']:g}"
        lines.append(
            f"| {label} | {row['n']} | {row['significant']} | {_pct(row['rate'])} | "
            f"{_pct(w[0])}–{_pct(w[1])} | {_pct(c[0])}–{_pct(c[1])} |"
        )
    return lines


def pass_table(records: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[str]:
    """Markdown table: how often each test passes, per planted strength (each test alone)."""
    strengths = sorted({float(r["planted_ic"]) for r in records})
    head = "| test | " + " | ".join("null" if s == 0 else f"IC {s:g}" for s in strengths) + " |"
    lines = [head, "|---|" + "---|" * len(strengths)]
    for name in names:
        cells = []
        for s in strengths:
            group = [r for r in records if float(r["planted_ic"]) == s]
            k = sum((r["tests"].get(name) or {}).get("passed") is True for r in group)
            cells.append(f"{k}/{len(group)}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


__all__ = [
    "MAX_FPR",
    "RULE_TESTS",
    "SIGNIFICANCE_TESTS",
    "binomial_interval",
    "candidate_rules",
    "choose_rule",
    "cross_check",
    "held_out_rates",
    "judged_significant",
    "pass_table",
    "rate_table",
    "rates",
    "score_rule",
    "sign_rule_sharpe",
]
