"""One walk-forward window, for one asset or a basket: tune its two studies, refit, trade.

A window's inputs are its :class:`Member` s (one for a single asset; one per symbol of a basket,
each with its own dataset and its own window of the same dates). The window runs what the
ordinary phases run on them:

- Phase 1 (``{study.name}.wf{k}.model``): one set of model parameters for every member, scored
  by the mean of the members' objectives (a basket's Phase 1);
- Phase 2 (``{study.name}.wf{k}.strategy``): one strategy on the pinned model's out-of-fold
  predictions, scored on the asset's returns or on the basket's portfolio (``asset.weights``,
  ``asset.rebalance``, ``asset.target_vol``: :func:`crypto_tune.phases._strategy.portfolio_folds`);
- the trade: every member refit on its training span and backtested on its test block as
  ``phase=best`` does its holdout; a basket's members combined into the portfolio exactly as the
  best run combines them (:func:`crypto_tune.phases._basket.rebalance_runs`), which also gives
  the window's correlation of the members' strategy returns and the portfolio's gross exposure.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from crypto_tune import metrics
from crypto_tune._json import json_value
from crypto_tune.config import ModelSettings, Settings, StrategySettings
from crypto_tune.data import time_index
from crypto_tune.dataset import regime_mask
from crypto_tune.evaluation import (
    backtest_segment,
)
from crypto_tune.model import OutOfFold
from crypto_tune.phases._best_runs import MemberRun
from crypto_tune.phases._tuning import (
    SearchSpace,
    complete_trials,
    log_tuned,
    model_settings,
    pinned_model,
    strategy_settings,
    trial_value,
    tune_window_study,
)
from crypto_tune.phases._walkforward_member import (
    Member,
    is_basket,
    strategy_scorer,
    window_model_value,
)
from crypto_tune.timeframes import periods_per_year

log = logging.getLogger("crypto_tune.walkforward")
_clean = json_value  # NaN/inf -> None, NumPy scalars -> Python numbers


# ------------------------------------------------------------------------------ a window
@dataclasses.dataclass
class WindowResult:
    """What one window chose and how it traded (``returns``: the asset's or the portfolio's
    test-block returns; ``member_index``: each member's test bars, for the benchmark)."""

    number: int
    dates: dict[str, str]
    model_params: dict[str, Any]
    model_trial: int
    model_value: float
    strategy_params: dict[str, Any]
    strategy_trial: int
    strategy_value: float
    trials: dict[str, int]
    in_sample: dict[str, Any]
    out_of_sample: dict[str, Any]
    returns: pd.Series
    trades: pd.DataFrame
    seconds: float
    member_index: dict[str, pd.Index]
    portfolio: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {
            "number": self.number,
            **self.dates,
            "model_params": self.model_params,
            "model_trial": self.model_trial,
            "model_objective": _clean(self.model_value),
            "strategy_params": self.strategy_params,
            "strategy_trial": self.strategy_trial,
            "strategy_objective": _clean(self.strategy_value),
            "trials": self.trials,
            "in_sample": self.in_sample,
            "out_of_sample": self.out_of_sample,
            "seconds": round(self.seconds, 2),
        }
        if self.portfolio is not None:
            out["portfolio"] = self.portfolio
        return out


def performance(returns: np.ndarray, n_trades: int, ppy: float) -> dict[str, Any]:
    """Sharpe, total and annualised return, max drawdown, trades and bars of ``returns``."""
    return {
        "sharpe": _clean(metrics.sharpe_ratio(returns, periods_per_year=ppy)),
        "total_return": _clean(metrics.total_return(returns)),
        "annual_return": _clean(metrics.cagr(returns, periods_per_year=ppy)),
        "max_drawdown": _clean(metrics.max_drawdown(returns)),
        "n_trades": int(n_trades),
        "n_bars": len(returns),
    }


def _dates(members: Sequence[Member]) -> dict[str, str]:
    """The window's dates: the earliest start and the latest end over the members."""
    per = [m.window.dates(time_index(m.dataset.candles)) for m in members]
    out = {}
    for key in ("train_start", "train_end", "test_start", "test_end"):
        values = [d[key] for d in per]
        out[key] = min(values) if key.endswith("start") else max(values)
    return out


def _fmt(value: Any) -> str:
    return "—" if value is None else f"{value:.2f}"


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def run_window(
    settings: Settings,
    members: Sequence[Member],
    spaces: tuple[SearchSpace, SearchSpace],
    total: int,
) -> WindowResult:
    """Tune (or resume) both studies of the window, then refit and trade its test block."""
    from crypto_tune.fingerprint import study_fingerprint

    started = time.perf_counter()
    wf, k = settings.walkforward, members[0].window.number
    datas = [m.data for m in members]
    dates = _dates(members)
    head = f"wf {k + 1}/{total} test {dates['test_start'][:10]}..{dates['test_end'][:10]}"
    model_space, strategy_space = spaces

    # Phase 1
    clock = time.perf_counter()
    study, tuned = tune_window_study(
        settings,
        k,
        "model",
        model_space,
        study_fingerprint(settings, datas, phase="model"),
        lambda p: window_model_value(settings, members, model_settings(settings, p))[0],
        wf.model_trials,
    )
    params, model_trial, model_value = pinned_model(study, wf.model_trials)
    params |= model_space.fixed
    model = model_settings(settings, params)
    _, oofs = window_model_value(settings, members, model)  # the disk cache: no training
    log_tuned(
        log,
        head,
        "model",
        study,
        budget=wf.model_trials,
        tuned=tuned,
        started=clock,
        label=settings.phase.objective,
        value=model_value,
        number=model_trial,
    )

    # Phase 2
    clock = time.perf_counter()
    score = strategy_scorer(settings, members, oofs)
    s_study, s_tuned = tune_window_study(
        settings,
        k,
        "strategy",
        strategy_space,
        study_fingerprint(
            settings, datas, phase="strategy", predictions=",".join(o.key for o in oofs)
        ),
        lambda p: score(strategy_settings(settings, p)),
        wf.strategy_trials,
    )
    best = s_study.best_trial
    strategy_params = best.params | strategy_space.fixed
    strategy = strategy_settings(settings, strategy_params)
    log_tuned(
        log,
        head,
        "strategy",
        s_study,
        budget=wf.strategy_trials,
        tuned=s_tuned,
        started=clock,
        label=str(strategy.objective),
        value=trial_value(best),
        number=best.number,
    )

    # the trade: in sample on the tuning folds' predictions, out of sample on the test block
    clock = time.perf_counter()
    runs, rounds = [], {}
    for member, oof in zip(members, oofs, strict=True):
        run, rounds[member.symbol] = trade_member(member, model, oof, strategy)
        runs.append(run)
    traded = combine_window(settings, runs, strategy, k)
    traded.out_of_sample["refit_rounds"] = (
        rounds[members[0].symbol] if not is_basket(settings) else rounds
    )
    ins, out = traded.in_sample, traded.out_of_sample
    gross = (traded.portfolio or {}).get("out_of_sample", {}).get("mean_gross")
    log.info(
        "%s | trade: refit %s rounds; IS Sharpe %s, OOS Sharpe %s, return %s, %d trades%s (%.1fs)",
        head,
        "/".join(str(r) for r in rounds.values()),
        _fmt(ins["sharpe"]),
        _fmt(out["sharpe"]),
        _pct(out["total_return"]),
        out["n_trades"],
        "" if gross is None else f", mean gross {gross:.2f}",
        time.perf_counter() - clock,
    )
    chosen = {n.removeprefix("model."): v for n, v in params.items()}
    return WindowResult(
        number=k,
        dates=dates,
        model_params={m.symbol: dict(chosen) for m in members} if is_basket(settings) else chosen,
        model_trial=model_trial,
        model_value=model_value,
        strategy_params={n.removeprefix("strategy."): v for n, v in strategy_params.items()},
        strategy_trial=best.number,
        strategy_value=trial_value(best),
        trials={
            "model_complete": len(complete_trials(study)),
            "model_tuned_here": tuned,
            "strategy_complete": len(complete_trials(s_study)),
            "strategy_tuned_here": s_tuned,
        },
        in_sample=ins,
        out_of_sample=out,
        returns=traded.returns,
        trades=traded.trades,
        seconds=time.perf_counter() - started,
        member_index={r.symbol: r.oos.returns.index for r in runs},
        portfolio=traded.portfolio,
    )


def trade_member(
    member: Member, model: ModelSettings, oof: OutOfFold, strategy: StrategySettings
) -> tuple[MemberRun, int]:
    """One member's part of the trade, as the best run's (:class:`MemberRun`): ``strategy`` on
    the out-of-fold predictions of every tuning fold (in sample), then the model refit on the
    whole training span for the folds' median best iteration, traded on the test block."""
    from crypto_tune.model import fit_refit, refit_rounds

    settings, dataset, window = member.settings, member.dataset, member.window
    mask = regime_mask(dataset, settings.regime.name)
    timeframe = settings.asset.timeframe
    parts, trades, positions = [], [], []
    for fold in member.data.folds:
        preds = oof.fold_slice(fold.number)
        pos = dataset.candles.index.get_indexer(preds.index)
        result = backtest_segment(
            dataset.candles, pos, preds.to_numpy(), mask[pos], strategy, timeframe=timeframe
        )
        parts.append(result.returns)
        trades.append(result.trades)
        positions.append(result.positions.to_numpy())
    rounds = refit_rounds(oof.best_iterations)
    fitted = fit_refit(
        dataset.features, dataset.label, window.refit, model, seed=settings.seed, num_rounds=rounds
    )
    test = window.refit.test_idx
    oos = backtest_segment(
        dataset.candles, test, fitted.test_predictions, mask[test], strategy, timeframe=timeframe
    )
    labels = dataset.label.to_numpy()[test]
    keep = np.isfinite(labels) & mask[test]
    ic = metrics.information_coefficient(fitted.test_predictions[keep], labels[keep])
    run = MemberRun(
        symbol=member.symbol,
        dataset=dataset,
        fold_scores={},
        is_returns=parts,
        is_trades=pd.concat(trades, ignore_index=True),
        is_positions=np.concatenate(positions),
        oos=oos,
        holdout_ic=ic,
        fitted=fitted,
    )
    return run, rounds


@dataclasses.dataclass
class Traded:
    """A window's trade: summaries, test-block returns and trades, the portfolio section."""

    in_sample: dict[str, Any]
    out_of_sample: dict[str, Any]
    returns: pd.Series
    trades: pd.DataFrame
    portfolio: dict[str, Any] | None


def combine_window(
    settings: Settings, runs: list[MemberRun], strategy: StrategySettings, number: int
) -> Traded:
    """The window's record: the asset's own, or the basket's portfolio combined as the best run
    combines it (equal or inverse-vol sleeves, rebalancing and its costs, the vol target)."""
    ppy = periods_per_year(settings.asset.timeframe)
    if not is_basket(settings):
        (run,) = runs
        out = performance(run.oos.returns.to_numpy(), len(run.oos.trades), ppy)
        out["ic"] = _clean(run.holdout_ic)
        return Traded(
            in_sample=performance(pd.concat(run.is_returns).to_numpy(), len(run.is_trades), ppy),
            out_of_sample=out,
            returns=run.oos.returns,
            trades=run.oos.trades.assign(window=number),
            portfolio=None,
        )
    from crypto_tune.phases._basket import rebalance_runs
    from crypto_tune.phases._best_runs import _combine

    is_returns, oos_returns, _, _, section = rebalance_runs(
        runs, settings.asset, strategy, ppy, _combine(runs, ppy)
    )
    ins = performance(is_returns.to_numpy(), sum(len(r.is_trades) for r in runs), ppy)
    out = performance(oos_returns.to_numpy(), sum(len(r.oos.trades) for r in runs), ppy)
    ics = [r.holdout_ic for r in runs if np.isfinite(r.holdout_ic)]
    out["ic"] = _clean(float(np.mean(ics))) if ics else None  # the members' mean, as Phase 1
    out["members"] = {
        r.symbol: {
            **{
                k: v
                for k, v in performance(r.oos.returns.to_numpy(), len(r.oos.trades), ppy).items()
                if k in ("sharpe", "total_return", "n_trades")
            },
            "ic": _clean(r.holdout_ic),
        }
        for r in runs
    }
    keep = ("correlation", "mean_gross", "rebalances", "costs")
    portfolio = {
        "in_sample": {k: section["in_sample"][k] for k in keep},
        "out_of_sample": {k: section["out_of_sample"][k] for k in (*keep, "contributions")},
    }
    trades = pd.concat(
        [r.oos.trades.assign(symbol=r.symbol) for r in runs], ignore_index=True
    ).assign(window=number)
    return Traded(ins, out, oos_returns.rename("returns"), trades, portfolio)


__all__ = [
    "Member",
    "WindowResult",
    "combine_window",
    "performance",
    "run_window",
    "strategy_scorer",
    "trade_member",
    "window_model_value",
]
