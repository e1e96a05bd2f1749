"""Calibration of the verdict on synthetic markets whose truth is known (``make calibrate``).

Pure functions over per-market records, each ``{"planted_ic": float, "n_trades": int,
"tests": {name: {value, threshold, passed}}, ...}`` as ``phase=best`` writes them: binomial
confidence intervals, the false-positive rate on null markets and the power per planted strength
of a rule (a set of tests that must all pass, :func:`crypto_tune.robustness.rule_passes`), and
the choice of the rule with the most power among those whose false-positive rate stays at or
below a level. The runner (``python -m calibrate``) runs the pipeline and calls these.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from scipy.stats import binomtest

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
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method=method)
    return (float(ci.low), float(ci.high))


def judged_significant(record: Mapping[str, Any], rule: Sequence[str]) -> bool:
    """What the verdict with ``rule`` says of one market (no in-sample trades: not significant)."""
    return record.get("n_trades", 1) != 0 and rule_passes(record["tests"], rule)


def rates(records: Sequence[Mapping[str, Any]], rule: Sequence[str]) -> list[dict[str, Any]]:
    """One row per planted strength (0 = null, false positives), ascending: the count judged
    significant, the markets, the rate and its Wilson and Clopper-Pearson 95% intervals."""
    rows = []
    for strength in sorted({float(r["planted_ic"]) for r in records}):
        group = [r for r in records if float(r["planted_ic"]) == strength]
        k = sum(judged_significant(r, rule) for r in group)
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
    "judged_significant",
    "pass_table",
    "rate_table",
    "rates",
    "score_rule",
]
