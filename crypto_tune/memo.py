"""Per-process memos of computed data (datasets, out-of-fold predictions, strategy contexts).

Each memo is an ordinary mapping registered here when its module is imported, so that one call,
:func:`clear_memos`, starts a process over (benchmarks timing a cold run, tests that change data
under the same settings) without reaching into private names. Storages and MLflow clients are
connections, not memos: :func:`crypto_tune.storage.forget_storages` drops those.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TypeVar

M = TypeVar("M", bound=MutableMapping)

_MEMOS: dict[str, MutableMapping] = {}


def memo(name: str, mapping: M) -> M:
    """Register ``mapping`` as the per-process memo ``name`` and return it
    (``_CACHE = memo("datasets", {})``)."""
    if name in _MEMOS:
        raise ValueError(f"a memo named {name!r} is already registered")
    _MEMOS[name] = mapping
    return mapping


def clear_memos(*names: str) -> None:
    """Empty the memos ``names`` (default: all); the next call recomputes or reads the on-disk
    caches. An unknown name is a ValueError naming the known ones."""
    unknown = sorted(set(names) - set(_MEMOS))
    if unknown:
        raise ValueError(f"no memo named {unknown[0]!r} (known: {', '.join(sorted(_MEMOS))})")
    for name in names or tuple(_MEMOS):
        _MEMOS[name].clear()


__all__ = ["clear_memos", "memo"]
