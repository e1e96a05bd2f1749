"""The multiple-testing family of a best run: every strategy the search could have picked.

The chosen strategy was picked among the Phase 2 trials on the chosen model's predictions, and
that model among the Phase 1 trials. The family's columns are the in-sample (out-of-fold)
returns of each, recomputed as phase=best sees them:

- every complete Phase 2 trial (at most ~2,000, evenly spaced), id ``strategy#<number>``;
- the chosen rule traded on the predictions of every other complete Phase 1 trial whose
  predictions are in the cache (at most ``MAX_MODEL_COLUMNS``), id ``model#<number>``: the
  model search counted as the strategies it made possible. A Phase 1 trial whose predictions
  are not cached (trained on another machine) is counted in ``family.model_trials`` but not
  traded: nothing is retrained for the verdict.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crypto_tune.config import Settings
from crypto_tune.phases._best_choice import Choice
from crypto_tune.phases._best_evaluator import Evaluator

log = logging.getLogger("crypto_tune.best")

MAX_STRATEGY_COLUMNS = 2000
MAX_MODEL_COLUMNS = 200


@dataclass(frozen=True)
class FamilyColumns:
    """In-sample returns of the family's members (one column each) and what they are."""

    columns: list[np.ndarray]
    feasible: list[bool]
    ids: list[str]
    strategy_trials: int
    model_trials: int
    model_trials_traded: int


def _feasible(evaluator: Evaluator, params: dict[str, Any], returns: np.ndarray) -> bool:
    from crypto_tune.objectives import drawdown_excess

    limit = evaluator.strategy(params).max_drawdown
    return bool(drawdown_excess(returns, limit) <= 0)


def strategy_columns(study: Any, evaluator: Evaluator) -> tuple[list, list, list, int]:
    """(columns, feasible, ids, complete trials) of the Phase 2 study's trials."""
    import optuna

    from crypto_tune.study import group_params

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    step = max(1, len(complete) // MAX_STRATEGY_COLUMNS)
    columns, feasible, ids = [], [], []
    for trial in complete[::step]:
        params = group_params(trial.params, "strategy")
        chained = np.concatenate(evaluator.fold_returns(params)[0])
        columns.append(chained)
        feasible.append(_feasible(evaluator, params, chained))
        ids.append(f"strategy#{trial.number}")
    return columns, feasible, ids, len(complete)


def model_trial_count(study: Any | None) -> tuple[list[Any], int]:
    """(complete Phase 1 trials, trials counted: complete and pruned) of the Phase 1 study the
    model came from; none when the model came from the config or a replayed file."""
    import optuna

    if study is None:
        return [], 0
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    trials = study.get_trials(deepcopy=False, states=states)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    return complete, len(trials)


def model_columns(
    settings: Settings, choice: Choice, evaluator: Evaluator, trials: list[Any]
) -> tuple[list, list, list]:
    """The chosen rule on every other Phase 1 model whose predictions are cached."""
    from crypto_tune.dataset import prepare_dataset
    from crypto_tune.evaluation import single_context
    from crypto_tune.model import oof_key
    from crypto_tune.study import group_params

    if not trials or settings.asset.kind == "basket":
        return [], [], []
    dataset = prepare_dataset(settings)
    folder = Path(settings.paths.cache) / "predictions"
    chosen = choice.model.params()
    step = max(1, len(trials) // MAX_MODEL_COLUMNS)
    columns, feasible, ids = [], [], []
    params = {**choice.tuned, **choice.overrides}
    for trial in trials[::step]:
        try:
            model = dataclasses.replace(settings.model, **group_params(trial.params, "model"))
        except TypeError:  # a parameter this version no longer has
            continue
        if model.params() == chosen:
            continue
        if not (folder / f"{oof_key(dataset, model, seed=settings.seed)}.parquet").is_file():
            continue
        context = single_context(settings, model, f"model#{trial.number}")
        other = dataclasses.replace(evaluator, context=context)
        chained = np.concatenate(other.fold_returns(params)[0])
        if chained.shape[0] != evaluator_length(evaluator, params):
            continue  # another model's folds cover other bars: not comparable
        columns.append(chained)
        feasible.append(_feasible(other, params, chained))
        ids.append(f"model#{trial.number}")
    return columns, feasible, ids


def evaluator_length(evaluator: Evaluator, params: dict[str, Any]) -> int:
    return int(sum(len(r) for r in evaluator.fold_returns(params)[0]))


def family_columns(
    settings: Settings, choice: Choice, evaluator: Evaluator, study: Any
) -> FamilyColumns:
    """Every member of the family, recomputed on the out-of-fold predictions."""
    columns, feasible, ids, n_strategy = strategy_columns(study, evaluator)
    model_trials, n_model = model_trial_count(choice.model_study)
    extra = model_columns(settings, choice, evaluator, model_trials)
    if extra[0]:
        log.info(
            "multiple-testing family: %d Phase 2 trials and the chosen rule on %d other "
            "Phase 1 models (of %d)",
            len(columns),
            len(extra[0]),
            n_model,
        )
    return FamilyColumns(
        columns=columns + extra[0],
        feasible=feasible + extra[1],
        ids=ids + extra[2],
        strategy_trials=n_strategy,
        model_trials=n_model,
        model_trials_traded=len(extra[0]),
    )


# How the haircut's family is formed (recorded with every verdict).
NEAR_COPY = 0.9
FAMILY_METHOD = (
    "one-sided Harvey-Liu BHY; tests: every kept Phase 2 trial and the chosen rule on every "
    "cached Phase 1 model, less the chosen trial (by trial number) and its near-copies "
    f"(in-sample return correlation >= {NEAR_COPY:g} with the chosen)"
)


def near_copies(
    matrix: np.ndarray, ids: list[str], kept_ids: tuple[str, ...], chosen: np.ndarray
) -> list[bool]:
    """For each kept trial: are its in-sample returns a near-copy of the chosen strategy's
    (correlation >= NEAR_COPY)? All False when the lengths differ (nothing to compare)."""
    flags = []
    position = {name: k for k, name in enumerate(ids)}
    same_length = matrix.shape[0] == len(chosen) and np.ptp(chosen) > 0
    for name in kept_ids:
        if not same_length:
            flags.append(False)
            continue
        column = matrix[:, position[name]]
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = float(np.corrcoef(column, chosen)[0, 1])
        flags.append(bool(math.isfinite(rho) and rho >= NEAR_COPY))
    return flags


def others_in_family(
    ledger: dict[str, Any], chosen_id: str | None, *, periods_per_year: float
) -> list[float]:
    """Annualised Sharpes of the family's other tests: every kept trial but the chosen one
    (found by its id, ``strategy#<number>``) and its near-copies (``ledger["near_copy"]``:
    in-sample returns correlated at 0.9 or more with the chosen strategy's). A near-copy of
    the winner is the same test again, not another discovery; counting it would make the
    false-discovery adjustment generous (López de Prado 2019 counts such trials once)."""
    import math

    sharpes = [float(s) * math.sqrt(periods_per_year) for s in ledger.get("sharpes", [])]
    ids = list(ledger.get("ids") or [])
    near = list(ledger.get("near_copy") or [])
    if len(ids) != len(sharpes):
        ids = [""] * len(sharpes)
    if len(near) != len(sharpes):
        near = [False] * len(sharpes)
    return [
        s
        for s, name, copy in zip(sharpes, ids, near, strict=True)
        if not copy and not (chosen_id is not None and name == chosen_id)
    ]


__all__ = [
    "FAMILY_METHOD",
    "NEAR_COPY",
    "FamilyColumns",
    "family_columns",
    "model_trial_count",
    "near_copies",
    "others_in_family",
]
