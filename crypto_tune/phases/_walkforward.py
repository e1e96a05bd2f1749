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
   ``phase=best`` does (:func:`crypto_tune.evaluation.backtest_segment`).

The test blocks are stitched into one out-of-sample record beside buy-and-hold over the same
bars. A rerun resumes (a study holding its budget is not tuned again); processes given the same
command on one RDB storage share the windows (each tunes until the study holds the budget).
``asset=basket`` runs the basket's own phases in every window: Phase 1 on the members' mean
objective, Phase 2 and the trade on the portfolio.

This module holds the inputs of a window; tuning its studies is
:mod:`crypto_tune.phases._tuning`, one window is
:mod:`crypto_tune.phases._walkforward_window`, the record and its files
:mod:`crypto_tune.phases._walkforward_output`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING

import pandas as pd

from crypto_tune.config import Settings
from crypto_tune.data import time_index
from crypto_tune.dataset import Dataset, prepare_dataset
from crypto_tune.exceptions import ConfigError
from crypto_tune.phases._phase import Phase
from crypto_tune.phases._tuning import search_space
from crypto_tune.walkforward import Window, walkforward_windows

if TYPE_CHECKING:
    from crypto_tune.phases._walkforward_member import Member

log = logging.getLogger("crypto_tune.walkforward")


# ---------------------------------------------------------------------- inputs of a window
def windows_on(settings: Settings, index: pd.DatetimeIndex) -> list[Window]:
    """The walk-forward windows of ``settings`` on the bars ``index`` (one asset's candles or a
    universe's calendar): ``walkforward.start..end`` (null: the split's tuning start and holdout
    end), the split's train/test months, purge and folds."""
    split, wf = settings.split, settings.walkforward
    return walkforward_windows(
        index,
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


def windows_for(settings: Settings, dataset: Dataset) -> list[Window]:
    """The walk-forward windows of ``settings`` on ``dataset``'s bars."""
    return windows_on(settings, time_index(dataset.candles))


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


def window_members(settings: Settings) -> list[tuple[Member, ...]]:
    """Per walk-forward window, its members: the asset, or every symbol of a basket with its
    own dataset and its own window (the same calendar dates; refused if the counts differ)."""
    from crypto_tune.dataset import member_settings
    from crypto_tune.phases._walkforward_member import Member

    per_member = []
    for member in member_settings(settings):
        dataset = walkforward_dataset(member)
        per_member.append((member, dataset, windows_for(member, dataset)))
    counts = {len(windows) for _, _, windows in per_member}
    if len(counts) != 1:
        found = ", ".join(f"{m.asset.symbol} {len(w)}" for m, _, w in per_member)
        raise ConfigError(
            f"asset.symbols: the basket's members give different numbers of walk-forward "
            f"windows ({found}): every member needs data over the whole walk-forward period"
        )
    return [
        tuple(Member(m, d, w[k], window_dataset(d, w[k])) for m, d, w in per_member)
        for k in range(counts.pop())
    ]


# ------------------------------------------------------------------------------ the phase
def preflight_walkforward(settings: Settings) -> None:
    """Before any work: the storage reachable, windows that fit (every member's), both spaces."""
    from crypto_tune.study import check_storage

    check_storage(settings)
    window_members(settings)
    for phase in ("model", "strategy"):
        if not search_space(settings, phase).distributions:
            raise ConfigError(f"phase=walkforward: the {phase} search space is empty")


def run_walkforward(settings: Settings) -> None:
    """Every window: tune, refit, trade; then stitch, compare, print, write and log."""
    import optuna

    from crypto_tune.phases._walkforward_output import (
        log_to_mlflow,
        print_table,
        summarise,
        write_outputs,
    )
    from crypto_tune.phases._walkforward_window import run_window

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per window step instead
    started = time.perf_counter()
    windows = window_members(settings)
    spaces = (search_space(settings, "model"), search_space(settings, "strategy"))
    split, asset = settings.split, settings.asset
    log.info(
        "walk-forward: %d windows, train %d months (%s), test %d months, %d tuning folds each, "
        "budgets %d model / %d strategy trials per window%s",
        len(windows),
        split.train_months,
        "anchored" if split.expanding else "rolling",
        split.test_months,
        split.n_folds,
        settings.walkforward.model_trials,
        settings.walkforward.strategy_trials,
        f"; basket {asset.symbol} ({asset.weights} weights, rebalance {asset.rebalance}, "
        f"target vol {asset.target_vol})"
        if asset.kind == "basket"
        else "",
    )
    from crypto_tune.progress import SweepProgress

    bar = SweepProgress(len(windows), maximize=True, label="walk-forward", unit="window")
    results = []
    for members in windows:  # a live bar on a terminal (windows done, ETA, best OOS Sharpe)
        results.append(run_window(settings, members, spaces, len(windows)))
        bar.update(results[-1].out_of_sample.get("sharpe"))
    bar.close()
    datasets = {m.symbol: m.dataset for m in windows[0]}
    document, curves = summarise(settings, datasets, results)
    document["seconds"] = round(time.perf_counter() - started, 1)
    paths = write_outputs(settings, document, curves, results)
    print_table(document, paths["json"])
    log_to_mlflow(settings, document, paths)


def _preflight(settings: Settings, *, multirun: bool) -> None:
    if settings.split.name != "walk_forward":  # the study names would say split=static
        raise ConfigError(
            f"phase=walkforward re-tunes walk-forward windows: add split=walk_forward "
            f"(got split={settings.split.name})"
        )
    preflight_walkforward(settings)


PHASE = Phase(run=run_walkforward, preflight=_preflight)
