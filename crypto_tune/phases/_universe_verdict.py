"""The verdict of a universe's best run: is the portfolio's edge real, given its search?

Every complete Phase 2 trial (at most ``MAX_LEDGER``, evenly spaced) is replayed on the cached
out-of-fold predictions; the ledger (:func:`crypto_tune.ledger.summarise_ledger`) clusters
them into effective trials. Tests, as in every best run (:data:`crypto_tune.robustness.TESTS`):
PSR, DSR over the effective trials, PBO over the ``best.top_k`` best trials, and the one-sided
Harvey-Liu BHY haircut against the other kept trials' Sharpes, which the calibrated rule
(:data:`crypto_tune.robustness.VERDICT_RULE`) reads. The verdict line is the one every best run
prints (:func:`crypto_tune.robustness.verdict`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np
import optuna

from crypto_tune import metrics
from crypto_tune._json import json_value
from crypto_tune.config import Settings
from crypto_tune.objectives import FEASIBLE_FLOOR
from crypto_tune.phases._universe_strategy import UniverseContext, evaluate_universe
from crypto_tune.study import group_params
from crypto_tune.timeframes import bars_per_day

log = logging.getLogger("crypto_tune.best")

MAX_LEDGER = 1000


def with_trial(settings: Settings, params: dict[str, Any]) -> Settings:
    """``settings`` with a trial's ``universe.*`` and ``strategy.*`` parameters."""
    universe = dataclasses.replace(settings.universe, **group_params(params, "universe"))
    universe.validate("universe")
    strategy = dataclasses.replace(settings.strategy, **group_params(params, "strategy"))
    return dataclasses.replace(settings, universe=universe, strategy=strategy)


def _ledger_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) <= MAX_LEDGER:
        return list(complete)
    keep = np.linspace(0, len(complete) - 1, MAX_LEDGER).round().astype(int)
    return [complete[i] for i in sorted(set(keep.tolist()))]


def universe_robustness(
    settings: Settings,
    context: UniverseContext,
    study: optuna.Study,
    *,
    chosen: int | None,
    is_returns: np.ndarray,
    in_sample: dict[str, Any],
    out_of_sample: dict[str, Any],
    model_trials: int,
    holdout_looks: int = 1,
) -> dict[str, Any]:
    """Every test of the chosen portfolio and the verdict (``robustness`` of the document).

    ``chosen``: the number of the trial the portfolio is, left out of the haircut's family by
    number; None when it is no trial's (manual overrides, a replay), as on a single asset: the
    family is then every kept trial but the portfolio's near-copies.
    """
    from crypto_tune.ledger import summarise_ledger
    from crypto_tune.phases._best_family import FAMILY_METHOD, near_copies, others_in_family
    from crypto_tune.robustness import (
        VERDICT_RULE,
        holdout_disagrees,
        judge_test,
        pbo_picks,
        verdict,
    )

    trials = _ledger_trials(study)
    columns, feasible, values, ids = [], [], [], []
    for trial in trials:
        scores, returns, _ = evaluate_universe(with_trial(settings, trial.params), context)
        columns.append(np.concatenate(returns))
        feasible.append(scores[0] >= FEASIBLE_FLOOR)
        values.append(scores[0])
        ids.append(f"strategy#{trial.number}")
    n_trials = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    matrix = np.column_stack(columns) if columns else np.empty((is_returns.size, 0))
    ledger = summarise_ledger(
        matrix,
        [bool(f) for f in feasible],
        n_trials=n_trials,
        bars_per_day=bars_per_day(settings.asset.timeframe),
        seed=settings.seed,
        ids=ids,
    )
    ppy = context.periods_per_year
    sr, n_obs, skew, kurt = metrics.sharpe_moments(is_returns)
    n_effective = max(1, ledger.n_effective)
    psr = metrics.probabilistic_sharpe_ratio(sr, n_obs, skew, kurt)
    dsr = metrics.deflated_sharpe_ratio(
        sr,
        n_obs,
        skew,
        kurt,
        n_trials=n_effective,
        trial_sharpe_variance=ledger.cluster_sharpe_variance,
    )
    pbo = math.nan
    # the better half of the feasible trials, as a single asset's PBO (robustness.pbo_picks)
    ranked = [i for i in np.argsort(values)[::-1] if feasible[i]]
    top = np.asarray([ranked[r] for r in pbo_picks(len(ranked), settings.best.top_k)], dtype=int)
    if top.size >= 2:
        n_splits = 16 if matrix.shape[0] >= 16 * 8 else 4
        pbo = metrics.probability_of_backtest_overfitting(matrix[:, top], n_splits=n_splits)
    # the family's other tests: every kept trial but the chosen one and its near-copies
    copies = near_copies(matrix, ids, ledger.ids, is_returns)
    recorded = {"sharpes": list(ledger.sharpes), "ids": list(ledger.ids), "near_copy": copies}
    chosen_id = None if chosen is None else f"strategy#{chosen}"
    others = others_in_family(recorded, chosen_id, periods_per_year=ppy)
    haircut = metrics.haircut_of_returns(
        is_returns, periods_per_year=ppy, other_sharpes=others, seed=settings.seed
    )
    bhy = 1.0 if haircut is None else haircut.bhy.p_value
    tests = {
        "psr": judge_test("psr", psr),
        "dsr": judge_test("dsr", dsr),
        "pbo": judge_test("pbo", pbo),
        "haircut_bhy": judge_test("haircut_bhy", bhy),
    }
    text, significant = verdict(
        n_trials=n_trials,
        tests=tests,
        n_effective=n_effective,
        oos_sharpe=out_of_sample.get("sharpe"),
        in_sample_trades=in_sample.get("n_entries"),
        model_trials=model_trials,
        holdout_looks=holdout_looks,
        is_sharpe=in_sample.get("sharpe"),
    )
    log.info("verdict: %s", text)
    return {
        "n_trials": n_trials,
        "n_effective": n_effective,
        "psr": json_value(psr),
        "dsr": json_value(dsr),
        "pbo": json_value(pbo),
        "verdict": text,
        "significant": significant,
        "holdout_disagrees": holdout_disagrees(
            out_of_sample.get("sharpe"), in_sample.get("sharpe")
        ),
        "rule": list(VERDICT_RULE),
        "tests": tests,
        "chosen": chosen_id,
        "family": {
            "model_trials": int(model_trials),
            "model_trials_traded": 0,
            "strategy_trials": int(n_trials),
            "holdout_looks": int(holdout_looks),
            "tests": len(others) + 1,
            "method": FAMILY_METHOD.replace(
                " and the chosen rule on every cached Phase 1 model", ""
            ),
        },
        "sharpe_per_period": json_value(sr),
        "n_obs": int(n_obs),
        "ledger": {
            "n_recomputed": ledger.n_recomputed,
            "n_flat": ledger.n_flat,
            "n_infeasible": ledger.n_infeasible,
        },
    }


__all__ = ["MAX_LEDGER", "universe_robustness", "with_trial"]
