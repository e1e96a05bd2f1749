"""The ``crypto-tune`` command: Hydra at the edge, one phase function per run.

``main`` checks the whole configuration before Hydra starts any work (including Hydra's own
override errors and, for sweeps, that the study storage is reachable), so a wrong value fails at
start with one line and exit code 2. The Hydra task then builds typed settings and dispatches on
``phase.name``; it returns the objective (a float) to the sweeper.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from crypto_tune.config import Settings, config_dir, register_resolvers
from crypto_tune.exceptions import ConfigError, CryptoTuneError, InvalidTrialError, SweepAborted
from crypto_tune.launcher import accepts_plain_config
from crypto_tune.logs import mask_secrets
from crypto_tune.progress import SweepProgress

log = logging.getLogger("crypto_tune")
# Targets the config may instantiate (Hydra 1.4 execution whitelist): our plugins and callbacks,
# Optuna's samplers, Hydra's launchers and sweepers, and logging handlers.
TRUSTED_TARGETS = ["crypto_tune.*", "optuna.*", "hydra_plugins.*", "hydra.*", "logging.*"]
EXIT_USAGE = 2
# Hydra flags after which we hand over to Hydra untouched (help, printing the config, ...).
_PASSTHROUGH_FLAGS = {
    "--help",
    "-h",
    "--hydra-help",
    "--version",
    "--cfg",
    "-c",
    "--info",
    "-i",
    "--shell-completion",
    "-sc",
}
_FLAGS_WITH_VALUE = {
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
    "--cfg",
    "-c",
    "--package",
    "-p",
    "--info",
    "-i",
    "--experimental-rerun",
}


def fail(message: str) -> NoReturn:
    """Print one masked line to stderr and exit with the usage error code."""
    print(f"crypto-tune: error: {mask_secrets(str(message))}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def settings_from_config(cfg: DictConfig | dict) -> Settings:
    """Resolve a composed config and validate it into :class:`Settings`.

    A plain mapping (what the fast launcher passes for leaf-only jobs) is validated directly.
    """
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    from crypto_tune.config import settings_from_dict

    if isinstance(cfg, dict):
        return settings_from_dict(cfg)
    try:
        container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as exc:
        key = getattr(exc, "full_key", None) or "a value"
        raise ConfigError(
            f"{key} is required but missing (give it on the command line: {key}=...)"
        ) from None
    except OmegaConfBaseException as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"{getattr(exc, 'full_key', '') or 'config'}: {first}") from None
    if not isinstance(container, dict):
        raise ConfigError(f"config: expected a mapping, got {type(container).__name__}")
    return settings_from_dict({str(k): v for k, v in container.items()})


def _split_args(argv: Sequence[str]) -> tuple[list[str], bool, bool]:
    """(overrides, multirun, passthrough) from the command line."""
    overrides: list[str] = []
    multirun = passthrough = False
    skip_next = False
    for arg in argv:
        if skip_next:
            skip_next = False
            continue
        if arg in ("-m", "--multirun"):
            multirun = True
        elif arg.split("=", 1)[0] in _PASSTHROUGH_FLAGS:
            passthrough = True
        elif arg.startswith("-"):
            skip_next = arg in _FLAGS_WITH_VALUE and "=" not in arg
        else:
            overrides.append(arg)
    return overrides, multirun, passthrough


def _printing_argv(argv: Sequence[str]) -> list[str]:
    """``-m`` with a printing flag (``--cfg``, ``--info``, ...): Hydra accepts only one mode, so
    print what Hydra prints without ``-m``: the config a job of the sweep starts from (without
    ``-m`` and the sweeps). Any other command line is returned unchanged."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    _, multirun, passthrough = _split_args(argv)
    if not (multirun and passthrough) or any(a in ("--help", "-h", "--hydra-help") for a in argv):
        return list(argv)
    parser = OverridesParser.create()
    out: list[str] = []
    takes_value = False
    for arg in argv:
        if takes_value:
            takes_value = False
            out.append(arg)
            continue
        if arg in ("-m", "--multirun"):
            continue
        if arg.startswith("-"):
            takes_value = arg in _FLAGS_WITH_VALUE and "=" not in arg
            out.append(arg)
            continue
        try:
            if parser.parse_override(arg).is_sweep_override():
                continue
        except HydraException:
            pass  # Hydra reports it
        out.append(arg)
    return out


def _one_line(exc: BaseException) -> str:
    """Hydra's multi-line composition and override errors as one line naming the key."""
    import re

    text = str(exc).strip()
    missing = re.search(r"Could not find '([^']+)'", text)
    if missing:
        group, _, choice = missing.group(1).rpartition("/")
        options = re.findall(r"^\t(\S+)$", text.split("Config search path:")[0], re.MULTILINE)
        available = f" (available: {', '.join(options)})" if options else ""
        return f"{group}={choice}: no such {group} config{available}"
    cause = exc.__cause__
    full_key = getattr(cause, "full_key", None)
    if cause is not None and full_key:
        reason = str(cause).strip().splitlines()[0]
        reason = reason.replace(" is not in struct", " is not a known key")
        return f"{full_key}: {reason}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if "override_grammar" in text and len(lines) > 1:  # parse errors: the culprit and why
        return f"{lines[0]} ({lines[1]})"
    return lines[0] if lines else type(exc).__name__


def preflight(argv: Sequence[str], *, command: bool = False) -> Settings | None:
    """Compose and validate the configuration exactly as Hydra will; raise ConfigError if wrong.

    ``command=True`` (the ``crypto-tune`` command itself) also refuses a sweep phase without
    ``-m``: Hydra would run it as one evaluation of the default parameters, which no one asks
    for by typing ``phase=model``. Code and tests may preflight such a run to get its settings.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register_resolvers()
    overrides, multirun, passthrough = _split_args(argv)
    if passthrough:
        return None
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as exc:
        raise ConfigError(_one_line(exc)) from None
    texts = {id(o): str(o.input_line) for o in parsed}  # the parser always keeps the text
    for o in parsed:
        if o.is_sweep_override() and o.key_or_group.startswith("hydra."):
            key = o.key_or_group.removeprefix("hydra.sweeper.params.")
            raise ConfigError(
                f"{o.key_or_group}: Hydra's own config cannot be swept; give the search space as "
                f"{key}='{texts[id(o)].split('=', 1)[1]}' (with -m)"
            )
    for o in parsed:
        if o.is_sweep_override() and (config_dir() / o.key_or_group).is_dir():
            group = o.key_or_group
            first = texts[id(o)].split("=", 1)[1].split(",")[0]
            hint = " (or phase=regimes regime=switch for every regime)" if group == "regime" else ""
            raise ConfigError(
                f"{texts[id(o)]}: a config group cannot be a parameter of one study (each choice "
                f"measures something else): run one command per choice, e.g. {group}={first}"
                f"{hint}"
            )
    plain = [texts[id(o)] for o in parsed if not o.is_sweep_override()]
    if not multirun and len(plain) != len(parsed):
        swept = [texts[id(o)] for o in parsed if o.is_sweep_override()]
        raise ConfigError(f"{swept[0]} is a sweep; add -m (multirun) to sweep over values")
    try:
        with initialize_config_dir(config_dir=str(config_dir())):
            full = compose("config", overrides=plain, return_hydra_config=multirun)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(_one_line(exc)) from None
    task_keys = [str(k) for k in full if k != "hydra"]
    cfg = OmegaConf.masked_copy(full, task_keys) if multirun else full
    settings = dataclasses.replace(settings_from_config(cfg), command_line=tuple(plain))
    from crypto_tune.phases import SWEEP_PHASES, preflight_phase

    if command and not multirun and settings.phase.name in SWEEP_PHASES:
        raise ConfigError(
            f"phase={settings.phase.name} is a sweep: add -m (crypto-tune -m "
            f"{' '.join(plain)}); without it Hydra would evaluate the default parameters once"
        )
    if multirun:
        check_sweep(full, cfg, [texts[id(o)] for o in parsed])
    _check_input_files(settings)
    from crypto_tune.reliability import unwritable

    folder = unwritable(settings)  # before Hydra makes its run folder there
    if folder is not None:
        raise ConfigError(folder)
    _check_creatable(("paths.outputs", settings.paths.root), ("paths.cache", settings.paths.cache))
    preflight_phase(settings, multirun=multirun)
    return settings


# Overrides that define what a best run was made on (data, split, label, regime, study): a
# replay (`best.from=FILE`) applies the file's own values unless the command line gives them.
_REPLAYED = ("asset", "split", "label", "regime", "features", "experiment", "debug", "study")
_REPLAYED_KEYS = ("experiment_name", "seed")


def _replay_overrides(args: Sequence[str]) -> list[str]:
    """The data-defining overrides recorded in the ``best.from`` file, minus those the command
    line sets itself, so ``crypto-tune phase=best best.from=FILE`` replays on the same data."""
    import json
    from pathlib import Path

    given = [a for a in args if not a.startswith("-")]
    source = next((a.split("=", 1)[1] for a in given if a.startswith("best.from=")), None)
    if not source or not Path(source).is_file():
        return []
    try:
        recorded = json.loads(Path(source).read_text()).get("overrides") or []
    except (ValueError, AttributeError):
        return []  # preflight names the broken file
    taken = {a.split("=", 1)[0].lstrip("+~").split(".")[0] for a in given}
    out = []
    for item in recorded:
        key = str(item).split("=", 1)[0].lstrip("+~")
        group = key.split(".")[0]
        if (group in _REPLAYED or key in _REPLAYED_KEYS) and group not in taken:
            out.append(str(item))
    return out


def _check_input_files(settings: Settings) -> None:
    """Files named on the command line exist (before any work writes a cache or a study)."""
    from pathlib import Path

    given = settings.best.from_file
    if settings.phase.name in ("best", "report") and given and not Path(given).is_file():
        raise ConfigError(f"best.from: no such file: {given}")


def _check_creatable(*folders: tuple[str, str]) -> None:
    """Each ``(key, folder)`` exists or can be made: the missing folders are created and removed
    again (a folder that looks writable may still refuse, e.g. under /proc), so nothing is left
    behind and a folder Hydra could not make fails here, in one line naming the key."""
    from pathlib import Path

    for key, folder in folders:
        path = Path(folder).absolute()
        missing = []
        while not path.exists() and path != path.parent:
            missing.append(path)
            path = path.parent
        try:
            for made in reversed(missing):
                made.mkdir()
        except OSError as exc:
            raise ConfigError(
                f"{key}: cannot create {folder} ({exc.strerror or exc}): choose another folder "
                f"with {key}=DIR"
            ) from None
        finally:
            for made in missing:  # the deepest first; only folders this check made (empty)
                with contextlib.suppress(OSError):
                    made.rmdir()


def _probe_values(distribution: object) -> list[object]:
    """The values of a search-space distribution that preflight validates: every choice of a
    ``choice()``; for a ``range()`` or an ``interval()``, both ends (Optuna may sample either)
    and the nearest value inside each end (the next step, or the next float)."""
    import math

    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(distribution, CategoricalDistribution):
        values: list[object] = list(distribution.choices)
    elif isinstance(distribution, IntDistribution):
        ilow, ihigh, istep = distribution.low, distribution.high, distribution.step
        values = [ilow, min(ilow + istep, ihigh), max(ihigh - istep, ilow), ihigh]
    elif isinstance(distribution, FloatDistribution):
        low, high, step = distribution.low, distribution.high, distribution.step
        if step is not None:
            inner = [min(low + step, high), max(high - step, low)]
        else:
            inner = [math.nextafter(low, high), math.nextafter(high, low)]
        values = [low, inner[0], inner[1], high]
    else:  # pragma: no cover - the sweeper builds only these three
        return []
    unique: list[object] = []
    for value in values:
        if not any(value == u and type(value) is type(u) for u in unique):
            unique.append(value)
    return unique


def check_sweep(full: DictConfig, task_cfg: DictConfig, overrides: Sequence[str]) -> None:
    """Before the first trial: ``hydra.sweeper.n_trials`` is a positive int, and every swept
    parameter's extreme values (see :func:`_probe_values`) pass the settings validation.

    The search space is parsed by the Optuna sweeper's own function, from the config's
    ``hydra.sweeper.params`` followed by the command line (the command line wins), exactly as
    the sweeper does. Each value is checked alone, with every other key at its composed value.
    Validity sets in the schema are intervals, so the ends decide; a value excluded inside a
    range (far from both ends) is not caught here and fails its trial.
    """
    import copy

    target = str(OmegaConf.select(full, "hydra.sweeper._target_", default=""))
    if "optuna" not in target and target != "crypto_tune.sweeper.CryptoTuneSweeper":
        return  # another sweeper: its own rules
    n_trials = OmegaConf.select(full, "hydra.sweeper.n_trials")
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ConfigError(f"hydra.sweeper.n_trials must be an int >= 1, got {n_trials!r}")
    from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides

    node = OmegaConf.select(full, "hydra.sweeper.params")
    params = OmegaConf.to_container(node, resolve=False) if isinstance(node, DictConfig) else {}
    assert isinstance(params, dict)
    lines = {str(k): f"{k!s}={v}" for k, v in params.items()}
    lines.update({line.split("=", 1)[0]: line for line in overrides})
    space: dict[str, object] = {}
    fixed: set[str] = set()
    for line in lines.values():
        try:
            distributions, values, _ = create_params_from_overrides([line])
        except Exception as exc:  # the sweeper's own errors, as one line naming the parameter
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"{line}: {first}") from None
        space.update(distributions)
        fixed.update(values)
    trial = copy.deepcopy(task_cfg)  # one copy: each value is set, checked, then put back
    for key, distribution in space.items():
        if key in fixed:  # a fixed value on the command line replaces the search space
            continue
        parent_key, _, leaf = key.rpartition(".")
        parent = OmegaConf.select(trial, parent_key) if parent_key else trial
        if not isinstance(parent, DictConfig) or leaf not in parent:
            raise ConfigError(f"{lines[key]}: {key} is not a known key")
        container = OmegaConf.to_container(parent, resolve=False)
        assert isinstance(container, dict)  # parent is a DictConfig
        original = container[leaf]
        try:
            for value in _probe_values(distribution):
                OmegaConf.update(trial, key, value, merge=False)
                try:
                    settings_from_config(trial)
                except ConfigError as exc:
                    raise ConfigError(f"{lines[key]} includes {value!r}: {exc}") from None
        finally:
            OmegaConf.update(trial, key, original, merge=False)


class _FailureGuard:
    """Stops a sweep whose trials keep failing (the sweeper itself tolerates every failure).

    A trial that cannot be evaluated raises InvalidTrialError and is recorded as FAIL; once at
    least ``min_trials`` trials ran here and more than ``max_rate`` of them failed, the sweep
    stops with one line naming the last error.
    """

    def __init__(self, min_trials: int = 5, max_rate: float = 0.5) -> None:
        self.min_trials, self.max_rate = min_trials, max_rate
        self.trials = self.failures = 0

    def record(self, error: Exception | None) -> str | None:
        """Count a trial; the one-line reason to stop the sweep, or None to go on."""
        self.trials += 1
        if error is None:
            return None
        self.failures += 1
        log.warning("trial failed: %s", mask_secrets(str(error)))
        if self.trials >= self.min_trials and self.failures / self.trials > self.max_rate:
            return f"{self.failures} of {self.trials} trials failed; last: {error}"
        return None


_GUARD = _FailureGuard()


class _DeferredInterrupt:
    """Ctrl-C in a sweep lands inside a trial, never between the sweeper's bookkeeping steps.

    Inside a trial the interrupt is raised at once (the trial is marked FAIL by ``_task``). Between
    trials (the sweeper asking Optuna for the next trial, or recording the last one) it is held
    and raised when the next trial starts, before any work, so the trial the sweeper has just
    created is marked FAIL too instead of staying RUNNING. A second Ctrl-C is never held.
    """

    def __init__(self) -> None:
        self.requested = False
        self.in_task = False

    def install(self) -> None:
        import signal

        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        if self.in_task or self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def enter_task(self) -> None:
        self.in_task = True
        if self.requested:
            raise KeyboardInterrupt


_INTERRUPT = _DeferredInterrupt()


@accepts_plain_config  # the fast launcher may hand it the resolved mapping
def _task(cfg: DictConfig | dict) -> float | None:
    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        return _run_task(cfg, multirun)
    finally:
        _INTERRUPT.in_task = False


def _run_task(cfg: DictConfig | dict, multirun: bool) -> float | None:
    from optuna import TrialPruned

    from crypto_tune.phases import run_phase

    try:
        if multirun:
            _INTERRUPT.enter_task()
        settings = settings_from_config(cfg)
        if not multirun and HydraConfig.initialized():
            _scrub_snapshot()
            given = tuple(str(o) for o in HydraConfig.get().overrides.task)
            settings = dataclasses.replace(settings, command_line=given)
        value = run_phase(settings)
    except (InvalidTrialError, ConfigError) as exc:
        if not multirun:
            _discard_run_dir()
            fail(str(exc))
        # The base config passed preflight: this trial's own values are at fault.
        error = exc if isinstance(exc, InvalidTrialError) else InvalidTrialError(str(exc))
        _progress().update(None)
        stop = _GUARD.record(error)
        if stop is not None:
            _fail_running_trial(cfg)  # the sweeper will not record this trial: we do
            fail(stop)
        raise error from None
    except CryptoTuneError as exc:
        if not multirun:
            _discard_run_dir()
        fail(str(exc))
    except TrialPruned:  # the sweeper records it PRUNED (crypto_tune/sweeper.py)
        _GUARD.record(None)
        _progress().update(None)
        raise
    except KeyboardInterrupt:
        if multirun:
            _fail_running_trial(cfg)
        raise
    except OSError as exc:  # a full disk or a read-only folder: one line, exit 2
        from crypto_tune.reliability import disk_fault

        reason = disk_fault(exc)
        if reason is None:
            raise
        if multirun:
            _fail_running_trial(cfg)
        else:
            _discard_run_dir()
        fail(reason)
    if multirun:
        _GUARD.record(None)
        _progress().update(value)
    return value


_PROGRESS: list[SweepProgress] = []  # this process's sweep bar, made at its first trial


def _progress() -> SweepProgress:
    """The sweep's progress (a live bar on a terminal: done of ``hydra.sweeper.n_trials``, ETA,
    best so far in the sweep's direction; silent in logs, where the phases' lines are)."""
    if not _PROGRESS:
        sweeper = HydraConfig.get().sweeper
        total = OmegaConf.select(sweeper, "n_trials", default=None)
        direction = OmegaConf.select(sweeper, "direction", default=None)
        maximize = direction == "maximize" if isinstance(direction, str) else None
        _PROGRESS.append(
            SweepProgress(total if isinstance(total, int) else None, maximize=maximize)
        )
    return _PROGRESS[0]


def _scrub_snapshot() -> None:
    """Mask database passwords in a single run's ``.hydra/`` snapshot (a password given in
    ``storage.url`` on the command line would otherwise be saved in overrides.yaml)."""
    from pathlib import Path

    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    if not hydra_cfg.output_subdir:
        return
    folder = Path(str(hydra_cfg.runtime.output_dir)) / str(hydra_cfg.output_subdir)
    for path in folder.glob("*.yaml"):
        text = path.read_text()
        masked = mask_secrets(text)
        if masked != text:
            path.write_text(masked)


def _discard_run_dir() -> None:
    """A single run that fails leaves no run folder behind: remove its folder if it holds only
    what Hydra made for it (the .hydra/ snapshot, the job's log), and the parents this emptied
    (``runs/<phase>/``, ``runs/``), never the working directory."""
    import os
    import shutil
    from pathlib import Path

    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    run_dir = Path(str(hydra_cfg.runtime.output_dir))
    if not run_dir.is_dir() or run_dir.resolve() == Path.cwd().resolve():
        return
    made = {str(hydra_cfg.output_subdir or ".hydra"), f"{hydra_cfg.job.name}.log"}
    if any(p.name not in made for p in run_dir.iterdir()):
        return
    logging.shutdown()  # close the job log before removing it
    shutil.rmtree(run_dir, ignore_errors=True)
    for parent in list(run_dir.parents)[:2]:
        if parent.resolve() == Path.cwd().resolve():
            break
        try:
            os.rmdir(parent)  # only when empty
        except OSError:
            break


def _fail_running_trial(cfg: DictConfig | dict) -> None:
    """Mark this job's trial FAIL, so the study holds no zombie RUNNING trial (after Ctrl-C, or
    when the failure guard stops the sweep inside a trial). Works from the raw job config, since
    the trial's values may be the very thing that failed validation."""
    import optuna

    from crypto_tune.storage import open_storage, study_name
    from crypto_tune.study import running_trial

    try:
        tree = cfg if isinstance(cfg, dict) else OmegaConf.to_container(cfg, resolve=True)
        if not isinstance(tree, dict):
            return
        values = {
            f"{group}.{key}": value
            for group in ("model", "strategy")
            for key, value in (tree.get(group) or {}).items()
        }
        study = optuna.load_study(
            study_name=study_name(tree["study"]["name"], tree["phase"]["name"]),
            storage=open_storage(tree["storage"]["url"]),
        )
        trial = running_trial(study, values)
        if trial is not None:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    except Exception as exc:  # never mask the original error or interrupt
        log.warning("could not mark the trial as failed: %s", mask_secrets(str(exc)))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``crypto-tune`` and ``python -m crypto_tune``."""
    register_resolvers()
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    replayed = _replay_overrides(sys.argv[1:])
    if replayed:
        print(f"crypto-tune: best.from: replaying on {' '.join(replayed)}")
        sys.argv = [sys.argv[0], *replayed, *sys.argv[1:]]
    from crypto_tune import reliability, storage

    try:
        preflight(sys.argv[1:], command=True)
        workers = storage.worker_options() if _split_args(sys.argv[1:])[1] else None
    except CryptoTuneError as exc:
        fail(str(exc))
    except OSError as exc:  # preflight writes the feature cache: a full disk is one line too
        reason = reliability.disk_fault(exc)
        if reason is None:
            raise
        fail(reason)
    sys.argv = [sys.argv[0], *_printing_argv(sys.argv[1:])]
    run = hydra.main(
        config_path=str(config_dir()), config_name="config", execution_whitelist=TRUSTED_TARGETS
    )
    if _split_args(sys.argv[1:])[1]:  # a sweep: Ctrl-C lands inside a trial (see above)
        _INTERRUPT.install()
    if workers is not None:  # heartbeats, stale-trial recovery, database outages
        storage.enable_workers(workers)
    try:
        try:
            run(_task)()
        finally:
            for bar in _PROGRESS:
                bar.close()
        if _INTERRUPT.requested:  # Ctrl-C after the last trial started: the sweep is complete
            raise KeyboardInterrupt
    except SweepAborted as stop:  # the sweeper's own error (the study database gone): one line
        fail(str(stop.error))
    except KeyboardInterrupt:
        print(
            "crypto-tune: interrupted; complete trials are kept in the study: run the same "
            "command again to resume",
            file=sys.stderr,
        )
        sys.exit(130)


__all__ = ["main", "preflight", "settings_from_config"]
