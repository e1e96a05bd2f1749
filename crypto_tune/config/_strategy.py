"""A trading rule's settings: the rule, its levels, its sizing, its costs and its scoring
(``conf/strategy/<rule>.yaml`` with ``conf/trading/costs.yaml``)."""

from __future__ import annotations

import typing
from dataclasses import dataclass

from crypto_tune.config._validate import _check_choice, _check_range, _fail
from crypto_tune.markets import ORDERS, MarketCosts
from crypto_tune.objectives import STRATEGY_OBJECTIVES
from crypto_tune.strategies import RULES, rule_for
from crypto_tune.strategies import SIZINGS as SIZING_REGISTRY

if typing.TYPE_CHECKING:
    from crypto_tune.backtest import BacktestParams

STRATEGY_RULES = tuple(RULES)  # crypto_tune/strategies: one module per rule
SIZINGS = tuple(SIZING_REGISTRY)


@dataclass(frozen=True)
class StrategySettings:
    """A trading rule, its sizing and how Phase 2 scores it (``conf/strategy/<name>.yaml``).

    ``name``: the rule (:data:`crypto_tune.strategies.RULES`, one module each): ``threshold``
    trades the raw prediction against ``threshold`` (prediction units); ``zscore`` (and
    ``quantile``) trade the prediction standardised (ranked) on its own trailing
    ``signal_window`` bars: long above ``entry``, short below ``-entry``, a held side flattened
    when the signal falls back inside ``+-exit`` (None: ``entry``).
    ``sizing``: ``fixed`` uses ``leverage``; ``vol_target`` uses ``target_vol`` / the realised
    volatility of the last ``vol_window`` bars (known at the entry's open), capped by
    ``max_leverage``. A drawdown beyond ``max_drawdown`` (or ruin) makes a trial infeasible; fewer
    than ``min_trades_per_year`` trades are penalised (see :mod:`crypto_tune.objectives`).
    """

    # the defaults are conf/strategy/zscore.yaml's (the default rule)
    name: str = "zscore"
    threshold: float = 0.001
    entry: float = 1.5
    exit: float | None = 0.5
    signal_window: int = 180
    stop_loss: float | None = None
    take_profit: float | None = None
    sizing: str = "vol_target"
    leverage: float = 1.0
    target_vol: float = 0.2
    max_leverage: float = 2.0
    vol_window: int = 180
    # null: what asset.market allows / charges (crypto_tune/markets.py)
    allow_short: bool | None = None
    fee: float | None = None
    orders: str = "taker"  # taker | maker: which of the market's fees (fills are not modelled)
    slippage: float = 0.0002
    # one name, or two for a multi-objective sweep (e.g. [sharpe, max_drawdown]); the sweeper's
    # directions follow (conf/phase/strategy.yaml: ${ct.directions:...})
    objective: str | tuple[str, ...] = "psr_nines"
    min_trades_per_year: float = 20.0
    max_drawdown: float = 0.5
    # the costs resolved from asset.market (settings_from_dict sets it; not a YAML key)
    market: MarketCosts | None = None

    def validate(self, key: str) -> None:
        _check_choice(f"{key}.name", self.name, STRATEGY_RULES)
        _check_choice(f"{key}.orders", self.orders, ORDERS)
        _check_range(f"{key}.threshold", self.threshold, low=0)
        _check_range(f"{key}.entry", self.entry, low=0, low_open=True)
        if self.exit is not None and not 0 <= self.exit <= self.entry:
            _fail(f"{key}.exit", f"null or in [0, strategy.entry={self.entry:g}]", self.exit)
        _check_range(f"{key}.signal_window", self.signal_window, low=2)
        for name in ("stop_loss", "take_profit"):
            value = getattr(self, name)
            if value is not None:
                _check_range(f"{key}.{name}", value, low=0, high=1, low_open=True, high_open=True)
        _check_choice(f"{key}.sizing", self.sizing, SIZINGS)
        _check_range(f"{key}.leverage", self.leverage, low=0, high=125, low_open=True)
        _check_range(f"{key}.target_vol", self.target_vol, low=0, high=10, low_open=True)
        _check_range(f"{key}.max_leverage", self.max_leverage, low=0, high=125, low_open=True)
        _check_range(f"{key}.vol_window", self.vol_window, low=2)
        if self.fee is not None:
            _check_range(f"{key}.fee", self.fee, low=0, high=0.1, high_open=True)
        _check_range(f"{key}.slippage", self.slippage, low=0, high=0.1, high_open=True)
        if not 1 <= len(self.objectives) <= 2:
            _fail(f"{key}.objective", "one objective name or a list of two", self.objective)
        for name in self.objectives:
            _check_choice(f"{key}.objective", name, STRATEGY_OBJECTIVES)
        _check_range(f"{key}.min_trades_per_year", self.min_trades_per_year, low=0)
        _check_range(f"{key}.max_drawdown", self.max_drawdown, low=0, high=1, low_open=True)
        rule_for(self.name).check(self, key)  # the rule's own limits

    @property
    def objectives(self) -> tuple[str, ...]:
        """The objective names, one or two (``objective`` as a tuple)."""
        return (self.objective,) if isinstance(self.objective, str) else tuple(self.objective)

    @property
    def primary_objective(self) -> str:
        """The first objective: the one single-number summaries and neighbourhoods use."""
        return self.objectives[0]

    @property
    def costs(self) -> MarketCosts:
        """The resolved market costs; without a market (settings built in code, not from the
        config) the engine's own defaults: fee 0.05%, shorting, no funding, borrow or margin."""
        if self.market is not None:
            return self.market
        fee = 0.0005 if self.fee is None else self.fee
        short = True if self.allow_short is None else self.allow_short
        return MarketCosts(market="none", fee=fee, allow_short=short)

    @property
    def leverage_cap(self) -> float:
        """``max_leverage`` within what the market lends (1 on spot without borrowing)."""
        return min(self.max_leverage, self.costs.max_leverage)

    def backtest_params(self) -> BacktestParams:
        """The engine's options (:class:`~crypto_tune.backtest.BacktestParams`, same names).

        The entry/exit levels are in the units of the rule's signal
        (:meth:`crypto_tune.strategies.Rule.levels`); ``leverage`` is the fixed leverage, which
        ``sizing=vol_target`` replaces by one value per bar
        (:func:`crypto_tune.evaluation.rule_inputs` does both).
        """
        from crypto_tune.backtest import BacktestParams  # numba: only when a backtest runs

        threshold, exit_ = rule_for(self.name).levels(self)
        costs = self.costs
        return BacktestParams(
            threshold=threshold,
            exit=exit_,
            stop_loss=self.stop_loss,
            take_profit=self.take_profit,
            leverage=min(self.leverage, costs.max_leverage),
            fee=costs.fee,
            slippage=self.slippage,
            allow_short=costs.allow_short,
            funding_rate=costs.funding_rate,
            borrow_rate=costs.borrow_rate,
            maintenance_margin=costs.maintenance_margin,
        )
