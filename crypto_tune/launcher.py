"""An in-process Hydra launcher that composes the config once per sweep.

Hydra's basic launcher recomposes the whole config for every job (~60 ms) and sets up a job
directory with ``.hydra/*.yaml`` files (~30 ms). A strategy trial changes only leaf values
(``strategy.threshold=0.0012``), so this launcher composes the job config once per set of
"shaping" overrides (config groups such as ``storage=postgres``, top-level keys, ``hydra.*``,
values with an interpolation: the sweep's fixed overrides), resolves it once to a plain nested
dict, and for each job copies that dict and assigns the leaf values.

The fast path is taken only where it is indistinguishable from Hydra's own per-job path
(``hydra.launcher.fast=false``, the same as ``hydra/launcher=basic``). Everything else is handed
to Hydra's path, job by job:

* the task function declares that it accepts a plain resolved mapping
  (:func:`accepts_plain_config`; crypto-tune's task does), since Hydra hands it a ``DictConfig``;
* the job's Hydra config asks for nothing per job that the fast path does not do:
  ``hydra.job.chdir`` false, no ``hydra.job.env_set``, no ``hydra.output_subdir`` (per-job config
  snapshot), ``hydra.sweep.subdir`` empty (the job's output directory is the sweep's, so its log
  goes where Hydra's path would put it), and no callback with ``on_job_start``/``on_job_end``;
* every override is a plain value for an existing, untyped leaf that no other value interpolates
  (``+key``, ``~key``, sweeps, ``@package`` and typed structured-config nodes are Hydra's:
  OmegaConf converts or rejects the value there). An override whose value interpolates
  (``strategy.min_trades=${label.horizon}``) or whose key another value interpolates
  (``paths.outputs``) joins the shaping overrides of the composed base, so Hydra resolves it;
  at most ``_MAX_BASES`` such bases are composed, further jobs go to Hydra's path.

Jobs launched by :meth:`CryptoTuneLauncher.launch_trials` (our sweeper's way) each run as their
Optuna trial (:func:`crypto_tune.pruning.trial_scope`), on either path: a job reports
intermediate values to it and may be pruned.

A fast-path job sees ``HydraConfig.get().job.num``, ``.job.id`` and ``.overrides.task`` set for
it, as under Hydra's path; its ``JobReturn.cfg`` is the plain mapping and ``JobReturn.hydra_cfg``
is None (no per-job copy of Hydra's config is made).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.utils import (
    JobReturn,
    JobRuntime,
    JobStatus,
    configure_log,
    run_job,
    setup_globals,
)
from hydra.experimental.callback import Callback
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from optuna import TrialPruned

from crypto_tune._config_tree import (
    ABSENT,
    assign,
    collect_interpolations,
    copy_tree,
    lookup,
    untyped_leaf,
)
from crypto_tune.pruning import trial_scope

log = logging.getLogger(__name__)

_PLAIN_CONFIG_FLAG = "__crypto_tune_plain_config__"
_MAX_BASES = 8  # composed configs kept per sweep; more distinct shapes go to Hydra's path
F = TypeVar("F", bound=Callable[..., Any])


def accepts_plain_config(function: F) -> F:
    """Mark a Hydra task function as accepting a plain resolved ``dict`` instead of a DictConfig
    (the fast path hands it one); unmarked task functions always get Hydra's path."""
    setattr(function, _PLAIN_CONFIG_FLAG, True)
    return function


@dataclass
class CryptoTuneLauncherConf:
    _target_: str = "crypto_tune.launcher.CryptoTuneLauncher"
    # Compose once and assign leaf overrides per job where that is indistinguishable from Hydra's
    # own per-job path; false = Hydra's basic per-job composition for every job.
    fast: bool = True


ConfigStore.instance().store(
    group="hydra/launcher", name="crypto_tune", node=CryptoTuneLauncherConf, provider="crypto_tune"
)


@dataclass
class _Base:
    """A job config composed once: the DictConfig, its resolved task part, its interpolations,
    and why its jobs need Hydra's path (None: the fast path does what Hydra's would)."""

    config: DictConfig
    task: dict[str, Any]
    hydra_only: str | None
    interpolations: list[str] = field(default_factory=list)
    safe: dict[str, bool] = field(default_factory=dict)


def _has_job_hooks(callback: Any) -> bool:
    kind = type(callback)
    return (
        getattr(kind, "on_job_start", None) is not Callback.on_job_start
        or getattr(kind, "on_job_end", None) is not Callback.on_job_end
    )


def _set_job(idx: int, overrides: Sequence[str]) -> None:
    """What Hydra's path sets per job, in HydraConfig: ``job.num``, ``job.id`` and
    ``overrides.task`` (changed in place: the sweep's fixed overrides repeat, ~0.3 ms a job)."""
    # The config's `hydra` node (ValueError when unset): typed HydraConf, a DictConfig at runtime.
    hydra_cfg = cast(DictConfig, HydraConfig.get())
    job, given = hydra_cfg.job, hydra_cfg.overrides
    with read_write(job):
        job.num = idx
        job.id = str(idx)
    task = given.task
    with read_write(given):
        if len(task) != len(overrides):
            given.task = list(overrides)
            return
        for k, value in enumerate(overrides):
            if task[k] != value:
                task[k] = value


# ``key=number`` as the sweeper writes a suggested value (``strategy.entry=2.5829386644999044``):
# a dotted key of plain names and one int or float literal, which Hydra's grammar reads as one
# INT or FLOAT token and converts with int() or float(), as here. Anything else (signs of a
# sweep, quotes, inf, nan, underscores, spaces) goes to Hydra's parser.
_NUMBER_OVERRIDE = re.compile(
    r"(?P<key>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)="
    r"(?P<value>[+-]?(?:0|[1-9][0-9]*)(?P<fraction>\.[0-9]+)?(?P<exponent>[eE][+-]?[0-9]+)?)"
)


def number_override(text: str) -> tuple[str, int | float] | None:
    """``(key, value)`` of a plain ``a.b=<number>`` override, the value as Hydra's parser gives
    it; None for any other override. Parsing a trial's suggested values with Hydra's parser took
    ~2.7 ms a trial (each value is a new string)."""
    match = _NUMBER_OVERRIDE.fullmatch(text)
    if match is None:
        return None
    value = match["value"]
    if match["fraction"] is None and match["exponent"] is None:
        return match["key"], int(value)
    return match["key"], float(value)


class CryptoTuneLauncher(Launcher):
    """Runs jobs one after another in this process; see the module docstring."""

    def __init__(self, fast: bool = True) -> None:
        super().__init__()
        self.fast = fast
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None
        self._bases: dict[tuple[str, ...], _Base] = {}
        self._parser = OverridesParser.create()
        self._parsed: dict[str, Override] = {}
        self._fast_ready = False
        self._job_hooks = False
        self._plain_task = False
        self._fixed: set[str] = set()
        self._trials: list[Any] = []  # the live trials of the jobs being launched, in order
        self._sweep_dir: str | None = None  # hydra.sweep.dir, resolved once (see _sweep_folder)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function
        self._plain_task = bool(getattr(task_function, _PLAIN_CONFIG_FLAG, False))
        # The sweep's fixed command-line overrides shape the base config of every job: a value
        # another value needs to resolve (asset.symbol=... in study.name) is then never missing.
        self._fixed = {str(o) for o in config.hydra.overrides.get("task", [])}
        callbacks = getattr(hydra_context.callbacks, "callbacks", [])
        self._job_hooks = any(_has_job_hooks(c) for c in callbacks)
        self._sweep_dir = None

    def _sweep_folder(self) -> str:
        """``hydra.sweep.dir`` as an absolute path, created as at every launch of Hydra's basic
        launcher, but resolved once per sweep (~9 ms a trial there: OmegaConf parses each
        interpolation); it cannot change within a sweep (``${now:...}`` is cached per config)."""
        if self._sweep_dir is None:
            assert self.config is not None
            self._sweep_dir = os.path.abspath(str(self.config.hydra.sweep.dir))
        Path(self._sweep_dir).mkdir(parents=True, exist_ok=True)
        return self._sweep_dir

    # ------------------------------------------------------------------ fast path helpers
    def _parse(self, text: str) -> Override:
        """Hydra's parse of ``text``; each distinct string is parsed once (the fixed ones
        repeat)."""
        if text not in self._parsed:
            self._parsed[text] = self._parser.parse_override(text)
        return self._parsed[text]

    def _split(
        self, overrides: Sequence[str]
    ) -> tuple[tuple[str, ...], list[tuple[str, Any, str]]] | None:
        """(overrides that shape the config, leaf assignments as (key, value, override)), or
        None when not fast-pathable."""
        shaping: list[str] = []
        leaves: list[tuple[str, Any, str]] = []
        for text in overrides:
            number = number_override(text)  # a suggested value: no parser needed
            value: Any
            if number is not None:
                key, value = number
            else:
                parsed = self._parse(text)
                if parsed.is_add() or parsed.is_delete() or parsed.is_force_add():
                    return None
                if parsed.is_sweep_override() or parsed.package is not None:
                    return None
                key, value = parsed.key_or_group, parsed.value()
            leaf = "." in key and "/" not in key and not key.startswith("hydra.")
            # An interpolation, even as the sweeper escapes it ($\{...\}), is resolved by the
            # config it lands in: OmegaConf sees "${...}" either way.
            if leaf and "${" not in str(value) and text not in self._fixed:
                leaves.append((key, value, text))
            else:  # groups, top-level keys, Hydra's own keys, interpolated values
                shaping.append(text)
        return tuple(shaping), leaves

    def _hydra_only(self, config: DictConfig) -> str | None:
        """Why jobs of ``config`` need Hydra's own path, or None."""
        job = config.hydra.job
        if not self._plain_task:
            return "the task function takes a DictConfig"
        if self._job_hooks:
            return "a callback has on_job_start/on_job_end"
        if job.chdir:
            return "hydra.job.chdir=true"
        if job.env_set:
            return "hydra.job.env_set"
        if config.hydra.output_subdir is not None:
            return "hydra.output_subdir (a config snapshot per job)"
        sweep = OmegaConf.to_container(config.hydra.sweep, resolve=False)
        subdir = sweep.get("subdir") if isinstance(sweep, dict) else None
        if subdir not in ("", "."):
            return "hydra.sweep.subdir (a directory per job)"
        return None

    def _base(self, shaping: tuple[str, ...]) -> _Base | None:
        if shaping not in self._bases:
            if len(self._bases) >= _MAX_BASES:
                return None
            assert self.hydra_context is not None and self.config is not None
            config = self.hydra_context.config_loader.load_sweep_config(self.config, list(shaping))
            hydra_only = self._hydra_only(config)
            if hydra_only is not None:
                self._bases[shaping] = _Base(config, {}, hydra_only)
                return self._bases[shaping]
            with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
                config.hydra.runtime.output_dir = self._sweep_folder()
            keys = [str(k) for k in config if k != "hydra"]
            task_cfg = OmegaConf.masked_copy(config, keys)
            raw = OmegaConf.to_container(task_cfg, resolve=False)
            interpolations: list[str] = []
            collect_interpolations(raw, interpolations)
            resolved = OmegaConf.to_container(task_cfg, resolve=True)
            assert isinstance(resolved, dict)
            task = {str(k): v for k, v in resolved.items()}
            self._bases[shaping] = _Base(config, task, None, interpolations)
        return self._bases[shaping]

    @staticmethod
    def _assignable(base: _Base, key: str) -> bool:
        """``key`` is an existing untyped leaf and no other value interpolates it."""
        if key not in base.safe:
            node = lookup(base.task, key)
            parts = key.split(".")
            names = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
            base.safe[key] = not (
                node is ABSENT
                or isinstance(node, dict | list)
                or any("${." in s or any(n in s for n in names) for s in base.interpolations)
                or not untyped_leaf(base.config, key)
            )
        return base.safe[key]

    def _fast_plan(self, overrides: Sequence[str]) -> tuple[_Base, list[tuple[str, Any]]] | None:
        """The composed base and the leaves to assign, or None for Hydra's per-job path.

        Leaves that cannot be assigned safely (``paths.outputs``, which ``paths.root``
        interpolates) join the shaping overrides of the composed base instead.
        """
        split = self._split(overrides)
        if split is None:
            return None
        shaping, given = split
        base = self._base(shaping)
        if base is None or base.hydra_only is not None:
            return None
        unsafe = [text for key, _, text in given if not self._assignable(base, key)]
        if unsafe:
            shaping = shaping + tuple(unsafe)
            given = [leaf for leaf in given if leaf[2] not in unsafe]
            base = self._base(shaping)
            if base is None or base.hydra_only is not None:
                return None
            if not all(self._assignable(base, key) for key, _, _ in given):
                return None
        return base, [(key, value) for key, value, _ in given]

    def _run_fast(
        self, idx: int, overrides: Sequence[str], base: _Base, leaves: list[tuple[str, Any]]
    ) -> JobReturn:
        assert self.task_function is not None
        task = copy_tree(base.task)
        for key, value in leaves:
            assign(task, key, value)
        _set_job(idx, overrides)
        ret = JobReturn()
        ret.cfg = task
        ret.overrides = list(overrides)
        ret.working_dir = os.getcwd()
        ret.task_name = JobRuntime.instance().get("name")
        try:
            ret.return_value = self.task_function(task)
            ret.status = JobStatus.COMPLETED
        except Exception as exc:  # the sweeper records it: pruned (no error printed) or failed
            ret.return_value = exc
            ret.status = JobStatus.COMPLETED if isinstance(exc, TrialPruned) else JobStatus.FAILED
        return ret

    # ----------------------------------------------------------------------------- launch
    def launch_trials(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int, trials: Sequence[Any]
    ) -> Sequence[JobReturn]:
        """:meth:`launch`, each job run as its trial (``trials[i]`` for ``job_overrides[i]``)."""
        if len(trials) != len(job_overrides):
            raise ValueError(f"{len(job_overrides)} jobs need as many trials, got {len(trials)}")
        self._trials = list(trials)
        try:
            return self.launch(job_overrides, initial_job_idx)
        finally:
            self._trials = []

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        assert self.hydra_context is not None and self.config is not None
        assert self.task_function is not None
        if self._sweep_dir is None:  # Hydra's resolvers, as its basic launcher registers them
            setup_globals()  # (at each launch there: they never change within a sweep)
        self._sweep_folder()
        runs: list[JobReturn] = []
        for offset, overrides in enumerate(job_overrides):
            idx = initial_job_idx + offset
            log.debug("#%d : %s", idx, " ".join(overrides))
            with trial_scope(self._trials[offset] if self._trials else None):
                runs.append(self._launch_one(idx, overrides))
        return runs

    def _launch_one(self, idx: int, overrides: Sequence[str]) -> JobReturn:
        assert self.hydra_context is not None and self.config is not None
        assert self.task_function is not None
        plan = self._fast_plan(overrides) if self.fast else None
        if plan is not None:
            base, leaves = plan
            if not self._fast_ready:  # job logging and HydraConfig, once
                configure_log(base.config.hydra.job_logging, base.config.hydra.verbose)
                HydraConfig.instance().set_config(base.config)
                self._fast_ready = True
            return self._run_fast(idx, overrides, base, leaves)
        sweep_config = self.hydra_context.config_loader.load_sweep_config(
            self.config, list(overrides)
        )
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = str(idx)
            sweep_config.hydra.job.num = idx
        ret = run_job(
            hydra_context=self.hydra_context,
            task_function=self.task_function,
            config=sweep_config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        self._fast_ready = False
        return ret
