"""Update clauses for ``updateOne``/``findOneAndUpdate``: ``$set``, ``$unset``, ``$setOnInsert``, ``$inc``.

Updates apply to a plain copy of the stored document, which is then shredded again so every
document limit and ``$vector`` rule still holds. ``_id`` cannot be changed.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec

from airflow_provider_vectorbackup.testing.astra.errors import update_invalid

OPERATORS = ("$set", "$unset", "$setOnInsert", "$inc")


def plain(body: dict[str, Any]) -> dict[str, Any]:
    """A mutable deep copy of a stored document (``$vector`` decoded from its raw JSON)."""
    doc = copy.deepcopy({k: v for k, v in body.items() if k != "$vector"})
    if "$vector" in body:
        raw = body["$vector"]
        vector = msgspec.json.decode(raw) if isinstance(raw, msgspec.Raw) else copy.deepcopy(raw)
        doc = {k: (vector if k == "$vector" else doc[k]) for k in body}
    return doc


def check_update(update: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(update, dict) or not update:
        raise update_invalid("MISSING_UPDATE_OPERATIONS", "update clause must be a non-empty Object")
    for op, fields in update.items():
        if op not in OPERATORS:
            raise update_invalid("UNSUPPORTED_UPDATE_OPERATION",
                                 f"unsupported update operator '{op}' (the stand-in supports {list(OPERATORS)})")
        if not isinstance(fields, dict):
            raise update_invalid("UNSUPPORTED_UPDATE_OPERATION_PARAM", f"'{op}' needs an Object value")
        for path, value in fields.items():
            if path == "_id" or path.startswith("_id."):
                raise update_invalid("UNSUPPORTED_UPDATE_OPERATOR_FOR_DOC_ID", f"'{op}' cannot be used on '_id'")
            if op == "$inc" and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise update_invalid("UNSUPPORTED_UPDATE_OPERATION_PARAM", f"'$inc' needs a Number for '{path}'")
    return update


def apply_update(doc: dict[str, Any], update: dict[str, dict[str, Any]], *, inserting: bool) -> dict[str, Any]:
    for op, fields in update.items():
        if op == "$setOnInsert" and not inserting:
            continue
        for path, value in fields.items():
            parent, leaf = _parent(doc, path, create=op != "$unset")
            if parent is None:
                continue
            if op == "$unset":
                parent.pop(leaf, None)
            elif op == "$inc":
                current = parent.get(leaf, 0)
                if isinstance(current, bool) or not isinstance(current, (int, float)):
                    raise update_invalid("UNSUPPORTED_UPDATE_OPERATION_TARGET",
                                         f"'$inc' target '{path}' is not a Number")
                parent[leaf] = current + value
            else:
                parent[leaf] = copy.deepcopy(value)
    return doc


def _parent(doc: dict[str, Any], path: str, *, create: bool) -> tuple[dict[str, Any] | None, str]:
    *heads, leaf = path.split(".")
    node: Any = doc
    for head in heads:
        child = node.get(head)
        if child is None and create:
            child = node[head] = {}
        if not isinstance(child, dict):
            if create:
                raise update_invalid("UNSUPPORTED_UPDATE_OPERATION_TARGET", f"path '{path}' crosses a non-Object")
            return None, leaf
        node = child
    return node, leaf
