"""crypto_tune.memo: one registry of per-process memos, cleared by name."""

from __future__ import annotations

import importlib

import pytest

from crypto_tune.memo import _MEMOS, clear_memos, memo


def test_the_package_memos_are_registered_under_their_names() -> None:
    for module in ("crypto_tune.dataset", "crypto_tune.model", "crypto_tune.phases._strategy"):
        importlib.import_module(module)  # importing a module registers its memo
    assert {"datasets", "predictions", "strategy_contexts"} <= set(_MEMOS)


def test_clear_by_name_or_all_and_unknown_names_are_refused() -> None:
    first = memo("test_first", {"a": 1})
    second = memo("test_second", {"b": 2})
    try:
        clear_memos("test_first")
        assert first == {} and second == {"b": 2}
        clear_memos()
        assert second == {}
        with pytest.raises(ValueError, match=r"no memo named 'nope' \(known: .*datasets"):
            clear_memos("nope")
        with pytest.raises(ValueError, match="already registered"):
            memo("test_first", {})
    finally:
        del _MEMOS["test_first"], _MEMOS["test_second"]
