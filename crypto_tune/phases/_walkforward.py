"""``phase=walkforward``: walk-forward optimisation, one command from tuning to a stitched record.

For every window of :func:`crypto_tune.walkforward.walkforward_windows` (``split.train_months``
of training, rolling or anchored with ``split.expanding``, then ``split.test_months`` of test):

1. Phase 1 on the window's tuning folds only: the Optuna study ``{study.name}.wf{k}.model``
   (search space: ``hydra.sweeper.params`` from ``conf/search/model/<model>.yaml``, parsed by
   the Optuna sweeper's own parser) until it holds ``walkforward.model_trials`` complete trials.
2. Phase 2 on the chosen model's out-of-fold predictions of those folds: the study
   ``{study.name}.wf{k}.strategy`` (``conf/search/strategy/<rule>.yaml``) until it holds
   ``walkforward.strategy_trials`` complete trials.
3. Trade the test block: the model refit on the whole training span for the folds' median best
   iteration (:func:`crypto_tune.model.refit_rounds`), the strategy backtested exactly as
   ``phase=best`` does (:func:`crypto_tune.phases._strategy.backtest_segment`).

The test blocks are stitched into one out-of-sample record beside buy-and-hold over the same
bars. A rerun resumes (a study holding its budget is not tuned again); processes given the same
command on one RDB storage share the windows (each tunes until the study holds the budget).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
import pandas as pd

from crypto_tune import metrics
from crypto_tune._json import json_value
from crypto_tune.config import ModelSettings, Settings, StrategySettings
from crypto_tune.data import time_index
from crypto_tune.dataset import Dataset, prepare_dataset, regime_mask, write_atomic_parquet
from crypto_tune.exceptions import ConfigError, InvalidTrialError
from crypto_tune.phases._strategy import (
    FoldArrays,
    backtest_folds,
    backtest_segment,
    fold_arrays_for,
    score_strategy,
)
from crypto_tune.timeframes import periods_per_year, timeframe_minutes
from crypto_tune.walkforward import Window, efficiency, stitch, walkforward_windows, window_labels

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

    from crypto_tune.model import OutOfFold

log = logging.getLogger("crypto_tune.walkforward")
# The model a window's Phase 2 trades, pinned on its Phase 1 study by the first process that
# saw the budget complete: workers sharing a window never tune two strategies on two models.
PIN_ATTR = "crypto_tune.walkforward.model"
Direction: TypeAlias = Literal["minimize", "maximize"]


# --------------------------------------------------------------------------- search spaces
@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """One sweep's search space as the Optuna sweeper builds it, and the sampler it uses."""

    distributions: dict[str, BaseDistribution]
    fixed: dict[str, Any]
    sampler: dict[str, Any]
    direction: Direction


def _compose(settings: Settings, phase: str) -> Any:
    """The full config (``hydra`` included) of this run's command line with ``phase=...``."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from crypto_tune.config import config_dir, register_resolvers

    overrides = [o for o in settings.command_line if o.split("=", 1)[0].lstrip("+~") != "phase"]
    overrides.append(f"phase={phase}")
    register_resolvers()
    if GlobalHydra.instance().is_initialized():  # inside the crypto-tune app
        return compose("config", overrides=overrides, return_hydra_config=True)
    with initialize_config_dir(config_dir=str(config_dir())):
        return compose("config", overrides=overrides, return_hydra_config=True)


def search_space(settings: Settings, phase: str) -> SearchSpace:
    """The ``phase`` sweep's space: its ``hydra.sweeper.params`` in the composed config, parsed
    by the Optuna sweeper's own parser. Keys fixed on the command line are not searched."""
    from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides
    from omegaconf import OmegaConf

    full = _compose(settings, phase)
    params = OmegaConf.to_container(full.hydra.sweeper.params or {}, resolve=False)
    assert isinstance(params, dict)
    lines = [f"{key!s}={value}" for key, value in params.items()]
    try:
        distributions, fixed, _ = create_params_from_overrides(lines)
    except Exception as exc:  # the sweeper's own errors, as one line
        raise ConfigError(
            f"phase={phase} search space: {str(exc).strip().splitlines()[0]}"
        ) from None
    given = {o.split("=", 1)[0].lstrip("+") for o in settings.command_line}
    for key in given & set(distributions):
        del distributions[key]
    sampler = OmegaConf.to_container(full.hydra.sweeper.sampler, resolve=True)
    assert isinstance(sampler, dict)
    return SearchSpace(
        distributions=dict(distributions),
        fixed=dict(fixed),
        sampler={str(k): v for k, v in sampler.items()},
        direction=_direction(phase, full.hydra.sweeper.direction),
    )


def _direction(phase: str, value: object) -> Direction:
    """The sweep's one direction; a walk-forward window tunes a single objective."""
    text = str(value)
    if text == "minimize":
        return "minimize"
    if text == "maximize":
        return "maximize"
    raise ConfigError(
        f"phase={phase}: hydra.sweeper.direction must be minimize or maximize, got {text}"
    )


def _sampler(space: SearchSpace, offset: int) -> optuna.samplers.BaseSampler:
    """The sweep's sampler; a fixed seed moves by ``offset`` (each study draws its own)."""
    from hydra.utils import instantiate

    config = dict(space.sampler)
    if config.get("seed") is not None:
        config["seed"] = int(config["seed"]) + offset
    return instantiate(config)


# ---------------------------------------------------------------------- inputs of a window
def windows_for(settings: Settings, dataset: Dataset) -> list[Window]:
    """The walk-forward windows of ``settings`` on ``dataset``'s bars."""
    split, wf = settings.split, settings.walkforward
    return walkforward_windows(
        time_index(dataset.candles),
        start=wf.start or split.tune_start,
        end=wf.end or split.holdout_end,
        train_months=split.train_months,
        test_months=split.test_months,
        expanding=split.expanding,
        purge=split.purge,
        valid_fraction=split.valid_fraction,
        n_folds=split.n_folds,
        min_train_fraction=split.min_train_fraction,
    )


def walkforward_dataset(settings: Settings) -> Dataset:
    """Candles, features, label and regimes of the asset. The dataset's own folds are never
    scored here (each window has its own), so they are the static ones whatever ``split`` says:
    a walk-forward split whose train window does not fit the tuning period must not stop a
    walk-forward run whose windows fit ``walkforward.start..end``."""
    split = dataclasses.replace(settings.split, name="static")
    return prepare_dataset(dataclasses.replace(settings, split=split))


def window_dataset(dataset: Dataset, window: Window) -> Dataset:
    """``dataset`` whose folds are the window's tuning folds (what both studies score)."""
    return dataclasses.replace(dataset, folds=window.folds)


def model_settings(settings: Settings, params: dict[str, Any]) -> ModelSettings:
    """``settings.model`` with the trial's ``model.*`` values, validated."""
    from crypto_tune.study import group_params

    model = dataclasses.replace(settings.model, **group_params(params, "model"))
    model.validate("model")
    return model


def strategy_settings(settings: Settings, params: dict[str, Any]) -> StrategySettings:
    """``settings.strategy`` with the trial's ``strategy.*`` values, validated."""
    from crypto_tune.study import group_params

    strategy = dataclasses.replace(settings.strategy, **group_params(params, "strategy"))
    strategy.validate("strategy")
    return strategy


def model_objective(
    settings: Settings, data: Dataset, model: ModelSettings
) -> tuple[float, OutOfFold]:
    """Phase 1's objective of ``model`` on ``data``'s folds, and its out-of-fold predictions."""
    from crypto_tune.model import out_of_fold
    from crypto_tune.objectives import MODEL_OBJECTIVES
    from crypto_tune.phases._model import score_folds

    oof = out_of_fold(data, model, seed=settings.seed, cache_dir=settings.paths.cache)
    summary = score_folds(data, oof, settings.regime.name)
    return float(MODEL_OBJECTIVES[settings.phase.objective](summary)), oof


def strategy_objective(
    settings: Settings, arrays: tuple[FoldArrays, ...], strategy: StrategySettings
) -> float:
    """Phase 2's objective of ``strategy`` on the fold arrays (exactly as a Phase 2 trial)."""
    tf = settings.asset.timeframe
    returns, trades = backtest_folds(arrays, strategy, bar_hours=timeframe_minutes(tf) / 60.0)
    return score_strategy(strategy, returns, trades, ppy=periods_per_year(tf))


# ------------------------------------------------------------------------------- studies
def _complete(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def _study(settings: Settings, name: str, space: SearchSpace, offset: int) -> optuna.Study:
    import optuna

    from crypto_tune.study import rdb_storage

    return optuna.create_study(
        study_name=f"{settings.study.name}.{name}",
        storage=rdb_storage(settings.storage.url),
        sampler=_sampler(space, offset),
        direction=space.direction,
        load_if_exists=True,
    )


def optimize(
    study: optuna.Study,
    space: SearchSpace,
    objective: Callable[[dict[str, Any]], float],
    budget: int,
) -> int:
    """Ask/tell until ``study`` holds ``budget`` complete trials (counting other workers');
    returns how many this process completed. A trial whose values fail validation is FAIL; an
    interrupted one is FAIL and the interrupt goes on."""
    import optuna

    done = failed = 0
    while len(_complete(study)) < budget:
        trial = study.ask(space.distributions)
        params = {**trial.params, **space.fixed}
        try:
            value = float(objective(params))
            if not math.isfinite(value):
                raise InvalidTrialError(f"the objective is {value}")
        except (ConfigError, InvalidTrialError) as exc:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            failed += 1
            log.warning("%s trial %d failed: %s", study.study_name, trial.number, exc)
            if failed >= 5 and failed > done:
                raise ConfigError(
                    f"{study.study_name}: {failed} of {failed + done} trials failed; last: {exc}"
                ) from None
            continue
        except BaseException:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        study.tell(trial, value)
        done += 1
    return done


def log_tuned(
    logger: logging.Logger,
    head: str,
    phase: str,
    study: optuna.Study,
    *,
    budget: int,
    tuned: int,
    started: float,
    label: str,
    value: float,
    number: int,
) -> None:
    """One progress line for a tuned study: complete/budget, trials tuned here, time, best."""
    logger.info(
        "%s | %s: %d/%d complete (%d tuned here, %.1fs), %s %.4f (trial %d)",
        head,
        phase,
        len(_complete(study)),
        budget,
        tuned,
        time.perf_counter() - started,
        label,
        value,
        number,
    )


def _value(trial: optuna.trial.FrozenTrial) -> float:
    """A complete single-objective trial's value (a study's ``best_trial`` is one)."""
    if trial.value is None:
        raise InvalidTrialError(f"trial {trial.number} has no value")
    return float(trial.value)


def _pinned_model(study: optuna.Study, budget: int) -> tuple[dict[str, Any], int, float]:
    """(params, trial number, value) of the model Phase 2 trades in this window (see PIN_ATTR)."""
    pin = study.user_attrs.get(PIN_ATTR)
    if not (isinstance(pin, dict) and pin.get("budget") == budget):
        best = study.best_trial
        study.set_user_attr(
            PIN_ATTR,
            {"params": best.params, "trial": best.number, "value": best.value, "budget": budget},
        )
        pin = study.user_attrs[PIN_ATTR]
    return dict(pin["params"]), int(pin["trial"]), float(pin["value"])


# ------------------------------------------------------------------------------- a window
@dataclasses.dataclass
class WindowResult:
    """What one window chose and how it traded."""

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

    def as_dict(self) -> dict[str, Any]:
        return {
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


_clean = json_value  # NaN/inf -> None, NumPy scalars -> Python numbers


def _short(params: dict[str, Any]) -> str:
    return " ".join(
        f"{k.split('.')[-1]}={v:.3g}" if isinstance(v, float) else f"{k.split('.')[-1]}={v}"
        for k, v in params.items()
    )


def _performance(returns: np.ndarray, n_trades: int, ppy: float) -> dict[str, Any]:
    return {
        "sharpe": _clean(metrics.sharpe_ratio(returns, periods_per_year=ppy)),
        "total_return": _clean(metrics.total_return(returns)),
        "annual_return": _clean(metrics.cagr(returns, periods_per_year=ppy)),
        "max_drawdown": _clean(metrics.max_drawdown(returns)),
        "n_trades": int(n_trades),
        "n_bars": len(returns),
    }


def run_window(
    settings: Settings,
    dataset: Dataset,
    window: Window,
    spaces: tuple[SearchSpace, SearchSpace],
    total: int,
) -> WindowResult:
    """Tune (or resume) both studies of ``window``, then refit and trade its test block."""
    from crypto_tune.model import fit_refit, refit_rounds
    from crypto_tune.study import check_fingerprint

    started = time.perf_counter()
    wf, k = settings.walkforward, window.number
    data = window_dataset(dataset, window)
    dates = window.dates(time_index(dataset.candles))
    head = f"wf {k + 1}/{total} test {dates['test_start'][:10]}..{dates['test_end'][:10]}"
    mask = regime_mask(dataset, settings.regime.name)
    timeframe = settings.asset.timeframe
    ppy = periods_per_year(timeframe)
    model_space, strategy_space = spaces

    # Phase 1
    clock = time.perf_counter()
    study = _study(settings, f"wf{k}.model", model_space, offset=2 * k)
    check_fingerprint(
        settings, _fingerprint(settings, data, "model"), phase=f"wf{k}.model", record=True
    )
    tuned = optimize(
        study,
        model_space,
        lambda p: model_objective(settings, data, model_settings(settings, p))[0],
        wf.model_trials,
    )
    params, model_trial, model_value = _pinned_model(study, wf.model_trials)
    params |= model_space.fixed
    model = model_settings(settings, params)
    _, oof = model_objective(settings, data, model)  # the disk cache: no training
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
    arrays = fold_arrays_for(data, oof, settings.regime.name)
    s_study = _study(settings, f"wf{k}.strategy", strategy_space, offset=2 * k + 1)
    check_fingerprint(
        settings,
        _fingerprint(settings, data, "strategy", oof.key),
        phase=f"wf{k}.strategy",
        record=True,
    )
    s_tuned = optimize(
        s_study,
        strategy_space,
        lambda p: strategy_objective(settings, arrays, strategy_settings(settings, p)),
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
        value=_value(best),
        number=best.number,
    )

    # in sample: the chosen strategy on the tuning folds' out-of-fold predictions (as phase=best)
    clock = time.perf_counter()
    parts, is_trades = [], 0
    for fold in data.folds:
        preds = oof.fold_slice(fold.number)
        pos = dataset.candles.index.get_indexer(preds.index)
        result = backtest_segment(
            dataset.candles, pos, preds.to_numpy(), mask[pos], strategy, timeframe=timeframe
        )
        parts.append(result.returns.to_numpy())
        is_trades += len(result.trades)
    in_sample = _performance(np.concatenate(parts), is_trades, ppy)

    # out of sample: refit on the training span, trade the test block
    rounds = refit_rounds(oof.best_iterations)
    fitted = fit_refit(
        dataset.features, dataset.label, window.refit, model, seed=settings.seed, num_rounds=rounds
    )
    test = window.refit.test_idx
    oos = backtest_segment(
        dataset.candles, test, fitted.test_predictions, mask[test], strategy, timeframe=timeframe
    )
    out = _performance(oos.returns.to_numpy(), len(oos.trades), ppy)
    labels = dataset.label.to_numpy()[test]
    keep = np.isfinite(labels) & mask[test]
    out["ic"] = _clean(metrics.information_coefficient(fitted.test_predictions[keep], labels[keep]))
    out["refit_rounds"] = rounds
    log.info(
        "%s | trade: refit %d rounds; IS Sharpe %s, OOS Sharpe %s, return %s, %d trades (%.1fs)",
        head,
        rounds,
        _fmt(in_sample["sharpe"]),
        _fmt(out["sharpe"]),
        _pct(out["total_return"]),
        out["n_trades"],
        time.perf_counter() - clock,
    )
    return WindowResult(
        number=k,
        dates=dates,
        model_params={n.removeprefix("model."): v for n, v in params.items()},
        model_trial=model_trial,
        model_value=model_value,
        strategy_params={n.removeprefix("strategy."): v for n, v in strategy_params.items()},
        strategy_trial=best.number,
        strategy_value=_value(best),
        trials={
            "model_complete": len(_complete(study)),
            "model_tuned_here": tuned,
            "strategy_complete": len(_complete(s_study)),
            "strategy_tuned_here": s_tuned,
        },
        in_sample=in_sample,
        out_of_sample=out,
        returns=oos.returns,
        trades=oos.trades.assign(window=k),
        seconds=time.perf_counter() - started,
    )


def _fingerprint(
    settings: Settings, data: Dataset, phase: str, predictions: str | None = None
) -> dict[str, Any]:
    from crypto_tune.fingerprint import study_fingerprint

    return study_fingerprint(settings, [data], phase=phase, predictions=predictions)


# ------------------------------------------------------------------------------ the phase
def preflight_walkforward(settings: Settings) -> None:
    """Before any work: a single asset, the storage reachable, windows that fit, both spaces."""
    from crypto_tune.study import check_storage

    if settings.asset.kind == "basket":
        raise ConfigError("phase=walkforward: asset=basket is not supported; pick one asset")
    check_storage(settings.storage.url)
    windows_for(settings, walkforward_dataset(settings))
    for phase in ("model", "strategy"):
        if not search_space(settings, phase).distributions:
            raise ConfigError(f"phase=walkforward: the {phase} search space is empty")


def run_walkforward(settings: Settings) -> None:
    """Every window: tune, refit, trade; then stitch, compare, print, write and log."""
    import optuna

    if settings.asset.kind == "basket":
        raise ConfigError("phase=walkforward: asset=basket is not supported; pick one asset")
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per window step instead
    started = time.perf_counter()
    dataset = walkforward_dataset(settings)
    windows = windows_for(settings, dataset)
    spaces = (search_space(settings, "model"), search_space(settings, "strategy"))
    split = settings.split
    log.info(
        "walk-forward: %d windows, train %d months (%s), test %d months, %d tuning folds each, "
        "budgets %d model / %d strategy trials per window",
        len(windows),
        split.train_months,
        "anchored" if split.expanding else "rolling",
        split.test_months,
        split.n_folds,
        settings.walkforward.model_trials,
        settings.walkforward.strategy_trials,
    )
    results = [run_window(settings, dataset, w, spaces, len(windows)) for w in windows]
    document, curves = summarise(settings, dataset, results)
    document["seconds"] = round(time.perf_counter() - started, 1)
    paths = write_outputs(settings, document, curves, results)
    print_table(document, paths["json"])
    _log_to_mlflow(settings, document, paths)


def summarise(
    settings: Settings, dataset: Dataset, results: list[WindowResult]
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The walkforward.json document and the stitched curves (returns, benchmark, window)."""
    from crypto_tune.fingerprint import data_fingerprint
    from crypto_tune.report import buy_and_hold

    ppy = periods_per_year(settings.asset.timeframe)
    returns = stitch([r.returns for r in results])
    hold = buy_and_hold(dataset.candles["close"], returns.index)
    n_trades = sum(r.out_of_sample["n_trades"] for r in results)
    stitched = _performance(returns.to_numpy(), n_trades, ppy) | {"psr": _psr(returns.to_numpy())}
    benchmark = _performance(hold.to_numpy(), 1, ppy) | {"psr": _psr(hold.to_numpy())}
    benchmark.pop("n_trades")
    is_annual = [r.in_sample["annual_return"] for r in results]
    split, wf = settings.split, settings.walkforward
    document = {
        "version": 1,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "crypto-tune " + " ".join(settings.command_line),
        "study": settings.study.name,
        "studies": [
            f"{settings.study.name}.wf{r.number}.{p}"
            for r in results
            for p in ("model", "strategy")
        ],
        "asset": {
            "name": settings.asset.name,
            "symbol": settings.asset.symbol,
            "timeframe": settings.asset.timeframe,
            "data_fingerprint": dataset.data_fingerprint,
        },
        "fingerprint": data_fingerprint(settings, [dataset]),
        "regime": settings.regime.name,
        "period": [wf.start or split.tune_start, wf.end or split.holdout_end],
        "split": {
            "train_months": split.train_months,
            "test_months": split.test_months,
            "expanding": split.expanding,
            "purge": split.purge,
            "n_folds": split.n_folds,
            "valid_fraction": split.valid_fraction,
        },
        "budgets": {"model_trials": wf.model_trials, "strategy_trials": wf.strategy_trials},
        "objectives": {"model": settings.phase.objective, "strategy": settings.strategy.objective},
        "windows": [r.as_dict() for r in results],
        "stitched": stitched
        | {
            "start": returns.index[0].isoformat(),
            "end": returns.index[-1].isoformat(),
        },
        "benchmark": benchmark,
        "efficiency": _clean(efficiency(stitched["annual_return"], is_annual)),
        "in_sample_annual_return_mean": _clean(
            float(np.mean([r for r in is_annual if r is not None]))
            if any(r is not None for r in is_annual)
            else None
        ),
    }
    curves = pd.DataFrame(
        {
            "returns": returns.to_numpy(),
            "benchmark": hold.to_numpy(),
            "window": window_labels(returns.index, [r.returns for r in results]),
        },
        index=returns.index,
    )
    return document, curves


def _psr(returns: np.ndarray) -> float | None:
    sr, n, skew, kurt = metrics.sharpe_moments(returns)
    if n < 2:
        return None
    return _clean(metrics.probabilistic_sharpe_ratio(sr, n, skew, kurt))


def output_folder(settings: Settings) -> Path:
    """``paths.outputs/walkforward/<study.name>``."""
    return Path(settings.paths.root) / "walkforward" / settings.study.name


def write_outputs(
    settings: Settings, document: dict, curves: pd.DataFrame, results: list[WindowResult]
) -> dict[str, Path]:
    """walkforward.json, the curves and trades (Parquet) and the HTML page, in one folder."""
    from crypto_tune.report._walkforward import walkforward_page

    folder = output_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": folder / "walkforward.json",
        "curves": folder / "walkforward.curves.parquet",
        "trades": folder / "walkforward.trades.parquet",
        "html": folder / "walkforward.html",
    }
    write_atomic_parquet(curves, paths["curves"])
    trades = pd.concat([r.trades for r in results], ignore_index=True)
    write_atomic_parquet(trades, paths["trades"])
    document["files"] = {k: p.name for k, p in paths.items() if k != "json"}
    walkforward_page(document, curves, paths["html"])
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2, default=str)
    os.chmod(tmp, 0o644)
    os.replace(tmp, paths["json"])
    return paths


def _fmt(value: Any) -> str:
    return "—" if value is None else f"{value:.2f}"


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def print_table(document: dict, path: Path) -> None:
    """The per-window table, the stitched record beside buy-and-hold, the efficiency."""
    split = document["split"]
    print(
        f"== walk-forward: {document['asset']['symbol']} {document['asset']['timeframe']}, "
        f"{len(document['windows'])} windows, train {split['train_months']} months "
        f"({'anchored' if split['expanding'] else 'rolling'}), test {split['test_months']} "
        f"months, {document['period'][0]}..{document['period'][1]}"
    )
    header = (
        f"{'k':>2}  {'train':<23}  {'test':<23}  {'IS Sharpe':>9}  {'OOS Sharpe':>10}  "
        f"{'OOS return':>10}  {'trades':>6}  {'OOS IC':>7}"
    )
    print(header)
    for w in document["windows"]:
        ins, oos = w["in_sample"], w["out_of_sample"]
        ic = oos.get("ic")
        print(
            f"{w['number']:>2}  {w['train_start'][:10]}..{w['train_end'][:10]}  "
            f"{w['test_start'][:10]}..{w['test_end'][:10]}  {_fmt(ins['sharpe']):>9}  "
            f"{_fmt(oos['sharpe']):>10}  {_pct(oos['total_return']):>10}  "
            f"{oos['n_trades']:>6}  {'—' if ic is None else f'{ic:.4f}':>7}"
        )
    print("chosen parameters:")
    for w in document["windows"]:
        print(f"{w['number']:>2}  model: {_short(w['model_params'])}")
        print(f"{'':>2}  strategy: {_short(w['strategy_params'])}")
    st, bh = document["stitched"], document["benchmark"]
    print(f"{'':<14}{'Sharpe':>8}{'return':>10}{'annual':>9}{'max DD':>9}{'PSR':>7}{'trades':>8}")
    for name, row in (("walk-forward", st), ("buy & hold", bh)):
        trades = row.get("n_trades")
        print(
            f"{name:<14}{_fmt(row['sharpe']):>8}{_pct(row['total_return']):>10}"
            f"{_pct(row['annual_return']):>9}{_pct(row['max_drawdown']):>9}"
            f"{_fmt(row['psr']):>7}{'' if trades is None else trades:>8}"
        )
    eff = document["efficiency"]
    print(
        f"walk-forward efficiency: {_fmt(eff)} (annualised OOS return "
        f"{_pct(st['annual_return'])} / mean annualised IS return "
        f"{_pct(document['in_sample_annual_return_mean'])})"
        + ("" if eff is not None else ": undefined, the in-sample return is not positive")
    )
    print(f"wrote {path}")


def _log_to_mlflow(settings: Settings, document: dict, paths: dict[str, Path]) -> None:
    from crypto_tune.study import study_name
    from crypto_tune.tracking import code_version, flatten, log_datasets, start_run

    tags = {
        "phase": "walkforward",
        "asset": settings.asset.name,
        "code_version": code_version(),
        "data_fingerprint": document["asset"]["data_fingerprint"],
    }
    with start_run(
        settings.tracking,
        study_name(settings, phase="walkforward"),
        run_name="walkforward",
        tags=tags,
    ) as run:
        if run is None:
            return
        log_datasets(run, settings)
        run.params(
            flatten(
                {
                    "split": document["split"],
                    "budgets": document["budgets"],
                    "objectives": document["objectives"],
                }
            )
            | {"period": document["period"]}
        )
        numbers: dict[str, Any] = {"efficiency": document["efficiency"]}
        for group in ("stitched", "benchmark"):
            for key, value in document[group].items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    numbers[f"{group}.{key}"] = value
        run.metrics({k: float(v) for k, v in numbers.items() if v is not None})
        for w in document["windows"]:
            per = {
                "window.is_sharpe": w["in_sample"]["sharpe"],
                "window.oos_sharpe": w["out_of_sample"]["sharpe"],
                "window.oos_return": w["out_of_sample"]["total_return"],
                "window.oos_trades": w["out_of_sample"]["n_trades"],
            }
            run.metrics({k: float(v) for k, v in per.items() if v is not None}, step=w["number"])
        for path in paths.values():
            run.file(path)
