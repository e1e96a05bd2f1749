"""OmegaConf resolvers used by ``conf/`` (registered once, before any composition)."""

from __future__ import annotations

import os

from omegaconf import OmegaConf


def _abspath(path: str) -> str:
    return os.path.abspath(os.path.expanduser(str(path)))


def register_resolvers() -> None:
    """Register ``${ct.abspath:...}``; safe to call more than once."""
    if not OmegaConf.has_resolver("ct.abspath"):
        OmegaConf.register_resolver("ct.abspath", _abspath)
