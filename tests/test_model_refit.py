"""The holdout refit: a documented number of rounds, every bar before the test block, no peeking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crypto_tune.config import ModelSettings
from crypto_tune.model import fit_refit, refit_rounds
from crypto_tune.splits import Fold


def test_refit_rounds_is_the_median_of_the_folds() -> None:
    assert refit_rounds([2, 40, 55, 60, 400]) == 55
    assert refit_rounds([10, 21]) == 16  # median 15.5, rounded half to even
    assert refit_rounds([0, 0, 1]) == 1  # at least one round
    with pytest.raises(ValueError, match="at least one fold"):
        refit_rounds([])


def test_fit_refit_trains_fixed_rounds_on_every_bar_before_the_purge() -> None:
    rng = np.random.default_rng(0)
    n = 600
    features = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    label = pd.Series(0.01 * features["a"].to_numpy() + rng.normal(0, 0.01, n))
    label.iloc[450:] = np.nan  # labels of the test block: unknown to the refit
    fold = Fold(
        number=0,
        train_idx=np.arange(0, 380),
        valid_idx=np.arange(382, 448),
        test_idx=np.arange(450, 600),
        purge=2,
    )
    model = ModelSettings(num_boost_round=400, early_stopping_rounds=10, min_data_in_leaf=20)
    fitted = fit_refit(features, label, fold, model, seed=1, num_rounds=37)
    assert fitted.best_iteration == 37 and fitted.booster.current_iteration() == 37
    assert fitted.test_predictions.shape == (150,)
    # the validation slice and the purge between train and valid are training rows now
    changed = label.copy()
    changed.iloc[382:448] += 1.0
    moved = fit_refit(features, changed, fold, model, seed=1, num_rounds=37)
    assert not np.allclose(moved.test_predictions, fitted.test_predictions)
    # but nothing after the last validation bar is
    later = label.copy()
    later.iloc[448:450] = 5.0
    same = fit_refit(features, later, fold, model, seed=1, num_rounds=37)
    np.testing.assert_array_equal(same.test_predictions, fitted.test_predictions)
