"""The ``crypto-tune`` command: Hydra at the edge, one phase function per run.

``main`` checks the whole configuration before Hydra starts any work (including Hydra's own
override errors and, for sweeps, that the study storage is reachable), so a wrong value fails at
start with one line and exit code 2. The Hydra task then builds typed settings and dispatches on
``phase.name``; it returns the objective (a float) to the sweeper.

The checks live in ``_preflight.py`` (and ``_sweep_check.py``), the command line's parsing in
``_command_line.py``, the sweep's guards in ``_sweep_guards.py`` and what a failed job leaves
behind in ``_job_cleanup.py``; this module alone turns an error into a message and an exit code.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from crypto_tune._command_line import printing_argv, replay_overrides, split_args
from crypto_tune._config_to_settings import settings_from_config
from crypto_tune._job_cleanup import discard_run_dir, fail_running_trial, scrub_snapshot
from crypto_tune._preflight import preflight
from crypto_tune._sweep_check import check_sweep as check_sweep  # its old home
from crypto_tune._sweep_guards import DeferredInterrupt, FailureGuard
from crypto_tune.config import config_dir, register_resolvers
from crypto_tune.exceptions import ConfigError, CryptoTuneError, InvalidTrialError, SweepAborted
from crypto_tune.launcher import accepts_plain_config
from crypto_tune.logs import mask_secrets
from crypto_tune.progress import SweepProgress

log = logging.getLogger("crypto_tune")
# Targets the config may instantiate (Hydra 1.4 execution whitelist): our plugins and callbacks,
# Optuna's samplers, Hydra's launchers and sweepers, and logging handlers.
TRUSTED_TARGETS = ["crypto_tune.*", "optuna.*", "hydra_plugins.*", "hydra.*", "logging.*"]
EXIT_USAGE = 2


def fail(message: str) -> NoReturn:
    """Print one masked line to stderr and exit with the usage error code."""
    print(f"crypto-tune: error: {mask_secrets(str(message))}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


_GUARD = FailureGuard()
_INTERRUPT = DeferredInterrupt()


@accepts_plain_config  # the fast launcher may hand it the resolved mapping
def _task(cfg: DictConfig | dict) -> float | list[float] | None:
    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        return _run_task(cfg, multirun)
    finally:
        _INTERRUPT.in_task = False


def _run_task(cfg: DictConfig | dict, multirun: bool) -> float | list[float] | None:
    from optuna import TrialPruned

    from crypto_tune.phases import run_phase

    try:
        if multirun:
            _INTERRUPT.enter_task()
        settings = settings_from_config(cfg)
        if not multirun and HydraConfig.initialized():
            scrub_snapshot()
            given = tuple(str(o) for o in HydraConfig.get().overrides.task)
            settings = dataclasses.replace(settings, command_line=given)
        value = run_phase(settings)
    except (InvalidTrialError, ConfigError) as exc:
        if not multirun:
            discard_run_dir()
            fail(str(exc))
        # The base config passed preflight: this trial's own values are at fault.
        error = exc if isinstance(exc, InvalidTrialError) else InvalidTrialError(str(exc))
        _progress().update(None)
        stop = _GUARD.record(error)
        if stop is not None:
            fail_running_trial(cfg)  # the sweeper will not record this trial: we do
            fail(stop)
        raise error from None
    except CryptoTuneError as exc:
        if not multirun:
            discard_run_dir()
        fail(str(exc))
    except TrialPruned:  # the sweeper records it PRUNED (crypto_tune/sweeper.py)
        _GUARD.record(None)
        _progress().update(None)
        raise
    except KeyboardInterrupt:
        if multirun:
            fail_running_trial(cfg)
        raise
    except OSError as exc:  # a full disk or a read-only folder: one line, exit 2
        from crypto_tune.reliability import disk_fault

        reason = disk_fault(exc)
        if reason is None:
            raise
        if multirun:
            fail_running_trial(cfg)
        else:
            discard_run_dir()
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


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``crypto-tune`` and ``python -m crypto_tune``."""
    register_resolvers()
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    replayed = replay_overrides(sys.argv[1:])
    if replayed:
        print(f"crypto-tune: best.from: replaying on {' '.join(replayed)}")
        sys.argv = [sys.argv[0], *replayed, *sys.argv[1:]]
    from crypto_tune import reliability, storage

    try:
        # the environment first: preflight may write (a cache, a study file) before passing
        workers = storage.worker_options() if split_args(sys.argv[1:])[1] else None
        preflight(sys.argv[1:], command=True)
    except CryptoTuneError as exc:
        fail(str(exc))
    except OSError as exc:  # preflight writes the feature cache: a full disk is one line too
        reason = reliability.disk_fault(exc)
        if reason is None:
            raise
        fail(reason)
    sys.argv = [sys.argv[0], *printing_argv(sys.argv[1:])]
    run = hydra.main(
        config_path=str(config_dir()), config_name="config", execution_whitelist=TRUSTED_TARGETS
    )
    if split_args(sys.argv[1:])[1]:  # a sweep: Ctrl-C lands inside a trial (_sweep_guards.py)
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
