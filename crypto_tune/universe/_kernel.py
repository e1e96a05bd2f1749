"""The portfolio kernel of a universe: a whole Phase 2 trial over a panel in one numba call.

Inputs are ``(T, N)`` matrices on the universe's calendar: ``scores`` (the model's prediction;
NaN: the symbol cannot be chosen at that bar), ``returns`` (each bar's price change, 0 without a
candle), ``tradable`` (a candle exists: the position can be changed) and ``vol`` (trailing
volatility known at the bar's close), plus the per-bar ``funding`` rate (perp: paid by longs,
received by shorts) and the ``borrow`` rate per bar (spot margin: paid on the short notional).

Order of events inside bar ``t`` (weights are fractions of equity):

1. Earn: the weights chosen at the close of ``t - 1`` earn ``sum_i w_i * r[t, i]`` (gross), pay
   funding on ``long - short`` notional and borrow on the short notional; the weights then drift
   with their prices. Each symbol's share of the gross return is its contribution.
2. Trade, at the close of ``t`` when ``t`` is a rebalance bar (every ``rebalance`` bars from the
   segment's first bar): the long book is the ``top_k`` highest scores, the short book the
   ``top_k`` lowest (``long_only``: no short book; with fewer than ``2 * top_k`` candidates each
   side takes half of them). Turnover cap (Qlib's TopkDropout): a held name leaves its book only
   when it ranks outside the top ``top_k``, the worst first, and at most ``n_drop`` names per book
   are replaced per rebalance (``n_drop >= top_k``: no cap); empty places are filled freely and a
   name without a score is sold. Weights: each book's budget (1 long-only, 0.5 per book
   otherwise) split equally or in proportion to ``1 / vol``; then the whole book is scaled to
   ``target_vol`` (annualised, measured on the last ``vol_window`` bars of the new weights'
   returns; 0: no target), capped at ``max_gross``. A name without a candle keeps its weight.
   Fees: ``fee`` (per side, slippage included) times the turnover ``sum |w_new - w_old|``.
3. At the segment's last bar every tradable position is closed (and pays its fee).

A bar whose net return reaches -100% is ruin: its return is -1 and the rest of the segment is 0.
Outputs per bar: net and gross return, turnover, long and short exposure, names entered; per
symbol: contribution to the gross return (sum over bars).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from crypto_tune._checks import check_int, check_real


@dataclass(frozen=True)
class PortfolioParams:
    """The options of the portfolio rule (see the module docstring); checked on construction."""

    top_k: int = 2
    long_only: bool = False
    rebalance: int = 1
    n_drop: int = 1
    inverse_vol: bool = False
    target_vol: float = 0.0
    max_gross: float = 1.0
    fee: float = 0.0
    vol_window: int = 180
    periods_per_year: float = 2190.0

    def __post_init__(self) -> None:
        check_int("top_k", self.top_k, low=1)
        check_int("rebalance", self.rebalance, low=1)
        check_int("n_drop", self.n_drop, low=0)
        check_int("vol_window", self.vol_window, low=2)
        check_real("target_vol", self.target_vol, low=0, high=10)
        check_real("max_gross", self.max_gross, low=0, high=125, closed="(]")
        check_real("fee", self.fee, low=0, high=0.1, closed="[)")
        check_real("periods_per_year", self.periods_per_year, low=0, closed="()", high=1e7)


@dataclass(frozen=True)
class PortfolioResult:
    """What :func:`simulate_portfolio` returns (arrays per bar, contributions per symbol)."""

    net: np.ndarray
    gross: np.ndarray
    turnover: np.ndarray
    long: np.ndarray
    short: np.ndarray
    entries: np.ndarray
    contribution: np.ndarray

    @property
    def n_entries(self) -> int:
        return int(self.entries.sum())


@numba.njit(cache=True)
def _sort(order, m, row, descending):  # pragma: no cover - compiled
    """Stable insertion sort of ``order[:m]`` by ``row`` (ties keep their index order)."""
    for a in range(1, m):
        x = order[a]
        key = row[x]
        b = a - 1
        while b >= 0 and ((row[order[b]] < key) if descending else (row[order[b]] > key)):
            order[b + 1] = order[b]
            b -= 1
        order[b + 1] = x


@numba.njit(cache=True)
def _pick(order, m, held, excluded, k, n_drop, rank, chosen):  # pragma: no cover - compiled
    """Fill ``chosen`` with the book of size ``k`` from candidates ``order[:m]`` (best first),
    keeping held names (buffers ``rank`` and ``chosen`` are overwritten)."""
    n = held.size
    for i in range(n):
        rank[i] = m + 1
        chosen[i] = False
    for pos in range(m):
        rank[order[pos]] = pos
    count = 0
    for pos in range(m):  # held names still candidates stay, best first
        i = order[pos]
        if held[i] and not excluded[i] and count < k:
            chosen[i] = True
            count += 1
    swaps = 0
    limit = n_drop if n_drop < k else k
    while True:  # replace held names ranked outside the top k, worst first
        worst, worst_rank = -1, -1
        for i in range(n):
            if chosen[i] and rank[i] >= k and rank[i] > worst_rank:
                worst, worst_rank = i, rank[i]
        if worst < 0 or swaps >= limit:
            break
        chosen[worst] = False
        count -= 1
        swaps += 1
        for pos in range(m):
            i = order[pos]
            if not chosen[i] and not held[i] and not excluded[i]:
                chosen[i] = True
                count += 1
                break
    for pos in range(m):  # empty places are filled freely
        if count >= k:
            break
        i = order[pos]
        if not chosen[i] and not excluded[i]:
            chosen[i] = True
            count += 1


@numba.njit(cache=True)
def _book_weights(target, book, tradable, vol, budget, inverse_vol):  # pragma: no cover
    """Split ``budget`` (signed) over the tradable names of ``book``: equally, or in proportion
    to ``1 / vol`` when every one of them has a positive volatility."""
    count, total, usable = 0, 0.0, inverse_vol
    for i in range(book.size):
        if book[i] and tradable[i]:
            count += 1
            if vol[i] > 0:
                total += 1.0 / vol[i]
            else:
                usable = False
    for i in range(book.size):
        if book[i] and tradable[i]:
            target[i] = budget * (1.0 / vol[i]) / total if usable else budget / count


@numba.njit(cache=True)
def _kernel(
    scores,
    returns,
    tradable,
    vol,
    funding,
    borrow,
    top_k,
    long_only,
    rebalance,
    n_drop,
    inverse_vol,
    target_vol,
    max_gross,
    fee,
    vol_window,
    ppy,
):  # pragma: no cover - compiled; tests compare it with a plain-Python reference
    t_len, n = scores.shape
    net = np.zeros(t_len)
    gross = np.zeros(t_len)
    turnover = np.zeros(t_len)
    long_exp = np.zeros(t_len)
    short_exp = np.zeros(t_len)
    entries = np.zeros(t_len, dtype=np.int64)
    contribution = np.zeros(n)
    w = np.zeros(n)
    target = np.zeros(n)
    desc = np.zeros(n, dtype=np.int64)
    asc = np.zeros(n, dtype=np.int64)
    rank = np.zeros(n, dtype=np.int64)
    held = np.zeros(n, dtype=np.bool_)
    excluded = np.zeros(n, dtype=np.bool_)
    long_book = np.zeros(n, dtype=np.bool_)
    short_book = np.zeros(n, dtype=np.bool_)
    for t in range(t_len):
        pnl = 0.0
        if t > 0:
            longs, shorts = 0.0, 0.0
            for i in range(n):
                part = w[i] * returns[t, i]
                pnl += part
                contribution[i] += part
                if w[i] > 0:
                    longs += w[i]
                else:
                    shorts -= w[i]
            gross[t] = pnl
            carry = funding[t] * (longs - shorts) + borrow[t] * shorts
            net[t] = pnl - carry
            if 1.0 + pnl > 0:
                for i in range(n):
                    w[i] = w[i] * (1.0 + returns[t, i]) / (1.0 + pnl)
        for i in range(n):
            target[i] = w[i]
        last = t == t_len - 1
        if last:
            for i in range(n):
                if tradable[t, i]:
                    target[i] = 0.0
        elif t % rebalance == 0:
            m = 0
            for i in range(n):
                excluded[i] = not (tradable[t, i] and np.isfinite(scores[t, i]))
                held[i] = w[i] > 0
                if not excluded[i]:
                    desc[m] = i
                    asc[m] = i
                    m += 1
            k = top_k if long_only else top_k if 2 * top_k <= m else m // 2
            if k > m:
                k = m
            _sort(desc, m, scores[t], True)
            _pick(desc, m, held, excluded, k, n_drop, rank, long_book)
            for i in range(n):
                short_book[i] = False
            if not long_only:
                _sort(asc, m, scores[t], False)
                for i in range(n):
                    held[i] = w[i] < 0
                    excluded[i] = excluded[i] or long_book[i]
                _pick(asc, m, held, excluded, k, n_drop, rank, short_book)
            budget = 1.0 if long_only else 0.5
            _book_weights(target, long_book, tradable[t], vol[t], budget, inverse_vol)
            if not long_only:
                _book_weights(target, short_book, tradable[t], vol[t], -budget, inverse_vol)
            for i in range(n):
                if tradable[t, i] and not long_book[i] and not short_book[i]:
                    target[i] = 0.0
            scale = 1.0
            if target_vol > 0:
                lo = t - vol_window + 1 if t - vol_window + 1 > 0 else 0
                s1, s2, cnt = 0.0, 0.0, 0
                for s in range(lo + 1, t + 1):
                    p = 0.0
                    for i in range(n):
                        p += target[i] * returns[s, i]
                    s1 += p
                    s2 += p * p
                    cnt += 1
                if cnt >= 2:
                    var = (s2 - s1 * s1 / cnt) / (cnt - 1)
                    if var > 0:
                        scale = target_vol / np.sqrt(var * ppy)
            book_gross = 0.0
            for i in range(n):
                book_gross += abs(target[i])
            if book_gross > 0 and scale * book_gross > max_gross:
                scale = max_gross / book_gross
            for i in range(n):
                if tradable[t, i]:
                    target[i] *= scale
        traded = 0.0
        for i in range(n):
            traded += abs(target[i] - w[i])
            if target[i] != 0 and (w[i] == 0 or (target[i] > 0) != (w[i] > 0)):
                entries[t] += 1
        turnover[t] = traded
        net[t] -= fee * traded
        for i in range(n):
            w[i] = target[i]
            if w[i] > 0:
                long_exp[t] += w[i]
            else:
                short_exp[t] -= w[i]
        if net[t] <= -1.0:
            net[t] = -1.0
            break
    return net, gross, turnover, long_exp, short_exp, entries, contribution


def simulate_portfolio(
    scores: np.ndarray,
    returns: np.ndarray,
    tradable: np.ndarray,
    vol: np.ndarray,
    params: PortfolioParams,
    *,
    funding: np.ndarray | None = None,
    borrow: np.ndarray | None = None,
) -> PortfolioResult:
    """Run the portfolio rule of ``params`` over one segment (see the module docstring).

    Shapes: ``scores``, ``returns``, ``tradable``, ``vol`` ``(T, N)``; ``funding`` and
    ``borrow`` ``(T,)`` rates per bar (None: 0).
    """
    t_len = scores.shape[0]
    zeros = np.zeros(t_len)
    out = _kernel(
        np.ascontiguousarray(scores, dtype=np.float64),
        np.ascontiguousarray(returns, dtype=np.float64),
        np.ascontiguousarray(tradable, dtype=np.bool_),
        np.ascontiguousarray(vol, dtype=np.float64),
        zeros if funding is None else np.ascontiguousarray(funding, dtype=np.float64),
        zeros if borrow is None else np.ascontiguousarray(borrow, dtype=np.float64),
        params.top_k,
        params.long_only,
        params.rebalance,
        params.n_drop,
        params.inverse_vol,
        params.target_vol,
        params.max_gross,
        params.fee,
        params.vol_window,
        params.periods_per_year,
    )
    return PortfolioResult(*out)


__all__ = ["PortfolioParams", "PortfolioResult", "simulate_portfolio"]
