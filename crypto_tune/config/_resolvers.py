"""OmegaConf resolvers used by ``conf/`` (registered once, before any composition)."""

from __future__ import annotations

import os
import re
from typing import Any

from omegaconf import OmegaConf

# The study storage URL's one normalisation (``ct.db_url``) and the study-name formula
# (``ct.study_name``), both from the storage door.
from crypto_tune.storage import database_url, study_name


def _abspath(path: str) -> str:
    return os.path.abspath(os.path.expanduser(str(path)))


def join_symbols(symbols: Any) -> str:
    """``[ETHUSDT, BTCUSDT]`` -> ``"ETHUSDT+BTCUSDT"`` (a basket's symbol in study names)."""
    return "+".join(str(symbol) for symbol in symbols)


def name_part(value: Any) -> str:
    """``ETH/USDT:USDT`` -> ``ETH_USDT_USDT``: a symbol as a part of a study name, which names
    folders and files too (a ``/`` nested them).

    >>> name_part("ETH/USDT:USDT"), name_part("ETHUSDT")
    ('ETH_USDT_USDT', 'ETHUSDT')
    """
    return re.sub(r"[/\\:\s]", "_", str(value))


def directions(objective: Any) -> Any:
    """The sweeper's direction(s) for ``strategy.objective`` (one name or a list of two)."""
    from crypto_tune.objectives import direction

    if isinstance(objective, str):
        return direction(objective)
    return [direction(str(name)) for name in objective]


def snapshot_dir(mode: Any) -> str | None:
    """``hydra.output_subdir``: ``.hydra`` for a single run, none for a sweep's trials."""
    return None if "MULTIRUN" in str(mode) else ".hydra"


def objective_names(kind: str) -> str:
    """The registered objective names of ``kind`` ("model" or "strategy"), for ``--help``."""
    from crypto_tune.objectives import MODEL_OBJECTIVES, STRATEGY_OBJECTIVES

    return "|".join(MODEL_OBJECTIVES if kind == "model" else STRATEGY_OBJECTIVES)


# The resolvers whose value depends on their arguments alone (none takes _parent_, _root_ or
# _node_), so an interpolation using them reads only the keys it names: the sweep check
# (crypto_tune/_sweep_check.py) validates a swept key no such interpolation names without
# resolving the whole config again. A resolver missing here is taken to read any key.
ARGUMENT_ONLY_RESOLVERS = frozenset(
    {
        "oc.env",
        "oc.decode",
        "ct.abspath",
        "ct.db_url",
        "ct.study_name",
        "ct.join",
        "ct.name_part",
        "ct.directions",
        "ct.snapshot_dir",
        "ct.objectives",
    }
)


def register_resolvers() -> None:
    """Register the ``ct.*`` resolvers; safe to call more than once."""
    if not OmegaConf.has_resolver("ct.abspath"):
        OmegaConf.register_resolver("ct.abspath", _abspath)
    if not OmegaConf.has_resolver("ct.db_url"):
        OmegaConf.register_resolver("ct.db_url", database_url)
    if not OmegaConf.has_resolver("ct.study_name"):
        OmegaConf.register_resolver("ct.study_name", study_name)
    if not OmegaConf.has_resolver("ct.join"):
        OmegaConf.register_resolver("ct.join", join_symbols)
    if not OmegaConf.has_resolver("ct.name_part"):
        OmegaConf.register_resolver("ct.name_part", name_part)
    if not OmegaConf.has_resolver("ct.directions"):
        OmegaConf.register_resolver("ct.directions", directions)
    if not OmegaConf.has_resolver("ct.snapshot_dir"):
        OmegaConf.register_resolver("ct.snapshot_dir", snapshot_dir)
    if not OmegaConf.has_resolver("ct.objectives"):
        OmegaConf.register_resolver("ct.objectives", objective_names)
