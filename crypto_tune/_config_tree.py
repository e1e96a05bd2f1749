"""Plain config trees (nested dicts and lists, as ``OmegaConf.to_container`` gives them) for the
launcher's fast path: interpolations found, trees copied, dotted keys read and assigned, and
whether a leaf of a DictConfig takes any value."""

from __future__ import annotations

from typing import Any

from omegaconf import AnyNode, DictConfig, OmegaConf

ABSENT = object()  # what lookup returns for a key the tree does not hold


def collect_interpolations(node: Any, out: list[str]) -> None:
    if isinstance(node, dict):
        for value in node.values():
            collect_interpolations(value, out)
    elif isinstance(node, list):
        for value in node:
            collect_interpolations(value, out)
    elif isinstance(node, str) and "${" in node:
        out.append(node)


def copy_tree(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: copy_tree(v) for k, v in node.items()}
    if isinstance(node, list):
        return [copy_tree(v) for v in node]
    return node


def lookup(tree: dict[str, Any], key: str) -> Any:
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return ABSENT
        node = node[part]
    return node


def assign(tree: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = tree
    for part in parents:
        node = node[part]
    node[leaf] = value


def untyped_leaf(config: DictConfig, key: str) -> bool:
    """``key`` is a leaf of ``config`` whose node takes any value (no structured-config type)."""
    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(config, parent_key) if parent_key else config
    if not isinstance(parent, DictConfig):
        return False
    node = parent._get_node(leaf)
    return isinstance(node, AnyNode)


__all__ = ["ABSENT", "assign", "collect_interpolations", "copy_tree", "lookup", "untyped_leaf"]
