"""Every config group composes and validates; wrong values fail with the key named."""

from __future__ import annotations

import dataclasses

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from crypto_tune.cli import settings_from_config
from crypto_tune.config import config_dir, register_resolvers
from crypto_tune.exceptions import ConfigError

GROUPS = {
    "asset": ["eth", "btc", "sol", "basket", "synthetic", "csv", "binance"],
    "model": ["lightgbm"],
    "strategy": ["threshold", "zscore"],
    "regime": ["all", "calm", "volatile", "switch"],
    "split": ["static", "walk_forward"],
    "phase": ["inspect", "model", "strategy", "best", "report"],
    "storage": ["sqlite", "postgres", "grpc"],
    "tracking": ["mlflow"],
}


def _compose(*overrides: str):
    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir())):
        return compose("config", overrides=list(overrides))


@pytest.mark.parametrize(("group", "choice"), [(g, c) for g, cs in GROUPS.items() for c in cs])
def test_every_group_choice_composes_and_validates(group: str, choice: str) -> None:
    extra = {
        ("asset", "csv"): ["asset.path=x.csv", "asset.symbol=X"],
        ("asset", "binance"): ["asset.symbol=X"],
    }.get((group, choice), [])
    settings = settings_from_config(_compose(f"{group}={choice}", *extra))
    assert getattr(settings, group).name == choice


def test_defaults_are_the_documented_contract() -> None:
    s = settings_from_config(_compose())
    assert (s.split.tune_start, s.split.tune_end) == ("2021-01-01", "2023-12-31")
    assert (s.split.holdout_start, s.split.holdout_end) == ("2024-01-01", "2024-12-31")
    assert s.asset.name == "synthetic" and s.storage.name == "sqlite"
    assert s.label.horizon == 1 and s.split.purge >= s.label.horizon
    assert s.study.name == "default.SYNTH.4h.all.static.h1"
    assert s.storage.url.startswith("sqlite:///") and s.storage.url.endswith("outputs/optuna.db")


def test_paths_outputs_moves_everything(tmp_path) -> None:
    s = settings_from_config(_compose(f"paths.outputs={tmp_path}"))
    for path in (s.paths.root, s.paths.cache, s.paths.best, s.paths.reports):
        assert path.startswith(str(tmp_path))
    assert str(tmp_path) in s.storage.url and str(tmp_path) in s.tracking.uri


def test_experiment_preset_and_walk_forward() -> None:
    s = settings_from_config(_compose("experiment=eth_4h_study", "split=walk_forward"))
    assert s.asset.name == "eth" and s.experiment_name == "eth_4h_study"
    assert s.split.name == "walk_forward" and s.split.train_months == 12


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("label.horizon=0", "label.horizon"),
        ("strategy.leverage=-1", "strategy.leverage"),
        ("strategy.stop_loss=1.5", "strategy.stop_loss"),
        ("strategy.take_profit=0", "strategy.take_profit"),
        ("strategy.objective=profit", "strategy.objective"),
        ("split.tune_end=2024-06-01", "split.tune_end"),
        ("split.n_folds=1", "split.n_folds"),
        ("split.purge=0", "split.purge"),
        ("model.learning_rate=abc", "model.learning_rate"),
        ("model.num_leaves=1", "model.num_leaves"),
        ("phase.objective=sharpe", "phase.objective"),
        ("asset.timeframe=4x", "asset.timeframe"),
        ("+strategy.foo=1", "strategy.foo"),
    ],
)
def test_wrong_values_name_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as info:
        settings_from_config(_compose(override))
    assert "\n" not in str(info.value)


def _compose_full(*overrides: str):
    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir())):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


def test_binance_asset_reads_any_symbol_of_the_data_folder() -> None:
    s = settings_from_config(_compose("asset=binance", "asset.symbol=ADAUSDT", "paths.data=/d"))
    assert s.asset.path == "/d/binance_ADAUSDT_4h.csv"
    assert s.study.name == "default.ADAUSDT.4h.all.static.h1"


@pytest.mark.parametrize("asset", ["eth", "btc", "sol"])
def test_named_assets_are_the_binance_asset_with_a_symbol(asset: str) -> None:
    named = settings_from_config(_compose(f"asset={asset}"))
    base = settings_from_config(_compose("asset=binance", f"asset.symbol={named.asset.symbol}"))
    assert named.asset == dataclasses.replace(base.asset, name=asset)


@pytest.mark.parametrize("regime", ["calm", "volatile", "switch"])
def test_regimes_inherit_the_detector_of_regime_all(regime: str) -> None:
    base = settings_from_config(_compose("regime=all")).regime
    other = settings_from_config(_compose(f"regime={regime}")).regime
    assert dataclasses.replace(other, name="all") == base
    text = (config_dir() / "regime" / f"{regime}.yaml").read_text()
    assert not any(
        line.startswith(("window:", "lookback:", "quantile:")) for line in text.splitlines()
    )


def test_hparams_search_pareto_is_metric_sampler_and_directions_in_one_file() -> None:
    full = _compose_full("phase=strategy", "hparams_search=strategy_pareto")
    assert full.hydra.sweeper.sampler._target_.endswith("create_nsgaii_sampler")
    assert list(full.hydra.sweeper.direction) == ["maximize", "minimize"]
    assert "strategy.entry" in full.hydra.sweeper.params  # the rule's own space is kept
    s = settings_from_config(OmegaConf.masked_copy(full, [str(k) for k in full if k != "hydra"]))
    assert s.strategy.objectives == ("sharpe", "max_drawdown")
    assert s.hparams_search.name == "strategy_pareto"
    # without a preset the sampler is the sweeper's default, independent TPE
    assert _compose_full("phase=strategy").hydra.sweeper.sampler._target_.endswith("TPESampler")
    pareto = _compose_full("phase=strategy", "hparams_search=strategy_pareto").hydra.sweeper
    assert pareto._target_ == "crypto_tune.sweeper.CryptoTuneSweeper"  # still our sweeper


def test_tpe_is_independent_by_default_and_multivariate_one_override_away() -> None:
    """The sweeps' default sampler is independent TPE (chosen by bench/bench_samplers.py over
    multivariate TPE at 3,000 trials): the plugin's TPE config run by
    :class:`crypto_tune.samplers.IncrementalTPESampler` (``incremental_tpe``);
    ``hydra/sweeper/sampler=tpe`` is Optuna's own TPESampler, ``tpe_multivariate``
    (conf/hydra/sweeper/sampler/) the default's config with ``multivariate: true``."""
    for phase in ("strategy", "model"):
        sampler = _compose_full(f"phase={phase}").hydra.sweeper.sampler
        assert sampler._target_ == "crypto_tune.samplers.IncrementalTPESampler"
        assert sampler.multivariate is False and sampler.constant_liar is False
    stock = _compose_full("phase=strategy", "hydra/sweeper/sampler=tpe").hydra.sweeper.sampler
    assert stock._target_ == "optuna.samplers.TPESampler" and stock.multivariate is False
    joint = _compose_full("phase=strategy", "hydra/sweeper/sampler=tpe_multivariate")
    assert joint.hydra.sweeper.sampler.multivariate is True
    assert joint.hydra.sweeper.sampler._target_ == "crypto_tune.samplers.IncrementalTPESampler"
    assert joint.hydra.sweeper.sampler.n_startup_trials == 10  # the rest is the plugin's tpe
    assert joint.hydra.sweeper.sampler.seed == joint.seed  # conf/config.yaml's seed still applies
    qmc = _compose_full("phase=strategy", "hydra/sweeper/sampler=qmc").hydra.sweeper.sampler
    assert qmc._target_ == "optuna.samplers.QMCSampler"


def test_hparams_search_model_icir_changes_metric_sampler_and_space() -> None:
    full = _compose_full("phase=model", "hparams_search=model_icir")
    assert full.phase.objective == "icir"
    assert full.hydra.sweeper.sampler.multivariate is True
    assert full.hydra.sweeper.params["model.learning_rate"] == "tag(log, interval(0.01, 0.2))"
    assert full.hydra.sweeper.params["model.num_leaves"] == "range(4, 64)"


def test_hparams_search_refuses_another_phase_in_one_line() -> None:
    with pytest.raises(ConfigError, match=r"hparams_search=strategy_pareto is for phase=") as info:
        settings_from_config(_compose("phase=model", "hparams_search=strategy_pareto"))
    assert "\n" not in str(info.value)


def test_csv_asset_requires_its_path() -> None:
    with pytest.raises(ConfigError, match=r"asset\.path is required"):
        settings_from_config(_compose("asset=csv", "asset.symbol=X"))


def test_a_pair_symbol_names_one_folder_not_nested_ones() -> None:
    """asset.symbol=ETH/USDT (Freqtrade's pair) made outputs/best/default.ETH/USDT.4h.../."""
    settings = settings_from_config(_compose("asset=eth", "asset.symbol=ETH/USDT:USDT"))
    assert settings.study.name == "default.ETH_USDT_USDT.4h.all.static.h1"
    assert settings.asset.symbol == "ETH/USDT:USDT"  # the lookup still reads the pair


@pytest.mark.parametrize("asset", ["basket", "universe"])
def test_a_symbol_listed_twice_is_refused(asset: str) -> None:
    """Before, the basket or universe dropped the repeat quietly and its study name kept it."""
    with pytest.raises(
        ConfigError,
        match=r"^asset\.symbols must be a list without repeats "
        r"\(BTCUSDT twice\)",
    ):
        settings_from_config(_compose(f"asset={asset}", "asset.symbols=[BTCUSDT,ETHUSDT,BTCUSDT]"))


def test_a_universe_takes_the_panel_model_and_its_search_space() -> None:
    single_cfg = _compose_full("phase=model")
    panel_cfg = _compose_full("phase=model", "asset=universe")
    single = settings_from_config(_compose("phase=model")).model
    panel = settings_from_config(_compose("phase=model", "asset=universe")).model
    assert (panel.feature_fraction, panel.learning_rate) == (0.35, 0.05)
    assert (single.feature_fraction, single.learning_rate) == (0.7, 0.03)
    # the panel's model is the single asset's but for those two defaults
    like_single = dataclasses.replace(panel, feature_fraction=0.7, learning_rate=0.03)
    assert like_single == single
    assert panel_cfg.hydra.runtime.choices.model == "lightgbm_panel"
    # the same search space, but as many features per tree: feature_fraction over half the range
    panel_space = dict(panel_cfg.hydra.sweeper.params)
    single_space = dict(single_cfg.hydra.sweeper.params)
    assert panel_space.pop("model.feature_fraction") == "interval(0.15, 0.5)"
    assert single_space.pop("model.feature_fraction") == "interval(0.3, 1.0)"
    assert panel_space == single_space
    # the command line wins: the single-asset defaults, or one value
    assert settings_from_config(_compose("asset=universe", "model=lightgbm")).model == single
    one = settings_from_config(_compose("asset=universe", "model.feature_fraction=0.5")).model
    assert (one.feature_fraction, one.learning_rate) == (0.5, 0.05)
