"""Typed, validated settings built from the composed Hydra config (the structured-config schema).

Every group of ``conf/`` has a frozen dataclass here. :func:`settings_from_dict` checks the whole
config before any work: unknown keys, missing values, wrong types and out-of-range values each
raise one :class:`~crypto_tune.exceptions.ConfigError` naming the key and the value.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import pandas as pd

from crypto_tune.config._universe import UniverseSettings, check_universe_asset
from crypto_tune.exceptions import ConfigError
from crypto_tune.markets import MARKETS, ORDERS, MarketCosts, market_costs
from crypto_tune.objectives import MODEL_OBJECTIVES, STRATEGY_OBJECTIVES
from crypto_tune.pruning import DEFAULT_PRUNER, PRUNERS
from crypto_tune.strategies import RULES, rule_for
from crypto_tune.strategies import SIZINGS as SIZING_REGISTRY
from crypto_tune.timeframes import timeframe_minutes

if typing.TYPE_CHECKING:
    from crypto_tune.backtest import BacktestParams

ASSET_KINDS = ("file", "synthetic", "basket", "universe")
REGIMES = ("all", "calm", "volatile", "switch")  # switch: phase=regimes and phase=best
SPLITS = ("static", "walk_forward")
# one per conf/phase/<name>.yaml, run by crypto_tune/phases/_<name>.py (its PHASE)
PHASES = tuple(
    sorted(
        p.name.removesuffix(".yaml")
        for p in (resources.files("crypto_tune.conf") / "phase").iterdir()
        if p.name.endswith(".yaml")
    )
)
STORAGES = ("sqlite", "postgres", "grpc")
MODEL_SOURCES = ("study", "config")
SELECTIONS = ("best", "robust")
PARETO_RULES = ("utopia", "first")
STRATEGY_RULES = tuple(RULES)  # crypto_tune/strategies: one module per rule
SIZINGS = tuple(SIZING_REGISTRY)


def _fail(key: str, requirement: str, value: Any) -> typing.NoReturn:
    raise ConfigError(f"{key} must be {requirement}, got {value!r}")


def _check_range(
    key: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    ok = True
    if low is not None:
        ok &= value > low if low_open else value >= low
    if high is not None:
        ok &= value < high if high_open else value <= high
    if not ok:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        _fail(key, f"in {left}{lo}, {hi}{right}", value)


def _check_choice(key: str, value: str, choices: typing.Iterable[str]) -> None:
    choices = tuple(choices)
    if value not in choices:
        _fail(key, f"one of {', '.join(choices)}", value)


def _check_date(key: str, value: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        _fail(key, "an ISO date like 2021-01-01", value)
    if pd.isna(stamp):
        _fail(key, "an ISO date like 2021-01-01", value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


@dataclass(frozen=True)
class PathsSettings:
    outputs: str
    root: str
    cache: str
    best: str
    reports: str
    data: str


@dataclass(frozen=True)
class SyntheticSettings:
    seed: int = 7
    start: str = "2021-01-01"
    n_bars: int = 8766
    planted_ic: float = 0.08

    def validate(self, key: str) -> None:
        _check_range(f"{key}.n_bars", self.n_bars, low=100)
        _check_range(f"{key}.planted_ic", self.planted_ic, low=0.0, high=0.5, high_open=True)
        _check_date(f"{key}.start", self.start)


@dataclass(frozen=True)
class AssetSettings:
    name: str
    kind: str
    symbol: str
    timeframe: str
    path: str | None = None
    symbols: tuple[str, ...] = ()
    synthetic: SyntheticSettings | None = None
    # a basket's sleeves (crypto_tune/portfolio.py): weights equal | inverse_vol, rebalanced
    # never | weekly | monthly | every N bars, optionally scaled to a portfolio volatility target
    weights: str = "equal"
    rebalance: str = "never"
    target_vol: float | None = None
    max_gross: float = 3.0
    # what the exchange charges (crypto_tune/markets.py holds each market's defaults; null: the
    # market's): spot | perp, funding per 8 h or a file of rates (perp), borrow rate per year
    # (spot: shorting and leverage above 1x), maintenance margin (the liquidation level)
    market: str = "spot"
    funding: float | str | None = None
    borrow_rate: float | None = None
    maintenance_margin: float | None = None

    def validate(self, key: str) -> None:
        _check_choice(f"{key}.kind", self.kind, ASSET_KINDS)
        _check_choice(f"{key}.market", self.market, MARKETS)
        if self.kind == "basket" and isinstance(self.funding, str):
            _fail(
                f"{key}.funding",
                "null or a number for a basket (one rate file per member is not supported)",
                self.funding,
            )
        try:
            timeframe_minutes(self.timeframe)
        except ConfigError:
            _fail(f"{key}.timeframe", "like 15m, 1h, 4h or 1d", self.timeframe)
        if self.kind == "file" and not self.path:
            _fail(f"{key}.path", "a CSV or Parquet file for a file asset", self.path)
        if self.kind == "synthetic":
            if self.synthetic is None:
                _fail(f"{key}.synthetic", "a mapping of synthetic-market settings", None)
            self.synthetic.validate(f"{key}.synthetic")
        if self.kind == "universe":
            check_universe_asset(key, self.symbols, self.path)
        if self.kind == "basket":
            if len(self.symbols) < 2:
                _fail(f"{key}.symbols", "a list of at least two symbols", list(self.symbols))
            if not self.path or "{symbol}" not in self.path:
                _fail(f"{key}.path", "a path template containing {symbol}", self.path)
        _check_choice(f"{key}.weights", self.weights, ("equal", "inverse_vol"))
        if self.rebalance not in ("never", "weekly", "monthly") and not (
            self.rebalance.isdigit() and int(self.rebalance) >= 1
        ):
            _fail(f"{key}.rebalance", "never, weekly, monthly or a number of bars", self.rebalance)
        if self.target_vol is not None:
            _check_range(f"{key}.target_vol", self.target_vol, low=0, high=10, low_open=True)
            if self.rebalance == "never":
                _fail(f"{key}.rebalance", "a schedule when asset.target_vol is set", "never")
        _check_range(f"{key}.max_gross", self.max_gross, low=0, high=125, low_open=True)


@dataclass(frozen=True)
class ModelSettings:
    name: str = "lightgbm"
    learning_rate: float = 0.03
    num_leaves: int = 15
    max_depth: int = -1
    min_data_in_leaf: int = 200
    feature_fraction: float = 0.7
    bagging_fraction: float = 0.7
    bagging_freq: int = 1
    lambda_l1: float = 0.0
    lambda_l2: float = 1.0
    num_boost_round: int = 400
    early_stopping_rounds: int = 40
    # "auto": the machine's share of this process (crypto_tune.model.thread_plan); an int: that
    # many LightGBM threads per fit, folds one after another (0: LightGBM's own default).
    num_threads: int | str = "auto"

    def validate(self, key: str) -> None:
        _check_choice(f"{key}.name", self.name, ("lightgbm",))
        _check_range(f"{key}.learning_rate", self.learning_rate, low=0, high=1, low_open=True)
        _check_range(f"{key}.num_leaves", self.num_leaves, low=2, high=131072)
        if self.max_depth == 0 or self.max_depth < -1:
            _fail(f"{key}.max_depth", "-1 (no limit) or an int >= 1", self.max_depth)
        _check_range(f"{key}.min_data_in_leaf", self.min_data_in_leaf, low=1)
        for name in ("feature_fraction", "bagging_fraction"):
            _check_range(f"{key}.{name}", getattr(self, name), low=0, high=1, low_open=True)
        _check_range(f"{key}.bagging_freq", self.bagging_freq, low=0)
        _check_range(f"{key}.lambda_l1", self.lambda_l1, low=0)
        _check_range(f"{key}.lambda_l2", self.lambda_l2, low=0)
        _check_range(f"{key}.num_boost_round", self.num_boost_round, low=1)
        _check_range(f"{key}.early_stopping_rounds", self.early_stopping_rounds, low=0)
        if isinstance(self.num_threads, str):
            _check_choice(f"{key}.num_threads", self.num_threads, ("auto",))
        else:
            _check_range(f"{key}.num_threads", self.num_threads, low=0)

    def params(self) -> dict[str, Any]:
        """The tunable model parameters (what identifies a trained model), by config key.

        ``num_threads`` is not one: predictions are bit-identical for every thread count
        (``deterministic``, ``force_row_wise``; tests/test_model_oof.py), so it changes how fast
        a model trains, never what it predicts.
        """
        skip = ("name", "num_threads")
        fields = dataclasses.fields(self)
        return {f.name: getattr(self, f.name) for f in fields if f.name not in skip}


@dataclass(frozen=True)
class StrategySettings:
    """A trading rule, its sizing and how Phase 2 scores it (``conf/strategy/<name>.yaml``).

    ``name``: the rule (:data:`crypto_tune.strategies.RULES`, one module each): ``threshold``
    trades the raw prediction against ``threshold`` (prediction units); ``zscore`` (and
    ``quantile``) trade the prediction standardised (ranked) on its own trailing
    ``signal_window`` bars: long above ``entry``, short below ``-entry``, a held side flattened
    when the signal falls back inside ``+-exit`` (None: ``entry``).
    ``sizing``: ``fixed`` uses ``leverage``; ``vol_target`` uses ``target_vol`` / the realised
    volatility of the last ``vol_window`` bars (known at the entry's open), capped by
    ``max_leverage``. A drawdown beyond ``max_drawdown`` (or ruin) makes a trial infeasible; fewer
    than ``min_trades_per_year`` trades are penalised (see :mod:`crypto_tune.objectives`).
    """

    # the defaults are conf/strategy/zscore.yaml's (the default rule)
    name: str = "zscore"
    threshold: float = 0.001
    entry: float = 1.5
    exit: float | None = 0.5
    signal_window: int = 180
    stop_loss: float | None = None
    take_profit: float | None = None
    sizing: str = "vol_target"
    leverage: float = 1.0
    target_vol: float = 0.2
    max_leverage: float = 2.0
    vol_window: int = 180
    # null: what asset.market allows / charges (crypto_tune/markets.py)
    allow_short: bool | None = None
    fee: float | None = None
    orders: str = "taker"  # taker | maker: which of the market's fees (fills are not modelled)
    slippage: float = 0.0002
    # one name, or two for a multi-objective sweep (e.g. [sharpe, max_drawdown]); the sweeper's
    # directions follow (conf/phase/strategy.yaml: ${ct.directions:...})
    objective: str | tuple[str, ...] = "psr_nines"
    min_trades_per_year: float = 20.0
    max_drawdown: float = 0.5
    # the costs resolved from asset.market (settings_from_dict sets it; not a YAML key)
    market: MarketCosts | None = None

    def validate(self, key: str) -> None:
        _check_choice(f"{key}.name", self.name, STRATEGY_RULES)
        _check_choice(f"{key}.orders", self.orders, ORDERS)
        _check_range(f"{key}.threshold", self.threshold, low=0)
        _check_range(f"{key}.entry", self.entry, low=0, low_open=True)
        if self.exit is not None and not 0 <= self.exit <= self.entry:
            _fail(f"{key}.exit", f"null or in [0, strategy.entry={self.entry:g}]", self.exit)
        _check_range(f"{key}.signal_window", self.signal_window, low=2)
        for name in ("stop_loss", "take_profit"):
            value = getattr(self, name)
            if value is not None:
                _check_range(f"{key}.{name}", value, low=0, high=1, low_open=True, high_open=True)
        _check_choice(f"{key}.sizing", self.sizing, SIZINGS)
        _check_range(f"{key}.leverage", self.leverage, low=0, high=125, low_open=True)
        _check_range(f"{key}.target_vol", self.target_vol, low=0, high=10, low_open=True)
        _check_range(f"{key}.max_leverage", self.max_leverage, low=0, high=125, low_open=True)
        _check_range(f"{key}.vol_window", self.vol_window, low=2)
        if self.fee is not None:
            _check_range(f"{key}.fee", self.fee, low=0, high=0.1, high_open=True)
        _check_range(f"{key}.slippage", self.slippage, low=0, high=0.1, high_open=True)
        if not 1 <= len(self.objectives) <= 2:
            _fail(f"{key}.objective", "one objective name or a list of two", self.objective)
        for name in self.objectives:
            _check_choice(f"{key}.objective", name, STRATEGY_OBJECTIVES)
        _check_range(f"{key}.min_trades_per_year", self.min_trades_per_year, low=0)
        _check_range(f"{key}.max_drawdown", self.max_drawdown, low=0, high=1, low_open=True)
        rule_for(self.name).check(self, key)  # the rule's own limits

    @property
    def objectives(self) -> tuple[str, ...]:
        """The objective names, one or two (``objective`` as a tuple)."""
        return (self.objective,) if isinstance(self.objective, str) else tuple(self.objective)

    @property
    def primary_objective(self) -> str:
        """The first objective: the one single-number summaries and neighbourhoods use."""
        return self.objectives[0]

    @property
    def costs(self) -> MarketCosts:
        """The resolved market costs; without a market (settings built in code, not from the
        config) the engine's own defaults: fee 0.05%, shorting, no funding, borrow or margin."""
        if self.market is not None:
            return self.market
        fee = 0.0005 if self.fee is None else self.fee
        short = True if self.allow_short is None else self.allow_short
        return MarketCosts(market="none", fee=fee, allow_short=short)

    @property
    def leverage_cap(self) -> float:
        """``max_leverage`` within what the market lends (1 on spot without borrowing)."""
        return min(self.max_leverage, self.costs.max_leverage)

    def backtest_params(self) -> BacktestParams:
        """The engine's options (:class:`~crypto_tune.backtest.BacktestParams`, same names).

        The entry/exit levels are in the units of the rule's signal
        (:meth:`crypto_tune.strategies.Rule.levels`); ``leverage`` is the fixed leverage, which
        ``sizing=vol_target`` replaces by one value per bar
        (:func:`crypto_tune.evaluation.rule_inputs` does both).
        """
        from crypto_tune.backtest import BacktestParams  # numba: only when a backtest runs

        threshold, exit_ = rule_for(self.name).levels(self)
        costs = self.costs
        return BacktestParams(
            threshold=threshold,
            exit=exit_,
            stop_loss=self.stop_loss,
            take_profit=self.take_profit,
            leverage=min(self.leverage, costs.max_leverage),
            fee=costs.fee,
            slippage=self.slippage,
            allow_short=costs.allow_short,
            funding_rate=costs.funding_rate,
            borrow_rate=costs.borrow_rate,
            maintenance_margin=costs.maintenance_margin,
        )


@dataclass(frozen=True)
class RegimeSettings:
    name: str = "all"
    window: int = 30
    lookback: int = 500
    quantile: float = 0.5
    # regime=switch (conf/regime/switch.yaml): hysteresis bars, and phase=regimes' budgets
    confirm: int = 3
    model_trials: int = 30
    strategy_trials: int = 300

    def validate(self, key: str) -> None:
        _check_choice(f"{key}.name", self.name, REGIMES)
        _check_range(f"{key}.confirm", self.confirm, low=1)
        _check_range(f"{key}.model_trials", self.model_trials, low=1)
        _check_range(f"{key}.strategy_trials", self.strategy_trials, low=1)
        _check_range(f"{key}.window", self.window, low=2)
        _check_range(f"{key}.lookback", self.lookback, low=self.window)
        _check_range(f"{key}.quantile", self.quantile, low=0, high=1, low_open=True, high_open=True)


@dataclass(frozen=True)
class SplitSettings:
    name: str = "static"
    tune_start: str = "2021-01-01"
    tune_end: str = "2023-12-31"
    holdout_start: str = "2024-01-01"
    holdout_end: str = "2024-12-31"
    n_folds: int = 5
    purge: int = 1
    valid_fraction: float = 0.15
    min_train_fraction: float = 0.3
    train_months: int = 12
    test_months: int = 3
    expanding: bool = False
    final_start: str | None = None
    final_end: str | None = None

    def validate(self, key: str, *, horizon: int) -> None:
        _check_choice(f"{key}.name", self.name, SPLITS)
        dates = {
            name: _check_date(f"{key}.{name}", getattr(self, name))
            for name in ("tune_start", "tune_end", "holdout_start", "holdout_end")
        }
        if dates["tune_end"] <= dates["tune_start"]:
            raise ConfigError(
                f"{key}.tune_end ({self.tune_end}) must be after "
                f"{key}.tune_start ({self.tune_start})"
            )
        if dates["tune_end"] >= dates["holdout_start"]:
            raise ConfigError(
                f"{key}.tune_end ({self.tune_end}) must be before {key}.holdout_start "
                f"({self.holdout_start}): the holdout never enters tuning"
            )
        if dates["holdout_end"] < dates["holdout_start"]:
            raise ConfigError(
                f"{key}.holdout_end ({self.holdout_end}) must not be before "
                f"{key}.holdout_start ({self.holdout_start})"
            )
        self._validate_final(key, dates["holdout_end"])
        _check_range(f"{key}.n_folds", self.n_folds, low=2)
        if self.purge < horizon:
            raise ConfigError(
                f"{key}.purge must be >= label.horizon ({horizon}) so no training label "
                f"overlaps a test bar, got {self.purge}"
            )
        _check_range(
            f"{key}.valid_fraction",
            self.valid_fraction,
            low=0,
            high=0.5,
            low_open=True,
            high_open=True,
        )
        _check_range(
            f"{key}.min_train_fraction",
            self.min_train_fraction,
            low=0,
            high=1,
            low_open=True,
            high_open=True,
        )
        _check_range(f"{key}.train_months", self.train_months, low=1)
        _check_range(f"{key}.test_months", self.test_months, low=1)

    def _validate_final(self, key: str, holdout_end: Any) -> None:
        """The locked final holdout: both dates or neither, after the holdout."""
        if (self.final_start is None) != (self.final_end is None):
            raise ConfigError(
                f"{key}.final_start and {key}.final_end go together (a locked final holdout), "
                f"got {self.final_start!r} and {self.final_end!r}"
            )
        if self.final_start is None:
            return
        start = _check_date(f"{key}.final_start", str(self.final_start))
        end = _check_date(f"{key}.final_end", str(self.final_end))
        if start <= holdout_end:
            raise ConfigError(
                f"{key}.final_start ({self.final_start}) must be after {key}.holdout_end "
                f"({self.holdout_end}): the final holdout comes after everything else"
            )
        if end < start:
            raise ConfigError(
                f"{key}.final_end ({self.final_end}) must not be before "
                f"{key}.final_start ({self.final_start})"
            )


@dataclass(frozen=True)
class PhaseSettings:
    name: str = "model"
    objective: str = "ic"
    model_source: str = "study"
    pruner: str = DEFAULT_PRUNER  # Phase 1: crypto_tune/pruning.py

    def validate(self, key: str) -> None:
        _check_choice(f"{key}.name", self.name, PHASES)
        _check_choice(f"{key}.objective", self.objective, MODEL_OBJECTIVES)
        _check_choice(f"{key}.model_source", self.model_source, MODEL_SOURCES)
        _check_choice(f"{key}.pruner", self.pruner, PRUNERS)


@dataclass(frozen=True)
class StorageSettings:
    name: str = "sqlite"
    url: str = ""

    def validate(self, key: str) -> None:
        _check_choice(f"{key}.name", self.name, STORAGES)
        if "://" not in self.url:
            _fail(
                f"{key}.url", "a database URL like sqlite:///file.db or postgresql://...", self.url
            )


@dataclass(frozen=True)
class TrackingSettings:
    name: str = "mlflow"
    uri: str = ""
    artifact_location: str | None = None
    enabled: bool = True
    per_trial_runs: bool = False


@dataclass(frozen=True)
class LabelSettings:
    horizon: int = 1

    def validate(self, key: str) -> None:
        _check_range(f"{key}.horizon", self.horizon, low=1)


@dataclass(frozen=True)
class FeatureSettings:
    windows: tuple[int, ...] = (5, 10, 20, 30, 60)

    def validate(self, key: str) -> None:
        if not self.windows:
            _fail(f"{key}.windows", "a non-empty list of ints >= 2", list(self.windows))
        for window in self.windows:
            _check_range(f"{key}.windows", window, low=2)


@dataclass(frozen=True)
class StudySettings:
    name: str


@dataclass(frozen=True)
class BestSettings:
    """``phase=best`` options: ``best.from=FILE`` replays a workflow.best.json."""

    from_file: str | None = None
    overwrite: bool = True
    selection: str = "best"
    top_k: int = 16
    retrain_months: int = 0
    pareto: str = "utopia"

    def validate(self, key: str) -> None:
        _check_choice(f"{key}.selection", self.selection, SELECTIONS)
        _check_choice(f"{key}.pareto", self.pareto, PARETO_RULES)
        _check_range(f"{key}.top_k", self.top_k, low=2)
        _check_range(f"{key}.retrain_months", self.retrain_months, low=0)


@dataclass(frozen=True)
class WalkForwardSettings:
    """``phase=walkforward`` options: the trial budgets of every window's two studies and the
    period the windows cover (null: ``split.tune_start`` and ``split.holdout_end``)."""

    model_trials: int = 30
    strategy_trials: int = 300
    start: str | None = None
    end: str | None = None

    def validate(self, key: str) -> None:
        _check_range(f"{key}.model_trials", self.model_trials, low=1)
        _check_range(f"{key}.strategy_trials", self.strategy_trials, low=1)
        start = _check_date(f"{key}.start", self.start) if self.start is not None else None
        end = _check_date(f"{key}.end", self.end) if self.end is not None else None
        if start is not None and end is not None and end <= start:
            raise ConfigError(f"{key}.end ({self.end}) must be after {key}.start ({self.start})")


@dataclass(frozen=True)
class DownloadSettings:
    """``phase=download`` options (conf/phase/download.yaml): the ccxt exchange, the period
    (``until`` null: up to the last closed bar), the folder the files go to, bars per request,
    retries of a failed request, and ccxt constructor options merged over ours (``ccxt``)."""

    exchange: str = "binance"
    since: str = "2017-01-01"
    until: str | None = None
    folder: str = ""
    limit: int = 1000
    retries: int = 5
    ccxt: dict[str, Any] = field(default_factory=dict)

    def validate(self, key: str) -> None:
        if not self.exchange:
            _fail(f"{key}.exchange", "a ccxt exchange id like binance", self.exchange)
        since = _check_date(f"{key}.since", self.since)
        if self.until is not None and _check_date(f"{key}.until", self.until) <= since:
            raise ConfigError(
                f"{key}.until ({self.until}) must be after {key}.since ({self.since})"
            )
        _check_range(f"{key}.limit", self.limit, low=1, high=5000)
        _check_range(f"{key}.retries", self.retries, low=0, high=50)
        if not isinstance(self.ccxt, Mapping):
            _fail(f"{key}.ccxt", "a mapping of ccxt constructor options", self.ccxt)


@dataclass(frozen=True)
class SearchPresetSettings:
    """Set by a ``conf/hparams_search/<name>.yaml`` preset (metric, sampler and space of one
    phase in one file): its name and the phases it is meant for; empty without a preset."""

    name: str | None = None
    phases: tuple[str, ...] = ()

    def check_phase(self, key: str, phase: str) -> None:
        for name in self.phases:
            _check_choice(f"{key}.phases", name, PHASES)
        if self.name is not None and self.phases and phase not in self.phases:
            raise ConfigError(
                f"hparams_search={self.name} is for phase={'|'.join(self.phases)}, "
                f"not phase={phase}"
            )


@dataclass(frozen=True)
class Settings:
    """The whole validated configuration; the only object phases receive."""

    experiment_name: str
    seed: int
    paths: PathsSettings
    asset: AssetSettings
    model: ModelSettings
    strategy: StrategySettings
    regime: RegimeSettings
    split: SplitSettings
    phase: PhaseSettings
    storage: StorageSettings
    tracking: TrackingSettings
    label: LabelSettings
    features: FeatureSettings
    study: StudySettings
    best: BestSettings = field(default_factory=BestSettings)
    walkforward: WalkForwardSettings = field(default_factory=WalkForwardSettings)
    hparams_search: SearchPresetSettings = field(default_factory=SearchPresetSettings)
    download: DownloadSettings = field(default_factory=DownloadSettings)
    universe: UniverseSettings = field(default_factory=UniverseSettings)
    # The overrides given on the command line for this run (filled by the CLI, not by YAML).
    command_line: tuple[str, ...] = ()

    def validate(self) -> None:
        self.asset.validate("asset")
        self.model.validate("model")
        self.strategy.validate("strategy")
        self.regime.validate("regime")
        self.label.validate("label")
        self.split.validate("split", horizon=self.label.horizon)
        self.phase.validate("phase")
        self.storage.validate("storage")
        self.features.validate("features")
        self.best.validate("best")
        self.walkforward.validate("walkforward")
        self.download.validate("download")
        self.universe.validate("universe", asset_kind=self.asset.kind, rule=self.strategy.name)
        self.hparams_search.check_phase("hparams_search", self.phase.name)


# --------------------------------------------------------------------------------------------
# Building dataclasses from plain mappings, with key-naming errors.

_RENAMED = {"from": "from_file"}  # YAML keys that are Python keywords


def _type_name(tp: Any) -> str:
    names = {int: "an int", float: "a number", bool: "true or false", str: "a string"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(key: str, value: Any, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        for option in inner[:-1]:  # the first type the value fits (str | tuple[str, ...])
            try:
                return _coerce(key, value, option)
            except ConfigError:
                continue
        return _coerce(key, value, inner[-1])
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            _fail(key, "a mapping", value)
        return _build(tp, value, key)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            _fail(key, "a list", value)
        (item_type, _) = typing.get_args(tp)
        return tuple(_coerce(key, item, item_type) for item in value)
    if value is None:
        _fail(key, _type_name(tp), value)
    if tp is bool:
        if not isinstance(value, bool):
            _fail(key, "true or false", value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            _fail(key, "an int", value)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            _fail(key, "a number", value)
        return float(value)
    if tp is str:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            _fail(key, "a string", value)
        return str(value)
    return value


@functools.cache
def _schema(cls: type) -> tuple[dict[str, Any], dict[str, dataclasses.Field]]:
    return typing.get_type_hints(cls), {f.name: f for f in dataclasses.fields(cls)}


def _build(cls: type, mapping: Mapping[str, Any], prefix: str) -> Any:
    hints, fields = _schema(cls)
    values: dict[str, Any] = {}
    for raw_key, value in mapping.items():
        name = _RENAMED.get(str(raw_key), str(raw_key))
        key = f"{prefix}.{raw_key}" if prefix else str(raw_key)
        if name not in fields:
            known = ", ".join(sorted(_RENAMED.get(k, k) for k in fields if not k.startswith("_")))
            raise ConfigError(f"{key} is not a known key (known: {known})")
        values[name] = _coerce(key, value, hints[name])
    for name, f in fields.items():
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if name not in values and no_default:
            raise ConfigError(f"{prefix + '.' if prefix else ''}{name} is required but missing")
    return cls(**values)


def settings_from_dict(config: Mapping[str, Any]) -> Settings:
    """Build and validate :class:`Settings` from a resolved config mapping (no ``hydra`` key)."""
    config = {k: v for k, v in config.items() if k != "hydra"}
    config.setdefault("best", {})
    storage = config.get("storage")
    if isinstance(storage, dict) and isinstance(storage.get("url"), str):
        from crypto_tune.config._resolvers import database_url

        config["storage"] = {**storage, "url": database_url(storage["url"])}
    settings = _build(Settings, config, "")
    settings.validate()
    return with_market_costs(settings)


def with_market_costs(settings: Settings) -> Settings:
    """``settings`` with ``strategy.market`` resolved from ``asset.market`` and the overrides
    (:func:`crypto_tune.markets.market_costs`; a forbidden combination is a ConfigError)."""
    asset, strategy = settings.asset, settings.strategy
    costs = market_costs(
        asset.market,
        fee=strategy.fee,
        orders=strategy.orders,
        allow_short=strategy.allow_short,
        borrow_rate=asset.borrow_rate,
        funding=asset.funding,
        maintenance_margin=asset.maintenance_margin,
    )
    return dataclasses.replace(settings, strategy=dataclasses.replace(strategy, market=costs))
