"""The overfitting statistics of the best run's chosen strategy and the verdict the calibrated
rule gives: the Phase 2 trial ledger recomputed on the out-of-fold predictions (or read from a
replayed file's ``inputs``), PSR, DSR, PBO, SPA and Reality Check, the Harvey-Liu haircuts,
MinBTL and the stability of the parameter neighbourhood, as the document's ``robustness``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np

from crypto_tune import metrics
from crypto_tune._json import json_value
from crypto_tune.config import Settings
from crypto_tune.phases._best_choice import Choice, _bounds_from_study, _pbo_configs
from crypto_tune.phases._best_evaluator import Evaluator
from crypto_tune.phases._best_family import (
    FAMILY_METHOD,
    family_columns,
    near_copies,
    others_in_family,
)
from crypto_tune.robustness import Bound, holdout_disagrees, neighbourhood, verdict

log = logging.getLogger("crypto_tune.best")
_clean = json_value  # NaN/inf -> None, NumPy scalars -> Python numbers


def _robustness(
    settings: Settings,
    choice: Choice,
    evaluator: Evaluator,
    is_returns: np.ndarray,
    in_sample: dict,
    out_of_sample: dict,
    holdout_looks: int = 1,
) -> dict[str, Any]:
    """Every robustness test of the chosen strategy, and the verdict the calibrated rule gives.

    The trial ledger: each complete Phase 2 trial (at most ~2,000, evenly spaced) is
    recomputed on the out-of-fold predictions; never-trading and infeasible trials are dropped
    and the rest clustered by correlation (:func:`crypto_tune.ledger.summarise_ledger`).
    Tests (``robustness.tests.{name}``): PSR; DSR over the effective trials and the clusters'
    Sharpe variance (``dsr``) and the former all-trials DSR (``dsr_raw``); PBO over ``top_k``
    configurations; Hansen's SPA and White's Reality Check on the ledger; the Harvey-Liu Holm
    and BHY haircuts against the ledger's Sharpes; MinBTL for the effective trials against the
    in-sample years; stability (median neighbour Sharpe over the chosen). A replay reads the
    ledger's summary, the PBO configurations and the search bounds from the file's ``inputs``.
    """
    from crypto_tune.ledger import summarise_ledger
    from crypto_tune.robustness import (
        TESTS,
        VERDICT_RULE,
        judge_test,
        stability_ratio,
    )
    from crypto_tune.study import load_study

    sr, n_obs, skew, kurt = metrics.sharpe_moments(is_returns)
    inputs = (choice.replay or {}).get("robustness", {}).get("inputs")
    if inputs is None:
        # a replayed file without recorded inputs falls back to the study it names
        study = choice.study or load_study(settings, phase="strategy")
        members = family_columns(settings, choice, evaluator, study)
        matrix = (
            np.column_stack(members.columns) if members.columns else np.empty((len(is_returns), 0))
        )
        ledger = summarise_ledger(
            matrix,
            members.feasible,
            n_trials=members.strategy_trials,
            bars_per_day=max(1, round(24.0 / evaluator.bar_hours)),
            seed=settings.seed,
            ids=members.ids,
        )
        recorded = ledger.as_dict()
        recorded["near_copy"] = near_copies(matrix, members.ids, ledger.ids, is_returns)
        kept = {int(i.split("#")[1]) for i in ledger.ids if i.startswith("strategy#")}
        inputs = {
            "n_trials": members.strategy_trials,
            "trial_sharpe_variance": ledger.trial_sharpe_variance,
            "pbo_configs": _pbo_configs(study, _tradable(study, kept), settings.best.top_k),
            "ledger": recorded,
            "bounds": {k: dataclasses.asdict(b) for k, b in _bounds_from_study(study).items()},
            "chosen": choice.trial_id,
            "family": {
                "model_trials": members.model_trials,
                "model_trials_traded": members.model_trials_traded,
                "strategy_trials": members.strategy_trials,
            },
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
    others = others_in_family(ledger_data, inputs.get("chosen"), periods_per_year=ppy)
    if ledger_data:
        haircut_p = haircut_bhy = 1.0
        found = metrics.haircut_of_returns(
            is_returns, periods_per_year=ppy, other_sharpes=others, seed=settings.seed
        )
        if found is not None:
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
    family = {
        **(inputs.get("family") or {"model_trials": 0, "model_trials_traded": 0}),
        "strategy_trials": n_trials,
        "holdout_looks": int(holdout_looks),
        "tests": len(others) + 1 if ledger_data else None,
        "method": FAMILY_METHOD,
    }
    text, significant = verdict(
        n_trials=n_trials,
        tests=tests,
        n_effective=n_effective if ledger_data else None,
        oos_sharpe=out_of_sample.get("sharpe"),
        in_sample_trades=in_sample["n_trades"],
        model_trials=family["model_trials"],
        holdout_looks=family["holdout_looks"],
        is_sharpe=in_sample.get("sharpe"),
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
        "holdout_disagrees": holdout_disagrees(
            out_of_sample.get("sharpe"), in_sample.get("sharpe")
        ),
        "rule": list(VERDICT_RULE),
        "tests": tests,
        "haircut": haircut,
        "sharpe_per_period": _clean(sr),
        "skew": _clean(skew),
        "kurtosis": _clean(kurt),
        "n_obs": int(n_obs),
        "in_sample_years": years,
        "neighbourhood": hood,
        "family": family,
        "inputs": inputs,
    }


def _tradable(study: Any, kept: set[int]) -> list[Any]:
    """The complete trials that could have been chosen: they trade and are feasible (kept by
    the ledger); the whole study when the ledger kept none."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    usable = [t for t in complete if t.number in kept]
    return usable or complete
