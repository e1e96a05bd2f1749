"""``phase=model``: one Phase 1 trial — LightGBM on every fold, scored by IC.

In a sweep each fold's score is reported to the trial as it is trained (step = the fold's place,
see :mod:`crypto_tune.pruning`) and the study's pruner (``phase.pruner``) may stop the trial:
:class:`optuna.TrialPruned` goes up to the sweeper, which records the trial PRUNED.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
import optuna

from crypto_tune import metrics
from crypto_tune.config import Settings
from crypto_tune.dataset import Dataset, prepare_dataset, regime_mask
from crypto_tune.model import FittedFold, OutOfFold, fold_arrays, out_of_fold
from crypto_tune.objectives import MODEL_OBJECTIVES
from crypto_tune.phases._inputs import check_datasets
from crypto_tune.phases._phase import Phase
from crypto_tune.pruning import sweep_trial
from crypto_tune.splits import Fold
from crypto_tune.tracking import trial_run

log = logging.getLogger("crypto_tune.model")


def score_folds(dataset: Dataset, oof: OutOfFold, regime: str) -> dict:
    """IC summary over folds, scored on the bars of ``regime`` that have a label.

    Keys: ``folds`` (per fold ic, rank_ic, hit_rate, n_obs), and ``ic``, ``rank_ic``, ``icir``,
    ``hit_rate`` over folds. A fold whose predictions are constant has IC 0 (no information).
    """
    mask = regime_mask(dataset, regime)
    pairs = []
    positions = dataset.candles.index.get_indexer(oof.frame.index)
    keep_all = mask[positions]
    fold_of_row = oof.frame["fold"].to_numpy()
    for fold in dataset.folds:
        preds, labels = fold_arrays(dataset, oof, fold.number)
        keep = keep_all[fold_of_row == fold.number] & np.isfinite(labels)
        pairs.append((preds[keep], labels[keep]))
    raw = metrics.ic_summary(pairs)
    # A fold with constant predictions (no split found) carries no information: IC 0.
    ic = [v if np.isfinite(v) else 0.0 for v in raw["fold_ic"]]
    rank_ic = [v if np.isfinite(v) else 0.0 for v in raw["fold_rank_ic"]]
    folds = [
        {"ic": a, "rank_ic": b, "hit_rate": c, "n_obs": n}
        for a, b, c, n in zip(ic, rank_ic, raw["fold_hit_rate"], raw["fold_n_obs"], strict=True)
    ]
    return {
        "folds": folds,
        "ic": float(np.mean(ic)),
        "rank_ic": float(np.mean(rank_ic)),
        "icir": metrics.information_ratio(ic),
        "hit_rate": _mean_defined(raw["fold_hit_rate"]),
    }


def _mean_defined(values: list[float]) -> float:
    """Mean of the finite values; NaN (without NumPy's empty-slice warning) when none is: every
    fold's hit rate is undefined when no prediction or label has a direction."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def constant_folds(dataset: Dataset, oof: OutOfFold) -> bool:
    """True when the model predicts a constant on every fold: it made no split (daily bars:
    ``min_data_in_leaf`` near the folds' rows) or ``lambda_l1`` shrank every leaf to zero. Such a
    trial scores IC 0 (no information), which the sampler learns from; the trial line says so."""
    for fold in dataset.folds:
        preds, _ = fold_arrays(dataset, oof, fold.number)
        finite = preds[np.isfinite(preds)]
        if finite.size and np.ptp(finite) > 0:
            return False
    return True


def fold_score(dataset: Dataset, mask: np.ndarray, fitted: FittedFold, *, objective: str) -> float:
    """One fold's intermediate value for the pruner: its rank IC for ``objective=rank_ic``, its
    IC otherwise (ICIR has no per-fold value), on the bars of the regime ``mask`` with a label,
    as :func:`score_folds` scores it (0 for constant predictions)."""
    positions = fitted.test_positions
    labels = dataset.label.to_numpy()[positions]
    keep = mask[positions] & np.isfinite(labels)
    raw = metrics.ic_summary([(fitted.test_predictions[keep], labels[keep])])
    value = raw["fold_rank_ic" if objective == "rank_ic" else "fold_ic"][0]
    return float(value) if np.isfinite(value) else 0.0


def _pruning_hook(
    settings: Settings, dataset: Dataset, first_step: int, last_step: int
) -> Callable[[Fold, FittedFold], None] | None:
    """Report each fold's score to this job's sweep trial and stop it when the pruner says so
    (None outside a sweep, or under a launcher that hands no trial). The trial's last step is
    reported but never pruned: nothing is left to save, and the trial is complete."""
    trial = sweep_trial()
    if trial is None:
        return None
    mask = regime_mask(dataset, settings.regime.name)

    def on_fold(fold: Fold, fitted: FittedFold) -> None:
        step = first_step + fold.number
        value = fold_score(dataset, mask, fitted, objective=settings.phase.objective)
        trial.report(value, step)
        if step < last_step and trial.should_prune():
            log.info(
                "trial %s pruned after fold %d (%s %.4f)",
                trial.number,
                fold.number,
                settings.phase.objective,
                value,
            )
            from crypto_tune.study import study_name
            from crypto_tune.tracking import start_run

            tags = {"phase": "model", "trial_number": trial.number, "pruned_after_fold": step}
            name = f"trial-{trial.number}"  # the trial's open run: named and tagged, not closed
            with start_run(settings.tracking, study_name(settings), run_name=name, tags=tags):
                pass
            raise optuna.TrialPruned(f"pruned after fold {fold.number}")

    return on_fold


def icir_text(icir: float) -> str:
    """ICIR for a progress line: ``n/a (fold ICs equal)`` where it is undefined (every fold the
    same IC, e.g. constant predictions everywhere: IC 0 in each fold), never ``nan``.

    >>> icir_text(1.234), icir_text(float("nan"))
    ('1.23', 'n/a (fold ICs equal)')
    """
    return f"{icir:.2f}" if np.isfinite(icir) else "n/a (fold ICs equal)"


def _short(params: dict) -> str:
    return " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def _basket_summary(summaries: dict[str, dict]) -> dict:
    """The mean of the members' IC statistics (a single asset's summary is itself)."""
    if len(summaries) == 1:
        return next(iter(summaries.values()))
    keys = ("ic", "rank_ic", "icir", "hit_rate")
    return {k: float(np.nanmean([s[k] for s in summaries.values()])) for k in keys}


def model_fingerprint(settings: Settings) -> dict[str, object]:
    """What this process's model trials score (see :mod:`crypto_tune.fingerprint`)."""
    from crypto_tune.dataset import member_settings
    from crypto_tune.fingerprint import study_fingerprint

    datasets = [prepare_dataset(member) for member in member_settings(settings)]
    return study_fingerprint(settings, datasets, phase="model")


_CHECKED: set[str] = set()


def _first_trial(settings: Settings) -> None:
    """Once per process and study: refuse a study scored on other inputs; record a new one's."""
    from crypto_tune.study import check_fingerprint, study_name

    name = study_name(settings)
    if name not in _CHECKED:
        check_fingerprint(settings, model_fingerprint(settings), phase="model", record=True)
        _CHECKED.add(name)


@trial_run()  # the trial's MLflow run is open while it trains (real start, end, duration)
def run_model_trial(settings: Settings) -> float:
    """Train on every fold (or read the cache), score IC, log to MLflow, return the objective.

    For a basket every member is trained with the same parameters and the objective is the mean
    of the members' objectives.
    """
    from crypto_tune.dataset import member_settings
    from crypto_tune.study import best_value, cached_study, running_trial, study_name
    from crypto_tune.tracking import code_version, settings_params, start_run

    start = time.perf_counter()
    objective = MODEL_OBJECTIVES[settings.phase.objective]
    summaries, oofs, fingerprints = {}, {}, {}
    basket = member_settings(settings)
    for index, member in enumerate(basket):
        dataset = prepare_dataset(member)
        n_folds = len(dataset.folds)
        oofs[member.asset.symbol] = out_of_fold(
            dataset,
            settings.model,
            seed=settings.seed,
            cache_dir=settings.paths.cache,
            on_fold=_pruning_hook(settings, dataset, index * n_folds, len(basket) * n_folds - 1),
        )
        if constant_folds(dataset, oofs[member.asset.symbol]):
            log.warning(
                "%s: the model predicts a constant on every fold (IC 0): no split with "
                "min_data_in_leaf=%d (the smallest fold trains on %d rows), or every leaf shrunk "
                "to 0 by lambda_l1=%g",
                member.asset.symbol,
                settings.model.min_data_in_leaf,
                min(len(f.train_idx) for f in dataset.folds),
                settings.model.lambda_l1,
            )
        summaries[member.asset.symbol] = score_folds(
            dataset, oofs[member.asset.symbol], settings.regime.name
        )
        fingerprints[member.asset.symbol] = dataset.data_fingerprint
    value = float(np.mean([objective(s) for s in summaries.values()]))
    summary = _basket_summary(summaries)
    _first_trial(settings)

    study = cached_study(settings, phase="model")
    params = {f"model.{k}": v for k, v in settings.model.params().items()}
    trial = running_trial(study, params) if study is not None else None
    number = trial.number if trial is not None else None
    best = best_value(study) if study is not None else None
    best = value if best is None else max(best, value)
    single = len(summaries) == 1
    tags = {
        "study": study_name(settings),
        "phase": "model",
        "asset": settings.asset.name,
        "timeframe": settings.asset.timeframe,
        "regime": settings.regime.name,
        "data_fingerprint": ",".join(fingerprints.values()),
        "code_version": code_version(),
        "trial_number": "" if number is None else number,
        "oof_cache_key": ",".join(o.key for o in oofs.values()),
    }
    run_name = f"trial-{number}" if number is not None else "model-run"
    with start_run(settings.tracking, study_name(settings), run_name=run_name, tags=tags) as run:
        if run is not None:
            run.params(settings_params(settings))
            numbers = {k: summary[k] for k in ("ic", "rank_ic", "icir", "hit_rate")}
            numbers["objective"] = value
            for symbol, member_summary in summaries.items():
                prefix = "" if single else f"{symbol}."
                oof = oofs[symbol]
                for i, fold in enumerate(member_summary["folds"]):
                    for key in ("ic", "rank_ic", "hit_rate"):
                        numbers[f"{prefix}fold_{i}.{key}"] = fold[key]
                    numbers[f"{prefix}fold_{i}.best_iteration"] = oof.best_iterations[i]
                if not single:
                    numbers.update({f"{symbol}.{k}": member_summary[k] for k in ("ic", "rank_ic")})
                numbers[f"{prefix}train_seconds"] = oof.train_seconds
                importance = oof.importance.assign(mean=oof.importance.mean(axis=1))
                name = "feature_importance.csv" if single else f"feature_importance_{symbol}.csv"
                run.frame(importance.sort_values("mean", ascending=False), name)
            run.metrics(numbers)
    seconds = time.perf_counter() - start
    members = (
        ""
        if single
        else " (" + ", ".join(f"{symbol} {s['ic']:.4f}" for symbol, s in summaries.items()) + ")"
    )
    log.info(
        "trial %s | %s | IC %.4f%s rank IC %.4f ICIR %s hit %s | %s %.4f | best %.4f | %.1fs%s",
        "-" if number is None else number,
        _short(settings.model.params()),
        summary["ic"],
        members,
        summary["rank_ic"],
        icir_text(summary["icir"]),
        f"{summary['hit_rate']:.3f}" if np.isfinite(summary["hit_rate"]) else "n/a",
        settings.phase.objective,
        value,
        best,
        seconds,
        " (cached)" if all(o.from_cache for o in oofs.values()) else "",
    )
    return value


def preflight_model(settings: Settings, *, multirun: bool) -> None:
    """A sweep: the storage reachable and the study's fingerprint this config's; always: the
    data readable."""
    check_datasets(settings, storage=multirun)
    if multirun:
        from crypto_tune.study import check_fingerprint

        check_fingerprint(settings, model_fingerprint(settings), phase="model", record=False)


PHASE = Phase(run=run_model_trial, preflight=preflight_model, sweep=True)
