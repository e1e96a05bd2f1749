"""Hydra's launcher contract, run against ``hydra/launcher=crypto_tune`` (the default launcher).

Hydra's own suites (``hydra.test_utils.launcher_common_tests``) check what any launcher must do;
their task functions take a DictConfig and their config asks for a folder and a ``.hydra/``
snapshot per job, so every one of their jobs is handed to Hydra's own path. The tests after them
check the fast path itself: where it is taken, what a job sees there, and when it steps aside.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pytest
from conftest import FAST, run_cli
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.test_utils.launcher_common_tests import (
    BatchedSweeperTestSuite,
    IntegrationTestSuite,
    LauncherTestSuite,
)
from hydra.test_utils.test_utils import SweepTaskFunction, TSweepRunner
from omegaconf import DictConfig

from crypto_tune.launcher import accepts_plain_config, number_override

# Discover plugins once, before the suites snapshot Hydra's singletons: the first discovery
# registers the plugins' configs (hydra/sweeper/basic, ...) in the ConfigStore.
Plugins.instance()


@pytest.mark.parametrize(("launcher_name", "overrides"), [("crypto_tune", [])])
class TestCryptoTuneLauncher(LauncherTestSuite):
    pass


@pytest.mark.parametrize(
    ("task_launcher_cfg", "extra_flags"),
    [
        pytest.param(
            {},
            [
                "-m",
                "hydra/launcher=crypto_tune",
                "hydra/hydra_logging=disabled",
                "hydra/job_logging=disabled",
            ],
            id="crypto_tune_launcher_multirun",
        )
    ],
)
class TestCryptoTuneLauncherIntegration(IntegrationTestSuite):
    pass


@pytest.mark.parametrize(
    ("launcher_name", "overrides"),
    [("crypto_tune", ["hydra/sweeper=basic", "hydra.sweeper.max_batch_size=2"])],
)
class TestCryptoTuneSweeperWithBatching(BatchedSweeperTestSuite):
    pass


# ------------------------------------------------------------------------ the fast path itself
# What a job must not ask for, so that the fast path may run it: no folder, no snapshot.
NO_JOB_DIR = ["hydra/launcher=crypto_tune", "hydra.output_subdir=null", "hydra.sweep.subdir=''"]


@dataclass
class Inner:
    ratio: float = 0.5


@dataclass
class Typed:
    inner: Inner = field(default_factory=Inner)


ConfigStore.instance().store(name="crypto_tune_typed_test", node=Typed)


def _sweep(
    runner: TSweepRunner,
    tmp_path: Path,
    config_name: str,
    overrides: list[str],
    task: Callable[[Any], Any],
    *,
    plain: bool = True,
) -> SweepTaskFunction:
    sweep = runner(
        calling_file=None,
        calling_module="hydra.test_utils.a_module",
        task_function=task,
        config_path="configs",
        config_name=config_name,
        overrides=overrides,
        temp_dir=tmp_path,
    )
    if plain:  # the launcher sees the runner object, which calls ``task``
        accepts_plain_config(sweep)
    return sweep


def _record(seen: list[dict[str, Any]]) -> Callable[[Any], Any]:
    def task(cfg: Any) -> Any:
        hydra = HydraConfig.get()
        seen.append(
            {
                "cfg": cfg,
                "plain": isinstance(cfg, dict),
                "num": hydra.job.num,
                "id": hydra.job.id,
                "task": list(hydra.overrides.task),
                "cwd": os.getcwd(),
                "env": os.environ.get("CT_TEST_ENV"),
            }
        )
        return 1

    return task


@pytest.mark.usefixtures("hydra_restore_singletons")
def test_fast_path_resolves_interpolated_values_and_sets_job_num(
    hydra_sweep_runner: TSweepRunner, tmp_path: Path
) -> None:
    seen: list[dict[str, Any]] = []
    overrides = [*NO_JOB_DIR, "db=mysql", "db.user=${db.driver}", "db.password=a,b"]
    with _sweep(hydra_sweep_runner, tmp_path, "db_conf", overrides, _record(seen)) as sweep:
        assert sweep.returns is not None  # the runner removes its folder on exit: look now
        assert not [p for p in tmp_path.iterdir() if p.is_dir()], "no folder per job"
    assert [s["plain"] for s in seen] == [True, True]  # the fast path ran both jobs
    assert [s["cfg"]["db"]["user"] for s in seen] == ["mysql", "mysql"]  # resolved, not "${..}"
    assert [s["cfg"]["db"]["password"] for s in seen] == ["a", "b"]
    assert [(s["num"], s["id"]) for s in seen] == [(0, "0"), (1, "1")]
    assert seen[1]["task"][0] == "db=mysql" and seen[1]["task"][2] == "db.password=b"


@pytest.mark.usefixtures("hydra_restore_singletons")
def test_fast_path_leaves_typed_nodes_to_omegaconf(
    hydra_sweep_runner: TSweepRunner, tmp_path: Path
) -> None:
    seen: list[dict[str, Any]] = []
    overrides = [*NO_JOB_DIR, "inner.ratio=1,2"]
    with _sweep(hydra_sweep_runner, tmp_path, "crypto_tune_typed_test", overrides, _record(seen)):
        pass
    values = [s["cfg"]["inner"]["ratio"] for s in seen]
    assert values == [1.0, 2.0] and all(type(v) is float for v in values)


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        (["hydra.job.chdir=true"], "chdir"),
        (["+hydra.job.env_set.CT_TEST_ENV=on"], "env_set"),
        (["hydra.output_subdir=.hydra"], "snapshot"),
        (["hydra.sweep.subdir=${hydra.job.num}"], "job folder"),
    ],
)
@pytest.mark.usefixtures("hydra_restore_singletons")
def test_hydra_path_when_a_job_asks_for_more(
    hydra_sweep_runner: TSweepRunner, tmp_path: Path, extra: list[str], why: str
) -> None:
    seen: list[dict[str, Any]] = []
    overrides = [*NO_JOB_DIR, *extra, "db=mysql", "db.password=a,b"]
    with _sweep(hydra_sweep_runner, tmp_path, "db_conf", overrides, _record(seen)) as sweep:
        assert sweep.returns is not None
        dirs = [r.hydra_cfg.hydra.runtime.output_dir for r in sweep.returns[0]]
        snapshot = (Path(dirs[1]) / ".hydra" / "overrides.yaml").is_file()
    assert [s["plain"] for s in seen] == [False, False], why
    assert [s["num"] for s in seen] == [0, 1]
    if why == "chdir":
        assert [os.path.realpath(s["cwd"]) for s in seen] == [os.path.realpath(d) for d in dirs]
    if why == "env_set":
        assert [s["env"] for s in seen] == ["on", "on"]
    assert snapshot == (why == "snapshot")
    if why == "job folder":
        assert [Path(d).name for d in dirs] == ["0", "1"]


@pytest.mark.usefixtures("hydra_restore_singletons")
def test_hydra_path_for_a_task_that_takes_a_dictconfig(
    hydra_sweep_runner: TSweepRunner, tmp_path: Path
) -> None:
    seen: list[Any] = []
    overrides = [*NO_JOB_DIR, "db=mysql", "db.password=a,b"]
    sweep = _sweep(hydra_sweep_runner, tmp_path, "db_conf", overrides, seen.append, plain=False)
    with sweep:
        pass
    assert len(seen) == 2 and all(isinstance(c, DictConfig) for c in seen)


def _numbers() -> list[str]:
    """Values as the sweeper writes them (repr of ints and floats) and edge cases of Hydra's
    number grammar."""
    rng = random.Random(0)
    values = [repr(rng.uniform(-1, 1) * 10 ** rng.randint(-12, 12)) for _ in range(300)]
    values += [repr(rng.randint(-(10**6), 10**6)) for _ in range(100)]
    values += [repr(v) for v in (0.0, -0.0, 1e-05, 1.5e-07, 2e16, 1e300, 5e-324, 10**20)]
    values += ["1.", ".5", "007", "0.50", "1_000", "1e5", "1E+5", "+3", "-0", "inf", "-inf"]
    values += ["nan", "1e", "1.5.5", "0x10", "1,2", " 1", "1 ", "true", "null", "a1", "1a"]
    return values


@pytest.mark.parametrize(
    "key", ["strategy.entry", "a.b", "a_1.b_2.c", "a", "a/b", "+a.b", "~a.b", "a.b-c", "a.$b"]
)
def test_number_overrides_are_read_as_hydra_reads_them(key: str) -> None:
    """The launcher reads ``key=<number>`` (a suggested value) without Hydra's parser: where it
    does, the key and the value (type included) are Hydra's."""
    parser = OverridesParser.create()
    read = 0
    for value in _numbers():
        text = f"{key}={value}"
        mine = number_override(text)
        if mine is None:
            continue
        read += 1
        hydra = parser.parse_override(text)
        assert not (hydra.is_add() or hydra.is_delete() or hydra.is_sweep_override()), text
        assert hydra.package is None, text
        assert mine == (hydra.key_or_group, hydra.value()), text
        assert type(mine[1]) is type(hydra.value()), text
    plain = "." in key and not any(c in key for c in "/+~-$")
    assert (read > 400) if plain else (read == 0), key


# ------------------------------------------------------------------- through the real command
@pytest.mark.slow
def test_interpolated_override_is_resolved_in_every_trial(outputs: Path, experiment: str) -> None:
    """``strategy.min_trades_per_year=${label.horizon}``: every trial used to fail under the
    default launcher (the trial received the string ``'${label.horizon}'``)."""
    done = run_cli(
        "-m",
        "phase=strategy",
        *FAST,
        "phase.model_source=config",
        "strategy.min_trades_per_year=${label.horizon}",
        "hydra.sweeper.n_trials=2",
        "tracking.enabled=false",
        f"paths.outputs={outputs}",
        f"experiment_name={experiment}",
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    storage = f"sqlite:///{outputs}/optuna.db"
    (name,) = optuna.get_all_study_names(storage)
    trials = optuna.load_study(study_name=name, storage=storage).get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    (sweep_dir,) = (outputs / "multiruns").glob("*/*")
    assert not [p for p in sweep_dir.iterdir() if p.is_dir()], "no folder per trial"


@pytest.mark.slow
def test_default_launcher_matches_hydra_basic_launcher(tmp_path: Path) -> None:
    """The same sweep under the fast launcher and Hydra's basic launcher: the same trials (values
    and parameters) and the same files in the sweep's folder."""
    results = {}
    for launcher in ("crypto_tune", "basic"):
        outputs = tmp_path / launcher
        done = run_cli(
            "-m",
            "phase=strategy",
            *FAST,
            "phase.model_source=config",
            "hydra.sweeper.n_trials=3",
            "tracking.enabled=false",
            f"hydra/launcher={launcher}",
            f"paths.outputs={outputs}",
            "experiment_name=same",
        )
        assert done.returncode == 0, done.stderr[-2000:]
        storage = f"sqlite:///{outputs}/optuna.db"
        trials = optuna.load_study(
            study_name=optuna.get_all_study_names(storage)[0], storage=storage
        ).get_trials()
        (sweep_dir,) = (outputs / "multiruns").glob("*/*")
        files = sorted(str(p.relative_to(sweep_dir)) for p in sweep_dir.rglob("*"))
        results[launcher] = ([(t.state, t.value, t.params) for t in trials], files)
    assert results["crypto_tune"] == results["basic"]
