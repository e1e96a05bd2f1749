"""``phase=strategy asset=universe strategy=topk``: one Phase 2 trial — the portfolio rule on
the cached out-of-fold predictions of the best Phase 1 model, one kernel call per fold.

Each fold's test block is traded from flat and closed at its end; the folds' net returns are
chained and scored by the objectives and ruin rules of every rule (:mod:`crypto_tune.objectives`):
a trade there is a name entering a book (the trade floor counts entries per year and fold).

A trial's own work is the kernel: the context (the panel, the predictions, the model resolved
from the Phase 1 study, each fold's arrays and, per volatility window, each fold's trailing
volatility) is built once per process and configuration, so a trial reads no study, hashes no
folds and touches no pandas (``make bench``'s universe section times it against 5 ms).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np

from crypto_tune.config import ModelSettings, Settings
from crypto_tune.memo import memo
from crypto_tune.objectives import strategy_values
from crypto_tune.progress import TrialLines
from crypto_tune.timeframes import periods_per_year, timeframe_minutes
from crypto_tune.universe import PortfolioParams, PortfolioResult, simulate_portfolio
from crypto_tune.universe._dataset import UniverseDataset, prepare_universe
from crypto_tune.universe._oof import UniverseOOF, universe_oof

log = logging.getLogger("crypto_tune.strategy")


@dataclass(frozen=True)
class Segment:
    """One block of bars traded from flat: the inputs of :func:`simulate_portfolio`."""

    bars: np.ndarray
    scores: np.ndarray
    returns: np.ndarray
    tradable: np.ndarray
    funding: np.ndarray
    borrow: np.ndarray


@dataclass
class UniverseContext:
    """The data, the predictions and the per-fold segments Phase 2 trades (one per process)."""

    data: UniverseDataset
    oof: UniverseOOF
    model_source: str
    periods_per_year: float
    segments: tuple[Segment, ...]
    _vol: dict[int, np.ndarray] = field(default_factory=dict)
    _segment_vol: dict[int, tuple[np.ndarray, ...]] = field(default_factory=dict)

    def vol(self, window: int) -> np.ndarray:
        """The panel's trailing volatility over ``window`` bars (computed once per window)."""
        if window not in self._vol:
            self._vol[window] = self.data.panel.trailing_vol(window)
        return self._vol[window]

    def segment_vol(self, window: int) -> tuple[np.ndarray, ...]:
        """:meth:`vol` on each of :attr:`segments`' bars (sliced once per window)."""
        if window not in self._segment_vol:
            vol = self.vol(window)
            self._segment_vol[window] = tuple(
                np.ascontiguousarray(vol[s.bars]) for s in self.segments
            )
        return self._segment_vol[window]


def score_matrix(data: UniverseDataset, prediction: np.ndarray) -> np.ndarray:
    """``(T, N)`` of the per-row ``prediction`` (NaN where a symbol has no row)."""
    panel = data.panel
    out = np.full(panel.close.shape, np.nan)
    out[panel.bar, panel.sym] = prediction
    return out


def make_segment(
    settings: Settings, data: UniverseDataset, scores: np.ndarray, bars: np.ndarray
) -> Segment:
    """The segment of ``bars`` (sorted calendar positions) with the market's carry per bar."""
    panel = data.panel
    costs = settings.strategy.costs
    ppy = periods_per_year(settings.asset.timeframe)
    bars = np.asarray(bars, dtype=np.int64)
    funding = costs.funding(panel.index[bars], float(timeframe_minutes(settings.asset.timeframe)))
    borrow = np.full(bars.size, costs.borrow_rate / ppy)
    return Segment(
        bars=bars,
        scores=scores[bars],
        returns=panel.bar_returns()[bars],
        tradable=np.isfinite(panel.close[bars]),
        funding=np.asarray(funding, dtype=np.float64),
        borrow=borrow,
    )


def portfolio_params(settings: Settings) -> PortfolioParams:
    """The kernel's options from ``universe.*`` and the market's costs (fee plus slippage)."""
    universe, strategy = settings.universe, settings.strategy
    costs = strategy.costs
    return PortfolioParams(
        top_k=universe.top_k,
        long_only=universe.long_only,
        rebalance=universe.rebalance,
        n_drop=universe.top_k if universe.n_drop is None else universe.n_drop,
        inverse_vol=universe.weights == "inverse_vol",
        target_vol=universe.target_vol or 0.0,
        max_gross=min(universe.max_gross, costs.max_leverage),
        fee=costs.fee + strategy.slippage,
        vol_window=universe.vol_window,
        periods_per_year=periods_per_year(settings.asset.timeframe),
    )


def simulate_segment(segment: Segment, vol: np.ndarray, params: PortfolioParams) -> PortfolioResult:
    """The portfolio kernel over ``segment`` with its trailing volatility ``vol``: what a trial
    runs per fold (and the benchmark times alone)."""
    return simulate_portfolio(
        segment.scores,
        segment.returns,
        segment.tradable,
        vol,
        params,
        funding=segment.funding,
        borrow=segment.borrow,
    )


def run_segment(settings: Settings, context: UniverseContext, segment: Segment) -> PortfolioResult:
    """The portfolio rule of ``settings`` over ``segment`` (any block of the context's panel)."""
    vol = context.vol(settings.universe.vol_window)[segment.bars]
    return simulate_segment(segment, vol, portfolio_params(settings))


def _context_key(settings: Settings) -> tuple[object, ...]:
    """Every setting a universe context depends on, and none a portfolio trial tunes: the data
    and panel (:func:`prepare_universe`), the model and where it comes from (the Phase 1
    study's name and storage), the predictions' cache and seed, the market's costs."""
    universe = settings.universe
    return (
        settings.asset,
        settings.features,
        settings.label,
        settings.split,
        settings.phase.name == "final",
        settings.phase.model_source,
        settings.model,
        settings.study.name,
        settings.storage.url,
        settings.paths,
        settings.seed,
        settings.strategy.costs,
        (universe.features, universe.label, universe.warmup, universe.min_symbols),
    )


# One context at a time: a sweep process trades one configuration. Keyed on the settings, so a
# trial resolves no model (no Phase 1 study read) and hashes no folds (tests clear it with
# crypto_tune.memo.clear_memos, as every memo).
_CONTEXTS: dict[tuple[object, ...], UniverseContext] = memo("universe_contexts", {})


def universe_context(
    settings: Settings, resolved: tuple[ModelSettings, str] | None = None
) -> UniverseContext:
    """The Phase 2 context of ``settings``, built once per process and configuration: the
    model is resolved (from the Phase 1 study by default) when it is built, as a single asset's
    strategy context is; ``resolved``: (model, where it came from) given instead (a best run's
    replayed or overridden model)."""
    from crypto_tune.evaluation import resolve_model

    key = (*_context_key(settings), resolved)
    context = _CONTEXTS.get(key)
    if context is None:
        data = prepare_universe(settings)
        model, source = resolve_model(settings) if resolved is None else resolved
        oof = universe_oof(data, model, seed=settings.seed, cache_dir=settings.paths.cache)
        scores = score_matrix(data, oof.prediction)
        segments = tuple(make_segment(settings, data, scores, f.test_idx) for f in data.folds)
        context = UniverseContext(
            data, oof, source, periods_per_year(settings.asset.timeframe), segments
        )
        _CONTEXTS.clear()
        _CONTEXTS[key] = context
    return context


def evaluate_universe(
    settings: Settings, context: UniverseContext
) -> tuple[tuple[float, ...], list[np.ndarray], list[int]]:
    """(objective values, net returns per fold, names entered per fold) of ``settings``."""
    params = portfolio_params(settings)
    vols = context.segment_vol(params.vol_window)
    results = [simulate_segment(s, v, params) for s, v in zip(context.segments, vols, strict=True)]
    returns = [r.net for r in results]
    entries = [r.n_entries for r in results]
    strategy = settings.strategy
    values = strategy_values(
        strategy.objectives,
        returns,
        entries,
        periods_per_year=context.periods_per_year,
        min_trades_per_year=strategy.min_trades_per_year,
        max_drawdown=strategy.max_drawdown,
    )
    return values, returns, entries


def universe_strategy_fingerprint(
    settings: Settings, context: UniverseContext
) -> dict[str, object]:
    """What this process's portfolio trials score: the data, every ``strategy.*`` and
    ``universe.*`` setting, the market's costs and the predictions' key."""
    from crypto_tune.phases._universe_model import universe_model_fingerprint

    base = universe_model_fingerprint(settings, context.data)
    out = {k: v for k, v in base.items() if not k.startswith("model.") and k != "objective"}
    out.update(portfolio_settings(settings))
    out["predictions"] = context.oof.key
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def portfolio_settings(settings: Settings) -> dict[str, object]:
    """What a portfolio trial trades besides the data and predictions, as its study's
    fingerprint records it: every ``strategy.*`` and ``universe.*`` setting and the market's
    costs (``costs.*``)."""
    strategy = settings.strategy
    out = {f"strategy.{k}": v for k, v in vars(strategy).items() if k != "market"}
    out.update({f"costs.{k}": v for k, v in strategy.costs.describe().items()})
    out.update({f"universe.{k}": v for k, v in dataclasses.asdict(settings.universe).items()})
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


_TAGGED: set[str] = set()
_PROGRESS = TrialLines("portfolio trials", log)


def run_universe_strategy_trial(settings: Settings) -> float | list[float]:
    """Trade every fold with the trial's portfolio settings; return the objective(s)."""
    from crypto_tune.study import check_fingerprint, study_name

    context = universe_context(settings)
    name = study_name(settings)
    if name not in _TAGGED:
        log.info(
            "strategy: model from %s; portfolio over %d symbols, %d folds (%s predictions)",
            context.model_source,
            len(context.data.panel.symbols),
            len(context.segments),
            "cached" if context.oof.from_cache else "trained",
        )
        fingerprint = universe_strategy_fingerprint(settings, context)
        check_fingerprint(settings, fingerprint, phase="strategy", record=True)
        _TAGGED.add(name)
    values, _, _ = evaluate_universe(settings, context)
    u = settings.universe
    shown = {"top_k": u.top_k, "n_drop": u.n_drop, "rebalance": u.rebalance, "weights": u.weights}
    _PROGRESS.update(values[0], shown)
    return values[0] if len(values) == 1 else list(values)


__all__ = [
    "Segment",
    "UniverseContext",
    "evaluate_universe",
    "make_segment",
    "portfolio_params",
    "portfolio_settings",
    "run_segment",
    "run_universe_strategy_trial",
    "score_matrix",
    "simulate_segment",
    "universe_context",
    "universe_strategy_fingerprint",
]
