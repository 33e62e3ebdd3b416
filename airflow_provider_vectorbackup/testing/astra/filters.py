"""Collection filters: compile a Data API filter clause once, then test documents against it.

Supported: implicit and ``$eq`` equality (arrays match a contained scalar), ``$ne``, ``$in`` and
``$nin`` (at most 100 values), ``$exists``, ``$size``, ``$all``, and ``$gt/$gte/$lt/$lte`` on
numbers, strings, dates and booleans, type-specific (a string bound never matches a number).
``$and``/``$or``/``$not`` combine them. Range bounds that are ``$uuid``/``$objectId`` are
accepted for ``_id`` but match nothing, as on the real service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_vectorbackup.testing.astra.ejson import RANGE_TYPES, ejson_tag, typed
from airflow_provider_vectorbackup.testing.astra.errors import (
    DataAPIError, filter_invalid, filter_unsupported_data_type,
)

Predicate = Callable[[dict[str, Any]], bool]
MAX_IN_VALUES = 100
MAX_FILTER_PROPERTIES = 64
_MISSING = object()
_RANGES = {"$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b,
           "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b}


def compile_filter(clause: Any) -> Predicate:
    if clause is None:
        clause = {}
    if not isinstance(clause, dict):
        raise filter_invalid("filter clause must be an Object")
    count = _count_properties(clause)
    if count > MAX_FILTER_PROPERTIES:
        raise DataAPIError("FILTER_FIELDS_LIMIT_VIOLATION",
                           f"The filter uses {count} properties, more than the maximum allowed "
                           f"{MAX_FILTER_PROPERTIES}.", scope="FILTER", title="Filter fields limit violation")
    return _compile_object(clause)


def refuse_id_ranges(clause: Any, kinds: tuple[str, ...]) -> None:
    """Refuse a range bound of one of ``kinds`` on ``_id``, as Data API releases older than Astra's do."""
    if not isinstance(clause, dict):
        return
    for key, value in clause.items():
        if key in ("$and", "$or") and isinstance(value, list):
            for sub in value:
                refuse_id_ranges(sub, kinds)
        elif key == "$not":
            refuse_id_ranges(value, kinds)
        elif key == "_id" and isinstance(value, dict) and ejson_tag(value) is None:
            for op, bound in value.items():
                kind = typed(bound)[0] if op in _RANGES else None
                if kind in kinds:
                    raise filter_unsupported_data_type(
                        f"'{op}' on '_id' does not take a {kind.capitalize()} value in this release")


def _count_properties(clause: dict[str, Any]) -> int:
    total = 0
    for key, value in clause.items():
        if key in ("$and", "$or") and isinstance(value, list):
            total += sum(_count_properties(v) for v in value if isinstance(v, dict))
        elif key == "$not" and isinstance(value, dict):
            total += _count_properties(value)
        else:
            total += 1
    return total


def _compile_object(clause: dict[str, Any]) -> Predicate:
    parts = [_compile_entry(key, value) for key, value in clause.items()]
    if len(parts) == 1:
        return parts[0]
    return lambda doc: all(p(doc) for p in parts)


def _compile_entry(key: str, value: Any) -> Predicate:
    if key in ("$and", "$or"):
        if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
            raise filter_invalid(f"'{key}' operator must have at least one Object in an Array")
        subs = [_compile_object(v) for v in value]
        combine = all if key == "$and" else any
        return lambda doc: combine(s(doc) for s in subs)
    if key == "$not":
        if not isinstance(value, dict):
            raise filter_invalid("'$not' operator must have an Object value")
        sub = _compile_object(value)
        return lambda doc: not sub(doc)
    if key.startswith("$") and key not in ("$vector", "$vectorize", "$lexical"):
        raise DataAPIError("FILTER_UNSUPPORTED_OPERATOR", f"Unsupported filter operator '{key}'.",
                           scope="FILTER", title="Unsupported filter operator")
    segments = key.split(".")
    if len(segments) == 1 and isinstance(value, dict) and value and all(
            op in _RANGES and type(bound) is str for op, bound in value.items()):
        return _string_range(key, [(_RANGES[op], bound) for op, bound in value.items()])
    if isinstance(value, dict) and value and next(iter(value)).startswith("$") and ejson_tag(value) is None:
        tests = [_compile_operator(key, op, operand) for op, operand in value.items()]
    else:
        tests = [_compile_operator(key, "$eq", value)]
    return lambda doc: all(t(_resolve(doc, segments)) for t in tests)


def _string_range(field: str, checks: list[tuple[Callable[[Any, Any], bool], str]]) -> Predicate:
    """A top-level field against string bounds: the general path's result, without its per-value dispatch.

    A parallel scan asks for thousands of such pages, each testing every document it passes;
    the real service answers them from an index.
    """
    def test(doc: dict[str, Any]) -> bool:
        actual = doc.get(field, _MISSING)
        if type(actual) is not str:
            return False
        for compare, bound in checks:
            if not compare(actual, bound):
                return False
        return True

    return test


def _resolve(doc: Any, segments: list[str]) -> Any:
    current = doc
    for segment in segments:
        if isinstance(current, dict):
            current = current.get(segment, _MISSING)
        elif isinstance(current, list) and segment.isdigit() and int(segment) < len(current):
            current = current[int(segment)]
        else:
            return _MISSING
        if current is _MISSING:
            return _MISSING
    return current


def _equals(value: Any, key: tuple[str, Any]) -> bool:
    if value is _MISSING:
        return False
    if typed(value) == key:
        return True
    return isinstance(value, list) and key[0] != "array" and any(typed(v) == key for v in value)


def _compile_operator(path: str, op: str, operand: Any) -> Callable[[Any], bool]:
    if op in ("$eq", "$ne"):
        key = typed(operand)
        return (lambda v: _equals(v, key)) if op == "$eq" else (lambda v: not _equals(v, key))
    if op in ("$in", "$nin"):
        if not isinstance(operand, list):
            raise filter_invalid(f"'{op}' operator must have `Array`")
        if len(operand) > MAX_IN_VALUES:
            raise filter_invalid(f"'{op}' operator must have at most {MAX_IN_VALUES} values")
        keys = [typed(o) for o in operand]
        if op == "$in":
            return lambda v: any(_equals(v, k) for k in keys)
        return lambda v: not any(_equals(v, k) for k in keys)
    if op == "$exists":
        if not isinstance(operand, bool):
            raise filter_invalid("'$exists' operator supports only true or false")
        return lambda v: (v is not _MISSING) == operand
    if op in _RANGES:
        return _compile_range(path, op, operand)
    if op == "$size":
        if isinstance(operand, bool) or not isinstance(operand, int) or operand < 0:
            raise filter_invalid("'$size' operator must have integer value >= 0")
        return lambda v: isinstance(v, list) and len(v) == operand
    if op == "$all":
        if not isinstance(operand, list):
            raise filter_invalid("'$all' operator must have `Array` value")
        keys = [typed(o) for o in operand]
        return lambda v: isinstance(v, list) and all(_equals(v, k) for k in keys)
    raise DataAPIError("FILTER_UNSUPPORTED_OPERATOR", f"Unsupported filter operator '{op}'.", scope="FILTER",
                       title="Unsupported filter operator")


def _compile_range(path: str, op: str, operand: Any) -> Callable[[Any], bool]:
    kind, bound = typed(operand)
    if kind in ("uuid", "objectId") and path == "_id":
        return lambda v: False
    if kind not in RANGE_TYPES:
        raise filter_invalid(f"'{op}' operator must have `Date` or `Number` or `String` or `Boolean` value")
    compare = _RANGES[op]

    def test(value: Any) -> bool:
        if value is _MISSING:
            return False
        value_kind, actual = typed(value)
        return value_kind == kind and compare(actual, bound)

    return test
