"""A slow, plain-Python backtest written from the rules, to check the numba engine against.

It keeps an account instead of marking equity bar by bar: ``balance`` is the equity before the
open position's unrealised P&L (equity at entry, less entry costs and funding paid since), so the
equity at any price ``P`` is ``balance + side * quantity * (P - entry)`` and the position is
liquidated where that reaches the maintenance margin ``maintenance_margin * quantity * P``.
Funding (a number per 8 h spread over the bars, or the rate due at each bar's close) and borrow
interest (per year, on what a short borrows or a long above 1x owes) are paid from the balance
at every close the position is held over. Import it as ``from reference_backtest import
reference_backtest``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class _Position:
    side: int  # +1 long, -1 short
    quantity: float
    entry_price: float
    entry_index: int
    equity_at_entry: float
    entry_fee: float
    stop: float | None
    target: float | None
    funding: float = 0.0


def _wanted_side(
    prediction: float, threshold: float, allow_short: bool, held: int = 0, exit: float = math.inf
) -> int:
    """Enter beyond +-threshold; keep a held side while the signal stays beyond +-exit."""
    if math.isnan(prediction):
        return 0
    if prediction > threshold:
        return 1
    if allow_short and prediction < -threshold:
        return -1
    if held == 1 and prediction > exit:
        return 1
    if held == -1 and prediction < -exit:
        return -1
    return 0


def reference_backtest(
    open_: Sequence[float],
    high: Sequence[float],
    low: Sequence[float],
    close: Sequence[float],
    predictions: Sequence[float],
    *,
    threshold: float,
    exit: float | None = None,
    stop_loss: float | None = None,
    take_profit: float | None = None,
    leverage: float | Sequence[float] = 1.0,
    fee: float = 0.0005,
    slippage: float = 0.0002,
    allow_short: bool = True,
    funding_rate: float | Sequence[float] = 0.0,
    borrow_rate: float = 0.0,
    maintenance_margin: float = 0.0,
    bar_hours: float = 4.0,
    initial_equity: float = 1.0,
    costs: list[dict] | None = None,
) -> tuple[list[float], list[dict]]:
    """Per-bar simple returns and the trade list (dicts with bar indices, not times).

    ``exit`` (None: ``threshold``) is the level a held side is kept beyond; ``leverage`` is a
    number or one value per bar (NaN: no entry on that bar). ``costs``, when a list, receives
    one dict per bar with the money paid on it: ``trading``, ``funding``, ``borrow``.
    """
    opens, highs, lows, closes = ([float(x) for x in col] for col in (open_, high, low, close))
    preds = [float(x) for x in predictions]
    exit_level = threshold if exit is None else exit
    if isinstance(leverage, int | float):
        levs = [float(leverage)] * len(closes)
    else:
        levs = [float(x) for x in leverage]
    cost_rate = fee + slippage
    if isinstance(funding_rate, int | float):
        funding = [funding_rate * bar_hours / 8.0] * len(closes)
    else:
        funding = [float(x) for x in funding_rate]
    interest_per_bar = borrow_rate * bar_hours / (24.0 * 365.0)
    paid = [{"trading": 0.0, "funding": 0.0, "borrow": 0.0} for _ in closes]

    balance = initial_equity
    pos: _Position | None = None
    returns: list[float] = []
    trades: list[dict] = []

    def equity_at(price: float) -> float:
        if pos is None:
            return balance
        return balance + pos.side * pos.quantity * (price - pos.entry_price)

    def close_position(i: int, price: float, reason: str) -> None:
        nonlocal balance, pos
        if pos is None:  # pragma: no cover - a bug in this file
            raise RuntimeError("no open position to close")
        gross = pos.side * pos.quantity * (price - pos.entry_price)
        exit_fee = 0.0 if reason == "liquidation" else cost_rate * pos.quantity * price
        paid[i]["trading"] += exit_fee
        pnl = gross - pos.entry_fee - exit_fee - pos.funding
        new_balance = balance + gross - exit_fee
        if reason == "liquidation" or new_balance <= 0.0:
            new_balance = 0.0
            pnl = -pos.equity_at_entry
        trades.append(
            {
                "entry_index": pos.entry_index,
                "exit_index": i,
                "side": "long" if pos.side == 1 else "short",
                "entry_price": pos.entry_price,
                "exit_price": price,
                "quantity": pos.quantity,
                "pnl": pnl,
                "fees": pos.entry_fee + exit_fee,
                "reason": reason,
            }
        )
        balance = new_balance
        pos = None

    def open_position(i: int, side: int, price: float) -> None:
        nonlocal balance, pos
        quantity = levs[i] * balance / price
        entry_fee = cost_rate * quantity * price
        paid[i]["trading"] += entry_fee
        pos = _Position(
            side=side,
            quantity=quantity,
            entry_price=price,
            entry_index=i,
            equity_at_entry=balance,
            entry_fee=entry_fee,
            stop=None if stop_loss is None else price * (1.0 - side * stop_loss),
            target=None if take_profit is None else price * (1.0 + side * take_profit),
        )
        balance -= entry_fee

    previous_equity = initial_equity
    for i in range(len(closes)):
        o, h, lo, c = opens[i], highs[i], lows[i], closes[i]
        if previous_equity <= 0.0:
            returns.append(0.0)
            continue

        # 1. At the open: follow the signal of the previous bar's close.
        if i > 0:
            held = 0 if pos is None else pos.side
            wanted = _wanted_side(preds[i - 1], threshold, allow_short, held, exit_level)
            above_margin = pos is not None and equity_at(o) > maintenance_margin * pos.quantity * o
            if pos is not None and wanted != pos.side and above_margin:
                # (an open at or beyond the liquidation price liquidates instead, below)
                close_position(i, o, "signal")
            sized = not math.isnan(levs[i])
            if pos is None and wanted != 0 and balance > 0.0 and sized:
                open_position(i, wanted, o)

        # 2. Within the bar: stop / liquidation first (the worse outcome), then the target.
        if pos is not None:
            worst = lo if pos.side == 1 else h
            best = h if pos.side == 1 else lo
            # Where equity would reach zero; comparing prices with it (rather than the sign of
            # a nearly-zero equity) keeps exact ties decided the same way as in the engine.
            liquidation = (pos.entry_price - pos.side * balance / pos.quantity) / (
                1.0 - pos.side * maintenance_margin
            )
            stop_first = pos.stop is not None and pos.side * (pos.stop - liquidation) > 0.0
            level = pos.stop if stop_first else liquidation
            if pos.side * (worst - level) <= 0.0:
                fill = o if pos.side * (o - level) <= 0.0 else level
                at_or_beyond = pos.side * (fill - liquidation) <= 0.0
                close_position(i, fill, "liquidation" if at_or_beyond else "stop_loss")
            elif pos.target is not None and pos.side * (best - pos.target) >= 0.0:
                opened_beyond = pos.side * (o - pos.target) >= 0.0
                close_position(i, o if opened_beyond else pos.target, "take_profit")

        # 3. At the close: funding, borrow interest, then liquidation by them, then the final exit.
        if pos is not None:
            payment = pos.side * funding[i] * pos.quantity * c
            balance -= payment
            notional = pos.quantity * c
            borrowed = notional if pos.side == -1 else max(notional - equity_at(c), 0.0)
            interest = interest_per_bar * borrowed
            balance -= interest
            pos.funding += payment + interest
            paid[i]["funding"] += payment
            paid[i]["borrow"] += interest
            if equity_at(c) <= maintenance_margin * pos.quantity * c:
                close_position(i, c, "liquidation")
            elif i == len(closes) - 1:
                close_position(i, c, "end")

        equity = equity_at(c)
        returns.append(equity / previous_equity - 1.0)
        previous_equity = equity
    if costs is not None:
        costs.extend(paid)
    return returns, trades
