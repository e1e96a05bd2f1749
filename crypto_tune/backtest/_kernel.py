"""The one numba kernel behind :func:`run_backtest` and :func:`simulate_returns` (no pandas here).

Bar ``i`` is processed in this order (``o, h, l, c`` its prices, equity marked to market):

1. Open (``i >= 1``, equity > 0): the target side comes from ``s = signal[i - 1]``: long when
   ``s > entry``, short when ``s < -entry`` (if shorting is allowed); an open long is kept while
   ``s > exit`` and an open short while ``s < -exit`` (``exit <= entry``; ``exit == entry`` is
   the plain threshold rule); NaN means flat. A position on another side is closed at ``o``
   (reason "signal") unless ``o`` is at or beyond its liquidation price; then, if flat, a
   non-zero target is entered at ``o`` with ``quantity = leverage[i] * equity / o`` (no entry
   when ``leverage[i]`` is NaN: the size is unknown).
2. Intrabar (from the entry bar on): the adverse level is the stop when it lies strictly before
   the liquidation price, else the liquidation price; it is checked on ``l`` (long) / ``h``
   (short) before the target, so a bar touching both counts as the stop. The exit price is the
   level, or ``o`` when the bar opens beyond it (gap); an exit at or beyond the liquidation price
   is a liquidation and leaves equity at exactly 0. After such an exit the rest of the bar is flat.
3. Close: mark to ``c``; funding ``side * funding[i] * quantity * c`` is paid (``funding[i]``:
   the rate due at this close, e.g. at the 8-hour funding timestamps only), then borrow interest
   ``borrow * borrowed`` (``borrowed``: ``quantity * c`` for a short, the quote loan
   ``quantity * c - equity`` for a long above 1x, else 0); both are taken from the margin (so the
   liquidation price moves); if that leaves equity <= ``maintenance * quantity * c`` the position
   is liquidated at ``c``. On the last bar an open position is closed at ``c`` (reason "end"),
   after its funding and interest.

The liquidation price is where equity reaches the maintenance margin
``maintenance * quantity * price`` (0: where equity reaches 0): ``(entry - side * margin /
quantity) / (1 - side * maintenance)``. A liquidation loses the whole isolated margin (the
exchange keeps what is left of the maintenance margin): equity becomes 0.
Costs ``(fee + slippage) * quantity * price`` are paid on entry and on every exit except a
liquidation (the margin is gone). Equity is floored at 0; at 0 nothing trades again. With
``record`` the money paid per bar is kept: trading costs, funding (negative: received), borrow.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload

REASONS: tuple[str, ...] = ("signal", "stop_loss", "take_profit", "liquidation", "end")
_SIGNAL, _STOP, _TARGET, _LIQUIDATION, _END = 0, 1, 2, 3, 4

# Columns of the kernel's trade tables.
T_ENTRY, T_EXIT, T_SIDE, T_REASON = 0, 1, 2, 3  # int table
T_ENTRY_PRICE, T_EXIT_PRICE, T_QUANTITY, T_PNL, T_FEES = 0, 1, 2, 3, 4  # float table
HOURS_PER_YEAR = 24.0 * 365.0  # borrow rates are per year of a 24/7 market
# Columns of the kernel's per-bar cost table (money paid on each bar).
C_TRADING, C_FUNDING, C_BORROW = 0, 1, 2
COST_COLUMNS: tuple[str, ...] = ("trading", "funding", "borrow")


@numba.njit(cache=True)
def first_bad_row(open_, high, low, close, predictions):  # pragma: no cover - compiled
    """Return ``(row, code)`` of the first malformed bar, ``(-1, 0)`` when all are valid.

    Codes: 1 non-finite OHLC, 2 a price <= 0, 3 high below max(open, close), 4 low above
    min(open, close), 5 an infinite prediction (NaN predictions are allowed: no view).
    """
    inf = np.inf
    all_ok = True
    for i in range(close.shape[0]):  # branch-free pass (NaN fails every comparison)
        o, h, lo, c = open_[i], high[i], low[i], close[i]
        all_ok &= (
            (o > 0.0)
            & (o < inf)
            & (c > 0.0)
            & (c < inf)
            & (lo > 0.0)
            & (h < inf)
            & (h >= o)
            & (h >= c)
            & (lo <= o)
            & (lo <= c)
            & (abs(predictions[i]) != inf)
        )
    if all_ok:
        return -1, 0
    for i in range(close.shape[0]):
        o, h, lo, c = open_[i], high[i], low[i], close[i]
        if not (np.isfinite(o) and np.isfinite(h) and np.isfinite(lo) and np.isfinite(c)):
            return i, 1
        if o <= 0.0 or h <= 0.0 or lo <= 0.0 or c <= 0.0:
            return i, 2
        if h < o or h < c:
            return i, 3
        if lo > o or lo > c:
            return i, 4
        if np.isinf(predictions[i]):
            return i, 5
    return -1, 0  # unreachable


def _at(value, i):  # pragma: no cover - replaced by the overload inside numba
    """``value[i]`` for a per-bar array, ``value`` for a number."""
    return value if np.ndim(value) == 0 else value[i]


@overload(_at)
def _at_overload(value, i):  # pragma: no cover - compiled
    if isinstance(value, types.Array):
        return lambda value, i: value[i]
    return lambda value, i: value


@numba.njit(cache=True)
def simulate(  # pragma: no cover - compiled
    open_,
    high,
    low,
    close,
    predictions,
    threshold,
    exit_level,
    stop_loss,
    take_profit,
    leverage,
    cost_rate,
    allow_short,
    funding,
    borrow_per_bar,
    maintenance,
    initial_equity,
    record,
):
    """Run the strategy over validated float64 arrays.

    ``threshold`` is the entry level and ``exit_level`` the hold level of the signal
    ``predictions``; ``leverage`` is one value per bar (used at an entry on that bar's open).
    ``stop_loss`` / ``take_profit`` <= 0 mean none; each is a number or one value per bar (the
    level of a trade entered on that bar's open); ``cost_rate = fee + slippage``;
    ``funding``: the funding rate due at each bar's close (a number: every bar);
    ``borrow_per_bar``: interest per bar on the borrowed value; ``maintenance``: the maintenance
    margin rate. Returns ``(returns, equity, positions, n_trades, trade_ints, trade_floats,
    bar_costs)``; all but ``returns`` are empty unless ``record``.
    """
    n = close.shape[0]
    returns = np.empty(n)
    cap = n if record else 0
    equity_out = np.empty(cap)
    positions = np.empty(cap)
    t_int = np.empty((cap, 4), dtype=np.int64)
    t_flt = np.empty((cap, 5))
    bar_costs = np.zeros((cap, 3))
    has_stop = False
    has_target = False

    equity = initial_equity
    side = 0
    sgn = 0.0  # float(side), so the arithmetic stays in floating point
    qty = 0.0
    entry_px = 0.0
    mark = 0.0  # price the open position was last marked at
    margin = 0.0  # equity after entry costs, less funding paid since
    liq = 0.0
    stop_px = 0.0
    target_px = 0.0
    equity_before = 0.0
    entry_cost = 0.0
    entry_i = 0
    n_trades = 0

    for i in range(n):
        prev_equity = equity
        held = 0.0  # signed quantity at this bar's close
        o = open_[i]
        if i > 0 and equity > 0.0:
            p = predictions[i - 1]
            target = 0
            if p > threshold:
                target = 1
            elif allow_short and p < -threshold:
                target = -1
            elif side == 1 and p > exit_level:
                target = 1
            elif side == -1 and p < -exit_level:
                target = -1
            if side != 0 and target != side and sgn * (o - liq) > 0.0:
                equity += sgn * qty * (o - mark)
                exit_cost = cost_rate * qty * o
                equity -= exit_cost
                if equity < 0.0:
                    equity = 0.0
                if record:
                    bar_costs[i, C_TRADING] += exit_cost
                    t_int[n_trades, 0] = entry_i
                    t_int[n_trades, 1] = i
                    t_int[n_trades, 2] = side
                    t_int[n_trades, 3] = _SIGNAL
                    t_flt[n_trades, 0] = entry_px
                    t_flt[n_trades, 1] = o
                    t_flt[n_trades, 2] = qty
                    t_flt[n_trades, 3] = equity - equity_before
                    t_flt[n_trades, 4] = entry_cost + exit_cost
                n_trades += 1
                side = 0
            if side == 0 and target != 0 and equity > 0.0 and leverage[i] > 0.0:
                side = target
                sgn = float(side)
                equity_before = equity
                qty = leverage[i] * equity / o
                entry_cost = cost_rate * qty * o
                equity -= entry_cost
                if record:
                    bar_costs[i, C_TRADING] += entry_cost
                margin = equity
                entry_px = o
                mark = o
                entry_i = i
                liq = (o - sgn * margin / qty) / (1.0 - sgn * maintenance)
                trade_stop = _at(stop_loss, i)
                trade_target = _at(take_profit, i)
                has_stop = trade_stop > 0.0
                has_target = trade_target > 0.0
                stop_px = o * (1.0 - sgn * trade_stop)
                target_px = o * (1.0 + sgn * trade_target)

        if side != 0:
            lo = low[i]
            hi = high[i]
            level = liq
            if side == 1:
                if has_stop and stop_px > liq:
                    level = stop_px
                adverse = lo <= level
                favourable = has_target and hi >= target_px
            else:
                if has_stop and stop_px < liq:
                    level = stop_px
                adverse = hi >= level
                favourable = has_target and lo <= target_px
            reason = -1
            exit_px = 0.0
            if adverse:
                exit_px = level if sgn * (o - level) > 0.0 else o
                reason = _LIQUIDATION if sgn * (exit_px - liq) <= 0.0 else _STOP
            elif favourable:
                exit_px = target_px if sgn * (o - target_px) < 0.0 else o
                reason = _TARGET
            if reason >= 0:
                if reason == _LIQUIDATION:
                    exit_cost = 0.0
                    equity = 0.0
                else:
                    equity += sgn * qty * (exit_px - mark)
                    exit_cost = cost_rate * qty * exit_px
                    equity -= exit_cost
                    if equity < 0.0:
                        equity = 0.0
                if record:
                    bar_costs[i, C_TRADING] += exit_cost
                    t_int[n_trades, 0] = entry_i
                    t_int[n_trades, 1] = i
                    t_int[n_trades, 2] = side
                    t_int[n_trades, 3] = reason
                    t_flt[n_trades, 0] = entry_px
                    t_flt[n_trades, 1] = exit_px
                    t_flt[n_trades, 2] = qty
                    t_flt[n_trades, 3] = equity - equity_before
                    t_flt[n_trades, 4] = entry_cost + exit_cost
                n_trades += 1
                side = 0

        if side != 0:
            c = close[i]
            equity += sgn * qty * (c - mark)
            mark = c
            rate = _at(funding, i)
            if rate != 0.0 or borrow_per_bar != 0.0:
                paid = sgn * rate * qty * c
                equity -= paid
                borrowed = qty * c if side == -1 else max(qty * c - equity, 0.0)
                interest = borrow_per_bar * borrowed
                equity -= interest
                margin -= paid + interest
                liq = (entry_px - sgn * margin / qty) / (1.0 - sgn * maintenance)
                if record:
                    bar_costs[i, C_FUNDING] += paid
                    bar_costs[i, C_BORROW] += interest
            reason = -1
            exit_cost = 0.0
            if equity <= maintenance * qty * c:
                equity = 0.0
                reason = _LIQUIDATION
            else:
                held = sgn * qty
                if i == n - 1:
                    exit_cost = cost_rate * qty * c
                    equity -= exit_cost
                    if equity < 0.0:
                        equity = 0.0
                    reason = _END
                    if record:
                        bar_costs[i, C_TRADING] += exit_cost
            if reason >= 0:
                if record:
                    t_int[n_trades, 0] = entry_i
                    t_int[n_trades, 1] = i
                    t_int[n_trades, 2] = side
                    t_int[n_trades, 3] = reason
                    t_flt[n_trades, 0] = entry_px
                    t_flt[n_trades, 1] = c
                    t_flt[n_trades, 2] = qty
                    t_flt[n_trades, 3] = equity - equity_before
                    t_flt[n_trades, 4] = entry_cost + exit_cost
                n_trades += 1
                side = 0

        returns[i] = equity / prev_equity - 1.0 if prev_equity > 0.0 else 0.0
        if record:
            equity_out[i] = equity
            positions[i] = held

    return (
        returns,
        equity_out,
        positions,
        n_trades,
        t_int[:n_trades],
        t_flt[:n_trades],
        bar_costs,
    )
