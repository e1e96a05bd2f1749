"""The gross-to-net bridge: what the market's costs took from a backtest, as fractions of equity.

Each bar's costs (fee and slippage, funding, borrow interest: the money the engine records in
``BacktestResult.costs``) are divided by the equity the bar started with, so each is a return
drag of that bar. Over a period (one backtest, or several chained like the in-sample folds):

- ``net_return``: the strategy's compounded return, ``prod(1 + r) - 1``;
- ``gross_return``: the same with every bar's costs added back, ``prod(1 + r + drag) - 1``;
- ``fee_paid``, ``slippage_paid``, ``funding_paid`` (negative: received), ``borrow_paid``: the
  sums of the bars' drags (trading costs split between fee and slippage by their rates);
- ``compounding``: what is left, ``gross - net - (the four above)``, so the bridge adds up
  (costs paid early also stop earning later).

Pure: NumPy and pandas in, plain numbers out.

>>> period_bridge([res.returns], [res.costs], fee=0.001, slippage=0.0002)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from crypto_tune.markets import MarketCosts

BRIDGE_ITEMS = ("fee_paid", "slippage_paid", "funding_paid", "borrow_paid")
BRIDGE_KEYS = ("gross_return", *BRIDGE_ITEMS, "compounding", "net_return")
MARKET_LIMIT = "the market's limit: no borrowing"  # the only cap a market sets (spot, no loan)


def _drags(returns: np.ndarray, paid: np.ndarray, initial_equity: float) -> np.ndarray:
    """``paid`` (money per bar, columns trading, funding, borrow) over each bar's opening
    equity (``initial_equity`` compounded by the returns before it); 0 where equity is 0."""
    growth = np.cumprod(1.0 + returns)
    start = initial_equity * np.r_[1.0, growth[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(start[:, None] > 0.0, paid / start[:, None], 0.0)
    return out


def period_bridge(
    returns: Sequence[pd.Series | np.ndarray],
    costs: Sequence[pd.DataFrame | np.ndarray | None],
    *,
    fee: float,
    slippage: float,
    initial_equity: float = 1.0,
) -> dict[str, float]:
    """The bridge of one period made of one or more backtests (each started at
    ``initial_equity``): :data:`BRIDGE_KEYS`, fractions of equity."""
    r_parts, d_parts = [], []
    for r, paid in zip(returns, costs, strict=True):
        r = np.asarray(r, dtype=np.float64)
        money = np.zeros((len(r), 3)) if paid is None else np.asarray(paid, dtype=np.float64)
        r_parts.append(r)
        d_parts.append(_drags(r, money, initial_equity))
    r_all = np.concatenate(r_parts) if r_parts else np.zeros(0)
    drag = np.concatenate(d_parts) if d_parts else np.zeros((0, 3))
    share = fee / (fee + slippage) if fee + slippage > 0 else 1.0
    trading, funding, borrow = (float(drag[:, k].sum()) for k in range(3))
    net = float(np.prod(1.0 + r_all) - 1.0)
    gross = float(np.prod(1.0 + r_all + drag.sum(axis=1)) - 1.0)
    items = {
        "fee_paid": trading * share,
        "slippage_paid": trading * (1.0 - share),
        "funding_paid": funding,
        "borrow_paid": borrow,
    }
    return {
        "gross_return": gross,
        **items,
        "compounding": gross - net - sum(items.values()),
        "net_return": net,
    }


def costs_document(
    costs: MarketCosts,
    *,
    slippage: float,
    periods: Mapping[str, tuple[Sequence[pd.Series], Sequence[pd.DataFrame | None]]],
) -> dict[str, Any]:
    """``workflow.best.json``'s ``costs``: the market's settings and each period's bridge
    (``periods``: name -> (returns of its backtests, their per-bar costs))."""
    settings = costs.describe()
    return {
        **settings,
        "slippage": slippage,
        **{
            name: period_bridge(r, c, fee=costs.fee, slippage=slippage)
            for name, (r, c) in periods.items()
        },
    }


def bridge_lines(document: Mapping[str, Any] | None) -> list[str]:
    """The bridge as terminal lines, one per period (and member of a basket), e.g. ``costs
    (spot, fee 0.10%) in sample: gross +20.1% - fees 4.2% - slippage 0.8% - funding 0.0% -
    borrow 0.0% - compounding 0.3% = net +14.8%``."""
    if not isinstance(document, Mapping):
        return []
    head = f"costs ({document.get('market')}, fee {100 * float(document.get('fee') or 0):.2f}%)"
    members = document.get("members")
    sources = members.items() if isinstance(members, Mapping) else [("", document)]
    lines = []
    for symbol, bridge in sources:
        for period in ("in_sample", "out_of_sample"):
            b = bridge.get(period) if isinstance(bridge, Mapping) else None
            if not isinstance(b, Mapping):
                continue
            items = " - ".join(
                f"{key.removesuffix('_paid').replace('fee', 'fees')} {100 * b[key]:.1f}%"
                for key in (*BRIDGE_ITEMS, "compounding")
            )
            where = f"{symbol} " if symbol else ""
            lines.append(
                f"{head} {where}{period.replace('_', ' ')}: gross {100 * b['gross_return']:+.1f}%"
                f" - {items} = net {100 * b['net_return']:+.1f}%"
            )
    return lines


def applied_leverage(value: Any, costs: Mapping[str, Any] | None) -> Any:
    """The leverage the backtest applied for a strategy's ``value`` (its fixed ``leverage`` or
    its ``max_leverage``): ``value`` itself, or where the market lends less (``costs``:
    ``workflow.best.json``'s ``costs``, whose ``max_leverage`` is 1 on spot without borrowing)
    the market's cap with the reason, for the terminal table and the report alike.

    >>> applied_leverage(2.0, {"max_leverage": 1.0}), applied_leverage(2.0, {"max_leverage": None})
    ("1 (the market's limit: no borrowing)", 2.0)
    """
    cap = costs.get("max_leverage") if isinstance(costs, Mapping) else None
    numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (cap, value))
    if numeric and cap < value:
        return f"{cap:g} ({MARKET_LIMIT})"
    return value


__all__ = [
    "BRIDGE_ITEMS",
    "BRIDGE_KEYS",
    "MARKET_LIMIT",
    "applied_leverage",
    "bridge_lines",
    "costs_document",
    "period_bridge",
]
