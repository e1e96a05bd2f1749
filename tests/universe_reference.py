"""A plain-Python portfolio rule, written from the docstring of crypto_tune/universe/_kernel.py
(sets and dicts, no NumPy in the loop): the reference the numba kernel must equal."""

from __future__ import annotations

import math


def _book(order, held, excluded, k, n_drop):
    """Held candidates stay; held names ranked outside the top k leave, worst first, at most
    n_drop of them (each replaced by the best name not held); empty places filled freely."""
    rank = {name: pos for pos, name in enumerate(order)}
    book = [name for name in order if name in held and name not in excluded][:k]
    swaps = 0
    while swaps < min(n_drop, k):
        outside = [name for name in book if rank[name] >= k]
        if not outside:
            break
        worst = max(outside, key=lambda name: rank[name])
        book.remove(worst)
        swaps += 1
        fresh = [n for n in order if n not in book and n not in held and n not in excluded]
        if fresh:
            book.append(fresh[0])
    for name in order:
        if len(book) >= k:
            break
        if name not in book and name not in excluded:
            book.append(name)
    return set(book)


def _weights(book, tradable, vol, budget, inverse_vol):
    names = [i for i in sorted(book) if tradable[i]]
    if not names:
        return {}
    if inverse_vol and all(vol[i] > 0 for i in names):
        total = sum(1.0 / vol[i] for i in names)
        return {i: budget * (1.0 / vol[i]) / total for i in names}
    return {i: budget / len(names) for i in names}


def reference_portfolio(scores, returns, tradable, vol, params, funding=None, borrow=None):
    t_len, n = len(scores), len(scores[0])
    funding = funding or [0.0] * t_len
    borrow = borrow or [0.0] * t_len
    net, gross, turn = [0.0] * t_len, [0.0] * t_len, [0.0] * t_len
    entries, contribution = [0] * t_len, [0.0] * n
    w = [0.0] * n
    for t in range(t_len):
        if t > 0:
            pnl = sum(w[i] * returns[t][i] for i in range(n))
            for i in range(n):
                contribution[i] += w[i] * returns[t][i]
            longs = sum(x for x in w if x > 0)
            shorts = -sum(x for x in w if x < 0)
            gross[t] = pnl
            net[t] = pnl - funding[t] * (longs - shorts) - borrow[t] * shorts
            if 1.0 + pnl > 0:
                w = [w[i] * (1.0 + returns[t][i]) / (1.0 + pnl) for i in range(n)]
        target = list(w)
        if t == t_len - 1:
            target = [0.0 if tradable[t][i] else w[i] for i in range(n)]
        elif t % params.rebalance == 0:
            cands = [i for i in range(n) if tradable[t][i] and math.isfinite(scores[t][i])]
            m = len(cands)
            k = min(params.top_k, m) if params.long_only else min(params.top_k, m // 2)
            desc = sorted(cands, key=lambda i: (-scores[t][i], i))
            excluded = {i for i in range(n) if i not in cands}
            longs = _book(desc, {i for i in range(n) if w[i] > 0}, excluded, k, params.n_drop)
            shorts: set = set()
            if not params.long_only:
                asc = sorted(cands, key=lambda i: (scores[t][i], i))
                held = {i for i in range(n) if w[i] < 0}
                shorts = _book(asc, held, excluded | longs, k, params.n_drop)
            budget = 1.0 if params.long_only else 0.5
            new = _weights(longs, tradable[t], vol[t], budget, params.inverse_vol)
            new.update(_weights(shorts, tradable[t], vol[t], -budget, params.inverse_vol))
            target = [new.get(i, 0.0) if tradable[t][i] else w[i] for i in range(n)]
            scale = 1.0
            if params.target_vol > 0:
                past = [
                    sum(target[i] * returns[s][i] for i in range(n))
                    for s in range(max(0, t - params.vol_window + 1) + 1, t + 1)
                ]
                if len(past) >= 2:
                    mean = sum(past) / len(past)
                    var = sum((p - mean) ** 2 for p in past) / (len(past) - 1)
                    if var > 0:
                        scale = params.target_vol / math.sqrt(var * params.periods_per_year)
            book_gross = sum(abs(x) for x in target)
            if book_gross > 0 and scale * book_gross > params.max_gross:
                scale = params.max_gross / book_gross
            target = [target[i] * scale if tradable[t][i] else target[i] for i in range(n)]
        traded = sum(abs(target[i] - w[i]) for i in range(n))
        entries[t] = sum(
            1 for i in range(n) if target[i] != 0 and (w[i] == 0 or (target[i] > 0) != (w[i] > 0))
        )
        turn[t] = traded
        net[t] -= params.fee * traded
        w = target
        if net[t] <= -1.0:
            net[t] = -1.0
            break
    return net, gross, turn, entries, contribution
