"""The panel of a universe: many symbols on one 24/7 calendar, features, cross-sectional ranks.

Layout. The calendar is the regular grid of bars from the first bar of any symbol to the last
(``T`` bars); a symbol's matrix column is NaN where it has no candle (before its listing, after
its delisting, in a gap). Nothing is ever filled forward: a feature is computed on the symbol's
own candles, the forward return ``close[t + h] / close[t] - 1`` needs a candle at both ends of
the grid, and a return held across a gap is the price change from the last candle before it.

A symbol ENTERS the panel at its ``warmup``-th own candle (enough history for its longest
feature window) and is in the panel at a bar only where it has a candle. The long panel has one
row per (bar, symbol) in the panel at bars where at least ``min_symbols`` are; rows are sorted by
bar, then symbol.

Cross-sectional transforms at bar ``t`` use only the rows of bar ``t`` (``rank``: Qlib's
CSRankNorm, ``(pct_rank - 0.5) * 3.46``, about unit variance; ``zscore``: minus the bar's mean,
over its standard deviation). Every feature at bar ``t`` therefore uses candles ``<= t`` of every
symbol: truncating the future leaves the past unchanged (tests/test_universe_panel.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.features import compute_features
from crypto_tune.timeframes import timeframe_delta

CS_FEATURES = ("rank", "zscore", "none")
LABELS = ("raw", "demean", "rank")
_RANK_SCALE = 3.46  # Qlib's CSRankNorm: a uniform rank in [0, 1] scaled to about unit variance


@dataclass(frozen=True)
class Panel:
    """A universe on one calendar: matrices ``(T, N)`` and a long panel of ``R`` rows."""

    index: pd.DatetimeIndex  # (T,) the calendar
    symbols: tuple[str, ...]  # (N,)
    close: np.ndarray  # (T, N) close, NaN without a candle
    entered: np.ndarray  # (T, N) bool: in the panel (candle present, history enough)
    bar: np.ndarray  # (R,) int64 bar of each row
    sym: np.ndarray  # (R,) int64 symbol of each row
    features: np.ndarray  # (R, F) float32
    feature_names: tuple[str, ...]
    forward: np.ndarray  # (R,) float64 raw forward return (NaN near the end or across a gap)
    label: np.ndarray  # (R,) float64 the model's target (forward return, normalised per bar)

    @property
    def n_rows(self) -> int:
        return int(self.bar.size)

    def bar_returns(self) -> np.ndarray:
        """``(T, N)`` return of each bar: the price change since the symbol's previous candle
        where it has a candle, 0 where it has none (a held position waits for its next candle)."""
        close = pd.DataFrame(self.close)
        last = close.ffill().shift(1).to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            out = self.close / last - 1.0
        return np.where(np.isfinite(out), out, 0.0)

    def trailing_vol(self, window: int) -> np.ndarray:
        """``(T, N)`` std of the last ``window`` candle-to-candle log returns of each symbol,
        known at the close of bar ``t`` (NaN during the warm-up and where absent)."""
        out = np.full(self.close.shape, np.nan)
        for j in range(self.close.shape[1]):
            present = np.isfinite(self.close[:, j])
            series = pd.Series(np.log(self.close[present, j]))
            out[present, j] = series.diff().rolling(window).std().to_numpy()
        return out


def _calendar(candles: Mapping[str, pd.DataFrame], timeframe: str) -> pd.DatetimeIndex:
    starts = [c.index[0] for c in candles.values() if len(c)]
    ends = [c.index[-1] for c in candles.values() if len(c)]
    if not starts:
        raise DataError("universe: no symbol has a candle")
    off = off_calendar(candles, timeframe)
    if off is not None:
        raise DataError(
            f"universe: {off[0]}'s candle at {off[1]:%Y-%m-%d %H:%M} is off the {timeframe} "
            f"calendar from {off[2]:%Y-%m-%d %H:%M}"
        )
    return pd.date_range(min(starts), max(ends), freq=timeframe_delta(timeframe))


def off_calendar(
    candles: Mapping[str, pd.DataFrame], timeframe: str
) -> tuple[str, pd.Timestamp, pd.Timestamp] | None:
    """The first symbol with a candle off the universe's calendar (bars every ``timeframe``
    from the earliest candle of any symbol): ``(symbol, its first such candle, the calendar's
    start)``, or None when every candle is on it."""
    starts = [c.index[0] for c in candles.values() if len(c)]
    if not starts:
        return None
    origin, step = min(starts), timeframe_delta(timeframe)
    for symbol, frame in candles.items():
        off = (frame.index - origin) % step != pd.Timedelta(0)
        if off.any():
            return symbol, frame.index[off][0], origin
    return None


def cross_sectional(matrix: np.ndarray, how: str) -> np.ndarray:
    """The ``(T, N)`` matrix transformed across each row (bar): ``rank`` or ``zscore``; NaN
    cells stay NaN and take no part; a row without spread gives NaN."""
    if how == "rank":
        pct = pd.DataFrame(matrix).rank(axis=1, pct=True).to_numpy()
        counts = np.isfinite(matrix).sum(axis=1, keepdims=True)
        # pct in [1/n, 1]: centre on the mid rank so that a bar of n names has mean 0
        mid = (1.0 + 1.0 / np.maximum(counts, 1)) / 2.0
        out = (pct - mid) * _RANK_SCALE
        return np.where(counts > 1, out, np.nan)
    if how == "zscore":
        with np.errstate(invalid="ignore", divide="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(matrix, axis=1, keepdims=True)
                std = np.nanstd(matrix, axis=1, keepdims=True)
            out = (matrix - mean) / np.where(std > 1e-12, std, np.nan)
        return out
    if how == "demean":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return matrix - np.nanmean(matrix, axis=1, keepdims=True)
    raise ConfigError(f"cross-sectional transform must be rank, zscore or demean, got {how!r}")


def build_panel(
    candles: Mapping[str, pd.DataFrame],
    *,
    timeframe: str,
    windows: Sequence[int],
    horizon: int,
    cs_features: str = "rank",
    label: str = "rank",
    warmup: int | None = None,
    min_symbols: int = 2,
) -> Panel:
    """The :class:`Panel` of ``candles`` (symbol -> validated OHLCV frame on a UTC index).

    ``cs_features``: add each feature's per-bar ``rank`` or ``zscore`` beside it (``none``: the
    raw features only). ``label``: the target is the forward return ``raw``, minus its bar's
    mean (``demean``) or its per-bar rank (``rank``, CSRankNorm). ``warmup``: own candles before
    a symbol enters (None: twice the longest window). ``min_symbols``: fewer symbols in the panel
    at a bar and the bar has no rows.
    """
    if cs_features not in CS_FEATURES:
        raise ConfigError(f"universe.features must be one of {', '.join(CS_FEATURES)}")
    if label not in LABELS:
        raise ConfigError(f"universe.label must be one of {', '.join(LABELS)}, got {label!r}")
    symbols = tuple(candles)
    grid = _calendar(candles, timeframe)
    t_len, n = len(grid), len(symbols)
    warm = 2 * max(windows) if warmup is None else int(warmup)
    close = np.full((t_len, n), np.nan)
    entered = np.zeros((t_len, n), dtype=bool)
    per_symbol: list[np.ndarray] = []
    names: list[str] = []
    for j, symbol in enumerate(symbols):
        frame = candles[symbol]
        positions = grid.get_indexer(frame.index)
        close[positions, j] = frame["close"].to_numpy(dtype=float)
        entered[positions[warm - 1 :], j] = True
        feats = compute_features(frame, windows=windows)
        names = list(feats.columns)
        block = np.full((t_len, len(names)), np.nan)
        block[positions] = feats.to_numpy()
        per_symbol.append(block)
    cube = np.stack(per_symbol, axis=1).astype(np.float32)  # (T, N, F)
    del per_symbol
    live = entered & (entered.sum(axis=1, keepdims=True) >= min_symbols)
    cube[~live] = np.nan
    bar, sym = np.nonzero(live)  # row-major: sorted by bar, then symbol
    n_features = cube.shape[2]
    width = n_features if cs_features == "none" else 2 * n_features
    full = np.empty((bar.size, width), dtype=np.float32)
    out_names = list(names)
    for f in range(n_features):
        full[:, f] = cube[bar, sym, f]
        if cs_features != "none":
            full[:, n_features + f] = cross_sectional(
                cube[:, :, f].astype(np.float64), cs_features
            )[bar, sym]
    if cs_features != "none":
        out_names += [f"cs{cs_features}_{name}" for name in names]
    with np.errstate(invalid="ignore", divide="ignore"):
        ahead = np.full_like(close, np.nan)
        ahead[:-horizon] = close[horizon:] / close[:-horizon] - 1.0
    ahead[~live] = np.nan
    target = ahead if label == "raw" else cross_sectional(ahead, label)
    return Panel(
        index=grid,
        symbols=symbols,
        close=close,
        entered=live,
        bar=bar.astype(np.int64),
        sym=sym.astype(np.int64),
        features=full,
        feature_names=tuple(out_names),
        forward=ahead[bar, sym],
        label=target[bar, sym],
    )


__all__ = ["CS_FEATURES", "LABELS", "Panel", "build_panel", "cross_sectional", "off_calendar"]
