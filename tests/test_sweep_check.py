"""The sweep check before a sweep's first trial (crypto_tune/_sweep_check.py): the config is
resolved once and each swept value checked on a copy, unless an interpolation may read the swept
key; then the value is checked through the interpolation, as the trial would see it. Both ways
give the same verdict and the same message (tests/test_cli.py runs the command line's cases)."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

import crypto_tune._sweep_check as sweep_check
from crypto_tune.config import config_dir, register_resolvers
from crypto_tune.exceptions import ConfigError

STRATEGY = ("phase=strategy", "debug=fast", "phase.model_source=config")
MAX_DEPTH = "model.max_depth must be -1 (no limit) or an int >= 1, got 0"


def _check(*args: str) -> None:
    """``check_sweep`` on the overrides of a ``-m`` command line, as preflight runs it."""
    register_resolvers()
    parsed = OverridesParser.create().parse_overrides(list(args))
    plain = [str(o.input_line) for o in parsed if not o.is_sweep_override()]
    with initialize_config_dir(config_dir=str(config_dir())):
        full = compose("config", overrides=plain, return_hydra_config=True)
    task_cfg = OmegaConf.masked_copy(full, [str(k) for k in full if k != "hydra"])
    sweep_check.check_sweep(full, task_cfg, [str(o.input_line) for o in parsed])


def _verdict(*args: str) -> str:
    try:
        _check(*args)
    except ConfigError as exc:
        return str(exc)
    return "ok"


@pytest.fixture
def resolutions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the check resolved the whole config again for one value."""
    calls: list[int] = []
    slow = sweep_check.settings_from_config

    def counted(cfg):
        calls.append(1)
        return slow(cfg)

    monkeypatch.setattr(sweep_check, "settings_from_config", counted)
    return calls


def test_a_default_sweep_resolves_the_config_once(resolutions: list[int]) -> None:
    _check("phase=model", "asset=eth")
    _check(*STRATEGY, "strategy.leverage=interval(0.5,2)")
    assert resolutions == []


@pytest.mark.parametrize(
    "args",
    [
        ("model.max_depth=${model.bagging_freq}", "model.bagging_freq=range(0,5)"),
        ("model.max_depth=${.bagging_freq}", "model.bagging_freq=range(0,5)"),  # relative
    ],
)
def test_a_swept_key_interpolated_elsewhere_is_validated_through_the_interpolation(
    args: tuple[str, ...], resolutions: list[int]
) -> None:
    # bagging_freq=0 is valid itself; max_depth, which takes its value, may not be 0
    with pytest.raises(ConfigError) as info:
        _check("phase=model", *args)
    assert str(info.value) == f"model.bagging_freq=range(0,5) includes 0: {MAX_DEPTH}"
    assert resolutions, "checked by resolving the config with the value set"
    _check("phase=model", "model.bagging_freq=range(0,5)")  # alone it passes


def test_an_interpolation_of_the_swept_key_follows_each_value() -> None:
    # split.purge is ${label.horizon}: it follows every horizon; a fixed purge does not
    _check("phase=model", "label.horizon=range(1,3)")
    with pytest.raises(ConfigError) as info:
        _check("phase=model", "split.purge=1", "label.horizon=range(1,3)")
    assert str(info.value).startswith("label.horizon=range(1,3) includes 2: split.purge must be")


@pytest.mark.parametrize(
    "args",
    [
        ("phase=model", "asset=eth"),
        (*STRATEGY, "strategy.leverage=interval(0,2)"),
        (*STRATEGY, "strategy.leverage=choice(1,2,200)"),
        (*STRATEGY, "strategy.nope=interval(1,2)"),
        (*STRATEGY, "model.num_leaves=range(1,10)"),
        (*STRATEGY, "model.max_depth=range(-1,5)"),
        ("phase=model", "model.bagging_freq=range(0,5)", "model.max_depth=${model.bagging_freq}"),
        ("phase=model", "model.name=choice(lightgbm,xgb)"),
        ("phase=model", "model.name=choice(lightgbm,'???')"),  # a value OmegaConf reads as missing
        ("phase=model", "model.name=choice(lightgbm,'\\${seed}')"),
    ],
)
def test_one_resolution_gives_the_verdict_of_one_per_value(
    args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _verdict(*args)
    monkeypatch.setattr(sweep_check, "_resolved_once", lambda task_cfg: None)
    assert fast == _verdict(*args)


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("${paths.root}/cache", [("paths", "root")]),
        ("${ct.abspath:${paths.outputs}}", [("paths", "outputs")]),
        ("${ct.abspath:${oc.env:CRYPTO_TUNE_DATA_DIR,../shared/data}}", []),
        ("${a.b}-${c}", [("c",), ("a", "b")]),
        ("${a[b].c}", [("a", "b", "c")]),
        ("\\${a.b}", []),  # escaped: no interpolation
        ("${.a}", None),  # relative
        ("${..a}", None),
        ("${a.${b}}", None),  # a key made by an interpolation
        ("${oc.select:model.x}", None),  # reads the key it is given as text
        ("${hydra:runtime.cwd}", None),  # a resolver not known to read its arguments alone
        ("${", None),
    ],
)
def test_the_keys_an_interpolation_reads(text: str, keys: list[tuple[str, ...]] | None) -> None:
    assert sweep_check._named_keys(text) == keys
