"""One Chroma record in the stored form and back, refusing anything Chroma would not keep exactly.

A record is ``{"_id": <str>, "$vectors": {"embedding": <dense float32>}, "payload": <metadata>,
"document": <str>, "uri": <str>}``, each of the last three omitted when Chroma has none.

Chroma answers embeddings as float64 arrays holding float32 values: they are narrowed back to
float32 and checked to be unchanged by it, so the stored bits are the engine's.

Writing is where Chroma changes data without saying so: an int beyond int64 becomes a float, a
NaN or infinite value loses its key, ``-0.0`` becomes ``0.0``, a ``None`` value or an empty
metadata is refused, and a ``chroma:uri`` key turns into the record's uri. :func:`to_chroma`
refuses each of these with a reason, so a restore never writes something that would read back
different.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from airflow_provider_vectorbackup.snapshot.tolerance import ulps_apart
from airflow_provider_vectorbackup.snapshot import vector_fields
from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC
from airflow_provider_vectorbackup.sources.chroma.definition import VECTOR_FIELD

INCLUDE = ["embeddings", "metadatas", "documents", "uris"]
"""Everything a record holds (the ids always come)."""
_FIELDS = frozenset({"_id", vector_fields.VECTORS_FIELD, "payload", "document", "uri"})
_RESERVED_KEYS = frozenset({"chroma:document", "chroma:uri"})
"""Metadata keys Chroma keeps a record's document and uri under."""
_INT64 = (-(2**63), 2**63 - 1)
_SCALARS = (str, bool, int, float)


class EmbeddingNotFloat32(ValueError):
    """Chroma answered an embedding value that float32 cannot hold: narrowing it would change the vector."""


@dataclass(frozen=True)
class ChromaRecord:
    """One record as ``Collection.add`` takes it."""

    id: str
    embedding: np.ndarray
    metadata: dict[str, Any] | None
    document: str | None
    uri: str | None


class RecordRefused(ValueError):
    """Chroma would not keep this document exactly; ``code`` names why, for the insert report."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def stored_page(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The stored form of every record of a ``Collection.get`` answer made with :data:`INCLUDE`."""
    ids = result["ids"]
    if not ids:
        return []
    embeddings = float32_rows(result.get("embeddings"), len(ids))
    metadatas, documents, uris = (result.get(key) or [None] * len(ids) for key in ("metadatas", "documents", "uris"))
    return [stored_form(id_, embedding, metadata, document, uri)
            for id_, embedding, metadata, document, uri in zip(ids, embeddings, metadatas, documents, uris)]


def float32_rows(embeddings: Any, count: int) -> list[np.ndarray | None]:
    """The embeddings narrowed to float32, refusing any value float32 does not hold exactly."""
    if embeddings is None:
        return [None] * count
    rows = []
    for row in embeddings:
        if row is None:
            rows.append(None)
            continue
        wide = np.asarray(row, dtype=np.float64)
        narrow = wide.astype("<f4")
        if not np.array_equal(narrow.astype(np.float64), wide, equal_nan=True):
            raise EmbeddingNotFloat32("Chroma answered an embedding that is not float32; it was not narrowed")
        rows.append(narrow)
    return rows


def stored_form(id_: str, embedding: np.ndarray | None, metadata: Mapping[str, Any] | None,
                document: str | None, uri: str | None) -> dict[str, Any]:
    """One record in the stored form. Empty metadata is none: Chroma answers ``{}`` for none when a uri is set."""
    stored: dict[str, Any] = {"_id": id_}
    if embedding is not None:
        stored[vector_fields.VECTORS_FIELD] = {
            VECTOR_FIELD: vector_fields.dense_from_bytes(embedding.astype("<f4").tobytes(), "float32")}
    if metadata:
        stored["payload"] = DEFAULT_CODEC.encode(dict(metadata))
    if document is not None:
        stored["document"] = document
    if uri is not None:
        stored["uri"] = uri
    return stored


def to_chroma(document: Mapping[str, Any]) -> ChromaRecord:
    """The record to ``add`` for a stored-form document.

    :raises RecordRefused: Chroma cannot hold it, or would hold something else than it says.
    """
    id_ = document.get("_id")
    if not isinstance(id_, str) or not id_:
        raise RecordRefused("INVALID_ID", f"Chroma ids are non-empty strings, not {id_!r}")
    unknown = sorted(set(document) - _FIELDS)
    if unknown:
        raise RecordRefused("UNKNOWN_FIELD", f"a Chroma record has no field(s) {unknown}")
    embedding = _embedding(document.get(vector_fields.VECTORS_FIELD))
    metadata = _metadata(document.get("payload", None), "payload" in document)
    text, uri = document.get("document"), document.get("uri")
    for name, value in (("document", text), ("uri", uri)):
        if value is not None and not isinstance(value, str):
            raise RecordRefused("INVALID_FIELD", f"a Chroma {name} is a string, not {type(value).__name__}")
    return ChromaRecord(id_, embedding, metadata, text, uri)


def _embedding(vectors: Any) -> np.ndarray:
    if not isinstance(vectors, Mapping) or VECTOR_FIELD not in vectors:
        raise RecordRefused("MISSING_VECTOR", f"Chroma keeps a vector for every record; this one has no "
                                              f"{vector_fields.VECTORS_FIELD}.{VECTOR_FIELD}")
    others = sorted(set(vectors) - {VECTOR_FIELD})
    if others:
        raise RecordRefused("UNKNOWN_VECTOR", f"a Chroma record has only the vector {VECTOR_FIELD!r}, not {others}")
    value = vectors[VECTOR_FIELD]
    found = vector_fields.inspect(value)
    if (found.kind, found.dtype) != (vector_fields.DENSE, "float32"):
        raise RecordRefused("VECTOR_TYPE", f"Chroma stores dense float32 vectors, not {found.kind} {found.dtype}")
    return np.asarray(vector_fields.values_of(value), dtype=np.float32)


def _metadata(payload: Any, present: bool) -> dict[str, Any] | None:
    if not present:
        return None
    metadata = DEFAULT_CODEC.decode(payload)
    if not isinstance(metadata, dict) or not metadata:
        raise RecordRefused("METADATA_CHANGED", f"Chroma metadata is a non-empty map; {metadata!r} would read back "
                                                f"as none")
    for key, value in metadata.items():
        if not key or key[0] in "#$":
            raise RecordRefused("METADATA_KEY", f"Chroma refuses metadata key {key!r} (empty, or starting with # or $)")
        if key in _RESERVED_KEYS:
            raise RecordRefused("METADATA_KEY", f"metadata key {key!r} is where Chroma keeps the record's "
                                                f"{key.split(':')[1]}; it would not read back as metadata")
        _check_value(key, value)
    return metadata


def _check_value(key: str, value: Any) -> None:
    if isinstance(value, list):
        kinds = {type(item) for item in value}
        if not value or len(kinds) != 1 or not issubclass(kinds.pop(), _SCALARS):
            raise RecordRefused("METADATA_VALUE", f"metadata {key!r}: Chroma keeps non-empty lists of one type of "
                                                  f"str, int, float or bool, not {value!r}")
        for item in value:
            _check_scalar(key, item)
        return
    _check_scalar(key, value)


def _check_scalar(key: str, value: Any) -> None:
    if value is None:
        raise RecordRefused("METADATA_VALUE", f"metadata {key!r} is None, which Chroma refuses (upsert would drop "
                                              f"the key)")
    if type(value) is int and not _INT64[0] <= value <= _INT64[1]:
        raise RecordRefused("METADATA_CHANGED", f"metadata {key!r}: Chroma would turn the integer {value} (beyond "
                                                f"int64) into a float")
    if type(value) is float and (not math.isfinite(value) or (value == 0.0 and math.copysign(1.0, value) < 0)):
        raise RecordRefused("METADATA_CHANGED", f"metadata {key!r}: Chroma would not keep the float {value!r} "
                                                f"({'it drops the key' if not math.isfinite(value) else 'it stores 0.0'})")
    if type(value) not in _SCALARS:
        raise RecordRefused("METADATA_VALUE", f"metadata {key!r}: Chroma keeps str, int, float, bool or lists of "
                                              f"them, not {type(value).__name__}")
    if type(value) is str and _has_surrogate(value):
        raise RecordRefused("METADATA_VALUE", f"metadata {key!r} holds a lone surrogate, which Chroma refuses")


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


COSINE_DRIFT_ULPS = 4
"""How far (in float32 units in the last place) Chroma's cosine space moves an embedding element: 2 at most, measured."""
METADATA_DRIFT_ULPS = 2
"""How far Chroma 1.5.9 moves a float64 metadata value it stores: 1 ulp, for about one value in ten (measured)."""


def same_but_chroma_drift(there: Mapping[str, Any], wanted: Mapping[str, Any], *, cosine: bool) -> bool:
    """Whether ``there`` is ``wanted`` as Chroma stores it: equal but for floats a few ulps off.

    Chroma 1.5.9 stores some float metadata values one ulp off, and hands a cosine collection's
    embeddings back renormalized, up to 2 ulps per element (docs/sources.md, "Chroma"), so
    writing the same document again leaves a record that is not bit-identical to it.
    """
    vectors = vector_fields.VECTORS_FIELD
    rest = ulps_apart(*({k: v for k, v in d.items() if k != vectors} for d in (wanted, there)))
    moved = ulps_apart(wanted.get(vectors), there.get(vectors))
    return (rest is not None and rest <= METADATA_DRIFT_ULPS
            and moved is not None and moved <= (COSINE_DRIFT_ULPS if cosine else 0))


def add_arguments(records: Sequence[ChromaRecord]) -> dict[str, Any]:
    """``Collection.add`` keyword arguments for a batch of records."""
    return {"ids": [r.id for r in records], "embeddings": np.stack([r.embedding for r in records]),
            "metadatas": [r.metadata for r in records], "documents": [r.document for r in records],
            "uris": [r.uri for r in records]}
