"""EJSON values as the Data API sees them: typed keys for equality and ranges, and generated ids.

Python would call ``True == 1`` and ``{"$date": 5} == {"$date": 5.0}``; the Data API keeps
booleans, numbers, strings, dates, UUIDs and ObjectIds apart, so every comparison goes through
:func:`typed` first.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

from airflow_provider_vectorbackup.testing.astra.errors import document_error

EJSON_TAGS = {"$date": "date", "$uuid": "uuid", "$objectId": "objectId", "$binary": "binary"}
RANGE_TYPES = frozenset({"number", "string", "date", "boolean"})


def ejson_tag(value: Any) -> str | None:
    """``"date"``/``"uuid"``/... for a one-key EJSON wrapper, else ``None``."""
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        return EJSON_TAGS.get(key)
    return None


def typed(value: Any) -> tuple[str, Any]:
    """A hashable ``(type, value)`` key; equal keys mean equal Data API values."""
    if value is None:
        return ("null", None)
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, list):
        return ("array", tuple(typed(v) for v in value))
    if isinstance(value, dict):
        tag = ejson_tag(value)
        if tag is not None:
            (inner,) = value.values()
            return (tag, inner.lower() if tag in ("uuid", "objectId") and isinstance(inner, str) else inner)
        return ("object", tuple((k, typed(v)) for k, v in value.items()))
    return ("raw", repr(value))


def validate_ejson(value: Any, path: str) -> None:
    """Refuse malformed EJSON wrappers the way the shredder does (``SHRED_BAD_EJSON_VALUE``)."""
    tag = ejson_tag(value)
    if tag is None:
        return
    (inner,) = value.values()
    ok = {
        "date": isinstance(inner, int) and not isinstance(inner, bool),
        "uuid": isinstance(inner, str) and _is_uuid(inner),
        "objectId": isinstance(inner, str) and len(inner) == 24 and _is_hex(inner),
        "binary": isinstance(inner, str),
    }[tag]
    if not ok:
        raise document_error("SHRED_BAD_EJSON_VALUE",
                             f"Bad JSON Extension value to shred: invalid value ({inner!r}) for extended JSON type "
                             f"'{next(iter(value))}' (path '{path}')", "Bad JSON Extension value to shred")


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def id_key(doc_id: Any) -> tuple[str, Any]:
    """Key of a document ``_id``; refuses the types the Data API refuses."""
    key = typed(doc_id)
    if key[0] in ("array", "object", "binary", "raw"):
        raise document_error("SHRED_BAD_DOCID_TYPE",
                             f"Bad type for '_id' field: Document Id must be a JSON String, Number, Boolean, "
                             f"EJSON-Encoded Date Object or NULL instead got {key[0].capitalize()}",
                             "Bad type for '_id' field")
    return key


_object_id_counter = int.from_bytes(os.urandom(3), "big")
_object_id_lock = threading.Lock()


def new_id(default_id_type: str | None) -> Any:
    """An ``_id`` for a document that has none, per the collection's ``defaultId``."""
    if default_id_type is None:
        return str(uuid.uuid4())
    if default_id_type == "uuid":
        return {"$uuid": str(uuid.uuid4())}
    if default_id_type == "uuidv6":
        return {"$uuid": str(_uuid6())}
    if default_id_type == "uuidv7":
        return {"$uuid": str(_uuid7())}
    return {"$objectId": _object_id()}


def _uuid7() -> uuid.UUID:
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & (2**48 - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64 | 0b10 << 62 | (rand & (2**62 - 1))
    return uuid.UUID(int=value)


def _uuid6() -> uuid.UUID:
    v1 = uuid.uuid1()
    ts = v1.time  # 60-bit timestamp, reordered most-significant first
    value = (ts >> 12) << 80 | 0x6 << 76 | (ts & 0xFFF) << 64 | (v1.int & (2**64 - 1))
    return uuid.UUID(int=value)


def _object_id() -> str:
    global _object_id_counter
    with _object_id_lock:
        _object_id_counter = (_object_id_counter + 1) % 2**24
        counter = _object_id_counter
    return (int(time.time()).to_bytes(4, "big") + os.urandom(5) + counter.to_bytes(3, "big")).hex()
