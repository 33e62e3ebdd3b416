"""Projections, per data-api ``DocumentProjector``.

The default drops ``$vector``, ``$vectorize`` and ``$lexical``; ``{"*": true}`` returns the
stored document verbatim and ``{"*": false}`` returns ``{}``. Otherwise a projection is an
inclusion or an exclusion of (dotted) paths, never both; ``_id`` is included unless excluded,
and the special fields appear only when named in an inclusion. ``hide_vector`` implements the
stand-in's regression mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_vectorbackup.testing.astra.errors import projection_invalid

Projector = Callable[[dict[str, Any]], dict[str, Any]]
SPECIAL_FIELDS = frozenset({"$vector", "$vectorize", "$lexical"})


def compile_projection(spec: Any, *, hide_vector: bool = False) -> Projector:
    project = _compile(spec)
    if not hide_vector:
        return project

    def without_vector(doc: dict[str, Any]) -> dict[str, Any]:
        result = project(doc)
        result.pop("$vector", None)
        return result

    return without_vector


def _flag(path: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise projection_invalid(f"path ('{path}') value must be one of true/false/1/0, got {value!r}"
                             + (" ($slice is not supported by the stand-in)" if isinstance(value, dict) else ""))


def _compile(spec: Any) -> Projector:
    if spec is None or spec == {}:
        return lambda doc: {k: v for k, v in doc.items() if k not in SPECIAL_FIELDS}
    if not isinstance(spec, dict):
        raise projection_invalid("projection must be an Object")
    if "*" in spec:
        if len(spec) != 1:
            raise projection_invalid("wildcard ('*') only allowed as the only root-level path")
        return (lambda doc: dict(doc)) if _flag("*", spec["*"]) else (lambda doc: {})
    flags = {path: _flag(path, value) for path, value in spec.items()}
    id_flag = flags.pop("_id", None)
    include_id = id_flag is not False
    if not flags and id_flag:
        return lambda doc: {"_id": doc["_id"]} if "_id" in doc else {}
    if not flags:
        return lambda doc: {k: v for k, v in doc.items() if k not in SPECIAL_FIELDS and k != "_id"}
    if len(set(flags.values())) > 1:
        raise projection_invalid("cannot mix inclusions and exclusions in a projection")
    tree = _tree(flags)
    if next(iter(flags.values())):
        def include(doc: dict[str, Any]) -> dict[str, Any]:
            result = {"_id": doc["_id"]} if include_id and "_id" in doc else {}
            result.update(_included(doc, tree))
            return result
        return include

    def exclude(doc: dict[str, Any]) -> dict[str, Any]:
        result = _excluded(doc, tree)
        for field in SPECIAL_FIELDS:
            result.pop(field, None)
        if not include_id:
            result.pop("_id", None)
        return result
    return exclude


def _tree(flags: dict[str, bool]) -> dict[str, Any]:
    """Paths as a nested dict; a leaf is ``True``."""
    tree: dict[str, Any] = {}
    for path in flags:
        node = tree
        segments = path.split(".")
        for segment in segments[:-1]:
            child = node.setdefault(segment, {})
            if child is True:
                break
            node = child
        else:
            node[segments[-1]] = True
    return tree


def _included(doc: dict[str, Any], tree: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in doc.items():
        rule = tree.get(key)
        if rule is True:
            result[key] = value
        elif rule is not None and isinstance(value, dict):
            result[key] = _included(value, rule)
    return result


def _excluded(doc: dict[str, Any], tree: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in doc.items():
        rule = tree.get(key)
        if rule is None:
            result[key] = value
        elif rule is not True and isinstance(value, dict):
            result[key] = _excluded(value, rule)
        elif rule is not True:
            result[key] = value
    return result
