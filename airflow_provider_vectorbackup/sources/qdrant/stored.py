"""Points to stored-form documents and back: ids, vectors (Cosine ones canonical), payload.

A point becomes ``{"_id": <int or the codec's UUID envelope>, "$vectors": {...}, "payload": {...}}``.
Qdrant always has a payload object (``{}`` when the writer gave none), so ``payload`` is always
there. Every vector value is float32 (what Qdrant answers); Cosine vectors, dense or each row of a
multivector, are in the canonical form of :mod:`.cosine`, written and read: every reader then sees
unit vectors, within :func:`~.cosine.drift_ulps` of what was written.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from qdrant_client.http import models

from airflow_provider_vectorbackup.snapshot.tolerance import ulps_apart
from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC
from airflow_provider_vectorbackup.snapshot.digest import canonical_json
from airflow_provider_vectorbackup.sources.qdrant.cosine import canonical, drift_ulps
from airflow_provider_vectorbackup.sources.qdrant.definition import VALUE_DTYPE, VectorSlot

PointId = int | str


class UnwritableDocument(ValueError):
    """A stored-form document Qdrant cannot hold as a point (its id, a vector field, a value)."""


def stored_id(point_id: PointId) -> Any:
    """The stored ``_id`` of a point id: an int stays an int, a UUID string becomes the codec's UUID envelope."""
    if isinstance(point_id, int):
        return point_id
    return DEFAULT_CODEC.encode(uuid.UUID(point_id))


def point_id(stored: Any) -> PointId:
    """The Qdrant id of a stored ``_id``; only ints and UUID envelopes are ids Qdrant has."""
    if type(stored) is int:
        return stored
    if isinstance(stored, Mapping):
        value = DEFAULT_CODEC.decode(stored)
        if isinstance(value, uuid.UUID):
            return str(value)
    raise UnwritableDocument(f"_id {stored!r} is not a Qdrant point id (an unsigned integer or a UUID envelope)")


def to_document(point: Any, slots: Mapping[str, VectorSlot]) -> dict[str, Any]:
    """A scrolled or retrieved point (``with_vectors``, ``with_payload``) as a stored-form document.

    ``slots`` is keyed by Qdrant vector name (``""`` for the unnamed vector).
    """
    document: dict[str, Any] = {"_id": stored_id(point.id)}
    raw = point.vector
    named = {"": raw} if isinstance(raw, list) else dict(raw or {})
    vectors = {}
    for name, value in named.items():
        slot = slots.get(name)
        if slot is None:
            raise ValueError(f"point {point.id!r} has vector {name!r}, which the collection does not declare")
        vectors[slot.field] = _value(value, slot)
    if vectors:
        document[vf.VECTORS_FIELD] = dict(sorted(vectors.items()))
    document["payload"] = DEFAULT_CODEC.encode(point.payload or {})
    return document


def _value(value: Any, slot: VectorSlot) -> dict[str, Any]:
    if slot.kind == vf.SPARSE:
        return vf.sparse(value.indices, value.values, VALUE_DTYPE)
    if slot.kind == vf.MULTI:
        return vf.multi(canonical(value).tolist() if slot.cosine else value, VALUE_DTYPE)
    if slot.cosine:
        return vf.dense_from_bytes(canonical(value).astype("<f4").tobytes(), VALUE_DTYPE)
    return vf.dense(value, VALUE_DTYPE)


def same_but_cosine_drift(there: Mapping[str, Any], wanted: Mapping[str, Any],
                          slots: Mapping[str, VectorSlot]) -> bool:
    """Whether two stored-form documents are equal but for Cosine vector elements a few ulps apart.

    What Qdrant holds after the same document was written can differ from it by that much
    (:func:`~.cosine.drift_ulps`); anything else must be equal. ``slots`` is keyed by
    ``$vectors`` field name.
    """
    mine, theirs = there.get(vf.VECTORS_FIELD) or {}, wanted.get(vf.VECTORS_FIELD) or {}
    rest = [canonical_json({k: v for k, v in d.items() if k != vf.VECTORS_FIELD}) for d in (there, wanted)]
    if rest[0] != rest[1] or mine.keys() != theirs.keys():
        return False
    for field, value in mine.items():
        other = theirs[field]
        if value == other:
            continue
        slot = slots.get(field)
        apart = ulps_apart(other, value) if slot is not None and slot.cosine else None
        if apart is None or apart > drift_ulps(vf.inspect(value).dimension):
            return False
    return True


def to_point(document: Mapping[str, Any], slots: Mapping[str, VectorSlot]) -> models.PointStruct:
    """A stored-form document as the point to upsert; ``slots`` keyed by ``$vectors`` field name.

    :raises UnwritableDocument: the id, a vector field or a value does not fit the collection.
    """
    vectors: dict[str, Any] = {}
    for field, value in (document.get(vf.VECTORS_FIELD) or {}).items():
        slot = slots.get(field)
        if slot is None:
            raise UnwritableDocument(f"vector field {field!r} is not one of the collection's ({', '.join(slots)})")
        vectors[slot.qdrant_name] = query_value(value, slot)
    payload = DEFAULT_CODEC.decode(document.get("payload") or {})
    if not isinstance(payload, dict):
        raise UnwritableDocument("payload is not an object")
    return models.PointStruct(id=point_id(document.get("_id")), vector=vectors, payload=payload)


def query_value(value: Any, slot: VectorSlot) -> Any:
    """A stored-form vector value as Qdrant takes it (a list, rows, or a ``SparseVector``), Cosine ones canonical."""
    found = vf.inspect(value)
    if found.kind != slot.kind:
        raise UnwritableDocument(f"vector field {slot.field!r} holds {slot.kind} vectors, not {found.kind}")
    if slot.kind == vf.SPARSE:
        return models.SparseVector(indices=list(value["indices"]), values=vf.values_of(value))
    if slot.kind == vf.MULTI:
        rows = vf.rows_of(value)
        return canonical(rows).tolist() if slot.cosine else rows
    return canonical(vf.values_of(value)).tolist() if slot.cosine else vf.values_of(value)
