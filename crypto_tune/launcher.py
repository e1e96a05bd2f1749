"""An in-process Hydra launcher that composes the config once per sweep.

Hydra's basic launcher recomposes the whole config for every job (~60 ms) and sets up a job
directory with ``.hydra/*.yaml`` files (~30 ms). A strategy trial changes only leaf values
(``strategy.threshold=0.0012``), so this launcher composes the sweep's config once and, for each
job whose overrides are plain leaf assignments of existing keys (besides the sweep's fixed
overrides, which shape the composed base), copies it and assigns those leaves. Any other override (a config group, ``+key``, ``~key``) falls back to Hydra's own
per-job composition and job directory, exactly like the basic launcher.

Trade-off (documented in the README): in the fast path a job gets no ``.hydra/`` directory of its
own; its overrides are logged, and the sweep's directory holds the sweep's config and log.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus, configure_log, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

log = logging.getLogger(__name__)


@dataclass
class CryptoTuneLauncherConf:
    _target_: str = "crypto_tune.launcher.CryptoTuneLauncher"
    # Compose once and assign leaf overrides per job; false = Hydra's basic per-job composition.
    fast: bool = True


ConfigStore.instance().store(
    group="hydra/launcher", name="crypto_tune", node=CryptoTuneLauncherConf, provider="crypto_tune"
)


class CryptoTuneLauncher(Launcher):
    """Runs jobs one after another in this process; see the module docstring."""

    def __init__(self, fast: bool = True) -> None:
        super().__init__()
        self.fast = fast
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None
        self._bases: dict[tuple[str, ...], DictConfig] = {}
        self._parser = OverridesParser.create()
        self._logging_ready = False

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    # ------------------------------------------------------------------ fast path helpers
    def _split(self, overrides: Sequence[str]) -> tuple[tuple[str, ...], list[tuple[str, Any]]] | None:
        """(overrides that shape the config, leaf assignments), or None when not fast-pathable.

        A leaf assignment is ``a.b=value`` on a dotted key outside ``hydra``; config groups
        (``storage=postgres``), top-level keys and ``hydra.*`` go into the composed base.
        """
        shaping, leaves = [], []
        for parsed in self._parser.parse_overrides(list(overrides)):
            if parsed.is_add() or parsed.is_delete() or parsed.is_force_add():
                return None
            if parsed.is_sweep_override() or parsed.package is not None:
                return None
            key = parsed.key_or_group
            if "." in key and "/" not in key and not key.startswith("hydra."):
                leaves.append((key, parsed.value()))
            else:
                shaping.append(parsed.input_line)
        return tuple(shaping), leaves

    def _base_config(self, shaping: tuple[str, ...]) -> DictConfig:
        """The job config composed once for this set of shaping overrides."""
        if shaping not in self._bases:
            assert self.hydra_context is not None and self.config is not None
            base = self.hydra_context.config_loader.load_sweep_config(self.config, list(shaping))
            sweep_dir = os.path.abspath(str(self.config.hydra.sweep.dir))
            with read_write(base.hydra.runtime), open_dict(base.hydra.runtime):
                base.hydra.runtime.output_dir = sweep_dir
            self._bases[shaping] = base
        return self._bases[shaping]

    @staticmethod
    def _all_leaves(base: DictConfig, leaves: list[tuple[str, Any]]) -> bool:
        for key, _ in leaves:
            node = OmegaConf.select(base, key, throw_on_missing=False, default=_ABSENT)
            if node is _ABSENT or OmegaConf.is_config(node):
                return False
        return True

    def _run_fast(
        self, idx: int, overrides: Sequence[str], base: DictConfig, pairs: list[tuple[str, Any]]
    ) -> JobReturn:
        assert self.task_function is not None
        task_cfg = copy.deepcopy(base)
        with read_write(task_cfg), open_dict(task_cfg):
            task_cfg.hydra.job.id = str(idx)
            task_cfg.hydra.job.num = idx
            task_cfg.hydra.overrides.task = list(overrides)
            for key, value in pairs:
                OmegaConf.update(task_cfg, key, value, merge=False)
        HydraConfig.instance().set_config(task_cfg)
        with read_write(task_cfg), open_dict(task_cfg):
            del task_cfg["hydra"]
        ret = JobReturn()
        ret.cfg = task_cfg
        ret.overrides = list(overrides)
        ret.working_dir = os.getcwd()
        try:
            ret.return_value = self.task_function(task_cfg)
            ret.status = JobStatus.COMPLETED
        except Exception as exc:  # the sweeper records it as a failed trial
            ret.return_value = exc
            ret.status = JobStatus.FAILED
        return ret

    # ----------------------------------------------------------------------------- launch
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.hydra_context is not None and self.config is not None
        assert self.task_function is not None
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        runs: list[JobReturn] = []
        for offset, overrides in enumerate(job_overrides):
            idx = initial_job_idx + offset
            log.info("#%d : %s", idx, " ".join(overrides))
            split = self._split(overrides) if self.fast else None
            if split is not None:
                base = self._base_config(split[0])
                if self._all_leaves(base, split[1]):
                    if not self._logging_ready:
                        configure_log(base.hydra.job_logging, base.hydra.verbose)
                        self._logging_ready = True
                    runs.append(self._run_fast(idx, overrides, base, split[1]))
                    continue
            sweep_config = self.hydra_context.config_loader.load_sweep_config(
                self.config, list(overrides)
            )
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = str(idx)
                sweep_config.hydra.job.num = idx
            runs.append(
                run_job(
                    hydra_context=self.hydra_context,
                    task_function=self.task_function,
                    config=sweep_config,
                    job_dir_key="hydra.sweep.dir",
                    job_subdir_key="hydra.sweep.subdir",
                )
            )
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
            self._logging_ready = False
        return runs


_ABSENT = object()
