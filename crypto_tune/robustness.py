"""Robustness of a tuned strategy: parameter neighbourhoods, robust selection and the verdict.

Pure functions: the caller passes a scoring function (params -> objective) and the search space
bounds; nothing here knows Hydra, Optuna or MLflow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from crypto_tune.exceptions import ConfigError

# A Sharpe is called significant when its deflated Sharpe ratio reaches this probability and the
# probability of backtest overfitting stays below PBO_LEVEL.
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


def verdict(
    *,
    n_trials: int,
    dsr: float,
    pbo: float,
    oos_sharpe: float | None = None,
    in_sample_trades: int | None = None,
) -> tuple[str, bool]:
    """One line saying whether the edge survives its own search, and the boolean it states.

    Significant means ``dsr >= DSR_LEVEL`` and ``pbo < PBO_LEVEL`` (an undefined PBO, e.g. too
    few configurations, does not block). A strategy without in-sample trades has nothing to
    judge. The out-of-sample Sharpe is appended when known.
    """
    if in_sample_trades == 0:
        return (
            f"no edge to judge after {n_trials:,} trials: the strategy made no trades in sample "
            "(threshold above every prediction?)",
            False,
        )
    pbo_ok = not math.isfinite(pbo) or pbo < PBO_LEVEL
    significant = bool(math.isfinite(dsr) and dsr >= DSR_LEVEL and pbo_ok)
    pbo_text = f"PBO {pbo:.2f}" if math.isfinite(pbo) else "PBO n/a"
    dsr_text = f"DSR {dsr:.2f}" if math.isfinite(dsr) else "DSR n/a"
    numbers = f"{dsr_text}, {pbo_text}"
    if significant:
        text = f"edge significant after {n_trials:,} trials: {numbers}"
    else:
        reasons = []
        if not (math.isfinite(dsr) and dsr >= DSR_LEVEL):
            reasons.append(f"DSR below {DSR_LEVEL}")
        if not pbo_ok:
            reasons.append(f"PBO at or above {PBO_LEVEL}")
        text = f"edge not significant after {n_trials:,} trials: {numbers} ({'; '.join(reasons)})"
    if oos_sharpe is not None and math.isfinite(oos_sharpe):
        text += f"; out-of-sample Sharpe {oos_sharpe:.2f}"
    return text, significant


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
    "Bound",
    "Neighbourhood",
    "neighbourhood",
    "pareto_choice",
    "select_robust",
    "verdict",
]
