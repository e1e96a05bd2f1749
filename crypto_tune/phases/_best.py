"""``phase=best``: retrain with the chosen parameters, backtest in and out of sample, judge.

Reads the best Phase 1 and Phase 2 parameters from their studies (or replays a
``workflow.best.json`` given as ``best.from``), applies manual overrides from the command line,
refits the model on the whole tuning period (same early-stopping rule), predicts the holdout,
backtests the tuning period (out-of-fold predictions) and the holdout, computes the overfitting
statistics and writes ``workflow.best.json`` under ``paths.best/<study.name>/``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crypto_tune import metrics
from crypto_tune._json import json_value
from crypto_tune.config import ModelSettings, Settings, StrategySettings
from crypto_tune.data import time_index
from crypto_tune.dataset import Dataset, prepare_dataset, regime_mask, write_atomic_parquet
from crypto_tune.diagnostics import (
    holdout_note,
    objective_note,
    signal_distribution,
    trade_rate_warning,
    trades_per_year,
)
from crypto_tune.exceptions import ConfigError
from crypto_tune.model import fit_refit, out_of_fold, refit_rounds
from crypto_tune.phases._model import score_folds
from crypto_tune.phases._strategy import (
    RULE_KEYS,
    PortfolioContext,
    StrategyContext,
    _portfolio_context,
    _single_context,
    backtest_folds,
    backtest_segment,
    portfolio_folds,
    resolve_model,
    score_strategy,
)
from crypto_tune.robustness import Bound, neighbourhood, pareto_choice, select_robust, verdict
from crypto_tune.timeframes import periods_per_year, timeframe_minutes

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
BENCHMARK_KEYS = ("sharpe", "total_return", "max_drawdown")


# ---------------------------------------------------------------------------- parameters
def command_line_overrides(settings: Settings, group: str) -> dict[str, Any]:
    """Values given as ``group.key=value`` on this run's command line (manual overrides)."""
    fields = {
        f.name
        for f in dataclasses.fields(StrategySettings if group == "strategy" else ModelSettings)
    }
    current = getattr(settings, group)
    found = {}
    for item in settings.command_line:
        key = item.split("=", 1)[0].lstrip("+")
        if key.startswith(f"{group}.") and key.split(".", 1)[1] in fields:
            name = key.split(".", 1)[1]
            found[name] = getattr(current, name)
    return found


def load_replay(settings: Settings) -> dict[str, Any]:
    """The ``best.from`` file, checked: it exists, it is a workflow.best.json, and it was made
    on the data this run reads (a replay on other candles would silently mix two results)."""
    file = Path(str(settings.best.from_file))
    if not file.is_file():
        raise ConfigError(f"best.from: no such file: {file}")
    try:
        data = json.loads(file.read_text())
        data["model"]["params"], data["strategy"]["params"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"best.from: {file} is not a workflow.best.json ({exc})") from None
    recorded = data.get("fingerprint")
    if recorded:
        from crypto_tune.dataset import member_settings
        from crypto_tune.fingerprint import DATA_KEYS, data_fingerprint, differences

        datasets = [prepare_dataset(m) for m in member_settings(settings)]
        current = data_fingerprint(settings, datasets)
        changed = differences({k: recorded.get(k) for k in DATA_KEYS}, current)
        if changed:
            raise ConfigError(
                f"best.from: {file} was made on other inputs than this run's ({changed[0]}): "
                f"replay it with the overrides it was made with: {data.get('command', '?')}"
            )
    return data


@dataclasses.dataclass
class Choice:
    """The parameters of the best run and where they came from."""

    model: ModelSettings
    model_source: str
    strategy: StrategySettings
    strategy_source: str
    tuned: dict[str, Any]
    overrides: dict[str, Any]
    model_overrides: dict[str, Any]
    replay: dict[str, Any] | None
    study: Any | None  # the Phase 2 study the parameters came from (None on replay)


def _bounds_from_study(study: Any) -> dict[str, Bound]:
    from optuna.distributions import FloatDistribution, IntDistribution

    bounds = {}
    for name, dist in _chosen_trial(study).distributions.items():
        if isinstance(dist, FloatDistribution | IntDistribution) and name.startswith("strategy."):
            bounds[name.removeprefix("strategy.")] = Bound(dist.low, dist.high, dist.log)
    return bounds


# ------------------------------------------------------------------------------ backtests
@dataclasses.dataclass
class Evaluator:
    """Scores strategy parameter sets on the out-of-fold predictions (cheap, many calls)."""

    settings: Settings
    context: StrategyContext | PortfolioContext
    ppy: float
    bar_hours: float

    def strategy(self, params: dict[str, Any]) -> StrategySettings:
        return dataclasses.replace(self.settings.strategy, **params)

    def fold_returns(self, params: dict[str, Any]) -> tuple[list[np.ndarray], list[int]]:
        """Per-fold returns (the portfolio's for a basket) and trade counts of ``params``."""
        if isinstance(self.context, PortfolioContext):
            return portfolio_folds(self.context, self.strategy(params), self.settings.asset)
        return backtest_folds(self.context.folds, self.strategy(params), bar_hours=self.bar_hours)

    def score(self, params: dict[str, Any]) -> float:
        returns, trades = self.fold_returns(params)
        return score_strategy(self.strategy(params), returns, trades, ppy=self.ppy)

    def sharpe_per_period(self, params: dict[str, Any]) -> float:
        returns, _ = self.fold_returns(params)
        return metrics.sharpe_ratio(np.concatenate(returns), periods_per_year=1.0)


def _choose(settings: Settings, evaluator_for: Any) -> Choice:
    replay = load_replay(settings) if settings.best.from_file else None
    model_overrides = command_line_overrides(settings, "model")
    if replay is not None:
        model = dataclasses.replace(settings.model, **replay["model"]["params"])
        model_source = f"file:{settings.best.from_file}"
    else:
        model, model_source = resolve_model(settings)
    model = dataclasses.replace(model, **model_overrides)
    model.validate("model")

    overrides = command_line_overrides(settings, "strategy")
    study = None
    if replay is not None:
        known = {f.name for f in dataclasses.fields(StrategySettings)}
        tuned = {k: v for k, v in replay["strategy"]["params"].items() if k in known}
        source = f"file:{settings.best.from_file}"
        overrides = {**replay["strategy"].get("overrides", {}), **overrides}
    else:
        from crypto_tune.study import group_params, load_study

        study = load_study(settings, phase="strategy")
        trial = _chosen_trial(study, settings.best.pareto)
        tuned = group_params(trial.params, "strategy")
        source = f"study:{study.study_name}#{trial.number}"
        if len(study.directions) > 1:
            source += (
                f" (Pareto front of {len(study.best_trials)}, best.pareto={settings.best.pareto})"
            )
        if settings.best.selection == "robust":
            tuned, source = _robust_choice(settings, study, evaluator_for(model), tuned, source)
    strategy = dataclasses.replace(settings.strategy, **{**tuned, **overrides})
    strategy.validate("strategy")
    return Choice(
        model, model_source, strategy, source, tuned, overrides, model_overrides, replay, study
    )


def _chosen_trial(study: Any, rule: str = "utopia") -> Any:
    """The best trial; for a two-objective study, the Pareto-front trial ``best.pareto`` picks
    (:func:`crypto_tune.robustness.pareto_choice`)."""
    if len(study.directions) == 1:
        return study.best_trial
    front = study.best_trials
    directions = [d.name.lower() for d in study.directions]
    return front[pareto_choice(np.array([t.values for t in front]), directions, rule)]


def _rank_key(study: Any) -> Any:
    """Sort key, best first: the (first) objective in its direction."""
    sign = -1.0 if study.directions[0].name.lower() == "maximize" else 1.0
    return lambda t: sign * (t.values[0] if t.values else math.nan)


def _top_trials(study: Any, k: int) -> list[Any]:
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return sorted(complete, key=_rank_key(study))[:k]


def _pbo_configs(study: Any, complete: list[Any], k: int) -> list[dict[str, Any]]:
    """``k`` trials spread evenly over the ranking (best included): the search PBO judges.

    CSCV asks whether picking the in-sample best among the configurations tried beats their
    out-of-sample median; the top trials alone are near-copies of each other, whose ranking is
    noise, so the set spans the whole study from best to worst.
    """
    from crypto_tune.study import group_params

    ranked = sorted(complete, key=_rank_key(study))
    picks = sorted({round(i) for i in np.linspace(0, len(ranked) - 1, min(k, len(ranked)))})
    return [group_params(ranked[i].params, "strategy") for i in picks]


def _robust_choice(
    settings: Settings, study: Any, evaluator: Evaluator, tuned: dict, source: str
) -> tuple[dict, str]:
    from crypto_tune.study import group_params

    top = _top_trials(study, settings.best.top_k)
    candidates = [group_params(t.params, "strategy") for t in top]
    index, hoods = select_robust(
        candidates, evaluator.score, _bounds_from_study(study), seed=settings.seed
    )
    log.info(
        "selection=robust: trial %d (neighbourhood mean %.3f) over the peak trial %d (%.3f)",
        top[index].number,
        hoods[index].mean,
        top[0].number,
        hoods[0].mean,
    )
    return candidates[index], f"study:{study.study_name}#{top[index].number} (robust)"


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


def _benchmark(returns: pd.Series, ppy: float) -> dict[str, Any]:
    """Buy-and-hold over the strategy's bars: Sharpe, total return, max drawdown."""
    out = metrics.performance_summary(returns.to_numpy(), periods_per_year=ppy)
    return {k: _clean(out[k]) for k in BENCHMARK_KEYS}


_clean = json_value  # NaN/inf -> None, NumPy scalars -> Python numbers


def _backtest_segment(
    dataset: Dataset,
    positions: np.ndarray,
    predictions: np.ndarray,
    in_regime: np.ndarray,
    strategy: StrategySettings,
    timeframe: str,
    segments: np.ndarray | None = None,
) -> Any:
    """The strategy's signal and sizing on raw predictions, exactly as in Phase 2."""
    return backtest_segment(
        dataset.candles,
        positions,
        predictions,
        in_regime,
        strategy,
        timeframe=timeframe,
        segments=segments,
    )


# ----------------------------------------------------------------------------- main phase
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


def _run_member(settings: Settings, model: ModelSettings, strategy: StrategySettings) -> MemberRun:
    """In sample: the out-of-fold predictions of the tuning period, fold by fold; out of sample:
    a refit on the whole tuning period (for the folds' median best iteration, no early
    stopping: :func:`crypto_tune.model.refit_rounds`) predicting the holdout."""
    dataset = prepare_dataset(settings)
    mask = regime_mask(dataset, settings.regime.name)
    timeframe = settings.asset.timeframe
    oof = out_of_fold(dataset, model, seed=settings.seed, cache_dir=settings.paths.cache)
    parts, trades, positions, signals = [], [], [], []
    for fold in dataset.folds:
        preds = oof.fold_slice(fold.number)
        pos = dataset.candles.index.get_indexer(preds.index)
        result = _backtest_segment(dataset, pos, preds.to_numpy(), mask[pos], strategy, timeframe)
        parts.append(result.returns)
        trades.append(result.trades)
        positions.append(result.positions.to_numpy())
        signals.append(result.signal.to_numpy())
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
    oos = _backtest_segment(
        dataset, holdout.test_idx, predictions, in_regime, strategy, timeframe, segments
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


def run_best(settings: Settings) -> None:
    """Refit, backtest in and out of sample, judge, print the table and write the JSON.

    For a basket every member is refit and backtested with the same parameters and the tables,
    statistics and curves are the portfolio's (equal, unrebalanced sleeves).
    """
    from crypto_tune.dataset import member_settings

    if settings.regime.name == "switch":  # one account switching the calm/volatile sets
        from crypto_tune.phases._switch import run_switch_best

        return run_switch_best(settings)
    ppy = periods_per_year(settings.asset.timeframe)
    bar_hours = timeframe_minutes(settings.asset.timeframe) / 60.0
    basket = settings.asset.kind == "basket"

    def evaluator_for(model: ModelSettings) -> Evaluator:
        context = (_portfolio_context if basket else _single_context)(settings, model, "best")
        return Evaluator(settings, context, ppy, bar_hours)

    choice = _choose(settings, evaluator_for)
    evaluator = evaluator_for(choice.model)
    evaluator.settings = dataclasses.replace(settings, strategy=choice.strategy)
    runs = [_run_member(m, choice.model, choice.strategy) for m in member_settings(settings)]
    is_returns, oos_returns, in_sample, out_of_sample = _combine(runs, ppy)
    portfolio = None
    if basket:  # weights, rebalancing, portfolio vol target; correlation and contributions
        from crypto_tune.phases._basket import rebalance_runs

        is_returns, oos_returns, in_sample, out_of_sample, portfolio = rebalance_runs(
            runs,
            settings.asset,
            choice.strategy,
            ppy,
            (is_returns, oos_returns, in_sample, out_of_sample),
        )
    robustness = _robustness(
        settings, choice, evaluator, is_returns.to_numpy(), in_sample, out_of_sample
    )
    document = _document(settings, runs, choice, in_sample, out_of_sample, robustness, ppy)
    if portfolio is not None:
        document["portfolio"] = portfolio
    hold = _buy_and_hold(runs)
    _explain(document, settings, choice, evaluator, runs, hold, ppy)
    paths = _write_outputs(settings, document, is_returns, oos_returns, hold, runs)
    _print_table(document, paths["json"])
    if portfolio is not None:
        from crypto_tune.phases._basket import print_portfolio

        print_portfolio(portfolio)
    _log_to_mlflow(settings, document, paths)


def _robustness(
    settings: Settings,
    choice: Choice,
    evaluator: Evaluator,
    is_returns: np.ndarray,
    in_sample: dict,
    out_of_sample: dict,
) -> dict[str, Any]:
    """Every robustness test of the chosen strategy, and the verdict the calibrated rule gives.

    The trial ledger: each complete Phase 2 trial (at most ~2,000, evenly spaced) is
    recomputed on the out-of-fold predictions; never-trading and infeasible trials are dropped
    and the rest clustered by correlation (:func:`crypto_tune.robustness.summarise_ledger`).
    Tests (``robustness.tests.{name}``): PSR; DSR over the effective trials and the clusters'
    Sharpe variance (``dsr``) and the former all-trials DSR (``dsr_raw``); PBO over ``top_k``
    configurations; Hansen's SPA and White's Reality Check on the ledger; the Harvey-Liu Holm
    and BHY haircuts against the ledger's Sharpes; MinBTL for the effective trials against the
    in-sample years; stability (median neighbour Sharpe over the chosen). A replay reads the
    ledger's summary, the PBO configurations and the search bounds from the file's ``inputs``.
    """
    import optuna

    from crypto_tune.objectives import drawdown_excess
    from crypto_tune.robustness import (
        TESTS,
        VERDICT_RULE,
        judge_test,
        stability_ratio,
        summarise_ledger,
    )
    from crypto_tune.study import group_params, load_study

    sr, n_obs, skew, kurt = metrics.sharpe_moments(is_returns)
    inputs = (choice.replay or {}).get("robustness", {}).get("inputs")
    if inputs is None:
        # a replayed file without recorded inputs falls back to the study it names
        study = choice.study or load_study(settings, phase="strategy")
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        step = max(1, len(complete) // 2000)  # recompute at most ~2,000 trials
        columns, feasible = [], []
        for trial in complete[::step]:
            params = group_params(trial.params, "strategy")
            chained = np.concatenate(evaluator.fold_returns(params)[0])
            columns.append(chained)
            limit = evaluator.strategy(params).max_drawdown
            feasible.append(bool(drawdown_excess(chained, limit) <= 0))
        matrix = np.column_stack(columns) if columns else np.empty((len(is_returns), 0))
        ledger = summarise_ledger(
            matrix,
            feasible,
            n_trials=len(complete),
            bars_per_day=max(1, round(24.0 / evaluator.bar_hours)),
            seed=settings.seed,
        )
        inputs = {
            "n_trials": len(complete),
            "trial_sharpe_variance": ledger.trial_sharpe_variance,
            "pbo_configs": _pbo_configs(study, complete, settings.best.top_k),
            "ledger": ledger.as_dict(),
            "bounds": {k: dataclasses.asdict(b) for k, b in _bounds_from_study(study).items()},
        }
    n_trials = int(inputs["n_trials"])
    ledger_data = inputs.get("ledger") or {}
    n_effective = int(ledger_data.get("n_effective", n_trials)) or 1
    variance = float(ledger_data.get("cluster_sharpe_variance", inputs["trial_sharpe_variance"]))
    psr = metrics.probabilistic_sharpe_ratio(sr, n_obs, skew, kurt)
    dsr = metrics.deflated_sharpe_ratio(
        sr, n_obs, skew, kurt, n_trials=n_effective, trial_sharpe_variance=variance
    )
    dsr_raw = metrics.deflated_sharpe_ratio(
        sr,
        n_obs,
        skew,
        kurt,
        n_trials=max(n_trials, 1),
        trial_sharpe_variance=inputs["trial_sharpe_variance"],
    )
    pbo = math.nan
    columns = [np.concatenate(evaluator.fold_returns(c)[0]) for c in inputs["pbo_configs"]]
    if len(columns) >= 2:
        matrix = np.column_stack(columns)
        n_splits = 16 if matrix.shape[0] >= 16 * 8 else 4
        pbo = metrics.probability_of_backtest_overfitting(matrix, n_splits=n_splits)

    hood = stability = None
    bounds = {k: Bound(**b) for k, b in (inputs.get("bounds") or {}).items()}
    if bounds:
        hood = neighbourhood(choice.tuned, evaluator.score, bounds, seed=settings.seed).as_dict()
        sharpe_hood = neighbourhood(
            choice.tuned, evaluator.sharpe_per_period, bounds, seed=settings.seed
        )
        stability = stability_ratio(sharpe_hood.median, sr)

    ppy = evaluator.ppy
    annual = sr * math.sqrt(ppy) if math.isfinite(sr) else math.nan
    haircut = None
    haircut_p: float | None = None
    haircut_bhy: float | None = None
    sharpes = [s * math.sqrt(ppy) for s in ledger_data.get("sharpes", [])]
    if ledger_data:
        haircut_p = haircut_bhy = 1.0
        if annual > 0 and n_obs > 2:
            others = list(sharpes)
            same = [i for i, s in enumerate(others) if math.isclose(s, annual, rel_tol=1e-9)]
            if same:
                others.pop(same[0])  # the chosen trial is not one of the "other" tests
            rho = float(np.corrcoef(is_returns[:-1], is_returns[1:])[0, 1])
            found = metrics.haircut_sharpe_ratio(
                annual,
                n_obs,
                periods_per_year=ppy,
                other_sharpes=others if others else None,
                n_tests=None if others else 1,
                autocorrelation=min(max(rho, -0.99), 0.99) if math.isfinite(rho) else 0.0,
                seed=settings.seed,
            )
            haircut = found.as_dict()
            haircut_p, haircut_bhy = found.holm.p_value, found.bhy.p_value
    years = n_obs / ppy
    min_btl: float | None = None
    if ledger_data:
        min_btl = (
            metrics.minimum_backtest_length(n_effective, target_sharpe=annual)
            if annual > 0
            else math.nan
        )
    spa = ledger_data.get("spa") or {}
    tests = {
        "psr": judge_test("psr", psr),
        "dsr": judge_test("dsr", dsr),
        "dsr_raw": judge_test("dsr_raw", dsr_raw),
        "pbo": judge_test("pbo", pbo if math.isfinite(pbo) else None),
        "spa": judge_test("spa", spa.get("consistent")),
        "reality_check": judge_test("reality_check", spa.get("upper")),
        "haircut": judge_test("haircut", haircut_p),
        "haircut_bhy": judge_test("haircut_bhy", haircut_bhy),
        "min_btl": judge_test("min_btl", min_btl, threshold=years),
        "stability": judge_test("stability", stability),
    }
    assert set(tests) == set(TESTS)
    text, significant = verdict(
        n_trials=n_trials,
        tests=tests,
        n_effective=n_effective if ledger_data else None,
        oos_sharpe=out_of_sample.get("sharpe"),
        in_sample_trades=in_sample["n_trades"],
    )
    log.info("verdict: %s", text)
    return {
        "n_trials": n_trials,
        "n_effective": n_effective if ledger_data else None,
        "psr": _clean(psr),
        "dsr": _clean(dsr),
        "pbo": _clean(pbo),
        "verdict": text,
        "significant": significant,
        "rule": list(VERDICT_RULE),
        "tests": tests,
        "haircut": haircut,
        "sharpe_per_period": _clean(sr),
        "skew": _clean(skew),
        "kurtosis": _clean(kurt),
        "n_obs": int(n_obs),
        "in_sample_years": years,
        "neighbourhood": hood,
        "inputs": inputs,
    }


def _document(
    settings: Settings,
    runs: list[MemberRun],
    choice: Choice,
    in_sample: dict,
    out_of_sample: dict,
    robustness: dict,
    ppy: float,
) -> dict[str, Any]:
    from crypto_tune.fingerprint import data_fingerprint

    split = settings.split
    single = len(runs) == 1
    fold_scores = _mean_scores(runs)
    holdout_ic = float(np.nanmean([r.holdout_ic for r in runs]))
    iterations = {r.symbol: r.fitted.best_iteration for r in runs}
    # every strategy setting, so a replay restores the rule, its sizing and its costs
    strategy_params = dataclasses.asdict(choice.strategy)
    return {
        "version": 1,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "crypto-tune " + " ".join(settings.command_line),
        # the run's own overrides: `best.from=` this file applies the data-defining ones again
        "overrides": list(settings.command_line),
        "experiment": settings.experiment_name,
        "study": settings.study.name,
        "fingerprint": data_fingerprint(settings, [r.dataset for r in runs]),
        "asset": {
            "name": settings.asset.name,
            "symbol": settings.asset.symbol,
            "timeframe": settings.asset.timeframe,
            "symbols": [r.symbol for r in runs],
            "data_fingerprint": ",".join(r.dataset.data_fingerprint for r in runs),
        },
        "regime": settings.regime.name,
        "periods": {
            "tune": [split.tune_start, split.tune_end],
            "holdout": [split.holdout_start, split.holdout_end],
        },
        "model": {
            "params": choice.model.params(),
            "source": choice.model_source,
            "overrides": choice.model_overrides,
            "holdout_best_iteration": iterations[runs[0].symbol] if single else iterations,
        },
        "strategy": {
            "params": strategy_params,
            "overrides": choice.overrides,
            "tuned": choice.tuned,
            "source": choice.strategy_source,
            "selection": settings.best.selection,
            "holdout_retrain_months": settings.best.retrain_months,
        },
        "metrics": {
            "model": {
                "ic": fold_scores["ic"],
                "rank_ic": fold_scores["rank_ic"],
                "icir": _clean(fold_scores["icir"]),
                "holdout_ic": _clean(holdout_ic),
                "folds": fold_scores["folds"],
            },
            "in_sample": in_sample,
            "out_of_sample": out_of_sample,
        },
        "robustness": robustness,
        "members": None
        if single
        else {
            r.symbol: {
                "ic": r.fold_scores["ic"],
                "holdout_ic": _clean(r.holdout_ic),
                "in_sample": _summary(
                    pd.concat(r.is_returns).to_numpy(), r.is_trades, r.is_positions, ppy
                ),
                "out_of_sample": _summary(
                    r.oos.returns.to_numpy(), r.oos.trades, r.oos.positions.to_numpy(), ppy
                ),
            }
            for r in runs
        },
    }


def best_folder(settings: Settings) -> Path:
    """``paths.best/<study.name>``: each study's best run has a folder of its own."""
    return Path(settings.paths.best) / settings.study.name


def _buy_and_hold(runs: list[MemberRun]) -> tuple[pd.Series, pd.Series]:
    """Buy-and-hold returns over the strategy's own bars, in and out of sample."""
    from crypto_tune.report import benchmark_returns

    return benchmark_returns(
        {run.symbol: run.dataset.candles["close"] for run in runs},
        {run.symbol: [part.index for part in run.is_returns] for run in runs},
        {run.symbol: run.oos.returns.index for run in runs},
    )


def _explain(
    document: dict[str, Any],
    settings: Settings,
    choice: Choice,
    evaluator: Evaluator,
    runs: list[MemberRun],
    hold: tuple[pd.Series, pd.Series],
    ppy: float,
) -> None:
    """Buy-and-hold beside the table, the traded signal in and out of sample, and one line for
    each thing a user must not miss (stopped trading, a holdout that contradicts the verdict,
    an objective that differs from the study's)."""
    is_hold, oos_hold = hold
    found = document["metrics"]
    found["benchmark"] = {
        "in_sample": _benchmark(is_hold, ppy),
        "out_of_sample": _benchmark(oos_hold, ppy),
    }
    strategy = choice.strategy
    entry = strategy.entry if strategy.name == "zscore" else strategy.threshold
    in_signal = signal_distribution(
        np.concatenate([r.is_signal for r in runs if r.is_signal is not None]), entry
    )
    out_signal = signal_distribution(np.concatenate([r.oos.signal.to_numpy() for r in runs]), entry)
    document["signal"] = {
        "kind": "z-score of the predictions" if strategy.name == "zscore" else "raw predictions",
        "entry": entry,
        "in_sample": in_signal,
        "out_of_sample": out_signal,
    }
    warnings = []
    stopped = trade_rate_warning(
        found["in_sample"]["trades_per_year"],
        found["out_of_sample"]["trades_per_year"],
        in_sample_beyond=in_signal["beyond_entry"],
        out_of_sample_beyond=out_signal["beyond_entry"],
    )
    if stopped:
        warnings.append(stopped)
    robustness = document["robustness"]
    note = holdout_note(robustness["significant"], found["out_of_sample"]["sharpe"])
    robustness["holdout_note"] = note
    if note:
        warnings.append(note)
    document["warnings"] = warnings

    _explain_objective(document, settings, choice, evaluator, ppy)


def _explain_objective(
    document: dict[str, Any],
    settings: Settings,
    choice: Choice,
    evaluator: Evaluator,
    ppy: float,
) -> None:
    """The Phase 2 objective of the chosen parameters, taken apart: score, penalty, study."""
    from crypto_tune.objectives import STRATEGY_OBJECTIVES, drawdown_excess, trade_shortfall

    strategy = choice.strategy
    name = strategy.primary_objective
    returns, trades = evaluator.fold_returns({})
    chained = np.concatenate(returns)
    raw = STRATEGY_OBJECTIVES[name](chained, ppy)
    years = [len(r) / ppy for r in returns]
    shortfall = trade_shortfall(trades, years, strategy.min_trades_per_year)
    infeasible = drawdown_excess(chained, strategy.max_drawdown) > 0
    recomputed = evaluator.score({})
    study_value = None
    if choice.study is not None:
        trial = _chosen_trial(choice.study, settings.best.pareto)
        study_value = float(trial.values[0])
    found = document["metrics"]
    reasons = []
    if choice.overrides:
        reasons.append(f"manual overrides {choice.overrides}")
    if settings.best.selection != "best":
        reasons.append(f"best.selection={settings.best.selection} chose another trial")
    document["strategy"]["objective"] = {
        "name": name,
        "objectives": list(strategy.objectives),
        "value": _clean(recomputed),
        "score": _clean(raw),
        "trade_shortfall": _clean(shortfall),
        "infeasible": infeasible,
        "study_value": _clean(study_value),
        "note": objective_note(
            name,
            study_value=study_value,
            recomputed=recomputed,
            raw_score=raw,
            shortfall=shortfall,
            infeasible=infeasible,
            in_sample_sharpe=found["in_sample"]["sharpe"],
            reasons=reasons,
        ),
    }


def _target_path(settings: Settings) -> Path:
    """Where this run's workflow.best.json goes; never the file being replayed."""
    folder = best_folder(settings)
    path = folder / "workflow.best.json"
    replayed = settings.best.from_file
    is_replayed = replayed is not None and Path(replayed).resolve() == path.resolve()
    if (settings.best.overwrite and not is_replayed) or not path.exists():
        return path
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate, n = folder / f"workflow.best.{stamp}.json", 2
    while candidate.exists():
        candidate, n = folder / f"workflow.best.{stamp}-{n}.json", n + 1
    return candidate


def _write_outputs(
    settings: Settings,
    document: dict,
    is_returns: pd.Series,
    oos_returns: pd.Series,
    hold: tuple[pd.Series, pd.Series],
    runs: list[MemberRun],
) -> dict[str, Path]:
    """The JSON, the curves (strategy and buy-and-hold returns), the trades and the refit
    model(s), beside each other in the study's folder."""
    from crypto_tune.report import trade_records

    is_hold, oos_hold = hold
    path = _target_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.name.removesuffix(".json")
    curves = path.with_name(f"{stem}.curves.parquet")
    frame = pd.concat(
        {"in_sample": is_returns, "out_of_sample": oos_returns}, names=["segment", "time"]
    ).to_frame("returns")
    benchmark = pd.concat(
        {"in_sample": is_hold, "out_of_sample": oos_hold}, names=["segment", "time"]
    )
    frame["benchmark"] = benchmark.reindex(frame.index).fillna(0.0).to_numpy()
    write_atomic_parquet(frame, curves)
    trades = path.with_name(f"{stem}.trades.parquet")
    records = [
        trade_records(run.is_trades, run.is_returns, segment="in_sample", symbol=run.symbol)
        for run in runs
    ] + [
        trade_records(run.oos.trades, [run.oos.returns], segment="out_of_sample", symbol=run.symbol)
        for run in runs
    ]
    table = pd.concat(records, ignore_index=True)
    write_atomic_parquet(table.sort_values(["segment", "entry_time"], kind="stable"), trades)
    models = {}
    for run in runs:
        suffix = "" if len(runs) == 1 else f".{run.symbol}"
        models[run.symbol] = path.with_name(f"{stem}.model{suffix}.txt")
        run.fitted.booster.save_model(str(models[run.symbol]))
    document["files"] = {
        "curves": curves.name,
        "trades": trades.name,
        "model": models[runs[0].symbol].name if len(runs) == 1 else None,
        "models": {symbol: file.name for symbol, file in models.items()},
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2, default=str)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    written = {"json": path, "curves": curves, "trades": trades}
    return written | {f"model.{s}": f for s, f in models.items()}


def _fmt(value: Any, key: str) -> str:
    if value is None:
        return "—"
    if key in ("max_drawdown", "win_rate", "total_return", "exposure", "cagr", "volatility"):
        if isinstance(value, str):
            return value
        return f"{100 * value:.2f}%"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.3g}" if 0 < abs(value) < 0.01 else f"{value:.3f}"
    return str(value)


def _print_table(document: dict, path: Path) -> None:
    ins, oos = document["metrics"]["in_sample"], document["metrics"]["out_of_sample"]
    params = document["strategy"]["params"]
    overrides = document["strategy"]["overrides"]
    bench = document["metrics"].get("benchmark") or {}
    bis, boos = bench.get("in_sample", {}), bench.get("out_of_sample", {})
    head = f"{'':<16}{'in-sample':>14}{'out-of-sample':>16}"
    lines = [head + (f"{'buy&hold IS':>14}{'buy&hold OOS':>14}" if bench else "")]
    keys = ("sharpe", "sortino", "max_drawdown", "win_rate", "total_return", "n_trades")
    for key in (*keys, "trades_per_year", "exposure"):
        row = f"{key:<16}{_fmt(ins.get(key), key):>14}{_fmt(oos.get(key), key):>16}"
        if bench and key in BENCHMARK_KEYS:
            row += f"{_fmt(bis.get(key), key):>14}{_fmt(boos.get(key), key):>14}"
        lines.append(row)
    rule = params.get("name", "threshold")
    for key in RULE_KEYS.get(rule, ()):
        mark = " (override)" if key in overrides else ""
        lines.append(f"{key:<16}{_fmt(params.get(key), key):>14}{mark}")
    sizing = params.get("sizing", "fixed")
    size = (
        f"volatility target {_fmt(params.get('target_vol'), 'volatility')}, leverage capped at "
        f"{params.get('max_leverage')}"
        if sizing == "vol_target"
        else f"fixed leverage {params.get('leverage')}"
    )
    lines.append(f"{'size':<16}{size}")
    model = document["metrics"]["model"]
    rob = document["robustness"]
    print(
        f"== best run: {document['asset']['name']} {document['asset']['timeframe']}, "
        f"tune {document['periods']['tune'][0]}..{document['periods']['tune'][1]}, "
        f"holdout {document['periods']['holdout'][0]}..{document['periods']['holdout'][1]}"
    )
    print("\n".join(lines))
    print(
        f"model: IC {model['ic']:.4f}, rank IC {model['rank_ic']:.4f}, holdout IC "
        f"{_fmt(model['holdout_ic'], 'ic')}"
    )
    print(
        f"robustness: PSR {_fmt(rob['psr'], 'psr')}, DSR {_fmt(rob['dsr'], 'dsr')}, "
        f"PBO {_fmt(rob['pbo'], 'pbo')} over {rob['n_trials']:,} trials"
    )
    for symbol, member in (document.get("members") or {}).items():
        ins_m, oos_m = member["in_sample"], member["out_of_sample"]
        print(
            f"  {symbol:<10} sharpe {_fmt(ins_m['sharpe'], 'sharpe'):>8} in / "
            f"{_fmt(oos_m['sharpe'], 'sharpe'):>8} out, trades {ins_m['n_trades']} / "
            f"{oos_m['n_trades']}, IC {member['ic']:.4f} / {_fmt(member['holdout_ic'], 'ic')}"
        )
    hood = rob.get("neighbourhood")
    if hood:
        print(
            f"stability: objective over {hood['n']} neighbours (each parameter moved by up to "
            f"10%): mean {hood['mean']:.3f}, median {hood['median']:.3f}, worst {hood['worst']:.3f}"
        )
    signal = document.get("signal")
    if signal:
        beyond = [signal[s].get("beyond_entry") for s in ("in_sample", "out_of_sample")]
        if None not in beyond:
            print(
                f"signal ({signal['kind']}): beyond the entry level on {100 * beyond[0]:.1f}% "
                f"of bars in sample, {100 * beyond[1]:.1f}% out of sample"
            )
    objective = document["strategy"].get("objective")
    if objective:
        print(objective["note"])
    print(f"verdict: {rob['verdict']}")
    for warning in document.get("warnings", []):
        print(f"warning: {warning}")
    print(f"wrote {path}")


def _log_to_mlflow(settings: Settings, document: dict, paths: dict[str, Path]) -> None:
    from crypto_tune.study import study_name
    from crypto_tune.tracking import code_version, flatten, start_run

    tags = {
        "phase": "best",
        "asset": settings.asset.name,
        "code_version": code_version(),
        "data_fingerprint": document["asset"]["data_fingerprint"],
        "verdict": document["robustness"]["verdict"],
    }
    with start_run(
        settings.tracking, study_name(settings, phase="best"), run_name="best", tags=tags
    ) as run:
        if run is None:
            return
        params = flatten(
            {
                "model": document["model"]["params"],
                "strategy": document["strategy"]["params"],
                "overrides": document["strategy"]["overrides"],
            }
        )
        run.params(params)
        numbers = {}
        for segment in ("in_sample", "out_of_sample"):
            for key, value in document["metrics"][segment].items():
                numbers[f"{segment}.{key}"] = value
        for key in ("ic", "rank_ic", "icir", "holdout_ic"):
            numbers[f"model.{key}"] = document["metrics"]["model"][key]
        for key in ("psr", "dsr", "pbo", "n_trials"):
            numbers[f"robustness.{key}"] = document["robustness"][key]
        run.metrics({k: float(v) for k, v in numbers.items() if isinstance(v, int | float)})
        for path in paths.values():
            run.file(path)
        run.file(best_report(document, paths), None)


def best_report(document: dict, paths: dict[str, Path]) -> Path:
    """The best run's own HTML page (table, verdict, equity and drawdown in and out of sample)."""
    from crypto_tune.phases._report import fold_ic_frame
    from crypto_tune.report import build_report, read_best_files, write_report

    files = read_best_files(document, paths["json"])
    html = build_report(
        title=f"crypto-tune best run: {document.get('study', document['experiment'])}",
        model_study=None,
        strategy_study=None,
        best=document,
        equity=files.equity,
        benchmark=files.benchmark,
        trades=files.trades,
        fold_ic=fold_ic_frame(document),
    )
    stem = paths["json"].name.removesuffix(".json")
    return write_report(html, paths["json"].with_name(f"{stem}.html"))
