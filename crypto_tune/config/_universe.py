"""The settings of a universe (``asset=universe``): its panel and its portfolio rule.

``universe.*`` holds what only a universe has: how the panel is built (cross-sectional feature
transform, label normalisation, warm-up, fewest symbols per bar) and the portfolio rule Phase 2
tunes (``strategy=topk``: book size, turnover cap, rebalancing, weights, volatility target). What
the rule shares with every rule (objective, trade floor, drawdown limit, fees) stays in
``strategy.*``; the fee comes from ``asset.market`` (:mod:`crypto_tune.markets`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crypto_tune._checks import check_int, check_real
from crypto_tune.exceptions import ConfigError

UNIVERSE_FEATURES = ("rank", "zscore", "none")
UNIVERSE_LABELS = ("raw", "demean", "rank")
UNIVERSE_WEIGHTS = ("equal", "inverse_vol")
UNIVERSE_RULE = "topk"  # the strategy rule of a universe (conf/strategy/topk.yaml)


def _choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {value!r}")


@dataclass(frozen=True)
class UniverseSettings:
    """``features``: each feature's per-bar ``rank`` or ``zscore`` beside it (``none``: raw only);
    ``label``: the forward return ``raw``, ``demean``-ed or ``rank``-ed per bar (CSRankNorm);
    ``warmup``: own candles before a symbol enters (null: twice the longest window);
    ``min_symbols``: fewer in the panel at a bar and the bar is left out. Portfolio rule: long
    the ``top_k`` best predictions and (unless ``long_only``) short the ``top_k`` worst, every
    ``rebalance`` bars, at most ``n_drop`` names replaced per book and rebalance (null: no cap),
    ``weights`` equal or inverse-volatility over ``vol_window`` bars, scaled to ``target_vol``
    (annualised; null: none), gross exposure at most ``max_gross``."""

    features: str = "rank"
    label: str = "rank"
    warmup: int | None = None
    min_symbols: int = 3
    top_k: int = 2
    n_drop: int | None = None
    rebalance: int = 1
    long_only: bool = False
    weights: str = "equal"
    vol_window: int = 180
    target_vol: float | None = None
    max_gross: float = 1.0

    def validate(
        self, key: str, *, asset_kind: str = "universe", rule: str = UNIVERSE_RULE
    ) -> None:
        """Check every option; ``strategy=topk`` trades a universe only."""
        if rule == UNIVERSE_RULE and asset_kind != "universe":
            raise ConfigError(
                f"strategy={UNIVERSE_RULE} is the portfolio rule of a universe: use asset=universe "
                f"(or strategy=zscore for asset.kind={asset_kind})"
            )
        _choice(f"{key}.features", self.features, UNIVERSE_FEATURES)
        _choice(f"{key}.label", self.label, UNIVERSE_LABELS)
        _choice(f"{key}.weights", self.weights, UNIVERSE_WEIGHTS)
        if self.warmup is not None:
            check_int(f"{key}.warmup", self.warmup, low=2)
        check_int(f"{key}.min_symbols", self.min_symbols, low=2)
        check_int(f"{key}.top_k", self.top_k, low=1)
        if self.n_drop is not None:
            check_int(f"{key}.n_drop", self.n_drop, low=1)  # 0 would freeze the books
        check_int(f"{key}.rebalance", self.rebalance, low=1)
        check_int(f"{key}.vol_window", self.vol_window, low=2)
        if self.target_vol is not None:
            check_real(f"{key}.target_vol", self.target_vol, low=0, high=10, closed="(]")
        check_real(f"{key}.max_gross", self.max_gross, low=0, high=125, closed="(]")


def check_shorting(universe: UniverseSettings, *, allow_short: bool, market: str) -> None:
    """A market-neutral book (``universe.long_only`` false) needs a market that can short."""
    if not universe.long_only and not allow_short:
        raise ConfigError(
            f"universe.long_only must be true on asset.market={market} without shorting (or set "
            "asset.market=perp, or asset.borrow_rate on spot), got false"
        )


def check_universe_asset(key: str, symbols: tuple[str, ...], path: str | None) -> None:
    """A universe reads ``path`` with ``{symbol}`` for each of ``symbols`` (at least two), or
    every candle file of a folder (``symbols`` empty: all of them)."""
    if not path:
        raise ConfigError(f"{key}.path must be a path template containing {{symbol}} or a folder")
    if "{symbol}" in path:
        if len(symbols) < 2:
            raise ConfigError(
                f"{key}.symbols must be a list of at least two symbols, got {list(symbols)}"
            )
        return
    if not Path(path).is_dir():
        raise ConfigError(
            f"{key}.path must be a path template containing {{symbol}} or a folder, got {path!r}"
        )


__all__ = [
    "UNIVERSE_FEATURES",
    "UNIVERSE_LABELS",
    "UNIVERSE_RULE",
    "UNIVERSE_WEIGHTS",
    "UniverseSettings",
    "check_shorting",
    "check_universe_asset",
]
