"""crypto_tune.study: names, the rerun hint, storage checks, loading and reading studies."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir

from crypto_tune import study as st
from crypto_tune.cli import settings_from_config
from crypto_tune.config import Settings, config_dir, register_resolvers
from crypto_tune.exceptions import ConfigError

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _settings(outputs: Path, *overrides: str) -> Settings:
    register_resolvers()
    given = ["phase=best", f"paths.outputs={outputs}", *overrides]
    with initialize_config_dir(config_dir=str(config_dir())):
        cfg = compose("config", overrides=given)
    return dataclasses.replace(settings_from_config(cfg), command_line=tuple(given))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return _settings(tmp_path, "study.name=unit")


def _study(settings: Settings, phase: str, params: list[dict[str, float]]) -> optuna.Study:
    study = optuna.create_study(
        study_name=st.study_name(settings, phase=phase), storage=settings.storage.url
    )
    for values in params:
        dists = {k: optuna.distributions.FloatDistribution(0, 10) for k in values}
        value = sum(values.values())
        study.add_trial(optuna.trial.create_trial(params=values, distributions=dists, value=value))
    return study


def test_study_name_is_the_study_name_and_the_phase(settings):
    assert st.study_name(settings) == "unit.best"
    assert st.study_name(settings, phase="model") == "unit.model"


def test_rerun_hint_keeps_the_overrides_but_not_the_phase(tmp_path):
    s = _settings(tmp_path, "asset=btc", "best.from=x.json")
    hint = st.rerun_hint(s, phase="strategy")
    assert hint.startswith("crypto-tune -m phase=strategy ")
    assert "asset=btc" in hint and "phase=best" not in hint and "best.from" not in hint
    assert st.rerun_hint(s, phase="inspect").startswith("crypto-tune phase=inspect ")


def test_check_storage_creates_the_default_sqlite_folder_under_paths_outputs(tmp_path):
    s = _settings(tmp_path / "out")
    assert s.storage.url == f"sqlite:///{tmp_path}/out/optuna.db"
    st.check_storage(s)
    assert (tmp_path / "out").is_dir()
    elsewhere = dataclasses.replace(
        s, storage=dataclasses.replace(s.storage, url=f"sqlite:///{tmp_path}/no/x.db")
    )
    with pytest.raises(ConfigError, match=r"^storage\.url: the folder .*/no does not exist"):
        st.check_storage(elsewhere)
    assert not (tmp_path / "no").exists()


def test_load_study_says_which_command_creates_a_missing_study(settings):
    with pytest.raises(ConfigError, match=r"no model study named 'unit.model'.*crypto-tune -m"):
        st.load_study(settings, phase="model")
    _study(settings, "model", [{"model.x": 1.0}])
    assert st.load_study(settings, phase="model").study_name == "unit.model"


def test_best_params_and_value(settings):
    study = optuna.create_study(storage=settings.storage.url, direction="maximize")
    assert st.best_value(study) is None
    with pytest.raises(ConfigError, match="has no complete trial"):
        st.best_params(study)
    dists = {"model.x": optuna.distributions.FloatDistribution(0, 10)}
    for x in (1.0, 3.0, 2.0):
        study.add_trial(
            optuna.trial.create_trial(params={"model.x": x}, distributions=dists, value=x)
        )
    assert st.best_params(study) == {"model.x": 3.0}
    assert st.best_value(study) == 3.0


def test_group_params_keeps_one_group_without_its_prefix():
    params = {"model.num_leaves": 8, "strategy.threshold": 0.1, "modelx": 1}
    assert st.group_params(params, "model") == {"num_leaves": 8}


def test_cached_study_is_none_until_the_study_exists_then_memoised(settings):
    assert st.cached_study(settings, phase="strategy") is None
    _study(settings, "strategy", [{"strategy.a": 1.0}, {"strategy.b": 2.0}])
    first = st.cached_study(settings, phase="strategy")
    assert first is not None and st.cached_study(settings, phase="strategy") is first
    assert st.tuned_parameters(first) == {"strategy.a", "strategy.b"}


def test_running_trial_matches_floats_by_value(settings):
    study = optuna.create_study(storage=settings.storage.url)
    trial = study.ask({"model.x": optuna.distributions.FloatDistribution(0, 1)})
    x = trial.params["model.x"]
    found = st.running_trial(study, {"model.x": x * (1 + 1e-15)})
    assert found is not None and found.number == trial.number
    assert st.running_trial(study, {"model.x": x + 0.5}) is None


# ---------------------------------------------------------------------------- opening
def test_open_study_creates_loads_and_memoises(settings):
    with pytest.raises(ConfigError, match=r"no wf0\.model study named 'unit\.wf0\.model'"):
        st.open_study(settings, "wf0.model")
    created = st.open_study(settings, "wf0.model", create=True, directions=["minimize"])
    assert created.direction == optuna.study.StudyDirection.MINIMIZE
    loaded = st.open_study(settings, "wf0.model")
    assert (
        loaded is st.open_study(settings, "wf0.model") is st.load_study(settings, phase="wf0.model")
    )
    sampler = optuna.samplers.RandomSampler(seed=1)
    own = st.open_study(settings, "wf0.model", create=True, sampler=sampler)
    assert own is not loaded and own.sampler is sampler and own._study_id == loaded._study_id
