"""A synthetic market with known structure: volatility clustering, regimes and a planted signal.

Model (per bar t, log return r_t, everything driven by one seeded numpy Generator):

* regime_t: 2-state Markov chain ("calm"/"volatile"), sticky, with geometric run lengths of mean
  ``mean_calm_bars`` / ``mean_volatile_bars``;
* g_t: unit-mean GARCH(1,1) variance, g_t = (1 - a - b) + a * g_{t-1} * eps_{t-1}^2 + b * g_{t-1};
* sigma_t = annual_vol / sqrt(periods_per_year) * sqrt(g_t) * (volatile_multiplier if volatile);
* r_{t+1} = mu_t + d + sigma_{t+1} * eps_{t+1} + J_{t+1}, eps standardised Student-t
  (``tail_df``), d = ``annual_drift`` / periods_per_year a constant drift (0 by default; > 0 a bull
  market, < 0 a bear market), J the sum of N_{t+1} ~ Poisson(``jump_intensity`` / periods_per_year)
  normal jumps of standard deviation ``jump_scale`` (none by default);
* the planted part mu_t = k * v_t * tanh(z_t) is trend continuation computed from past prices only:
  v_t is the EWMA volatility of returns up to t (lambda 0.94) and z_t = (r_{t-L+1} + ... + r_t) /
  (v_t * sqrt(L)) the vol-scaled return of the last L = ``signal_lookback`` bars.

``k`` is calibrated by a root-find on the same seed's shocks (Illinois regula falsi, to 1e-4) so
that the realised ``true_ic(1)`` equals ``planted_ic`` (an analytic calibration is not close enough:
heavy tails and volatility clustering give the sample IC a spread of ~0.02 at 8000 bars). When the
sample's chance correlation between signal shape and noise alone reaches ``planted_ic``, matching
it would plant next to nothing, so k matches the population IC (without that chance term) instead
and ``true_ic(1)`` then exceeds ``planted_ic``; this happens for small planted_ic on short samples.
``signal_strength`` sets k itself instead (no root-find): then bar t depends on the draws up to t
only, so a shorter market of the same seed is a prefix of a longer one (open, close, volume,
regimes, expected returns, jumps; high and low are drawn per bar from one stream and are not).

Drift and jumps draw from streams of their own (children 5 and 6 of the seed's sequence): with
their defaults a market is bit-identical to one made before they existed.

The planted signal's simulation and calibration are in ``_planted_signal.py``; this module draws
the regimes, the volatility and the shocks, and makes the candles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crypto_tune._checks import check_int, check_real
from crypto_tune.data._planted_signal import (
    MAX_STRENGTH,
    SignalState,
    calibrate,
    expected_sum,
    ic_or_zero,
    simulate,
)
from crypto_tune.data._rows import RowNames
from crypto_tune.data._timestamps import TIME_UNIT
from crypto_tune.data._validate import check_parsed_rows
from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.timeframes import periods_per_year, timeframe_delta

REGIMES: tuple[str, str] = ("calm", "volatile")
_BASE_VOLUME = 1_000.0
_VOLUME_NOISE = 0.3  # log-normal noise on volume


@dataclass(frozen=True, eq=False)
class SyntheticMarket:
    """Candles with their hidden truth: regimes and the planted predictable part of returns."""

    candles: pd.DataFrame
    regime: pd.Series
    expected_return: pd.Series
    signal_strength: float
    _state: SignalState = field(repr=False)
    jumps: pd.Series | None = field(default=None, repr=False)
    """Number of jumps on each bar (all zero without ``jump_intensity``)."""

    def true_ic(self, horizon: int = 1) -> float:
        """Pearson IC of the planted expected ``horizon``-bar return against the realised one.

        The expectation at t sums mu over the next ``horizon`` bars, projecting the bars after the
        first with zero noise (the part known at t); the realised return is close[t+h]/close[t] - 1.
        A market without a planted part (``planted_ic=0``) has IC 0 by definition.

        >>> synthetic_market(seed=1, planted_ic=0.1).true_ic(1)  # doctest: +SKIP
        0.1
        """
        n_bars = len(self.candles)
        if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer):
            raise ConfigError(f"horizon must be an int >= 1, got {horizon!r}")
        if not 1 <= horizon <= n_bars - 3:
            raise ConfigError(f"horizon must be an int in [1, {n_bars - 3}], got {horizon}")
        state = self._state
        if state.strength == 0.0:
            return 0.0
        expected = expected_sum(
            state, self.expected_return.to_numpy(dtype=np.float64), int(horizon)
        )
        close = self.candles["close"].to_numpy()
        realised = close[horizon:] / close[:-horizon] - 1.0
        return ic_or_zero(expected, realised)


def _regimes(
    rng: np.random.Generator, n_bars: int, mean_calm: float, mean_volatile: float
) -> np.ndarray:
    """0/1 (calm/volatile) path of a sticky 2-state Markov chain, started in its stationary law."""
    state = int(rng.random() < mean_volatile / (mean_calm + mean_volatile))
    means = (mean_calm, mean_volatile)
    path = np.empty(n_bars, dtype=np.int8)
    filled = 0
    while filled < n_bars:
        length = int(rng.geometric(1.0 / means[state]))
        path[filled : filled + length] = state
        filled += length
        state = 1 - state
    return path


def _garch_variance(eps: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Unit-mean GARCH(1,1) variance path driven by standardised shocks ``eps``."""
    omega = 1.0 - alpha - beta
    g = [1.0] * len(eps)
    current = 1.0
    for t, shock in enumerate(eps[:-1].tolist(), start=1):
        current = omega + current * (alpha * shock * shock + beta)
        g[t] = current
    return np.array(g)


def synthetic_market(
    *,
    seed: int = 0,
    n_bars: int = 8000,
    timeframe: str = "4h",
    start: str = "2021-01-01",
    planted_ic: float = 0.0,
    annual_vol: float = 0.5,
    volatile_multiplier: float = 2.5,
    mean_calm_bars: float = 400.0,
    mean_volatile_bars: float = 200.0,
    garch_alpha: float = 0.05,
    garch_beta: float = 0.9,
    tail_df: float = 6.0,
    signal_lookback: int = 4,
    start_price: float = 1000.0,
    annual_drift: float = 0.0,
    jump_intensity: float = 0.0,
    jump_scale: float = 0.05,
    signal_strength: float | None = None,
) -> SyntheticMarket:
    """A deterministic synthetic market for a seed (see the module docstring for the model).

    ``annual_vol`` is the calm regime's long-run annualised volatility; ``tail_df`` the Student-t
    degrees of freedom of the shocks (``math.inf`` for Gaussian); ``planted_ic`` in [0, 0.5) the
    realised IC of the planted trend-continuation signal (0: pure random walk with volatility
    clustering and regimes). ``annual_drift`` is the yearly log-return drift (0.5: a bull market,
    -0.5: a bear market); ``jump_intensity`` the expected jumps per year, each a normal log return
    of standard deviation ``jump_scale``; ``signal_strength`` sets the planted k directly (with
    ``planted_ic`` 0) instead of calibrating it to ``planted_ic``.

    >>> market = synthetic_market(seed=7, n_bars=2000, planted_ic=0.05)
    >>> round(market.true_ic(1), 3)
    0.05
    """
    seed = check_int("seed", seed, low=0)
    n_bars = check_int("n_bars", n_bars, low=100)
    if not isinstance(timeframe, str):
        raise ConfigError(f"timeframe must be a str like '4h', got {timeframe!r}")
    bar = timeframe_delta(timeframe)
    try:
        origin = pd.Timestamp(start)
    except (TypeError, ValueError):
        origin = None
    if not isinstance(start, str) or origin is None or pd.isna(origin):
        raise ConfigError(f"start must be a date like '2021-01-01', got {start!r}")
    origin = origin.tz_localize("UTC") if origin.tz is None else origin.tz_convert("UTC")
    planted_ic = check_real("planted_ic", planted_ic, low=0.0, high=0.5, closed="[)")
    annual_vol = check_real("annual_vol", annual_vol, low=0.0, high=5.0, closed="(]")
    volatile_multiplier = check_real(
        "volatile_multiplier", volatile_multiplier, low=1.0, high=10.0, closed="[]"
    )
    mean_calm_bars = check_real(
        "mean_calm_bars", mean_calm_bars, low=1.0, high=math.inf, closed="[)"
    )
    mean_volatile_bars = check_real(
        "mean_volatile_bars", mean_volatile_bars, low=1.0, high=math.inf, closed="[)"
    )
    garch_alpha = check_real("garch_alpha", garch_alpha, low=0.0, high=1.0, closed="[)")
    garch_beta = check_real("garch_beta", garch_beta, low=0.0, high=1.0, closed="[)")
    if garch_alpha + garch_beta >= 1.0:
        raise ConfigError(f"garch_alpha + garch_beta must be < 1, got {garch_alpha} + {garch_beta}")
    if tail_df != math.inf:
        tail_df = check_real("tail_df", tail_df, low=2.0, high=math.inf, closed="()")
    signal_lookback = check_int("signal_lookback", signal_lookback, low=1)
    if signal_lookback > n_bars // 10:
        raise ConfigError(
            f"signal_lookback must be <= n_bars // 10 = {n_bars // 10}, got {signal_lookback}"
        )
    start_price = check_real("start_price", start_price, low=0.0, high=1e12, closed="()")
    annual_drift = check_real("annual_drift", annual_drift, low=-5.0, high=5.0, closed="[]")
    jump_intensity = check_real(
        "jump_intensity",
        jump_intensity,
        low=0.0,
        high=float(periods_per_year(timeframe)),
        closed="[]",
    )
    jump_scale = check_real("jump_scale", jump_scale, low=0.0, high=1.0, closed="(]")
    if signal_strength is not None:
        signal_strength = check_real(
            "signal_strength", signal_strength, low=0.0, high=MAX_STRENGTH, closed="[]"
        )
        if planted_ic > 0.0:
            raise ConfigError(
                f"give planted_ic or signal_strength, not both: got planted_ic={planted_ic} and "
                f"signal_strength={signal_strength}"
            )
    if origin.value + n_bars * bar.value > pd.Timestamp.max.value:
        raise ConfigError(f"n_bars={n_bars} {timeframe} bars from {start} run past the year 2262")

    regime_rng, shock_rng, bar_rng, volume_rng, jump_count_rng, jump_size_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)
    )
    regime = _regimes(regime_rng, n_bars, mean_calm_bars, mean_volatile_bars)
    if math.isinf(tail_df):
        eps = shock_rng.standard_normal(n_bars)
    else:
        eps = shock_rng.standard_t(tail_df, n_bars) / math.sqrt(tail_df / (tail_df - 2.0))
    base = annual_vol / math.sqrt(periods_per_year(timeframe))
    sigma = (
        base
        * np.sqrt(_garch_variance(eps, garch_alpha, garch_beta))
        * np.where(regime == 1, volatile_multiplier, 1.0)
    )
    shocks = sigma * eps
    if annual_drift != 0.0:
        shocks = shocks + annual_drift / periods_per_year(timeframe)
    if jump_intensity > 0.0:
        jumps = jump_count_rng.poisson(jump_intensity / periods_per_year(timeframe), n_bars)
        shocks = shocks + jump_scale * np.sqrt(jumps) * jump_size_rng.standard_normal(n_bars)
    else:
        jumps = np.zeros(n_bars, dtype=np.int64)
    noise = shocks.tolist()
    if signal_strength is not None:
        strength = signal_strength
        r, mu, vol = simulate(noise, strength, signal_lookback, base * base)
    elif planted_ic > 0.0:
        strength, (r, mu, vol) = calibrate(noise, planted_ic, signal_lookback, base * base)
    else:
        strength = 0.0
        r, mu, vol = simulate(noise, 0.0, signal_lookback, base * base)

    # Prices: open = previous close; high/low = Brownian-bridge extremes of the bar's log path.
    log_close = math.log(start_price) + np.cumsum(r)
    close = np.exp(log_close)
    open_ = np.r_[start_price, close[:-1]]
    u_high = 1.0 - bar_rng.random(n_bars)  # in (0, 1]
    u_low = 1.0 - bar_rng.random(n_bars)
    up = 0.5 * (r + np.sqrt(r * r - 2.0 * sigma * sigma * np.log(u_high)))
    down = 0.5 * (-r + np.sqrt(r * r - 2.0 * sigma * sigma * np.log(u_low)))
    high = np.maximum(open_ * np.exp(up), np.maximum(open_, close))
    low = np.minimum(open_ * np.exp(-down), np.minimum(open_, close))
    volume = (
        _BASE_VOLUME
        * (0.5 + np.abs(r) / base)
        * np.exp(_VOLUME_NOISE * volume_rng.standard_normal(n_bars))
    )

    stamps = origin.value + np.arange(n_bars, dtype=np.int64) * bar.value
    index = pd.DatetimeIndex(pd.to_datetime(stamps, unit="ns", utc=True), name="timestamp")
    index = index.as_unit(TIME_UNIT)
    values = np.column_stack([open_, high, low, close, volume])
    try:
        candles, _ = check_parsed_rows(index, values, source="synthetic_market", labels=RowNames())
    except DataError as exc:  # a bug here, not bad input; keep the one-line message
        raise DataError(f"synthetic_market produced invalid candles: {exc}") from None
    labels = pd.Series(
        pd.Categorical.from_codes(regime.astype(np.int64), categories=pd.Index(REGIMES)),
        index=index,
        name="regime",
    )
    expected = pd.Series(mu, index=index, name="expected_return", dtype=np.float64)
    state = SignalState(
        log_returns=r, vol_estimate=vol, strength=float(strength), lookback=signal_lookback
    )
    return SyntheticMarket(
        candles=candles,
        regime=labels,
        expected_return=expected,
        signal_strength=float(strength),
        _state=state,
        jumps=pd.Series(jumps.astype(np.int64), index=index, name="jumps"),
    )


__all__ = ["REGIMES", "SyntheticMarket", "synthetic_market"]
