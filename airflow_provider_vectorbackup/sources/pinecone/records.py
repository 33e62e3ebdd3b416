"""One Pinecone record in the stored form and back, refusing anything Pinecone would not keep exactly.

A record is ``{"_id": <str>, "$vectors": {"values": <dense float32>, "sparse_values": <sparse
float32>}, "payload": <metadata>}``; a vector field the record has no value for is left out, and
so is ``payload`` when the record has no metadata.

Pinecone stores float32 vectors and answers them as decimal floats: they are narrowed back to
float32, so the stored bits are the engine's. Metadata numbers come back as floats (``5`` as
``5.0``), and metadata takes only strings, numbers, booleans and lists of strings, at most 40 KB
per record: :func:`to_pinecone` refuses, with the reason, any document that
would be refused or read back different, so a restore never writes what it could not read back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec
import numpy as np

from airflow_provider_vectorbackup.snapshot import vector_fields
from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC
from airflow_provider_vectorbackup.sources.pinecone.definition import DENSE, SPARSE

MAX_ID_LENGTH = 512
MAX_METADATA_BYTES = 40_960
"""Pinecone's limit on one record's metadata, measured here as its compact JSON in UTF-8."""
_FIELDS = frozenset({"_id", vector_fields.VECTORS_FIELD, "payload"})
_encoder = msgspec.json.Encoder()


class RecordRefused(ValueError):
    """Pinecone would not keep this document exactly; ``code`` names why, for the insert report."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def stored_form(record: Any) -> dict[str, Any]:
    """The stored form of a ``Vector`` the client's fetch answers."""
    stored: dict[str, Any] = {"_id": record.id}
    vectors: dict[str, Any] = {}
    if record.values:
        vectors[DENSE] = vector_fields.dense_from_bytes(_float32(record.values).tobytes(), "float32")
    sparse = record.sparse_values
    if sparse is not None:
        vectors[SPARSE] = vector_fields.sparse(sparse.indices, _float32(sparse.values).tolist())
    if vectors:
        stored[vector_fields.VECTORS_FIELD] = vectors
    if record.metadata:
        stored["payload"] = DEFAULT_CODEC.encode(dict(record.metadata))
    return stored


def _float32(values: Any) -> np.ndarray:
    """Values as Pinecone stores them: it answers a float32 in its shortest decimal form, which narrows back exactly."""
    return np.asarray(values, dtype=np.float64).astype("<f4")


def to_pinecone(document: Mapping[str, Any]) -> dict[str, Any]:
    """The upsert entry (``id``, ``values``, ``sparse_values``, ``metadata``) for a stored-form document.

    :raises RecordRefused: Pinecone cannot hold it, or would hand back something else.
    """
    id_ = document.get("_id")
    if not isinstance(id_, str) or not 1 <= len(id_) <= MAX_ID_LENGTH or not id_.isascii() or "\x00" in id_:
        raise RecordRefused("INVALID_ID", f"Pinecone ids are strings of 1-{MAX_ID_LENGTH} ASCII characters without "
                                          f"NUL, not {_shown(id_)}")
    unknown = sorted(set(document) - _FIELDS)
    if unknown:
        raise RecordRefused("UNKNOWN_FIELD", f"a Pinecone record has no field(s) {unknown}")
    entry: dict[str, Any] = {"id": id_}
    vectors = document.get(vector_fields.VECTORS_FIELD) or {}
    others = sorted(set(vectors) - {DENSE, SPARSE})
    if others:
        raise RecordRefused("UNKNOWN_VECTOR",
                            f"a Pinecone record has the vectors {DENSE!r} and {SPARSE!r}, not {others}")
    if DENSE in vectors:
        entry["values"] = _values(vectors[DENSE], vector_fields.DENSE, DENSE)
    if SPARSE in vectors:
        value = vectors[SPARSE]
        numbers = _values(value, vector_fields.SPARSE, SPARSE)
        if not numbers:
            raise RecordRefused("VECTOR_EMPTY", "Pinecone refuses an empty sparse vector")
        if value["indices"][-1] >= 2**32:
            raise RecordRefused("VECTOR_INDEX", "Pinecone's sparse indices are unsigned 32-bit integers")
        entry["sparse_values"] = {"indices": list(value["indices"]), "values": numbers}
    if "payload" in document:
        entry["metadata"] = metadata(document["payload"])
    return entry


def _values(value: Any, kind: str, name: str) -> list[float]:
    found = vector_fields.inspect(value)
    if (found.kind, found.dtype) != (kind, "float32"):
        raise RecordRefused("VECTOR_TYPE", f"Pinecone's {name!r} holds {kind} float32 vectors, not "
                                           f"{found.kind} {found.dtype}")
    numbers = vector_fields.values_of(value)
    if not all(math.isfinite(v) for v in numbers):
        raise RecordRefused("VECTOR_VALUE", f"Pinecone's {name!r} takes finite numbers only")
    return numbers


def metadata(payload: Any) -> dict[str, Any]:
    """Metadata to send for a payload, refusing what Pinecone would refuse or hand back changed."""
    decoded = DEFAULT_CODEC.decode(payload)
    if not isinstance(decoded, dict) or not decoded:
        raise RecordRefused("METADATA_CHANGED", f"Pinecone metadata is a non-empty map; {decoded!r} would read back "
                                                f"as none")
    for key, value in decoded.items():
        _check_value(key, value)
    size = len(_encoder.encode(decoded))
    if size > MAX_METADATA_BYTES:
        raise RecordRefused("METADATA_TOO_LARGE", f"the payload is {size} bytes as JSON; Pinecone keeps at most "
                                                  f"{MAX_METADATA_BYTES} bytes of metadata per record")
    return decoded


def _check_value(key: str, value: Any) -> None:
    if type(value) in (str, bool):
        return
    if type(value) is float:
        if not math.isfinite(value):
            raise RecordRefused("METADATA_VALUE", f"metadata {key!r}: Pinecone takes finite numbers, not {value!r}")
        return
    if type(value) is int:
        raise RecordRefused("METADATA_CHANGED", f"metadata {key!r}: Pinecone hands integers back as floats, so "
                                                f"{value} would read back as {float(value)!r}")
    if type(value) is list and all(type(item) is str for item in value):
        return
    kind = "null" if value is None else "an object" if isinstance(value, dict) else \
        "a list of other than strings" if isinstance(value, list) else type(value).__name__
    raise RecordRefused("METADATA_VALUE", f"metadata {key!r} is {kind}; Pinecone keeps strings, numbers, booleans and "
                                          f"lists of strings")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
