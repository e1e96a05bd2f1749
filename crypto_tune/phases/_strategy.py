"""``phase=strategy``: one Phase 2 trial — the cached predictions through the fast backtest.

The model is fixed (best Phase 1 trial, or ``model.*`` with ``phase.model_source=config``); its
out-of-fold predictions are computed once per process (read from the disk cache if Phase 1 made
them) and each trial only runs :func:`crypto_tune.backtest.simulate_returns` per fold.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crypto_tune.backtest import (
    BacktestResult,
    realised_volatility,
    run_backtest,
    simulate_returns,
    vol_target_leverage,
    zscore_signal,
)
from crypto_tune.config import AssetSettings, ModelSettings, Settings, StrategySettings
from crypto_tune.data import time_index
from crypto_tune.dataset import Dataset, prepare_dataset, regime_mask
from crypto_tune.exceptions import ConfigError
from crypto_tune.memo import memo
from crypto_tune.model import OutOfFold, out_of_fold
from crypto_tune.objectives import strategy_score, strategy_values
from crypto_tune.timeframes import periods_per_year, timeframe_minutes
from crypto_tune.tracking import trial_run

log = logging.getLogger("crypto_tune.strategy")
# The strategy parameters Phase 2 tunes, per rule (conf/search/strategy/<rule>.yaml), and all
# of them (what a workflow.best.json records and replays).
RULE_KEYS: dict[str, tuple[str, ...]] = {
    "threshold": ("threshold", "stop_loss", "take_profit"),
    "zscore": ("entry", "exit", "signal_window", "stop_loss", "take_profit"),
}
TUNED_STRATEGY_KEYS = (
    "threshold",
    "entry",
    "exit",
    "signal_window",
    "stop_loss",
    "take_profit",
    "leverage",
)


@dataclass(frozen=True)
class FoldArrays:
    """One fold's test bars as contiguous float arrays for the backtest kernel.

    ``predictions`` are the fold model's, NaN outside the regime (the threshold rule's signal);
    ``raw`` the same unmasked (the z-score's history) and ``in_regime`` the mask; ``positions``
    index the fold's bars in ``all_close`` (the dataset's closes, for causal volatility).
    """

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    predictions: np.ndarray
    raw: np.ndarray | None = None
    in_regime: np.ndarray | None = None
    positions: np.ndarray | None = None
    all_close: np.ndarray | None = None
    times: pd.DatetimeIndex | None = None  # the bars' open times (funding at its timestamps)
    bar_minutes: float = 240.0
    cache: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def signal(self, strategy: StrategySettings, *, periods_per_year: float) -> tuple:
        """(signal, backtest kwargs) of ``strategy`` on this fold, cached per window."""
        raw = self.predictions if self.raw is None else self.raw
        in_regime = np.isfinite(self.predictions) if self.in_regime is None else self.in_regime
        z = None
        if strategy.name == "zscore":
            key: tuple[object, ...] = ("z", strategy.signal_window)
            if key not in self.cache:
                self.cache[key] = zscore_signal(raw, strategy.signal_window)
            z = self.cache[key]
        vol = None
        if strategy.sizing == "vol_target":
            key = ("vol", strategy.vol_window, periods_per_year)
            if key not in self.cache:
                if self.all_close is None or self.positions is None:
                    full = realised_volatility(
                        self.close, strategy.vol_window, periods_per_year=periods_per_year
                    )
                else:
                    full = realised_volatility(
                        self.all_close, strategy.vol_window, periods_per_year=periods_per_year
                    )[self.positions]
                self.cache[key] = np.ascontiguousarray(full)
            vol = self.cache[key]
        signal, kwargs = rule_inputs(strategy, raw, in_regime, vol, signal=z)
        if self.times is not None:
            key = ("funding", strategy.costs)
            if key not in self.cache:
                self.cache[key] = strategy.costs.funding(self.times, self.bar_minutes)
            kwargs["funding_rate"] = self.cache[key]
        return signal, kwargs


def tuned_params(strategy: StrategySettings) -> dict[str, object]:
    """The parameters Phase 2 tunes for ``strategy``'s rule, by name."""
    return {k: getattr(strategy, k) for k in RULE_KEYS[strategy.name]}


def rule_inputs(
    strategy: StrategySettings,
    predictions: np.ndarray,
    in_regime: np.ndarray,
    volatility: np.ndarray | None,
    *,
    segments: np.ndarray | None = None,
    signal: np.ndarray | None = None,
) -> tuple[np.ndarray, dict]:
    """(signal, :func:`run_backtest` kwargs): the one place a rule meets the engine.

    ``predictions``: one or more models' predictions in time order (``segments`` gives each bar's
    model, so a z-score never mixes two models' scales); ``in_regime``: bars the strategy may
    trade (the signal is NaN elsewhere: flat); ``volatility``: realised volatility known at each
    bar's open (:func:`realised_volatility`), needed by ``sizing=vol_target`` only. ``signal``
    passes a precomputed z-score. Used identically by Phase 2 (fold models) and the best run
    (holdout refit, walk-forward refits).
    """
    preds = np.asarray(predictions, dtype=np.float64)
    if strategy.name == "zscore":
        if signal is None:
            signal = zscore_signal(preds, strategy.signal_window, segments=segments)
    else:
        signal = preds
    signal = np.where(np.asarray(in_regime, dtype=bool), signal, np.nan)
    kwargs = strategy.backtest_params().kwargs()
    if strategy.sizing == "vol_target":
        if volatility is None:
            raise ConfigError("strategy.sizing=vol_target needs the realised volatility")
        kwargs["leverage"] = vol_target_leverage(
            volatility, target_vol=strategy.target_vol, max_leverage=strategy.leverage_cap
        )
    return np.ascontiguousarray(signal), kwargs


def backtest_segment(
    candles: pd.DataFrame,
    positions: np.ndarray,
    predictions: np.ndarray,
    in_regime: np.ndarray,
    strategy: StrategySettings,
    *,
    timeframe: str,
    segments: np.ndarray | None = None,
) -> BacktestResult:
    """Full backtest of ``strategy`` on ``candles.iloc[positions]`` (the best run's segments).

    ``predictions`` and ``in_regime`` are per bar of the segment; the realised volatility is
    computed on all of ``candles`` (history before the segment included, causal).
    """
    vol = None
    if strategy.sizing == "vol_target":
        close = candles["close"].to_numpy(dtype=np.float64)
        ppy = periods_per_year(timeframe)
        vol = realised_volatility(close, strategy.vol_window, periods_per_year=ppy)[positions]
    signal, kwargs = rule_inputs(strategy, predictions, in_regime, vol, segments=segments)
    part = candles.iloc[positions]
    kwargs["funding_rate"] = strategy.costs.funding(time_index(part), timeframe_minutes(timeframe))
    traded = pd.Series(signal, index=part.index)
    result = run_backtest(part, traded, timeframe=timeframe, **kwargs)
    return dataclasses.replace(result, signal=traded)


@dataclass(frozen=True)
class StrategyContext:
    """What every strategy trial of a sweep shares (built once per process)."""

    dataset: Dataset
    model: ModelSettings
    model_source: str
    oof: OutOfFold
    folds: tuple[FoldArrays, ...]
    periods_per_year: float
    bar_hours: float

    @property
    def predictions_key(self) -> str:
        return self.oof.key

    def describe(self) -> str:
        oof = self.oof
        how = "from cache" if oof.from_cache else f"trained in {oof.train_seconds:.1f}s"
        return (
            f"model from {self.model_source}; predictions {how} "
            f"({len(self.dataset.folds)} folds, {len(oof.frame)} bars)"
        )


@dataclass(frozen=True)
class PortfolioContext:
    """A basket: one context per member and, per fold, the union grid of their bars."""

    members: tuple[StrategyContext, ...]
    symbols: tuple[str, ...]
    grids: tuple[tuple[int, tuple[np.ndarray, ...]], ...]
    periods_per_year: float
    bar_hours: float
    model_source: str

    @property
    def predictions_key(self) -> str:
        return ",".join(m.oof.key for m in self.members)

    def describe(self) -> str:
        parts = ", ".join(
            f"{s} {'cached' if m.oof.from_cache else 'trained'}"
            for s, m in zip(self.symbols, self.members, strict=True)
        )
        return (
            f"model from {self.model_source}; portfolio of {len(self.members)} equal sleeves "
            f"({parts}), {len(self.grids)} folds"
        )


def resolve_model(settings: Settings) -> tuple[ModelSettings, str]:
    """The model settings Phase 2 uses, and where they came from."""
    if settings.phase.model_source == "config":
        return settings.model, "config"
    from crypto_tune.study import best_params, group_params, load_study

    study = load_study(settings, phase="model")
    tuned = group_params(best_params(study), "model")
    model = dataclasses.replace(settings.model, **tuned)
    model.validate("model")
    return model, f"study:{study.study_name}#{study.best_trial.number}"


def fold_arrays_for(dataset: Dataset, oof: OutOfFold, regime: str) -> tuple[FoldArrays, ...]:
    """Per-fold OHLC and predictions (NaN = flat outside the regime), with the bars' times."""
    mask = regime_mask(dataset, regime)
    candles = dataset.candles
    times = time_index(candles)
    steps = np.diff(times.as_unit("ns").asi8)
    bar_minutes = float(np.median(steps)) / 60e9 if len(steps) else 240.0
    all_close = np.ascontiguousarray(candles["close"].to_numpy(dtype=np.float64))
    out = []
    for fold in dataset.folds:
        preds = oof.fold_slice(fold.number)
        positions = candles.index.get_indexer(preds.index)
        raw = np.ascontiguousarray(preds.to_numpy(dtype=np.float64))
        values = raw.copy()
        values[~mask[positions]] = np.nan
        o, h, lo, c = (
            np.ascontiguousarray(candles[c].to_numpy(dtype=np.float64)[positions])
            for c in ("open", "high", "low", "close")
        )
        out.append(
            FoldArrays(
                o,
                h,
                lo,
                c,
                predictions=values,
                raw=raw,
                in_regime=np.ascontiguousarray(mask[positions]),
                positions=positions,
                all_close=all_close,
                times=times[positions],
                bar_minutes=bar_minutes,
            )
        )
    return tuple(out)


_CONTEXTS: dict[tuple, StrategyContext | PortfolioContext] = memo("strategy_contexts", {})


def _single_context(settings: Settings, model: ModelSettings, source: str) -> StrategyContext:
    dataset = prepare_dataset(settings)
    oof = out_of_fold(dataset, model, seed=settings.seed, cache_dir=settings.paths.cache)
    return StrategyContext(
        dataset=dataset,
        model=model,
        model_source=source,
        oof=oof,
        folds=fold_arrays_for(dataset, oof, settings.regime.name),
        periods_per_year=periods_per_year(settings.asset.timeframe),
        bar_hours=timeframe_minutes(settings.asset.timeframe) / 60.0,
    )


def _portfolio_context(settings: Settings, model: ModelSettings, source: str) -> PortfolioContext:
    from crypto_tune.dataset import member_settings
    from crypto_tune.portfolio import alignment

    members = tuple(_single_context(m, model, source) for m in member_settings(settings))
    counts = {len(m.dataset.folds) for m in members}
    if len(counts) != 1:
        raise ConfigError(
            f"asset.symbols: the basket's members give different fold counts {sorted(counts)}; "
            "every member needs data over the whole tuning period"
        )
    grids = []
    for k in range(counts.pop()):
        indexes = [m.dataset.candles.index[m.dataset.folds[k].test_idx] for m in members]
        union, positions = alignment(indexes)
        grids.append((len(union), tuple(positions)))
    return PortfolioContext(
        members=members,
        symbols=tuple(settings.asset.symbols),
        grids=tuple(grids),
        periods_per_year=members[0].periods_per_year,
        bar_hours=members[0].bar_hours,
        model_source=source,
    )


def strategy_context(settings: Settings) -> StrategyContext | PortfolioContext:
    """Build (once per process and configuration) the fixed model's cached predictions."""
    key = (
        settings.asset,
        settings.regime,
        settings.study.name,
        settings.phase.model_source,
        settings.model,
        settings.split,
        settings.storage.url,
        settings.paths.cache,
        settings.seed,
    )
    if key in _CONTEXTS:
        return _CONTEXTS[key]
    model, source = resolve_model(settings)
    if settings.asset.kind == "basket":
        context: StrategyContext | PortfolioContext = _portfolio_context(settings, model, source)
    else:
        context = _single_context(settings, model, source)
    _CONTEXTS[key] = context
    return context


def backtest_folds(
    folds: tuple[FoldArrays, ...],
    strategy: StrategySettings,
    *,
    bar_hours: float,
) -> tuple[list[np.ndarray], list[int]]:
    """Per-fold returns and closed-trade counts of ``strategy`` (the lean engine entry point).

    Each fold's signal comes from its own model's predictions only (:func:`rule_inputs`).
    """
    ppy = 24.0 * 365.0 / bar_hours  # a 24/7 market, as crypto_tune.timeframes.periods_per_year
    returns, trades = [], []
    for fold in folds:
        signal, kwargs = fold.signal(strategy, periods_per_year=ppy)
        r, n = simulate_returns(
            fold.open,
            fold.high,
            fold.low,
            fold.close,
            signal,
            bar_hours=bar_hours,
            **kwargs,
        )
        returns.append(r)
        trades.append(int(n))
    return returns, trades


def score_strategy(
    strategy: StrategySettings, returns: list[np.ndarray], trades: list[int], *, ppy: float
) -> float:
    """The (first) objective of ``strategy`` on its per-fold returns: feasibility (drawdown,
    ruin), then the trade floor (see :mod:`crypto_tune.objectives`)."""
    return strategy_score(
        strategy.primary_objective,
        returns,
        trades,
        periods_per_year=ppy,
        min_trades_per_year=strategy.min_trades_per_year,
        max_drawdown=strategy.max_drawdown,
    )


def portfolio_folds(
    context: PortfolioContext, strategy: StrategySettings, asset: AssetSettings | None = None
) -> tuple[list[np.ndarray], list[int]]:
    """Per-fold portfolio returns and trades of all members: equal sleeves, no rebalancing,
    unless ``asset`` weights, rebalances or vol-targets them (:mod:`crypto_tune.phases._basket`)."""
    from crypto_tune.portfolio import combine_sleeves

    if asset is not None:
        from crypto_tune.phases._basket import is_plain, rebalanced_folds

        if not is_plain(asset):
            return rebalanced_folds(context, strategy, asset)

    per_member = [
        backtest_folds(m.folds, strategy, bar_hours=context.bar_hours) for m in context.members
    ]
    returns, trades = [], []
    for k, (n_bars, positions) in enumerate(context.grids):
        sleeves = [member_returns[k] for member_returns, _ in per_member]
        returns.append(combine_sleeves(sleeves, positions, n_bars))
        trades.append(sum(member_trades[k] for _, member_trades in per_member))
    return returns, trades


def evaluate_strategy(
    settings: Settings, context: StrategyContext | PortfolioContext
) -> tuple[float | tuple[float, ...], list, list[int]]:
    """(objective(s), per-fold returns, per-fold trade counts) for the strategy of ``settings``
    (a tuple of values for a two-objective sweep).

    For a basket the returns are the portfolio's and the trades those of all members.
    """
    if isinstance(context, PortfolioContext):
        returns, trades = portfolio_folds(context, settings.strategy, settings.asset)
    else:
        returns, trades = backtest_folds(
            context.folds, settings.strategy, bar_hours=context.bar_hours
        )
    strategy = settings.strategy
    if len(strategy.objectives) == 1:
        value: float | tuple[float, ...] = score_strategy(
            strategy, returns, trades, ppy=context.periods_per_year
        )
    else:
        value = strategy_values(
            strategy.objectives,
            returns,
            trades,
            periods_per_year=context.periods_per_year,
            min_trades_per_year=strategy.min_trades_per_year,
            max_drawdown=strategy.max_drawdown,
        )
    return value, returns, trades


class _Progress:
    """Periodic progress of a long strategy sweep (one line every ``every_s`` seconds)."""

    def __init__(self, every_s: float = 10.0) -> None:
        self.every_s = every_s
        self.count = 0
        self.best = -np.inf
        self.best_params: dict = {}
        self.started = time.perf_counter()
        self.last = self.started

    def update(self, value: float, params: dict) -> None:
        self.count += 1
        if value > self.best:
            self.best, self.best_params = value, params
        now = time.perf_counter()
        if self.count == 1 or now - self.last >= self.every_s:
            self.last = now
            rate = self.count / max(now - self.started, 1e-9)
            shown = " ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in self.best_params.items()
            )
            log.info(
                "strategy trials: %d in this process (%.1f/s), best %.4f with %s",
                self.count,
                rate,
                self.best,
                shown,
            )


_PROGRESS = _Progress()


def strategy_fingerprint(
    settings: Settings, context: StrategyContext | PortfolioContext
) -> dict[str, object]:
    """What this process's strategy trials score (see :mod:`crypto_tune.fingerprint`)."""
    from crypto_tune.fingerprint import study_fingerprint

    members = context.members if isinstance(context, PortfolioContext) else (context,)
    return study_fingerprint(
        settings,
        [m.dataset for m in members],
        phase="strategy",
        predictions=context.predictions_key,
    )


def check_study_predictions(
    settings: Settings, context: StrategyContext | PortfolioContext, *, record: bool = False
) -> None:
    """Refuse to extend a Phase 2 study scored on other inputs (another model, data, costs...).

    The first trial of each process records the fingerprint on a new study; a later run whose
    inputs differ (Phase 1 found a new best, the data or the fees changed) would mix trials that
    score different things, so it fails at start and names what differs.
    """
    from crypto_tune.study import check_fingerprint

    fingerprint = strategy_fingerprint(settings, context)
    check_fingerprint(settings, fingerprint, phase="strategy", record=record)


_TAGGED: set[str] = set()


def _first_trial(settings: Settings, context: StrategyContext | PortfolioContext) -> None:
    """Once per process: say which model feeds the sweep, check and record the study's
    fingerprint (see check_study_predictions)."""
    from crypto_tune.study import study_name

    name = study_name(settings)
    if name in _TAGGED:
        return
    log.info("strategy: %s", context.describe())
    check_study_predictions(settings, context, record=True)
    _TAGGED.add(name)


@trial_run(when=lambda s: s.tracking.per_trial_runs)  # a run per trial only when asked
def run_strategy_trial(settings: Settings) -> float | list[float]:
    """Backtest every fold with the trial's strategy parameters; return the objective (a list of
    two values for a two-objective sweep)."""
    context = strategy_context(settings)
    _first_trial(settings, context)
    values, returns, trades = evaluate_strategy(settings, context)
    params = tuned_params(settings.strategy)
    value = values if isinstance(values, float) else values[0]
    _PROGRESS.update(value, params)
    log.debug("strategy trial %s -> %s, trades per fold %s", params, values, trades)
    if settings.tracking.per_trial_runs:
        _log_trial_run(settings, context, value, returns, trades)
    return values if isinstance(values, float) else list(values)


def _log_trial_run(
    settings: Settings,
    context: StrategyContext | PortfolioContext,
    value: float,
    returns: list,
    trades: list[int],
) -> None:
    from crypto_tune import metrics
    from crypto_tune.study import study_name
    from crypto_tune.tracking import code_version, settings_params, start_run

    merged = np.concatenate(returns)
    tags = {
        "study": study_name(settings),
        "phase": "strategy",
        "asset": settings.asset.name,
        "predictions": context.predictions_key,
        "code_version": code_version(),
        "model_source": context.model_source,
    }
    with start_run(
        settings.tracking, study_name(settings), run_name="strategy-trial", tags=tags
    ) as run:
        if run is not None:
            run.params(settings_params(settings))
            summary = metrics.performance_summary(merged, periods_per_year=context.periods_per_year)
            run.metrics(
                {
                    "objective": value,
                    "n_trades": float(sum(trades)),
                    **{k: v for k, v in summary.items() if isinstance(v, float)},
                }
            )
