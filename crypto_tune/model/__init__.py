"""LightGBM per fold and the out-of-fold prediction cache."""

from crypto_tune.model._lightgbm import (
    FittedFold,
    ThreadPlan,
    fit_booster,
    fit_fold,
    fit_refit,
    lightgbm_params,
    predict,
    refit_rounds,
    thread_plan,
)
from crypto_tune.model._oof import OutOfFold, fold_arrays, oof_key, out_of_fold

__all__ = [
    "FittedFold",
    "OutOfFold",
    "ThreadPlan",
    "fit_booster",
    "fit_fold",
    "fit_refit",
    "fold_arrays",
    "lightgbm_params",
    "oof_key",
    "out_of_fold",
    "predict",
    "refit_rounds",
    "thread_plan",
]
