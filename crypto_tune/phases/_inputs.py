"""The checks the phases share before any work: the storage reachable, every member's dataset
readable and valid, the data the studies were tuned on, the Phase 1 study's best model present."""

from __future__ import annotations

from typing import Literal

import numpy as np

from crypto_tune.config import Settings


def check_datasets(
    settings: Settings, *, storage: bool, trades: Literal["folds", "holdout"] | None = None
) -> None:
    """The storage reachable (``storage``) and every member's dataset prepared: data errors
    surface now, and the phase reuses the prepared data. ``trades``: the phase trades the folds'
    test blocks (and the holdout): a funding file must span them, refused in one line naming
    the file before any trial (each trial would fail on it)."""
    from crypto_tune.data import time_index
    from crypto_tune.dataset import member_settings, prepare_dataset
    from crypto_tune.markets import check_funding_covers
    from crypto_tune.study import check_storage

    if storage:
        check_storage(settings)
    for member in member_settings(settings):
        dataset = prepare_dataset(member)
        costs = member.strategy.costs
        if trades is None or costs.funding_file is None:
            continue
        blocks = [f.test_idx for f in dataset.folds]
        if trades == "holdout":
            blocks.append(dataset.holdout.test_idx)
        traded = np.concatenate([np.asarray(b, dtype=np.int64) for b in blocks])
        if traded.size:
            when = time_index(dataset.candles)
            check_funding_covers(costs, when[[int(traded.min()), int(traded.max())]])


def check_same_data(settings: Settings, *, phases: tuple[str, ...]) -> None:
    """This run reads the data its ``phases``' studies were tuned on (a best run or a report over
    another file would mix two markets): :func:`crypto_tune.study.check_studied_data`."""
    from crypto_tune.dataset import member_settings, prepare_dataset
    from crypto_tune.fingerprint import DATA_KEYS, data_fingerprint
    from crypto_tune.study import check_studied_data

    current = data_fingerprint(settings, [prepare_dataset(m) for m in member_settings(settings)])
    check_studied_data(settings, {k: current.get(k) for k in DATA_KEYS}, phases=phases)


def check_model_study(settings: Settings) -> None:
    """The Phase 1 study's best parameters readable, when the model comes from the study."""
    if settings.phase.model_source != "study":
        return
    from crypto_tune.study import best_params, load_study

    best_params(load_study(settings, phase="model"))


__all__ = ["check_datasets", "check_model_study", "check_same_data"]
