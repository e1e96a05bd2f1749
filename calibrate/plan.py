"""What the calibration runs: the operating points, the kinds of null market and the market list.

An operating point is the budgets and the split a market goes through (the whole pipeline: Phase 1,
Phase 2, best):

* ``default``: what ``crypto-tune`` runs with no options: the budgets of ``conf/phase/model.yaml``
  and ``conf/phase/strategy.yaml`` (30 + 500 trials), the static split of ``conf/split/static.yaml``
  (tune 2021-2023 in 5 purged folds, hold out 2024) on the synthetic asset's 8,766 4h bars.
* ``case_study``: the same market shape and split at the case study's 20 Phase 1 and 1,000 Phase 2
  trials (docs/case-study.md: ``experiment=eth_4h_study`` on real ETH candles).
* ``fast``: ``debug=fast`` (3,000 bars, one year of tuning in 3 folds) at 3 + 200 trials, the
  former calibration's point: for smoke tests, not for figures.

Null markets (no planted signal) cycle through :data:`NULL_KINDS`; planted markets are ``flat``
markets with a planted IC. The calm-regime volatility cycles through the point's ``vols``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

# The kinds of null market, as synthetic_market keyword options (drift in log return per year,
# jumps per year and their standard deviation, Student-t degrees of freedom of the shocks).
NULL_KINDS: dict[str, dict[str, float]] = {
    "flat": {},
    "bull": {"annual_drift": 0.6},
    "bear": {"annual_drift": -0.6},
    "jumps": {"jump_intensity": 12.0, "jump_scale": 0.08},
    "heavy_tails": {"tail_df": 3.0},
}
STRENGTHS: tuple[float, ...] = (0.02, 0.03, 0.05, 0.1, 0.15)
VOLS: tuple[float, ...] = (0.3, 0.6, 1.0)


def _conf_value(relative: str, key: str) -> Any:
    """One value of a YAML file under ``conf/`` (``key`` dotted), as the file states it."""
    from omegaconf import OmegaConf

    return OmegaConf.select(OmegaConf.load(CONF / relative), key)


@dataclass(frozen=True)
class Point:
    """An operating point: Hydra overrides on top of the defaults, and the two budgets."""

    name: str
    overrides: tuple[str, ...]
    model_trials: int
    strategy_trials: int
    minutes_per_market: float  # measured on 2 shared cores, for the ETA before the first market
    description: str = field(default="")


def points() -> dict[str, Point]:
    """The operating points by name (``default`` reads its budgets from ``conf/``)."""
    return {
        "default": Point(
            "default",
            (),
            int(_conf_value("phase/model.yaml", "hydra.sweeper.n_trials")),
            int(_conf_value("phase/strategy.yaml", "hydra.sweeper.n_trials")),
            6.0,
            "the defaults: 3 years of tuning in 5 folds, 2024 held out",
        ),
        "case_study": Point(
            "case_study",
            (),
            20,
            1000,
            6.0,
            "the case study's budgets (experiment=eth_4h_study) on the default split",
        ),
        "fast": Point(
            "fast",
            ("debug=fast",),
            3,
            200,
            0.6,
            "debug=fast: one year of tuning in 3 folds (smoke tests only)",
        ),
    }


def market_name(kind: str, planted_ic: float, vol: float, seed: int) -> str:
    """A market's stable name (its record's file name)."""
    return f"{kind}-ic{planted_ic:g}-vol{vol:g}-s{seed}"


def markets(
    n_null: int,
    n_planted: int,
    strengths: Sequence[float] = STRENGTHS,
    vols: Sequence[float] = VOLS,
    seed0: int = 1000,
    kinds: Sequence[str] = tuple(NULL_KINDS),
) -> list[dict[str, Any]]:
    """The market list, in the order they run.

    Market k of group g (0: null, then each strength) has seed ``seed0 + 1000 g + k``, the
    volatility ``vols[k % len(vols)]`` and, when null, the kind ``kinds[k % len(kinds)]``: names
    stay the same when the sizes change, so a bigger rerun reuses the markets done. The groups are
    interleaved in proportion to their sizes (with 60 null and 15 planted per strength: 4 null
    markets, then one of each strength, and again), so that a run cut short has measured every
    group in the proportions of the whole plan; seeds alternate in parity inside every group (the
    two halves of :func:`crypto_tune.calibration.held_out_rates`).
    """
    unknown = [k for k in kinds if k not in NULL_KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds must be among {sorted(NULL_KINDS)}, got {list(kinds)}")
    groups = [(0.0, n_null), *((float(s), n_planted) for s in strengths)]
    queues: list[list[dict[str, Any]]] = []
    for g, (ic, n) in enumerate(groups):
        queue = []
        for k in range(n):
            vol = float(vols[k % len(vols)])
            seed = seed0 + 1000 * g + k
            kind = kinds[k % len(kinds)] if ic == 0 else "flat"
            queue.append(
                {
                    "name": market_name(kind, ic, vol, seed),
                    "kind": kind,
                    "options": dict(NULL_KINDS[kind]),
                    "planted_ic": ic,
                    "annual_vol": vol,
                    "seed": seed,
                }
            )
        queues.append(queue)
    smallest = min((len(q) for q in queues if q), default=1)
    per_round = [max(1, math.ceil(len(q) / smallest)) if q else 0 for q in queues]
    plan: list[dict[str, Any]] = []
    while any(queues):
        for queue, take in zip(queues, per_round, strict=True):
            plan.extend(queue[:take])
            del queue[:take]
    return plan


def default_cost_per_side() -> float:
    """Fee plus slippage per side that the default strategy pays on the synthetic asset: the
    composed config's ``strategy.fee`` (or, when null, the taker fee of the asset's market) plus
    its ``strategy.slippage`` (wherever ``conf/`` keeps them: a rule file or the costs it
    includes)."""
    from hydra import compose, initialize_config_dir

    from crypto_tune.config import register_resolvers
    from crypto_tune.markets import MARKETS

    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF)):
        config = compose("config", overrides=["asset=synthetic"])
    strategy = config.strategy
    fee = strategy.fee
    if fee is None:
        fee = MARKETS[str(config.asset.market or "perp")].taker_fee
    return float(fee) + float(strategy.slippage)


def synthetic_shape(point: Point) -> dict[str, Any]:
    """The synthetic market's bars and start at ``point`` (``debug`` presets may change them)."""
    n_bars = int(_conf_value("asset/synthetic.yaml", "synthetic.n_bars"))
    for override in point.overrides:
        if override.startswith("debug="):
            preset = f"debug/{override.split('=', 1)[1]}.yaml"
            n_bars = int(_conf_value(preset, "asset.synthetic.n_bars") or n_bars)
    return {
        "n_bars": n_bars,
        "start": str(_conf_value("asset/synthetic.yaml", "synthetic.start")),
        "timeframe": str(_conf_value("asset/synthetic.yaml", "timeframe")),
    }


def oracle_sharpes(
    market: Mapping[str, Any], shape: Mapping[str, Any], cost_per_side: float
) -> dict[str, float]:
    """What the planted signal of ``market`` is worth: the annualised Sharpe of a rule holding
    the sign of the true expected return every bar, before and after ``cost_per_side``."""
    from crypto_tune.calibration import sign_rule_sharpe
    from crypto_tune.data import synthetic_market
    from crypto_tune.timeframes import periods_per_year

    made = synthetic_market(
        seed=int(market["seed"]),
        planted_ic=float(market["planted_ic"]),
        annual_vol=float(market["annual_vol"]),
        **market.get("options", {}),
        **shape,
    )
    close = made.candles["close"].to_numpy()
    expected = made.expected_return.to_numpy()
    ppy = periods_per_year(str(shape["timeframe"]))
    return {
        "gross": sign_rule_sharpe(expected, close, cost_per_side=0.0, periods_per_year=ppy),
        "net": sign_rule_sharpe(expected, close, cost_per_side=cost_per_side, periods_per_year=ppy),
        "true_ic": made.true_ic(1),
    }


__all__ = [
    "NULL_KINDS",
    "STRENGTHS",
    "VOLS",
    "Point",
    "default_cost_per_side",
    "market_name",
    "markets",
    "oracle_sharpes",
    "points",
    "synthetic_shape",
]
