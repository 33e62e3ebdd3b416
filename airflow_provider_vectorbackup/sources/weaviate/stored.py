"""Weaviate objects to stored-form documents and back, typed by the collection's properties.

An object becomes ``{"_id": <uuid envelope>, "$vectors": {<named vector>: dense or multi float32},
"payload": {...}}``, plus ``"tenant"`` in a multi-tenant collection. Property values JSON lacks are
the codec's envelopes: ``date`` a ``datetime`` envelope (always with its UTC offset: Weaviate
dates have one), ``uuid`` a ``uuid`` envelope, ``blob`` a ``bytes_b64`` envelope; nested objects
are JSON objects. Writing refuses, per document, what Weaviate would not hand back as it was
sent: nulls and empty arrays (Weaviate keeps neither), undeclared properties, naive datetimes,
integers in ``number`` properties, and integers beyond 2**53 (Weaviate keeps ``int`` and ``int[]``
values as doubles).
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC
from airflow_provider_vectorbackup.sources.weaviate.definition import VALUE_DTYPE

TENANT = "tenant"
"""The stored-form key naming a document's tenant, in multi-tenant collections only."""
EXACT_INT = 2 ** 53
"""Weaviate keeps integers as doubles (its validator converts them), exact up to this size."""


class UnwritableDocument(ValueError):
    """A stored-form document this Weaviate collection cannot hold as it is."""


def stored_id(value: Any) -> dict[str, Any]:
    return DEFAULT_CODEC.encode(uuid.UUID(str(value)))


def object_id(stored: Any) -> uuid.UUID:
    value = DEFAULT_CODEC.decode(stored) if isinstance(stored, Mapping) else None
    if not isinstance(value, uuid.UUID):
        raise UnwritableDocument(f"_id {stored!r} is not a Weaviate object id (a uuid envelope)")
    return value


def _read(data_type: str, value: Any, nested: list[dict[str, Any]]) -> Any:
    if data_type.endswith("[]"):
        return [_read(data_type[:-2], v, nested) for v in value]
    if data_type == "blob":
        return base64.b64decode(value)
    if data_type == "number":
        return float(value)
    if data_type == "object":
        return read_properties(value, nested)
    return value


def read_properties(properties: Mapping[str, Any], schema: list[dict[str, Any]]) -> dict[str, Any]:
    """Client values (datetimes, UUIDs, base64 blobs, nested dicts) as Python values the codec encodes."""
    types = {p["name"]: p for p in schema}
    out = {}
    for name, value in properties.items():
        if value is None:
            continue
        prop = types.get(name)
        if prop is None:
            raise ValueError(f"property {name!r} is not in the collection's schema")
        out[name] = _read(prop["dataType"][0], value, prop.get("nestedProperties") or [])
    return out


def to_document(obj: Any, schema: list[dict[str, Any]], tenant: str | None) -> dict[str, Any]:
    """A fetched object (vectors and every property, blobs included) as a stored-form document."""
    document: dict[str, Any] = {"_id": stored_id(obj.uuid)}
    vectors = {}
    for name, value in (obj.vector or {}).items():
        multi = bool(value) and isinstance(value[0], list)
        vectors[name] = vf.multi(value, VALUE_DTYPE) if multi else vf.dense(value, VALUE_DTYPE)
    if vectors:
        document[vf.VECTORS_FIELD] = dict(sorted(vectors.items()))
    document["payload"] = DEFAULT_CODEC.encode(read_properties(obj.properties or {}, schema))
    if tenant is not None:
        document[TENANT] = tenant
    return document


def _write(data_type: str, value: Any, nested: list[dict[str, Any]], path: str) -> Any:
    if value is None:
        raise UnwritableDocument(f"property {path!r} is null: Weaviate keeps no nulls (leave the property out)")
    if data_type.endswith("[]"):
        if not isinstance(value, list) or not value:
            raise UnwritableDocument(f"property {path!r} ({data_type}) needs a non-empty array: Weaviate keeps no "
                                     f"empty arrays")
        return [_write(data_type[:-2], v, nested, path) for v in value]
    expected = {"text": str, "boolean": bool, "number": float, "int": int, "date": dt.datetime, "uuid": uuid.UUID,
                "blob": bytes, "object": dict}.get(data_type)
    if expected is None or type(value) is not expected:
        raise UnwritableDocument(f"property {path!r} is {data_type}, not {type(value).__name__} "
                                 f"({value!r:.60})")
    if data_type == "int" and not -EXACT_INT <= value <= EXACT_INT:
        raise UnwritableDocument(f"property {path!r} holds {value}: Weaviate keeps integers as doubles, exact only "
                                 f"to 2**53")
    if data_type == "date" and value.utcoffset() is None:
        raise UnwritableDocument(f"property {path!r} holds a datetime without a UTC offset; Weaviate dates have one")
    if data_type == "blob":
        return base64.b64encode(value).decode("ascii")
    if data_type == "object":
        return write_properties(value, nested, f"{path}.")
    return value


def write_properties(payload: Mapping[str, Any], schema: list[dict[str, Any]], prefix: str = "") -> dict[str, Any]:
    """Decoded payload values as the client takes them, checked against the schema (:class:`UnwritableDocument`)."""
    types = {p["name"]: p for p in schema}
    out = {}
    for name, value in payload.items():
        prop = types.get(name)
        if prop is None:
            raise UnwritableDocument(f"property {prefix}{name!r} is not in the collection's schema "
                                     f"({', '.join(sorted(types)) or 'no properties'})")
        out[name] = _write(prop["dataType"][0], value, prop.get("nestedProperties") or [], f"{prefix}{name}")
    return out


def to_object(document: Mapping[str, Any], schema: list[dict[str, Any]],
              vector_kinds: Mapping[str, str]) -> tuple[uuid.UUID, dict[str, Any], dict[str, Any]]:
    """The uuid, properties and named vectors of a stored-form document (:class:`UnwritableDocument` if they do not
    fit)."""
    object_uuid = object_id(document.get("_id"))
    payload = DEFAULT_CODEC.decode(document.get("payload") or {})
    if not isinstance(payload, dict):
        raise UnwritableDocument("payload is not an object")
    properties = write_properties(payload, schema)
    vectors = {}
    for name, value in (document.get(vf.VECTORS_FIELD) or {}).items():
        kind = vector_kinds.get(name)
        if kind is None:
            raise UnwritableDocument(f"vector field {name!r} is not one of the collection's named vectors "
                                     f"({', '.join(vector_kinds)})")
        vectors[name] = query_value(value, name, kind)
    return object_uuid, properties, vectors


def query_value(value: Any, name: str, kind: str) -> Any:
    """A stored-form vector value as the client takes it: a list of floats, or rows for a multivector."""
    found = vf.inspect(value)
    if found.kind != kind or found.dtype != VALUE_DTYPE:
        raise UnwritableDocument(f"vector field {name!r} holds float32 {kind} vectors, not {found.dtype} {found.kind}")
    return vf.rows_of(value) if kind == vf.MULTI else vf.values_of(value)
