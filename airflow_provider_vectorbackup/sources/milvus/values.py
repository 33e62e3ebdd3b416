"""One Milvus row and its stored form, both ways: ``{"_id", "$vectors", "payload", "partition"}``.

pymilvus hands vectors back in several shapes (lists of floats, ``bytes``, a one-element list of
``bytes``, numpy arrays, ``{index: value}`` dicts); each is turned into a
:mod:`~airflow_provider_vectorbackup.snapshot.vector_fields` value of the field's own precision,
bit for bit, and back into what pymilvus inserts. Scalars and the dynamic field's keys go to
``payload`` through the codec. ``partition`` names the Milvus partition of a row outside
``_default``, so a restore puts it back there.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC, ENVELOPE_KEY, VALUE_KEY

PARTITION_KEY = "partition"
"""Top-level key of a stored document: the Milvus partition it was read from (absent for ``_default``)."""
DEFAULT_PARTITION = "_default"

DENSE_DTYPES = {"FLOAT_VECTOR": "float32", "FLOAT16_VECTOR": "float16", "BFLOAT16_VECTOR": "bfloat16",
                "INT8_VECTOR": "int8"}
"""Milvus dense vector types and the element type their values keep."""
BINARY, SPARSE = "BINARY_VECTOR", "SPARSE_FLOAT_VECTOR"
VECTOR_TYPES = frozenset({*DENSE_DTYPES, BINARY, SPARSE})


class VectorValueMismatch(ValueError):
    """A stored vector value does not fit the field it is written to."""


def vector_to_stored(milvus_type: str, dimension: int | None, value: Any) -> dict[str, Any] | None:
    """The ``$vectors`` value of one field as pymilvus returned it; ``None`` for a null vector."""
    if value is None:
        return None
    if milvus_type == "FLOAT_VECTOR" and not isinstance(value, (bytes, bytearray)):
        return vf.dense([float(x) for x in _plain(value)], "float32")
    if milvus_type in DENSE_DTYPES:
        return vf.dense_from_bytes(_raw(value), DENSE_DTYPES[milvus_type])
    if milvus_type == BINARY:
        if not dimension:
            raise ValueError("a binary vector field needs its dimension")
        return vf.bits(_raw(value), dimension)
    if milvus_type == SPARSE:
        pairs = dict(value)
        return vf.sparse(pairs, map(float, pairs.values()), "float32")  # vf.sparse sorts by index
    raise ValueError(f"{milvus_type} is not a Milvus vector type")


def vector_from_stored(field: str, milvus_type: str, value: Mapping[str, Any]) -> Any:
    """What pymilvus inserts (or searches with) for a stored ``$vectors`` value of field ``field``."""
    seen = vf.inspect(dict(value))
    if milvus_type in DENSE_DTYPES:
        wanted = DENSE_DTYPES[milvus_type]
        if seen.kind != vf.DENSE or seen.dtype != wanted:
            raise VectorValueMismatch(_mismatch(field, milvus_type, seen))
        if wanted == "float32":
            return vf.values_of(dict(value))
        return base64.b64decode(value["data"])  # pymilvus takes the little-endian bytes of the others
    if milvus_type == BINARY:
        if seen.kind != vf.BIT:
            raise VectorValueMismatch(_mismatch(field, milvus_type, seen))
        return base64.b64decode(value["data"])
    if milvus_type == SPARSE:
        if seen.kind != vf.SPARSE or seen.dtype != "float32":
            raise VectorValueMismatch(_mismatch(field, milvus_type, seen))
        return vf.sparse_of(dict(value))
    raise VectorValueMismatch(f"field {field!r} is a {milvus_type} field, not a vector field")


def _mismatch(field: str, milvus_type: str, seen: vf.Inspected) -> str:
    found = "an invalid value" if not seen.valid else f"a {seen.kind} {seen.dtype or ''} value".replace("  ", " ")
    return f"vector field {field!r} is {milvus_type} but the document holds {found}"


def _raw(value: Any) -> bytes:
    """The bytes of a byte-vector value: ``bytes``, ``[bytes]`` (older pymilvus) or a numpy array."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], (bytes, bytearray)):
        return bytes(value[0])
    tobytes = getattr(value, "tobytes", None)
    if tobytes is not None:
        return tobytes()
    raise ValueError(f"cannot read a byte vector from a {type(value).__name__}")


def _plain(value: Any) -> Any:
    """Python values for numpy scalars and arrays pymilvus may return; everything else unchanged."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    if tolist is not None and not isinstance(value, (str, bytes)):
        return tolist()
    return value


def row_to_stored(row: Mapping[str, Any], *, pk: str, vector_fields: Mapping[str, tuple[str, int | None]],
                  partition: str | None = None) -> dict[str, Any]:
    """The stored form of one row of ``query(output_fields=["*"])``: declared scalars and dynamic keys go to ``payload``.

    :param vector_fields: ``{name: (milvus type, dimension)}`` of the collection's vector fields.
    """
    document: dict[str, Any] = {"_id": row[pk]}
    vectors = {}
    payload = {}
    for name, value in row.items():
        if name == pk:
            continue
        if name in vector_fields:
            milvus_type, dimension = vector_fields[name]
            stored = vector_to_stored(milvus_type, dimension, value)
            if stored is not None:
                vectors[name] = stored
        else:
            payload[name] = _plain(value)
    if vectors:
        document[vf.VECTORS_FIELD] = dict(sorted(vectors.items()))
    if payload:
        document["payload"] = DEFAULT_CODEC.encode(payload)
    if partition is not None and partition != DEFAULT_PARTITION:
        document[PARTITION_KEY] = partition
    return document


def stored_to_row(document: Mapping[str, Any], *, pk: str, vector_fields: Mapping[str, tuple[str, int | None]],
                  generated: frozenset[str] = frozenset(), scalar_fields: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The row pymilvus inserts for a stored document; vector fields in ``generated`` (function outputs) are left out.

    :param scalar_fields: declared fields other than JSON ones, whose values go decoded (a TIMESTAMPTZ takes a
        datetime). Every other payload key is JSON (a JSON field, or a key of the dynamic field), which goes in its
        stored form: see :func:`json_value`.
    :raises VectorValueMismatch: a vector value does not fit its field, or the field is not declared.
    """
    row: dict[str, Any] = {pk: document["_id"]}
    for name, value in (document.get("payload") or {}).items():
        row[name] = DEFAULT_CODEC.decode(value) if name in scalar_fields else json_value(value)
    for name, value in (document.get(vf.VECTORS_FIELD) or {}).items():
        if name in generated:
            continue
        if name not in vector_fields:
            raise VectorValueMismatch(f"the document holds vector field {name!r}, which the collection does not declare")
        row[name] = vector_from_stored(name, vector_fields[name][0], value)
    return row


def json_value(stored: Any) -> Any:
    """A stored-form value as the JSON Milvus keeps and hands back as the same stored form.

    Taken as stored, not decoded, so an envelope's text stays as sent. An ``object`` envelope (the codec's
    escape of an object holding ``$backupType``) goes as that object, which reads back escaped again; any
    other envelope (a datetime, NaN, bytes ... from another engine's document, which Milvus would refuse or,
    for NaN, keep as null) goes as it is and reads back as that envelope.
    """
    kind = type(stored)
    if kind is dict:
        if stored.get(ENVELOPE_KEY) == "object":  # in the stored form, a "$backupType" key marks an envelope
            stored = stored[VALUE_KEY]
        elif ENVELOPE_KEY in stored:
            return {ENVELOPE_KEY: stored[ENVELOPE_KEY], VALUE_KEY: json_value(stored[VALUE_KEY])}
        return {key: json_value(item) for key, item in stored.items()}
    if kind is list:
        return [json_value(item) for item in stored]
    return stored
