"""How the best run explains itself: pure checks on its in- and out-of-sample evidence.

No I/O and no Hydra here: the best run passes arrays and numbers, these functions return
numbers and one-line messages (None when there is nothing to say).
"""

from __future__ import annotations

import math

import numpy as np

# Out-of-sample trade rates below this share of the in-sample rate mean the rule stopped trading.
TRADE_RATE_FLOOR = 1.0 / 3.0
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def signal_distribution(signal: np.ndarray, entry: float | None) -> dict[str, float | None]:
    """Quantiles of the traded signal over the bars where it is defined, and the share of
    those bars beyond the entry level (``|signal| >= entry``; None without an entry level)."""
    values = np.asarray(signal, dtype=np.float64)
    values = values[np.isfinite(values)]
    out: dict[str, float | None] = {"n_bars": float(values.size)}
    for q in QUANTILES:
        out[f"q{round(100 * q):02d}"] = float(np.quantile(values, q)) if values.size else None
    if entry is None or not values.size:
        out["beyond_entry"] = None
    else:
        out["beyond_entry"] = float(np.mean(np.abs(values) >= entry))
    return out


def trades_per_year(n_trades: int, n_bars: int, periods_per_year: float) -> float | None:
    """Closed trades per year of bars (None for an empty segment)."""
    if n_bars <= 0:
        return None
    return n_trades / (n_bars / periods_per_year)


def trade_rate_warning(
    in_sample_rate: float | None,
    out_of_sample_rate: float | None,
    *,
    in_sample_beyond: float | None = None,
    out_of_sample_beyond: float | None = None,
) -> str | None:
    """One line when the holdout trades at less than a third of the in-sample rate per year."""
    if not in_sample_rate or out_of_sample_rate is None:
        return None
    if out_of_sample_rate >= TRADE_RATE_FLOOR * in_sample_rate:
        return None
    why = ""
    if in_sample_beyond is not None and out_of_sample_beyond is not None:
        why = (
            f"; the signal is beyond the entry level on {100 * in_sample_beyond:.1f}% of bars in "
            f"sample and {100 * out_of_sample_beyond:.1f}% out of sample"
        )
    return (
        f"stopped trading out of sample: {out_of_sample_rate:.1f} trades/year against "
        f"{in_sample_rate:.1f} in sample{why}"
    )


def holdout_note(significant: bool, out_of_sample_sharpe: float | None) -> str | None:
    """When the holdout contradicts the in-sample verdict, one line that says so."""
    if out_of_sample_sharpe is None or not math.isfinite(out_of_sample_sharpe):
        return None
    if significant and out_of_sample_sharpe <= 0:
        return (
            f"the holdout contradicts the verdict: out-of-sample Sharpe "
            f"{out_of_sample_sharpe:.2f} (the verdict uses in-sample evidence only)"
        )
    if not significant and out_of_sample_sharpe >= 1:
        return (
            f"the holdout looks better than the evidence: out-of-sample Sharpe "
            f"{out_of_sample_sharpe:.2f} on one period does not make the edge significant"
        )
    return None


def benchmark_note(
    significant: bool, sharpe: float | None, buy_and_hold_sharpe: float | None
) -> str | None:
    """When a significant edge has a lower in-sample Sharpe than buy-and-hold of the same bars,
    one line that says so: in a market that only rises, being long part of the time is
    significant against zero yet earns the drift, not a forecast."""
    if not significant or sharpe is None or buy_and_hold_sharpe is None:
        return None
    if not (math.isfinite(sharpe) and math.isfinite(buy_and_hold_sharpe)):
        return None
    if buy_and_hold_sharpe < sharpe:
        return None
    return (
        f"buy-and-hold did better in sample (Sharpe {buy_and_hold_sharpe:.2f} against "
        f"{sharpe:.2f}): the edge may be the market's drift, not the model's forecast"
    )


def objective_note(
    objective: str,
    *,
    study_value: float | None,
    recomputed: float,
    raw_score: float,
    shortfall: float,
    infeasible: bool,
    in_sample_sharpe: float | None,
    reasons: list[str],
) -> str:
    """Why the Phase 2 objective and the in-sample table may show different numbers: the
    objective is ``raw_score`` (on the same out-of-fold returns as the in-sample column) less the
    trade-floor ``shortfall``, or an infeasibility score; the study may hold another value when
    the parameters differ from its best trial."""
    sharpe = "n/a" if in_sample_sharpe is None else f"{in_sample_sharpe:.2f}"
    if infeasible:
        how = "infeasible: the drawdown goes beyond strategy.max_drawdown (or ruin)"
    elif shortfall > 0:
        flat = "undefined (the returns never vary)"
        score = f"{raw_score:.4g}" if math.isfinite(raw_score) else flat
        how = (
            f"{objective} {score} lowered by a trade-floor penalty of {shortfall:.3g} "
            "(some folds close fewer than strategy.min_trades_per_year trades)"
        )
    else:
        how = f"{objective} of those returns, no penalty"
    head = (
        f"Phase 2 objective {objective} = {recomputed:.4g} on the out-of-fold returns of the "
        f"in-sample column (annualised Sharpe {sharpe}): {how}"
    )
    if study_value is None or math.isclose(study_value, recomputed, rel_tol=1e-6, abs_tol=1e-9):
        return head
    because = "; ".join(reasons) if reasons else "the parameters differ from the study's trial"
    return f"{head}; the study recorded {study_value:.4g} because {because}"


__all__ = [
    "QUANTILES",
    "TRADE_RATE_FLOOR",
    "benchmark_note",
    "holdout_note",
    "objective_note",
    "signal_distribution",
    "trade_rate_warning",
    "trades_per_year",
]
