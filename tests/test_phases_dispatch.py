"""The phase registry: every conf/phase/<name>.yaml is run by crypto_tune/phases/_<name>.py's
PHASE, found by its name; only the sweep phases take -m."""

from __future__ import annotations

import pytest

from crypto_tune.config import PHASES, config_dir
from crypto_tune.exceptions import ConfigError
from crypto_tune.phases import Phase, is_sweep, phase_for


def test_every_phase_config_has_a_phase_module() -> None:
    assert set(PHASES) == {p.stem for p in (config_dir() / "phase").glob("*.yaml")}
    for name in PHASES:
        phase = phase_for(name)
        assert isinstance(phase, Phase) and callable(phase.run) and callable(phase.preflight)


def test_only_the_two_tuning_phases_are_sweeps() -> None:
    assert [name for name in PHASES if is_sweep(name)] == ["model", "strategy"]


def test_an_unknown_phase_names_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"^phase.name must be one of best, download, final"):
        phase_for("tune")
