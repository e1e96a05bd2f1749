"""The checks the phases share before any work: the storage reachable, every member's dataset
readable and valid, the Phase 1 study's best model present."""

from __future__ import annotations

from crypto_tune.config import Settings


def check_datasets(settings: Settings, *, storage: bool) -> None:
    """The storage reachable (``storage``) and every member's dataset prepared: data errors
    surface now, and the phase reuses the prepared data."""
    from crypto_tune.dataset import member_settings, prepare_dataset
    from crypto_tune.study import check_storage

    if storage:
        check_storage(settings)
    for member in member_settings(settings):
        prepare_dataset(member)


def check_model_study(settings: Settings) -> None:
    """The Phase 1 study's best parameters readable, when the model comes from the study."""
    if settings.phase.model_source != "study":
        return
    from crypto_tune.study import best_params, load_study

    best_params(load_study(settings, phase="model"))


__all__ = ["check_datasets", "check_model_study"]
