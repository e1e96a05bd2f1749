"""Which bars are traded and which are held out: the regime, the split and its folds."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any

from crypto_tune.config._validate import _check_choice, _check_date, _check_range
from crypto_tune.exceptions import ConfigError

if typing.TYPE_CHECKING:
    pass

REGIMES = ("all", "calm", "volatile", "switch")  # switch: phase=regimes and phase=best
SPLITS = ("static", "walk_forward")


@dataclass(frozen=True)
class RegimeSettings:
    name: str = "all"
    window: int = 30
    lookback: int = 500
    quantile: float = 0.5
    # regime=switch (conf/regime/switch.yaml): hysteresis bars, and phase=regimes' budgets
    confirm: int = 3
    model_trials: int = 30
    strategy_trials: int = 300

    def validate(self, key: str) -> None:
        _check_choice(f"{key}.name", self.name, REGIMES)
        _check_range(f"{key}.confirm", self.confirm, low=1)
        _check_range(f"{key}.model_trials", self.model_trials, low=1)
        _check_range(f"{key}.strategy_trials", self.strategy_trials, low=1)
        _check_range(f"{key}.window", self.window, low=2)
        _check_range(f"{key}.lookback", self.lookback, low=self.window)
        _check_range(f"{key}.quantile", self.quantile, low=0, high=1, low_open=True, high_open=True)


@dataclass(frozen=True)
class SplitSettings:
    name: str = "static"
    tune_start: str = "2021-01-01"
    tune_end: str = "2023-12-31"
    holdout_start: str = "2024-01-01"
    holdout_end: str = "2024-12-31"
    n_folds: int = 5
    purge: int = 1
    valid_fraction: float = 0.15
    min_train_fraction: float = 0.3
    train_months: int = 12
    test_months: int = 3
    expanding: bool = False
    final_start: str | None = None
    final_end: str | None = None

    def validate(self, key: str, *, horizon: int) -> None:
        _check_choice(f"{key}.name", self.name, SPLITS)
        dates = {
            name: _check_date(f"{key}.{name}", getattr(self, name))
            for name in ("tune_start", "tune_end", "holdout_start", "holdout_end")
        }
        if dates["tune_end"] <= dates["tune_start"]:
            raise ConfigError(
                f"{key}.tune_end ({self.tune_end}) must be after "
                f"{key}.tune_start ({self.tune_start})"
            )
        if dates["tune_end"] >= dates["holdout_start"]:
            raise ConfigError(
                f"{key}.tune_end ({self.tune_end}) must be before {key}.holdout_start "
                f"({self.holdout_start}): the holdout never enters tuning"
            )
        if dates["holdout_end"] < dates["holdout_start"]:
            raise ConfigError(
                f"{key}.holdout_end ({self.holdout_end}) must not be before "
                f"{key}.holdout_start ({self.holdout_start})"
            )
        self._validate_final(key, dates["holdout_end"])
        _check_range(f"{key}.n_folds", self.n_folds, low=2)
        if self.purge < horizon:
            raise ConfigError(
                f"{key}.purge must be >= label.horizon ({horizon}) so no training label "
                f"overlaps a test bar, got {self.purge}"
            )
        _check_range(
            f"{key}.valid_fraction",
            self.valid_fraction,
            low=0,
            high=0.5,
            low_open=True,
            high_open=True,
        )
        _check_range(
            f"{key}.min_train_fraction",
            self.min_train_fraction,
            low=0,
            high=1,
            low_open=True,
            high_open=True,
        )
        _check_range(f"{key}.train_months", self.train_months, low=1)
        _check_range(f"{key}.test_months", self.test_months, low=1)

    def _validate_final(self, key: str, holdout_end: Any) -> None:
        """The locked final holdout: both dates or neither, after the holdout."""
        if (self.final_start is None) != (self.final_end is None):
            raise ConfigError(
                f"{key}.final_start and {key}.final_end go together (a locked final holdout), "
                f"got {self.final_start!r} and {self.final_end!r}"
            )
        if self.final_start is None:
            return
        start = _check_date(f"{key}.final_start", str(self.final_start))
        end = _check_date(f"{key}.final_end", str(self.final_end))
        if start <= holdout_end:
            raise ConfigError(
                f"{key}.final_start ({self.final_start}) must be after {key}.holdout_end "
                f"({self.holdout_end}): the final holdout comes after everything else"
            )
        if end < start:
            raise ConfigError(
                f"{key}.final_end ({self.final_end}) must not be before "
                f"{key}.final_start ({self.final_start})"
            )
