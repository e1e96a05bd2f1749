"""A candle file named for one timeframe, read from a finer one when it is absent.

``binance_ETHUSDT_1d.csv`` is not in ``../shared/data``, but ``binance_ETHUSDT_4h.csv`` and
``binance_ETHUSDT_1h.csv`` are: :func:`finer_file` finds the sibling named the same but for its
timeframe, the coarsest finer one that divides the one asked (the 4h file for 1d: fewer rows to
read), and :func:`~crypto_tune.data.load_candles` resamples it (UTC bins labelled by their open).
"""

from __future__ import annotations

import re
from pathlib import Path

from crypto_tune.exceptions import ConfigError
from crypto_tune.timeframes import timeframe_minutes

# a timeframe token between separators: binance_ETHUSDT_4h.csv, ETH_USDT-1h-futures.feather
_TOKEN = re.compile(r"(?<=[_\-])(\d+[mhdw])(?=[_\-.])", re.IGNORECASE)


def finer_file(path: str | Path, timeframe: str) -> Path | None:
    """The existing sibling of ``path`` (a file named with ``timeframe``) named the same but for
    a finer timeframe that divides ``timeframe``, the coarsest such; None if there is none.

    >>> finer_file("../shared/data/binance_ETHUSDT_1d.csv", "1d")  # doctest: +SKIP
    PosixPath('../shared/data/binance_ETHUSDT_4h.csv')
    """
    path = Path(path)
    want = timeframe_minutes(timeframe)
    tokens = [m for m in _TOKEN.finditer(path.name) if m.group(1).lower() == timeframe.lower()]
    if not tokens or not path.parent.is_dir():
        return None
    head, tail = path.name[: tokens[-1].start()], path.name[tokens[-1].end() :]
    best: tuple[int, Path] | None = None
    for sibling in sorted(path.parent.iterdir()):
        name = sibling.name
        if len(name) <= len(head) + len(tail) or not name.startswith(head):
            continue
        if not name.endswith(tail) or not sibling.is_file():
            continue
        try:
            minutes = timeframe_minutes(name[len(head) : len(name) - len(tail)])
        except ConfigError:  # not a timeframe: another file of the folder
            continue
        if minutes < want and want % minutes == 0 and (best is None or minutes > best[0]):
            best = (minutes, sibling)
    return None if best is None else best[1]


__all__ = ["finer_file"]
