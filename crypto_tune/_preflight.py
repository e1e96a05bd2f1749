"""Preflight: the whole configuration composed and validated exactly as Hydra will, before
Hydra starts any work (overrides, config groups, sweep ranges, input files, output folders)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from crypto_tune import _made
from crypto_tune._command_line import split_args
from crypto_tune._config_to_settings import settings_from_config
from crypto_tune._made import make_missing, remove_empty
from crypto_tune._sweep_check import check_sweep
from crypto_tune.config import Settings, config_dir, register_resolvers
from crypto_tune.exceptions import ConfigError


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
    overrides, multirun, passthrough = split_args(argv)
    if passthrough:
        return None
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as exc:
        raise ConfigError(_one_line(exc) + _quoting_hint(overrides)) from None
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
            full = compose("config", overrides=plain, return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(_one_line(exc)) from None
    cfg = OmegaConf.masked_copy(full, [str(k) for k in full if k != "hydra"])
    settings = dataclasses.replace(settings_from_config(cfg), command_line=tuple(plain))
    from crypto_tune.phases import is_sweep, preflight_phase

    if command and not multirun and is_sweep(settings.phase.name):
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
    folders = (("paths.outputs", settings.paths.root), ("paths.cache", settings.paths.cache))
    remove_empty(_make_folders(*folders))
    with _made.checking():  # refused: what the checks made (folders, a cache) is removed
        preflight_phase(settings, multirun=multirun)
        if command and not multirun:  # the run folder's parents: made here, removed on failure
            _made.make_folders(Path(str(full.hydra.run.dir)).absolute().parent)
    return settings


def _quoting_hint(overrides: Sequence[str]) -> str:
    """For an override whose value holds ``{`` (a path template the shell stripped of its
    quotes): how to quote it so that Hydra reads it as a string."""
    for text in overrides:
        key, sep, value = text.partition("=")
        if sep and "{" in value and not value.startswith(("'", '"')):
            return f" (quote a value with braces: \"{key}='{value}'\")"
    return ""


def _check_input_files(settings: Settings) -> None:
    """Files named on the command line exist (before any work writes a cache or a study)."""
    given = settings.best.from_file
    if settings.phase.name in ("best", "report") and given and not Path(given).is_file():
        raise ConfigError(f"best.from: no such file: {given}")


def _make_folders(*folders: tuple[str, str]) -> list[Path]:
    """Make each missing ``(key, folder)``, so a folder Hydra could not make fails here, in one
    line naming the key (a folder that looks writable may still refuse, e.g. under /proc).
    Returns the folders this call made, the deepest first, for
    :func:`~crypto_tune._made.remove_empty`: the check leaves
    nothing behind.

    Another process may run the same check at the same moment (two workers started together): a
    folder it makes meanwhile is neither an error nor ours to remove, and a parent it removes
    meanwhile is looked for again (:func:`crypto_tune._made.make_missing`).
    """
    made: list[Path] = []
    for key, folder in folders:
        try:
            made[:0] = make_missing(Path(folder).absolute())
        except OSError as exc:
            remove_empty(made)
            raise ConfigError(
                f"{key}: cannot create {folder} ({exc.strerror or exc}): choose another folder "
                f"with {key}=DIR"
            ) from None
    return made


__all__ = ["preflight"]
