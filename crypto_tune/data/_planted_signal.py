"""The synthetic market's planted signal: the sequential path r_{t+1} = mu_t + noise_{t+1} with
mu_t = k * v_t * tanh(z_t) (:func:`simulate`), the strength k calibrated so the realised IC
matches a target (:func:`calibrate`), and the expected h-bar return it implies
(:func:`expected_sum`). See :mod:`crypto_tune.data._synthetic` for the model."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from crypto_tune.exceptions import ConfigError
from crypto_tune.metrics import information_coefficient

_EWMA_LAMBDA = 0.94  # RiskMetrics decay of the observable volatility estimate v_t
MAX_STRENGTH = 0.95  # k >= 1 lets a saturated trend feed its own volatility without bound
_IC_TOLERANCE = 1e-4


@dataclass(frozen=True)
class SignalState:
    log_returns: np.ndarray
    vol_estimate: np.ndarray
    strength: float
    lookback: int


def ic_or_zero(x: np.ndarray, y: np.ndarray) -> float:
    """The IC of ``x`` for ``y``; 0 where it is undefined (no planted component: constant ``x``)."""
    ic = information_coefficient(x, y)
    return 0.0 if math.isnan(ic) else ic


def expected_sum(state: SignalState, mu: np.ndarray, horizon: int) -> np.ndarray:
    """Sum of mu_t .. mu_{t+h-1} for every t with a realised h-bar return, noise set to zero."""
    r, lam, k, lookback = state.log_returns, _EWMA_LAMBDA, state.strength, state.lookback
    m = len(r) - horizon
    total = mu[:m].copy()
    if horizon == 1:
        return total
    t = np.arange(m)
    cumulative = np.concatenate([[0.0], np.cumsum(r)])
    window = cumulative[t + 1] - cumulative[np.maximum(t - lookback + 1, 0)]
    var = state.vol_estimate[:m] ** 2
    current = mu[:m]
    projected: list[np.ndarray] = []
    scale = 1.0 / math.sqrt(lookback)
    for j in range(1, horizon):
        new = current
        projected.append(new)
        if j <= lookback:
            dropped_at = t + j - lookback
            dropped = np.where(dropped_at >= 0, r[np.maximum(dropped_at, 0)], 0.0)
        else:
            dropped = projected[j - lookback - 1]
        window = window + new - dropped
        var = lam * var + (1.0 - lam) * new * new
        vol = np.sqrt(var)
        current = k * vol * np.tanh(window * scale / vol)
        total = total + current
    return total


def simulate(
    noise: list[float], strength: float, lookback: int, var0: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sequential part: r_{t+1} = mu_t + noise_{t+1}; returns (r, mu, v) as arrays."""
    n = len(noise)
    r = [0.0] * n
    mu = [0.0] * n
    vol = [0.0] * n
    lam, rest = _EWMA_LAMBDA, 1.0 - _EWMA_LAMBDA
    scale = 1.0 / math.sqrt(lookback)
    tanh, sqrt = math.tanh, math.sqrt
    var, window, prev = var0, 0.0, 0.0
    for t in range(n):
        rt = prev + noise[t]
        r[t] = rt
        window += rt
        if t >= lookback:
            window -= r[t - lookback]
        var = lam * var + rest * rt * rt
        vt = sqrt(var)
        vol[t] = vt
        prev = strength * vt * tanh(window * scale / vt) if strength else 0.0
        mu[t] = prev
    return np.array(r), np.array(mu), np.array(vol)


def _realised_ic(r: np.ndarray, mu: np.ndarray) -> float:
    """true_ic(1) of a simulated path: corr(mu_t, exp(r_{t+1}) - 1)."""
    return ic_or_zero(mu[:-1], np.expm1(r[1:]))


def _population_ic(r: np.ndarray, mu: np.ndarray) -> float:
    """The IC without the sample's chance correlation between signal and noise."""
    planted = mu[:-1]
    noise = np.expm1(r[1:]) - planted
    signal_var, noise_var = float(planted.var()), float(noise.var())
    return math.sqrt(signal_var / (signal_var + noise_var)) if signal_var > 0 else 0.0


def _solve(gap: Callable[[float], float], lo: float, hi: float) -> float:
    """Root of ``gap`` in (lo, MAX_STRENGTH], given gap(lo) < 0 (Illinois regula falsi)."""
    f_lo, f_hi = gap(lo), gap(hi)
    while f_hi < 0.0:
        if hi >= MAX_STRENGTH:
            raise OverflowError(f_hi)
        lo, f_lo = hi, f_hi
        hi = min(hi * 1.5, MAX_STRENGTH)
        f_hi = gap(hi)
    best, f_best = hi, f_hi
    side = 0
    for _ in range(60):
        if abs(f_best) <= _IC_TOLERANCE:
            break
        k = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        f_k = gap(k)
        best, f_best = k, f_k
        if f_k > 0.0:
            hi, f_hi = k, f_k
            if side == 1:
                f_lo /= 2.0
            side = 1
        else:
            lo, f_lo = k, f_k
            if side == -1:
                f_hi /= 2.0
            side = -1
    return best


def calibrate(
    noise: list[float], target: float, lookback: int, var0: float
) -> tuple[float, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Signal strength k whose realised IC(1) on this sample equals ``target``.

    If the sample's chance correlation alone already reaches ``target`` (small ``planted_ic`` or
    short samples), matching it would plant next to nothing; k then matches the population IC
    (the IC without that chance term) instead, and true_ic(1) differs from ``target`` by it.
    """
    runs: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def run(k: float) -> tuple[np.ndarray, np.ndarray]:
        if k not in runs:
            runs[k] = simulate(noise, k, lookback, var0)
        return runs[k][0], runs[k][1]

    # E[tanh(z)^2] ~ 0.4 for z ~ N(0, 1): IC ~ k c / sqrt(1 + k^2 c^2), c ~ 0.63.
    guess = min(target / (0.63 * math.sqrt(1.0 - target * target)), MAX_STRENGTH)
    tiny = 1e-9
    measure = _realised_ic if _realised_ic(*run(tiny)) < target else _population_ic
    try:
        strength = _solve(lambda k: measure(*run(k)) - target, tiny, guess)
    except OverflowError as exc:
        reached = float(exc.args[0]) + target
        raise ConfigError(
            f"planted_ic={target} is not reachable for this market: the IC is {reached:.3f} at "
            f"the strongest signal allowed (k={MAX_STRENGTH}); lower planted_ic or raise n_bars"
        ) from None
    return strength, runs[strength]


__all__ = ["MAX_STRENGTH", "SignalState", "calibrate", "expected_sum", "ic_or_zero", "simulate"]
