"""Backtest-overfitting statistics: PSR, expected maximum Sharpe, DSR and PBO (CSCV).

Conventions (a public contract; most open implementations get one of them wrong):

- every Sharpe ratio is PER PERIOD (not annualised): ``mean / std(ddof=1)`` of the bar returns;
- ``kurtosis`` is RAW (3 for a normal distribution), not excess;
- ``skew`` and ``kurtosis`` are the population (biased) moment ratios of the returns, as
  returned by :func:`sharpe_moments`.

References: Bailey & López de Prado (2012), "The Sharpe Ratio Efficient Frontier" (PSR);
Bailey & López de Prado (2014), "The Deflated Sharpe Ratio" (expected maximum Sharpe, DSR);
Bailey, Borwein, López de Prado & Zhu (2017), "The Probability of Backtest Overfitting" (CSCV).
"""

from __future__ import annotations

import itertools
import math
from numbers import Integral

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import comb

from crypto_tune._checks import check_int, check_real
from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.metrics._performance import _as_vector

_NAN = float("nan")
EULER_MASCHERONI = 0.5772156649015329
MAX_PBO_SPLITS = 22
"""Largest ``n_splits``: C(22, 11) = 705,432 combinations; C(24, 12) would be 2.7 million."""
_CHUNK_ELEMENTS = 4_000_000  # floats per combination chunk (about 32 MB)


def probabilistic_sharpe_ratio(
    sharpe: float, n_obs: int, skew: float, kurtosis: float, benchmark: float = 0.0
) -> float:
    """Probability that the true Sharpe ratio exceeds ``benchmark`` (Bailey & López de Prado).

    ``PSR = Φ((SR - SR*) * sqrt(n_obs - 1) / sqrt(1 - skew*SR + (kurtosis - 1)/4 * SR^2))``
    with ``sharpe`` and ``benchmark`` PER PERIOD, ``kurtosis`` RAW (3 for a normal) and
    ``n_obs`` the number of returns behind ``sharpe``. NaN when ``sharpe``, ``skew`` or
    ``kurtosis`` is NaN (the moments of a degenerate series, see :func:`sharpe_moments`).
    ConfigError when the term under the square root is <= 0, which real moments never give
    (raw kurtosis >= 1 + skew^2) but an excess kurtosis passed by mistake can.

    >>> round(probabilistic_sharpe_ratio(0.1, 101, 0.0, 3.0), 4)
    0.8407
    """
    from scipy.stats import norm  # here: importing scipy.stats takes ~0.35 s

    z = probabilistic_sharpe_z(sharpe, n_obs, skew, kurtosis, benchmark)
    return z if math.isnan(z) else float(norm.cdf(z))


def probabilistic_sharpe_z(
    sharpe: float, n_obs: int, skew: float, kurtosis: float, benchmark: float = 0.0
) -> float:
    """The z-statistic inside :func:`probabilistic_sharpe_ratio` (PSR = Φ(z)), same arguments,
    same NaN and ConfigError rules. Unlike PSR it does not round to 1.0 beyond z ≈ 8.3.

    >>> round(probabilistic_sharpe_z(0.1, 101, 0.0, 3.0), 4)
    0.9975
    """
    n = check_int("n_obs", n_obs, low=2)
    sr = check_real("sharpe", sharpe, text="a finite number", allow_nan=True)
    g3 = check_real("skew", skew, text="a finite number", allow_nan=True)
    g4 = check_real("kurtosis", kurtosis, text="a finite number", allow_nan=True)
    sr_star = check_real("benchmark", benchmark, text="a finite number")
    if math.isnan(sr) or math.isnan(g3) or math.isnan(g4):
        return _NAN
    denominator = 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr**2
    if denominator <= 0:
        raise ConfigError(
            f"1 - skew*sharpe + (kurtosis-1)/4*sharpe^2 must be > 0, got {denominator:.6g} "
            f"(sharpe={sr}, skew={g3}, kurtosis={g4}; kurtosis must be RAW, 3 for a normal)"
        )
    return (sr - sr_star) * math.sqrt(n - 1) / math.sqrt(denominator)


def expected_maximum_sharpe(n_trials: int, trial_sharpe_variance: float) -> float:
    """Expected maximum of ``n_trials`` Sharpe ratios whose true value is 0 (the DSR benchmark).

    ``sqrt(V) * ((1 - γ) Φ^-1(1 - 1/N) + γ Φ^-1(1 - 1/(N e)))`` with ``V`` the variance of the
    trials' PER-PERIOD Sharpe ratios, ``N = n_trials`` and γ the Euler-Mascheroni constant.
    One trial has no selection: ``n_trials == 1`` gives 0.0.

    >>> round(expected_maximum_sharpe(100, 0.5 / 250), 4)
    0.1132
    """
    n = check_int("n_trials", n_trials, low=1)
    variance = check_real("trial_sharpe_variance", trial_sharpe_variance, text="a finite number")
    if variance < 0:
        raise ConfigError(f"trial_sharpe_variance must be >= 0, got {trial_sharpe_variance!r}")
    if n == 1:
        return 0.0
    from scipy.stats import norm

    gamma = EULER_MASCHERONI
    z = (1.0 - gamma) * norm.ppf(1.0 - 1.0 / n) + gamma * norm.ppf(1.0 - 1.0 / (n * math.e))
    return float(math.sqrt(variance) * z)


def deflated_sharpe_ratio(
    sharpe: float,
    n_obs: int,
    skew: float,
    kurtosis: float,
    *,
    n_trials: int,
    trial_sharpe_variance: float,
) -> float:
    """PSR of the selected strategy against the expected maximum Sharpe of the search.

    ``DSR = PSR(sharpe, n_obs, skew, kurtosis, benchmark=expected_maximum_sharpe(n_trials,
    trial_sharpe_variance))``; same conventions (per-period Sharpe and variance, RAW kurtosis).
    The paper's example (SR 2.5/sqrt(250), T 1250, skew -3, kurtosis 10, 100 trials, variance
    0.5/250) gives 0.9004.
    """
    sr0 = expected_maximum_sharpe(n_trials, trial_sharpe_variance)
    return probabilistic_sharpe_ratio(sharpe, n_obs, skew, kurtosis, benchmark=sr0)


def sharpe_moments(returns: ArrayLike) -> tuple[float, int, float, float]:
    """``(sharpe, n_obs, skew, kurtosis)`` of ``returns`` (shape ``(n_periods,)``) for PSR/DSR.

    ``sharpe`` is per period, ``mean / std(ddof=1)``; ``skew = m3 / m2^1.5`` and
    ``kurtosis = m4 / m2^2`` are the population moment ratios (``m_k`` the mean k-th power of
    the deviations), kurtosis RAW. Sharpe, skew and kurtosis are NaN when ``n_obs < 2`` or all
    returns are equal (zero variance); ``n_obs`` is always the length.
    """
    r = _as_vector(returns, "returns")
    n = int(r.size)
    if n < 2 or np.ptp(r) == 0:
        return _NAN, n, _NAN, _NAN
    mean = float(r.mean())
    deviations = r - mean
    squares = deviations * deviations  # products, not ``**``: NumPy's pow is ~20x slower
    m2 = float(squares.mean())
    m3 = float(np.dot(squares, deviations)) / n
    m4 = float(np.dot(squares, squares)) / n
    if not m4 > 0:  # deviations so small that their powers underflow
        return _NAN, n, _NAN, _NAN
    sharpe = mean / float(np.sqrt(m2 * n / (n - 1)))  # std with ddof=1
    return sharpe, n, m3 / m2**1.5, m4 / m2**2


def _as_matrix(returns: ArrayLike | pd.DataFrame) -> np.ndarray:
    """``returns`` as a finite 2-D float array ``(T, N)``; DataError otherwise."""
    try:
        matrix = np.asarray(returns, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"returns must be numeric, got {type(returns).__name__}: {exc}") from None
    if matrix.ndim != 2:
        raise DataError(
            f"returns must be a 2-D (periods x configurations) matrix, got shape {matrix.shape}"
        )
    bad = ~np.isfinite(matrix)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"returns must be finite, got {matrix[row, col]} at row {row}, column {col}"
        )
    return matrix


def _half_sharpe(
    block_mean: np.ndarray,
    block_m2: np.ndarray,
    block_min: np.ndarray,
    block_max: np.ndarray,
    combos: np.ndarray,
    block_size: int,
) -> np.ndarray:
    """Per-period Sharpe (ddof=1) of every column over the blocks of each combination.

    Block statistics have shape ``(S, N)``; ``combos`` ``(C, S/2)`` holds block indices.
    Returns ``(C, N)``. Means and squared deviations are pooled per block (Chan et al.), so
    columns equal on the chosen blocks get bit-identical Sharpe ratios (exact ties). A column
    constant over the chosen rows has Sharpe 0 when the constant is 0 (a flat strategy),
    +inf when positive and -inf when negative, so it still ranks.
    """
    n_rows = combos.shape[1] * block_size
    means = block_mean[combos]  # (C, S/2, N)
    mean = means.mean(axis=1)
    m2 = block_m2[combos].sum(axis=1) + block_size * ((means - mean[:, None, :]) ** 2).sum(axis=1)
    constant = block_min[combos].min(axis=1) == block_max[combos].max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = mean / np.sqrt(m2 / (n_rows - 1))
    flat = constant | ~(m2 > 0)
    signed_inf = np.where(mean > 0, np.inf, np.where(mean < 0, -np.inf, 0.0))
    return np.where(flat, signed_inf, sharpe)


def probability_of_backtest_overfitting(
    returns: ArrayLike | pd.DataFrame, n_splits: int = 16
) -> float:
    """PBO by combinatorially symmetric cross-validation (Bailey, Borwein, López de Prado, Zhu).

    ``returns``: shape ``(T, N)``, one row per period and one column per configuration tried
    (ndarray or DataFrame, finite). The rows are cut into ``n_splits`` CONTIGUOUS blocks of
    ``T // n_splits`` rows; the last ``T % n_splits`` rows are dropped. For each of the
    ``C(S, S/2)`` ways to choose half of the blocks, the chosen blocks (in time order) are
    in-sample (IS) and the others out-of-sample (OOS). With per-period Sharpe ratios
    (``ddof=1``) of every column on both halves:

    - ``n*`` is the column with the best IS Sharpe (the first such column on a tie);
    - its OOS rank among the N columns, 1 = worst, ties AVERAGED (``scipy.stats.rankdata``);
    - relative rank ``ω = rank / (N + 1)``, logit ``λ = ln(ω / (1 - ω))``;
    - PBO = share of combinations with ``λ <= 0`` (the IS winner at or below the OOS median).

    A column constant over a half gets Sharpe 0 (constant 0) or ±inf (see ``_half_sharpe``).
    ConfigError unless ``n_splits`` is an even int in ``[2, 22]`` and ``<= T``, each half has
    at least 2 rows, and ``N >= 2``.
    """
    matrix = _as_matrix(returns)
    n_periods, n_configs = matrix.shape
    if (
        isinstance(n_splits, bool)
        or not isinstance(n_splits, Integral)
        or n_splits < 2
        or n_splits % 2
    ):
        raise ConfigError(f"n_splits must be an even int >= 2, got {n_splits!r}")
    if n_splits > MAX_PBO_SPLITS:
        raise ConfigError(
            f"n_splits must be <= {MAX_PBO_SPLITS} (C(S, S/2) combinations), got {n_splits}"
        )
    if n_splits > n_periods:
        raise ConfigError(
            f"n_splits must be <= the number of rows of returns ({n_periods}), got {n_splits}"
        )
    if n_configs < 2:
        raise ConfigError(f"returns must have at least 2 columns (configurations), got {n_configs}")
    block_size = n_periods // n_splits
    half = n_splits // 2
    if block_size * half < 2:
        raise ConfigError(
            f"returns must have at least 4 rows for n_splits={n_splits} (2 per half), "
            f"got {n_periods}"
        )
    blocks = matrix[: block_size * n_splits].reshape(n_splits, block_size, n_configs)
    block_mean = blocks.mean(axis=1)
    block_m2 = ((blocks - block_mean[:, None, :]) ** 2).sum(axis=1)
    block_min = blocks.min(axis=1)
    block_max = blocks.max(axis=1)

    from scipy.stats import rankdata

    all_blocks = np.arange(n_splits)
    combos_iter = itertools.combinations(range(n_splits), half)
    n_combos = int(comb(n_splits, half, exact=True))
    chunk = max(1, _CHUNK_ELEMENTS // (half * n_configs))
    overfit = 0
    done = 0
    while done < n_combos:
        size = min(chunk, n_combos - done)
        is_idx = np.array(list(itertools.islice(combos_iter, size)), dtype=np.intp)
        oos_mask = np.ones((size, n_splits), dtype=bool)
        np.put_along_axis(oos_mask, is_idx, False, axis=1)
        oos_idx = np.broadcast_to(all_blocks, (size, n_splits))[oos_mask].reshape(size, half)
        stats = (block_mean, block_m2, block_min, block_max)
        is_sharpe = _half_sharpe(*stats, is_idx, block_size)
        oos_sharpe = _half_sharpe(*stats, oos_idx, block_size)
        best = np.argmax(is_sharpe, axis=1)
        ranks = rankdata(oos_sharpe, method="average", axis=1)[np.arange(size), best]
        omega = ranks / (n_configs + 1)
        logits = np.log(omega / (1.0 - omega))
        overfit += int(np.count_nonzero(logits <= 0))
        done += size
    return overfit / n_combos


__all__ = [
    "EULER_MASCHERONI",
    "deflated_sharpe_ratio",
    "expected_maximum_sharpe",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "sharpe_moments",
]
