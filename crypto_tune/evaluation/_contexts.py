"""What every strategy evaluation of a sweep shares, built once per process: the fixed model, its
cached out-of-fold predictions as fold arrays (:class:`StrategyContext`), or a basket's members
on their union grid (:class:`PortfolioContext`); and the evaluation of one strategy on them
(:func:`evaluate_strategy`), as a Phase 2 trial, the best run's ledger and robust selection, and
the tuning of walk-forward windows score it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from crypto_tune.config import AssetSettings, ModelSettings, Settings, StrategySettings
from crypto_tune.dataset import prepare_dataset
from crypto_tune.evaluation._context_types import PortfolioContext, StrategyContext
from crypto_tune.evaluation._folds import (
    backtest_folds,
    fold_arrays_for,
    score_strategy,
)
from crypto_tune.exceptions import ConfigError
from crypto_tune.memo import memo
from crypto_tune.model import out_of_fold
from crypto_tune.objectives import strategy_values
from crypto_tune.timeframes import periods_per_year, timeframe_minutes


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


_CONTEXTS: dict[tuple, StrategyContext | PortfolioContext] = memo("strategy_contexts", {})


def single_context(settings: Settings, model: ModelSettings, source: str) -> StrategyContext:
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


def portfolio_context(settings: Settings, model: ModelSettings, source: str) -> PortfolioContext:
    from crypto_tune.dataset import member_settings
    from crypto_tune.portfolio import alignment

    members = tuple(single_context(m, model, source) for m in member_settings(settings))
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
        context: StrategyContext | PortfolioContext = portfolio_context(settings, model, source)
    else:
        context = single_context(settings, model, source)
    _CONTEXTS[key] = context
    return context


def portfolio_folds(
    context: PortfolioContext, strategy: StrategySettings, asset: AssetSettings | None = None
) -> tuple[list[np.ndarray], list[int]]:
    """Per-fold portfolio returns and trades of all members: equal sleeves, no rebalancing,
    unless ``asset`` weights, rebalances or vol-targets them (:mod:`.._basket`)."""
    from crypto_tune.portfolio import combine_sleeves

    if asset is not None:
        from crypto_tune.evaluation._basket import is_plain, rebalanced_folds

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


__all__ = [
    "PortfolioContext",
    "StrategyContext",
    "evaluate_strategy",
    "portfolio_context",
    "portfolio_folds",
    "resolve_model",
    "single_context",
    "strategy_context",
]
