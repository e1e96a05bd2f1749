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

from crypto_tune.backtest import simulate_returns
from crypto_tune.config import ModelSettings, Settings, StrategySettings
from crypto_tune.dataset import Dataset, prepare_dataset, regime_mask
from crypto_tune.exceptions import ConfigError
from crypto_tune.model import OutOfFold, out_of_fold
from crypto_tune.objectives import strategy_score
from crypto_tune.timeframes import periods_per_year, timeframe_minutes

log = logging.getLogger("crypto_tune.strategy")
# The strategy parameters Phase 2 tunes (conf/phase/strategy.yaml's search space).
TUNED_STRATEGY_KEYS = ("threshold", "stop_loss", "take_profit", "leverage")


@dataclass(frozen=True)
class FoldArrays:
    """One fold's test bars as contiguous float arrays for the backtest kernel."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    predictions: np.ndarray


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
    """Per-fold OHLC and predictions (NaN = flat outside the regime)."""
    mask = regime_mask(dataset, regime)
    candles = dataset.candles
    out = []
    for fold in dataset.folds:
        preds = oof.fold_slice(fold.number)
        positions = candles.index.get_indexer(preds.index)
        values = preds.to_numpy(dtype=np.float64).copy()
        values[~mask[positions]] = np.nan
        out.append(
            FoldArrays(
                *(
                    np.ascontiguousarray(candles[c].to_numpy(dtype=np.float64)[positions])
                    for c in ("open", "high", "low", "close")
                ),
                predictions=values,
            )
        )
    return tuple(out)


_CONTEXTS: dict[tuple, StrategyContext | PortfolioContext] = {}


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
    folds: tuple[FoldArrays, ...], strategy: StrategySettings, *, bar_hours: float
) -> tuple[list[np.ndarray], list[int]]:
    """Per-fold returns and closed-trade counts of ``strategy`` (the lean engine entry point)."""
    kwargs = strategy.backtest_kwargs()
    returns, trades = [], []
    for fold in folds:
        r, n = simulate_returns(
            fold.open,
            fold.high,
            fold.low,
            fold.close,
            fold.predictions,
            bar_hours=bar_hours,
            **kwargs,
        )
        returns.append(r)
        trades.append(int(n))
    return returns, trades


def score_strategy(
    strategy: StrategySettings, returns: list[np.ndarray], trades: list[int], *, ppy: float
) -> float:
    """The objective of ``strategy`` on its per-fold returns, with the minimum-trades rule."""
    return strategy_score(
        strategy.objective, returns, trades, periods_per_year=ppy, min_trades=strategy.min_trades
    )


def portfolio_folds(
    context: PortfolioContext, strategy: StrategySettings
) -> tuple[list[np.ndarray], list[int]]:
    """Per-fold portfolio returns (equal sleeves, no rebalancing) and trades of all members."""
    from crypto_tune.portfolio import combine_sleeves

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
) -> tuple[float, list, list[int]]:
    """(objective, per-fold returns, per-fold trade counts) for the strategy of ``settings``.

    For a basket the returns are the portfolio's and the trades those of all members.
    """
    if isinstance(context, PortfolioContext):
        returns, trades = portfolio_folds(context, settings.strategy)
    else:
        returns, trades = backtest_folds(
            context.folds, settings.strategy, bar_hours=context.bar_hours
        )
    value = score_strategy(settings.strategy, returns, trades, ppy=context.periods_per_year)
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
PREDICTIONS_ATTR = "crypto_tune.predictions"


def check_study_predictions(
    settings: Settings, context: StrategyContext | PortfolioContext
) -> None:
    """Refuse to extend a Phase 2 study tuned on other predictions (another model or data).

    The first trial of each process records the prediction cache key on the study; a later run
    whose fixed model differs (Phase 1 found a new best, the data changed) would mix trials that
    score different predictions, so it fails at start and says what to do.
    """
    from crypto_tune.study import cached_study

    study = cached_study(settings, phase="strategy")
    recorded = study.user_attrs.get(PREDICTIONS_ATTR) if study is not None else None
    if recorded is not None and recorded != context.predictions_key:
        raise ConfigError(
            f"study '{settings.study.name}' was tuned on other predictions ({recorded}) than the "
            f"model now selected gives ({context.predictions_key}, {context.model_source}): "
            "use a new experiment_name, or phase.model_source=config with the earlier "
            "model.* values"
        )


_TAGGED: set[str] = set()


def _first_trial(settings: Settings, context: StrategyContext | PortfolioContext) -> None:
    """Once per process: say which model feeds the sweep, and record its prediction key on the
    study (see check_study_predictions)."""
    from crypto_tune.study import cached_study

    if settings.study.name in _TAGGED:
        return
    log.info("strategy: %s", context.describe())
    study = cached_study(settings, phase="strategy")
    if study is not None and PREDICTIONS_ATTR not in study.user_attrs:
        study.set_user_attr(PREDICTIONS_ATTR, context.predictions_key)
        study.set_user_attr("crypto_tune.model_source", context.model_source)
    _TAGGED.add(settings.study.name)


def run_strategy_trial(settings: Settings) -> float:
    """Backtest every fold with the trial's strategy parameters; return the objective."""
    context = strategy_context(settings)
    _first_trial(settings, context)
    value, returns, trades = evaluate_strategy(settings, context)
    params = {
        k: v for k, v in settings.strategy.backtest_kwargs().items() if k in TUNED_STRATEGY_KEYS
    }
    _PROGRESS.update(value, params)
    log.debug("strategy trial %s -> %.4f, trades per fold %s", params, value, trades)
    if settings.tracking.per_trial_runs:
        _log_trial_run(settings, context, value, returns, trades)
    return value


def _log_trial_run(
    settings: Settings, context: StrategyContext, value: float, returns: list, trades: list[int]
) -> None:
    from crypto_tune import metrics
    from crypto_tune.tracking import code_version, settings_params, start_run

    merged = np.concatenate(returns)
    tags = {
        "study": settings.study.name,
        "phase": "strategy",
        "asset": settings.asset.name,
        "predictions": context.predictions_key,
        "code_version": code_version(),
        "model_source": context.model_source,
    }
    with start_run(
        settings.tracking, settings.study.name, run_name="strategy-trial", tags=tags
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
