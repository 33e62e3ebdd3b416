"""Payload values across engines: which a target keeps exactly, and the one reversible string form for the rest.

A value a target cannot keep exactly is stored there as :func:`as_text` (readable and searchable as
a string) and its stored form is kept whole in the document's reserved record, from which a later
restore puts the original back (docs/restore.md, "Values that survive").
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_vectorbackup.snapshot.codec import ENVELOPE_KEY, VALUE_KEY
from airflow_provider_vectorbackup.sources.portable import Capabilities

ENVELOPE_KINDS = {"datetime": "datetime", "date": "date", "time": "time", "decimal": "decimal", "uuid": "uuid",
                  "bytes_b64": "bytes"}
"""Codec envelope names that are a payload kind of their own; other envelopes (sets, tuples, non-finite floats,
escaped objects) are of kind ``json``."""


def kind_of(value: Any) -> str | None:
    """The portable payload kind of one stored-form value; ``None`` for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict) and set(value) == {ENVELOPE_KEY, VALUE_KEY}:
        return ENVELOPE_KINDS.get(value[ENVELOPE_KEY], "json")
    return "json"


EJSON_KEYS = frozenset({"$date", "$uuid", "$objectId", "$binary"})
"""The Data API's extended JSON: an object of exactly one of these keys is a typed value there, not a field."""


def has_dollar_keys(value: Any) -> bool:
    """Whether any object inside ``value`` has a key starting with ``$`` other than an EJSON value's (envelopes)."""
    if isinstance(value, dict):
        if len(value) == 1 and set(value) <= EJSON_KEYS:
            return False
        return any(k.startswith("$") or has_dollar_keys(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_dollar_keys(v) for v in value)
    return False


def _int_fits(value: int, capabilities: Capabilities) -> bool:
    low_high = capabilities.int_range
    return low_high is None or low_high[0] <= value <= low_high[1]


def _ints_fit(value: Any, capabilities: Capabilities) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return _int_fits(value, capabilities)
    if isinstance(value, dict):
        return all(_ints_fit(v, capabilities) for v in value.values())
    if isinstance(value, list):
        return all(_ints_fit(v, capabilities) for v in value)
    return True


def fits(value: Any, capabilities: Capabilities) -> bool:
    """Whether the target keeps this top-level payload value exactly, as it is."""
    kind = kind_of(value)
    if kind is None:
        return capabilities.nulls
    if kind == "int":
        return not capabilities.ints_as_floats and "int" in capabilities.payload_kinds and _int_fits(value, capabilities)
    if kind != "json":
        return kind in capabilities.payload_kinds and (capabilities.envelopes or not isinstance(value, dict))
    if isinstance(value, dict) and len(value) == 1 and set(value) <= EJSON_KEYS:
        return capabilities.ejson or (capabilities.nested and capabilities.envelopes
                                      and "json" in capabilities.payload_kinds)
    if capabilities.nested:
        return ("json" in capabilities.payload_kinds and (capabilities.envelopes or not has_dollar_keys(value))
                and _ints_fit(value, capabilities))
    return isinstance(value, list) and _flat_list_fits(value, capabilities)


def _flat_list_fits(items: list[Any], capabilities: Capabilities) -> bool:
    kinds = {kind_of(item) for item in items}
    if len(kinds) != 1 or not items:
        return False
    (kind,) = kinds
    if kind == "int":
        return (not capabilities.ints_as_floats and "int" in capabilities.flat_lists
                and all(_int_fits(item, capabilities) for item in items))
    return kind in ("string", "float", "bool") and kind in capabilities.flat_lists


def as_text(value: Any) -> str:
    """The reversible string form of a value a target cannot keep: an envelope's own text (an ISO date, a decimal's
    digits, a UUID, base64), else compact JSON of the stored form."""
    if isinstance(value, dict) and set(value) == {ENVELOPE_KEY, VALUE_KEY} and isinstance(value[VALUE_KEY], str) \
            and value[ENVELOPE_KEY] in ENVELOPE_KINDS:
        return value[VALUE_KEY]
    if isinstance(value, str):
        return value
    return compact_json(value)


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def payload_bytes(payload: dict[str, Any]) -> int:
    """A payload's size as compact UTF-8 JSON: how engines with a metadata limit measure it."""
    return len(compact_json(payload).encode())
