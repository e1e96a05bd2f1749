"""The best run's backtests, one asset (basket member) at a time: the out-of-fold predictions of
the tuning period backtested fold by fold (in sample), a refit on the whole tuning period (or
walk-forward refits every ``best.retrain_months``) predicting the holdout and its backtest (out
of sample); then the members' IC statistics and returns combined into the run's (portfolio)
returns and the performance summaries of each segment.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import pandas as pd

from crypto_tune import metrics
from crypto_tune._json import json_value
from crypto_tune.config import ModelSettings, Settings, StrategySettings
from crypto_tune.data import time_index
from crypto_tune.dataset import Dataset, prepare_dataset, regime_mask
from crypto_tune.diagnostics import trades_per_year
from crypto_tune.evaluation import backtest_segment
from crypto_tune.exceptions import ConfigError
from crypto_tune.model import fit_refit, out_of_fold, refit_rounds
from crypto_tune.phases._model import score_folds

log = logging.getLogger("crypto_tune.best")
SUMMARY_KEYS = (
    "sharpe",
    "sortino",
    "max_drawdown",
    "win_rate",
    "total_return",
    "n_trades",
    "calmar",
    "profit_factor",
    "exposure",
    "cagr",
    "volatility",
    "trades_per_year",
    "turnover",
)
_clean = json_value  # NaN/inf -> None, NumPy scalars -> Python numbers


def _summary(
    returns: np.ndarray, trades: pd.DataFrame, positions: np.ndarray | None, ppy: float
) -> dict:
    pnl = trades["pnl"].to_numpy() if len(trades) else np.array([])
    out: dict[str, Any] = metrics.performance_summary(
        returns, periods_per_year=ppy, trade_pnls=pnl, positions=positions
    )
    out["n_trades"] = len(trades)
    out["trades_per_year"] = trades_per_year(len(trades), len(returns), ppy)
    return {k: _clean(out.get(k)) for k in SUMMARY_KEYS}


@dataclasses.dataclass
class MemberRun:
    """One asset's part of the best run: in-sample folds, refit and holdout backtest."""

    symbol: str
    dataset: Dataset
    fold_scores: dict
    is_returns: list[pd.Series]
    is_trades: pd.DataFrame
    is_positions: np.ndarray
    oos: Any
    holdout_ic: float
    fitted: Any
    is_signal: np.ndarray | None = None
    is_costs: list[pd.DataFrame | None] = dataclasses.field(default_factory=list)  # per fold


def _run_member(settings: Settings, model: ModelSettings, strategy: StrategySettings) -> MemberRun:
    """In sample: the out-of-fold predictions of the tuning period, fold by fold; out of sample:
    a refit on the whole tuning period (for the folds' median best iteration, no early
    stopping: :func:`crypto_tune.model.refit_rounds`) predicting the holdout."""
    dataset = prepare_dataset(settings)
    mask = regime_mask(dataset, settings.regime.name)
    timeframe = settings.asset.timeframe
    oof = out_of_fold(dataset, model, seed=settings.seed, cache_dir=settings.paths.cache)
    parts, trades, positions, signals = [], [], [], []
    costs: list[pd.DataFrame | None] = []
    for fold in dataset.folds:
        preds = oof.fold_slice(fold.number)
        pos = dataset.candles.index.get_indexer(preds.index)
        result = backtest_segment(
            dataset.candles, pos, preds.to_numpy(), mask[pos], strategy, timeframe=timeframe
        )
        parts.append(result.returns)
        trades.append(result.trades)
        positions.append(result.positions.to_numpy())
        assert result.signal is not None  # backtest_segment keeps the traded signal
        signals.append(result.signal.to_numpy())
        costs.append(result.costs)
    holdout = dataset.holdout
    if len(holdout.test_idx) == 0:
        raise ConfigError(
            f"split.holdout_start..holdout_end: no bars of {settings.asset.symbol} in the holdout"
        )
    rounds = refit_rounds(oof.best_iterations)
    segments = None
    if settings.best.retrain_months > 0:
        fitted, predictions, segments = _walk_forward_holdout(settings, dataset, model, rounds)
    else:
        fitted = fit_refit(
            dataset.features, dataset.label, holdout, model, seed=settings.seed, num_rounds=rounds
        )
        predictions = fitted.test_predictions
    in_regime = mask[holdout.test_idx]
    oos = backtest_segment(  # the signal and sizing on raw predictions, as in Phase 2
        dataset.candles,
        holdout.test_idx,
        predictions,
        in_regime,
        strategy,
        timeframe=timeframe,
        segments=segments,
    )
    labels = dataset.label.to_numpy()[holdout.test_idx]
    keep = np.isfinite(labels) & mask[holdout.test_idx]
    holdout_ic = metrics.information_coefficient(predictions[keep], labels[keep])
    return MemberRun(
        symbol=settings.asset.symbol,
        dataset=dataset,
        fold_scores=score_folds(dataset, oof, settings.regime.name),
        is_returns=parts,
        is_trades=pd.concat(trades, ignore_index=True),
        is_positions=np.concatenate(positions),
        oos=oos,
        holdout_ic=holdout_ic,
        fitted=fitted,
        is_signal=np.concatenate(signals),
        is_costs=costs,
    )


def holdout_refits(settings: Settings, index: pd.DatetimeIndex) -> list:
    """Walk-forward folds through the holdout: retrain every ``best.retrain_months`` on all bars
    from ``split.tune_start`` up to each block (expanding window, same purge and early stopping).
    """
    from crypto_tune.splits import walk_forward_folds

    split = settings.split
    start, holdout = pd.Timestamp(split.tune_start), pd.Timestamp(split.holdout_start)
    months = (holdout.year - start.year) * 12 + holdout.month - start.month
    if months < 1 or start + pd.DateOffset(months=months) != holdout:
        raise ConfigError(
            f"best.retrain_months needs split.holdout_start ({split.holdout_start}) a whole "
            f"number of months after split.tune_start ({split.tune_start})"
        )
    folds = walk_forward_folds(
        index,
        tune_start=split.tune_start,
        tune_end=split.holdout_end,
        train_months=months,
        test_months=settings.best.retrain_months,
        purge=split.purge,
        valid_fraction=split.valid_fraction,
        expanding=True,
    )
    return folds


def _walk_forward_holdout(
    settings: Settings, dataset: Dataset, model: ModelSettings, rounds: int
) -> tuple:
    """(last fitted fold, holdout predictions, the refit number of each holdout bar) with a
    retrain (``rounds`` boosting rounds) every ``best.retrain_months``."""
    holdout = dataset.holdout.test_idx
    predictions = np.full(len(holdout), np.nan)
    segments = np.full(len(holdout), -1)
    where = {int(p): i for i, p in enumerate(holdout)}
    fitted = None
    for number, fold in enumerate(holdout_refits(settings, time_index(dataset.candles))):
        fitted = fit_refit(
            dataset.features, dataset.label, fold, model, seed=settings.seed, num_rounds=rounds
        )
        for position, value in zip(fitted.test_positions, fitted.test_predictions, strict=True):
            if int(position) in where:
                predictions[where[int(position)]] = value
                segments[where[int(position)]] = number
    if fitted is None:
        raise ConfigError("best.retrain_months: no walk-forward block falls in the holdout")
    log.info("holdout: walk-forward, retrained every %d month(s)", settings.best.retrain_months)
    return fitted, predictions, segments


def _mean_scores(runs: list[MemberRun]) -> dict:
    """IC statistics of a basket: the members' means, fold by fold and overall."""
    if len(runs) == 1:
        return runs[0].fold_scores
    folds = []
    for k in range(len(runs[0].fold_scores["folds"])):
        per = [r.fold_scores["folds"][k] for r in runs]
        folds.append(
            {key: float(np.mean([f[key] for f in per])) for key in ("ic", "rank_ic", "hit_rate")}
            | {"n_obs": int(sum(f["n_obs"] for f in per))}
        )
    keys = ("ic", "rank_ic", "icir", "hit_rate")
    return {"folds": folds} | {k: float(np.nanmean([r.fold_scores[k] for r in runs])) for k in keys}


def _combine(runs: list[MemberRun], ppy: float) -> tuple[pd.Series, pd.Series, dict, dict]:
    """Portfolio (or single-asset) returns and summaries, in and out of sample."""
    from crypto_tune.portfolio import combine_returns

    if len(runs) == 1:
        run = runs[0]
        is_returns = pd.concat(run.is_returns)
        oos_returns = run.oos.returns
        in_sample = _summary(is_returns.to_numpy(), run.is_trades, run.is_positions, ppy)
        out_of_sample = _summary(
            oos_returns.to_numpy(), run.oos.trades, run.oos.positions.to_numpy(), ppy
        )
        return is_returns, oos_returns, in_sample, out_of_sample
    folds = [
        combine_returns({r.symbol: r.is_returns[k] for r in runs})
        for k in range(len(runs[0].is_returns))
    ]
    is_returns = pd.concat(folds)
    oos_returns = combine_returns({r.symbol: r.oos.returns for r in runs})
    is_trades = pd.concat([r.is_trades.assign(symbol=r.symbol) for r in runs], ignore_index=True)
    oos_trades = pd.concat([r.oos.trades.assign(symbol=r.symbol) for r in runs], ignore_index=True)
    in_sample = _summary(is_returns.to_numpy(), is_trades, None, ppy)
    out_of_sample = _summary(oos_returns.to_numpy(), oos_trades, None, ppy)
    return is_returns, oos_returns, in_sample, out_of_sample
