"""LightGBM fit and predict per fold, with early stopping on the fold's validation slice.

A refit (the best run's model on the whole tuning period, or a walk-forward retrain through the
holdout) does NOT early-stop on a short tail of its own: it trains on every bar before its test
block (train, purge and validation slice, whose labels end a purge before the test bars) for a
fixed number of rounds, :func:`refit_rounds` of the folds' best iterations (their median).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from crypto_tune.config import ModelSettings
from crypto_tune.memo import memo
from crypto_tune.splits import Fold

log = logging.getLogger(__name__)


# LightGBM's C API is not safe when one thread builds a dataset or a booster while another
# predicts: CI crashed (a segfault) with LGBM_BoosterCreate in one fold thread beside
# LGBM_BoosterPredictForMat in the other; each call sets the process-wide OpenMP thread count.
# A fit's set-up (datasets, booster) and every prediction take this lock; the boosting rounds,
# the bulk of a fit, still run side by side.
_NATIVE_SETUP = threading.Lock()


class _SetupDone:
    """A LightGBM callback run before the first boosting round, once the booster exists: it
    releases :data:`_NATIVE_SETUP`, taken by :func:`train` before the set-up."""

    before_iteration = True
    order = 0  # LightGBM sorts its callbacks by ``order``

    def __init__(self) -> None:
        self.held = True

    def __call__(self, env: Any) -> None:
        self.release()

    def release(self) -> None:
        if self.held:
            self.held = False
            _NATIVE_SETUP.release()


def train(
    params: dict,
    train_set: lgb.Dataset,
    *,
    num_boost_round: int,
    valid_sets: list[lgb.Dataset] | None = None,
    callbacks: list[Callable[..., Any]] | None = None,
) -> lgb.Booster:
    """``lightgbm.train``, its set-up never beside another thread's set-up or prediction."""
    done = _SetupDone()
    _NATIVE_SETUP.acquire()
    try:
        return lgb.train(
            params,
            train_set,
            num_boost_round=num_boost_round,
            valid_sets=valid_sets or [],
            callbacks=[done, *(callbacks or [])],
        )
    finally:
        done.release()  # no round ran (or the set-up failed)


def predict(booster: lgb.Booster, x: np.ndarray, **kwargs: Any) -> np.ndarray:
    """``booster.predict(x)``, never beside another thread's set-up or prediction, on the
    booster's own thread count.

    Without ``num_threads`` a prediction sets LightGBM's process-wide thread count
    (``LGBM_DEFAULT_NUM_THREADS``) back to OpenMP's default, and a fit boosting in another
    thread ran its next rounds on more threads than asked: the same fold then early-stopped at
    another round when other folds trained beside it (11 of 300 fits; CI failed on one).
    """
    kwargs.setdefault("num_threads", booster.params.get("num_threads", 0))
    with _NATIVE_SETUP:
        return np.asarray(booster.predict(x, **kwargs))


class FitStopped(Exception):
    """Raised inside a fit whose ``stop`` event was set: the caller no longer wants it."""


def _stop_when(stop: threading.Event) -> Callable[[Any], None]:
    """A LightGBM callback ending the fit at its next boosting round once ``stop`` is set."""

    def check(env: Any) -> None:
        if stop.is_set():
            raise FitStopped(f"fit stopped at round {env.iteration}")

    return check


WORKERS_ENV = "CRYPTO_TUNE_WORKERS"  # sweep workers per machine (`make workers N=...` sets it)


@dataclass(frozen=True)
class ThreadPlan:
    """How a trial spends its threads: ``fold_jobs`` folds trained side by side, each fit with
    ``lightgbm_threads`` LightGBM threads (0: LightGBM's own default)."""

    fold_jobs: int
    lightgbm_threads: int


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def workers_per_machine() -> int:
    """``CRYPTO_TUNE_WORKERS`` (sweep workers sharing this machine), 1 when unset or invalid."""
    try:
        return max(1, int(os.environ.get(WORKERS_ENV, "1")))
    except ValueError:
        return 1


def thread_plan(num_threads: int | str, n_folds: int, *, cores: int | None = None) -> ThreadPlan:
    """``model.num_threads`` resolved for a trial of ``n_folds`` folds.

    An int is LightGBM's thread count, folds one after another (the explicit setting wins).
    ``"auto"``: this process's share of the machine, ``cores // CRYPTO_TUNE_WORKERS`` (at least
    1), spent first on folds trained side by side with one LightGBM thread each, then on more
    threads per fold once every fold has its own. Folds side by side beat LightGBM's OpenMP
    threads on few cores: a fit of ~0.15 s on ETH 4h has little work to share, and OpenMP's
    threads spin-wait for each other when another process holds a core (docs/benchmarks.md).

    >>> thread_plan("auto", 5, cores=2)  # CRYPTO_TUNE_WORKERS unset
    ThreadPlan(fold_jobs=2, lightgbm_threads=1)
    >>> thread_plan("auto", 5, cores=16).lightgbm_threads, thread_plan(4, 5).fold_jobs
    (3, 1)
    """
    if not isinstance(num_threads, str):
        return ThreadPlan(1, int(num_threads))
    budget = max(1, (usable_cores() if cores is None else cores) // workers_per_machine())
    jobs = max(1, min(budget, n_folds))
    return ThreadPlan(jobs, max(1, budget // jobs))


def lightgbm_params(model: ModelSettings, *, seed: int, threads: int | None = None) -> dict:
    """LightGBM's parameter dict for a regression on the forward return.

    ``threads``: LightGBM's thread count; default ``model.num_threads`` when it is an int, and 1
    for ``"auto"`` (whose threads go to folds side by side, :func:`thread_plan`; a lone fit, a
    refit or a universe fold, trains on one thread as before: OpenMP's threads spin-wait on a
    shared machine, docs/benchmarks.md).
    """
    if threads is None:
        threads = model.num_threads if isinstance(model.num_threads, int) else 1
    return {
        "objective": "regression",
        "learning_rate": model.learning_rate,
        "num_leaves": model.num_leaves,
        "max_depth": model.max_depth,
        "min_data_in_leaf": model.min_data_in_leaf,
        "feature_fraction": model.feature_fraction,
        "bagging_fraction": model.bagging_fraction,
        "bagging_freq": model.bagging_freq,
        "lambda_l1": model.lambda_l1,
        "lambda_l2": model.lambda_l2,
        "num_threads": threads,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        # No feature dropped for the trial's min_data_in_leaf when its dataset is built: one
        # built dataset then serves every trial (_FoldDatasets). A feature it would have dropped
        # (no split leaving min_data_in_leaf rows each side) still never splits, but
        # feature_fraction now draws among it too: the same models on ETH 4h's tuning folds,
        # other ones in small walk-forward windows. Changing a parameter here: LIGHTGBM_FIXED.
        "feature_pre_filter": False,
        "verbosity": -1,
    }


@dataclass(frozen=True)
class FittedFold:
    """A model trained on one fold: predictions on its test bars and what it learned."""

    booster: lgb.Booster
    best_iteration: int
    test_positions: np.ndarray
    test_predictions: np.ndarray


def _finite_rows(label: np.ndarray, positions: np.ndarray) -> np.ndarray:
    return positions[np.isfinite(label[positions])]


def _positions_digest(positions: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(positions, dtype=np.int64).tobytes()).hexdigest()


@dataclass
class _FoldDatasets:
    """A fold's LightGBM datasets (training, validation), built (binned) by the first fit that
    trains on them and reused by the next trials of a study: the binning does not depend on a
    trial's parameters (``feature_pre_filter`` off) and is up to half a fit's time. ``busy``:
    held by the fit training on them (a second fit on the same rows at the same time builds its
    own)."""

    train: lgb.Dataset
    valid: lgb.Dataset | None
    busy: threading.Lock = field(default_factory=threading.Lock)


# The folds' datasets, keyed by their data's ``data_key``, the rows and the seed (which draws
# LightGBM's binning sample), for the last few data sets used (a basket's trial trains every
# member in turn); binned, they are an eighth of the float64 features the datasets memo keeps.
_DATASETS: dict[tuple[str, str, str, int], _FoldDatasets] = memo("lightgbm_datasets", {})
_DATASETS_LOCK = threading.Lock()
_DATA_KEYS_KEPT = 16


def _forget_old_data(data_key: str) -> None:
    """Drop the datasets of the least recently used data keys beyond :data:`_DATA_KEYS_KEPT`
    (``data_key``'s last; the caller holds :data:`_DATASETS_LOCK`)."""
    last_used = {k[0]: i for i, k in enumerate(_DATASETS) if k[0] != data_key}  # dict: recency
    order = sorted(last_used, key=last_used.__getitem__)
    for old in order[: max(0, len(order) + 1 - _DATA_KEYS_KEPT)]:
        for key in [k for k in _DATASETS if k[0] == old]:
            del _DATASETS[key]


def _build_datasets(
    features: np.ndarray,
    label: np.ndarray,
    train_idx: np.ndarray,
    valid_idx: np.ndarray | None,
    *,
    keep_raw: bool,
) -> _FoldDatasets:
    """The datasets, built (binned) by the first ``train`` on them, under its set-up lock; a
    kept one frees its copy of the rows then (only the bins are reused)."""
    free = not keep_raw
    train_set = lgb.Dataset(features[train_idx], label[train_idx], free_raw_data=free)
    valid_set = None
    if valid_idx is not None:
        valid_set = lgb.Dataset(
            features[valid_idx], label[valid_idx], reference=train_set, free_raw_data=free
        )
    return _FoldDatasets(train_set, valid_set)


def _claim_datasets(
    features: np.ndarray,
    label: np.ndarray,
    train_idx: np.ndarray,
    valid_idx: np.ndarray | None,
    *,
    seed: int,
    data_key: str | None,
) -> tuple[_FoldDatasets, bool]:
    """(the fold's datasets, whether this fit holds their ``busy`` lock): the cached ones when
    ``data_key`` names the data and no other fit is training on them, else new ones."""
    if data_key is None:
        return _build_datasets(features, label, train_idx, valid_idx, keep_raw=True), False
    valid_digest = "-" if valid_idx is None else _positions_digest(valid_idx)
    key = (data_key, _positions_digest(train_idx), valid_digest, seed)
    with _DATASETS_LOCK:
        entry = _DATASETS.pop(key, None)  # put back last: the dict's order is recency
        if entry is None:
            _forget_old_data(data_key)
            entry = _build_datasets(features, label, train_idx, valid_idx, keep_raw=False)
        _DATASETS[key] = entry
        if entry.busy.acquire(blocking=False):
            return entry, True
    return _build_datasets(features, label, train_idx, valid_idx, keep_raw=True), False


def fit_booster(
    features: np.ndarray,
    label: np.ndarray,
    train_idx: np.ndarray,
    valid_idx: np.ndarray,
    model: ModelSettings,
    *,
    seed: int,
    threads: int | None = None,
    stop: threading.Event | None = None,
    data_key: str | None = None,
) -> tuple[lgb.Booster, int]:
    """Train on ``train_idx``; early-stop on ``valid_idx`` (rows with a finite label only).
    Setting ``stop`` ends the fit at its next round with :class:`FitStopped`. ``data_key``: what
    names ``features`` and ``label`` (their fingerprints); given, the fold's binned datasets are
    kept for the next fit on the same rows (the next trial), with the same predictions."""
    train_idx = _finite_rows(label, train_idx)
    valid_idx = _finite_rows(label, valid_idx)
    params = lightgbm_params(model, seed=seed, threads=threads)
    early = model.early_stopping_rounds > 0 and len(valid_idx) > 0
    datasets, held = _claim_datasets(
        features, label, train_idx, valid_idx if early else None, seed=seed, data_key=data_key
    )
    callbacks: list[Callable[..., Any]] = [] if stop is None else [_stop_when(stop)]
    valid_sets = []
    if datasets.valid is not None:
        valid_sets = [datasets.valid]
        callbacks.append(lgb.early_stopping(model.early_stopping_rounds, verbose=False))
    try:
        booster = train(
            params,
            datasets.train,
            num_boost_round=model.num_boost_round,
            valid_sets=valid_sets,
            callbacks=callbacks,
        )
    finally:
        if held:
            datasets.busy.release()
    best = booster.best_iteration or booster.current_iteration()
    return booster, int(best)


def fit_fold(
    features: pd.DataFrame,
    label: pd.Series,
    fold: Fold,
    model: ModelSettings,
    *,
    seed: int,
    threads: int | None = None,
    stop: threading.Event | None = None,
    data_key: str | None = None,
) -> FittedFold:
    """Train one fold and predict its test bars (all of them, label or not); ``stop`` and
    ``data_key`` as in :func:`fit_booster`."""
    x = features.to_numpy(dtype=np.float32, copy=False)
    y = label.to_numpy(dtype=np.float64)
    booster, best = fit_booster(
        x,
        y,
        fold.train_idx,
        fold.valid_idx,
        model,
        seed=seed,
        threads=threads,
        stop=stop,
        data_key=data_key,
    )
    predictions = predict(booster, x[fold.test_idx], num_iteration=best)
    return FittedFold(booster, best, np.asarray(fold.test_idx), np.asarray(predictions))


def refit_rounds(best_iterations: tuple[int, ...] | list[int]) -> int:
    """Boosting rounds of a refit: the median of the folds' best iterations (at least 1).

    The folds chose their rounds by early stopping on validation slices the refit no longer has;
    their median is robust to one fold that stopped at iteration 2 or ran to the cap.
    """
    if not len(best_iterations):
        raise ValueError("refit_rounds needs the best iteration of at least one fold")
    return max(1, round(float(np.median(np.asarray(best_iterations, dtype=float)))))


def fit_refit(
    features: pd.DataFrame,
    label: pd.Series,
    fold: Fold,
    model: ModelSettings,
    *,
    seed: int,
    num_rounds: int,
) -> FittedFold:
    """Train on every bar from the fold's first train bar to its last validation bar (finite
    labels only) for ``num_rounds`` rounds, no early stopping; predict the test bars."""
    x = features.to_numpy(dtype=np.float32, copy=False)
    y = label.to_numpy(dtype=np.float64)
    start = int(min(fold.train_idx.min(), fold.valid_idx.min()))
    stop = int(max(fold.train_idx.max(), fold.valid_idx.max()))
    rows = _finite_rows(y, np.arange(start, stop + 1))
    params = lightgbm_params(model, seed=seed)
    booster = train(
        params, lgb.Dataset(x[rows], y[rows], free_raw_data=False), num_boost_round=num_rounds
    )
    predictions = predict(booster, x[fold.test_idx])
    return FittedFold(booster, int(num_rounds), np.asarray(fold.test_idx), np.asarray(predictions))
