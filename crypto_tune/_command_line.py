"""The ``crypto-tune`` command line as Hydra reads it: the overrides apart from the flags, what
a printing flag prints with ``-m``, and the overrides a ``best.from`` replay adds."""

from __future__ import annotations

from collections.abc import Sequence

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


def split_args(argv: Sequence[str]) -> tuple[list[str], bool, bool]:
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


def printing_argv(argv: Sequence[str]) -> list[str]:
    """``-m`` with a printing flag (``--cfg``, ``--info``, ...): Hydra accepts only one mode, so
    print what Hydra prints without ``-m``: the config a job of the sweep starts from (without
    ``-m`` and the sweeps). Any other command line is returned unchanged."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    _, multirun, passthrough = split_args(argv)
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


# Overrides that define what a best run was made on (data, split, label, regime, study): a
# replay (`best.from=FILE`) applies the file's own values unless the command line gives them;
# of the rule, only its choice (`strategy=topk`: a universe's portfolio rule), whose values the
# replay takes from the file.
_REPLAYED = ("asset", "split", "label", "regime", "features", "experiment", "debug", "study")
_REPLAYED_KEYS = ("experiment_name", "seed", "strategy")


def _best_from(given: Sequence[str]) -> str | None:
    """``best.from``'s value, unquoted as Hydra reads it (``best.from='/a dir/x.json'``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    for arg in given:
        if arg.startswith("best.from="):
            try:
                value = OverridesParser.create().parse_override(arg).value()
            except HydraException:
                return None  # preflight reports it
            return str(value) if value is not None else None
    return None


def replay_overrides(args: Sequence[str]) -> list[str]:
    """The data-defining overrides recorded in the ``best.from`` file, minus those the command
    line sets itself, so ``crypto-tune phase=best best.from=FILE`` replays on the same data."""
    import json
    from pathlib import Path

    given = [a for a in args if not a.startswith("-")]
    source = _best_from(given)
    if not source or not Path(source).is_file():
        return []
    try:
        recorded = json.loads(Path(source).read_text()).get("overrides") or []
    except (ValueError, AttributeError):
        return []  # preflight names the broken file
    keys = {a.split("=", 1)[0].lstrip("+~") for a in given}
    taken = {k.split(".")[0] for k in keys}
    out = []
    for item in recorded:
        key = str(item).split("=", 1)[0].lstrip("+~")
        group = key.split(".")[0]
        if (group in _REPLAYED and group not in taken) or (
            key in _REPLAYED_KEYS and key not in keys
        ):
            out.append(str(item))
    return out


__all__ = ["printing_argv", "replay_overrides", "split_args"]
