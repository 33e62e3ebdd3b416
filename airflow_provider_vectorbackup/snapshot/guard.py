"""The vector-loss guard: a pure check over what a dump saw, run before a collection may count as backed up.

A dump that silently lost its embeddings looks complete: every document and every metadata
field is there. Only the vectors are gone, and re-embedding is a rebuild, not a restore.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_vectorbackup.snapshot.errors import VectorLossError
from airflow_provider_vectorbackup.snapshot.manifest import FieldSummary, VectorSummary
from airflow_provider_vectorbackup.snapshot.vector_fields import VectorField, declared_fields, encoding_name
from airflow_provider_vectorbackup.snapshot.vectors import INVALID


@dataclass(frozen=True)
class VectorLossPolicy:
    """How strict the guard is.

    ``max_missing_fraction`` is the share of documents allowed to lack ``$vector`` in a
    collection that declares vectors. The default 0.0 treats every missing vector as loss;
    raise it for collections that really hold some documents without embeddings.
    """

    max_missing_fraction: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_missing_fraction <= 1.0:
            raise ValueError("max_missing_fraction must be between 0.0 and 1.0")


def declared_dimension(definition: dict[str, Any]) -> int | None:
    vector = (definition or {}).get("vector") or {}
    dimension = vector.get("dimension")
    return dimension if isinstance(dimension, int) else None


def is_vectorize(definition: dict[str, Any]) -> bool:
    """A ``$vectorize`` collection: the server computes vectors, so it can regenerate lost ones."""
    return bool(((definition or {}).get("vector") or {}).get("service"))


def check_vector_loss(
    collection: str, definition: dict[str, Any], document_count: int, vectors: VectorSummary,
    policy: VectorLossPolicy = VectorLossPolicy(),
) -> list[str]:
    """Raise :class:`VectorLossError` if the dump lost vectors; return warnings that the manifest records."""
    if vectors.fields or declared_fields(definition):
        return _check_vector_fields(collection, definition, document_count, vectors, policy)
    dimension = declared_dimension(definition)
    with_vector = vectors.documents_with_vector
    facts = dict(declared_dimension=dimension, documents=document_count, documents_with_vector=with_vector,
                 dimensions_seen=dict(vectors.dimensions))
    invalid = vectors.encodings.get(INVALID, 0)
    if invalid:
        raise VectorLossError(collection, f"{invalid} document(s) carry a $vector that is neither an array of "
                              f"numbers nor a $binary float32 vector; the stored vectors cannot be restored", **facts)
    if dimension is None:
        if with_vector:
            return [f"{with_vector} document(s) carry $vector although the collection declares no vector dimension"]
        return []
    wrong = {dim: n for dim, n in vectors.dimensions.items() if dim != str(dimension)}
    if wrong:
        raise VectorLossError(
            collection, f"the collection declares {dimension}-dimension vectors but the dump saw "
            f"{_describe(wrong)}; a restore would be refused or give wrong search results", **facts)
    if document_count == 0:
        return []
    missing = document_count - with_vector
    vectorize = is_vectorize(definition)
    if with_vector == 0:
        if vectorize:
            return [f"the collection declares a {dimension}-dimension $vectorize vector but none of the "
                    f"{document_count} dumped document(s) carried $vector; a restore must regenerate "
                    f"embeddings from $vectorize with the embedding provider"]
        raise VectorLossError(
            collection, f"the collection declares {dimension}-dimension vectors but none of the "
            f"{document_count} dumped document(s) carried $vector. Refusing to call a vectorless dump a "
            f"backup: check that the scan projects {{\"*\": true}} and that the client returns $vector", **facts)
    if missing / document_count > policy.max_missing_fraction:
        message = (f"{missing} of {document_count} document(s) ({missing / document_count:.2%}) have no "
                   f"$vector, above the allowed {policy.max_missing_fraction:.2%}")
        if vectorize:
            return [message + "; a restore must regenerate them from $vectorize"]
        raise VectorLossError(collection, message + "; if the collection really holds documents without embeddings, "
                              "raise max_missing_vector_fraction (--max-missing-vector-fraction) for it", **facts)
    return []


def _check_vector_fields(collection: str, definition: dict[str, Any], document_count: int, vectors: VectorSummary,
                         policy: VectorLossPolicy) -> list[str]:
    """The guard for collections with a ``vectors`` block: every declared field is checked on its own."""
    declared = declared_fields(definition)
    warnings = [f"{summary.documents_with_vector} document(s) carry vector field {name!r}, which the collection "
                f"does not declare" for name, summary in sorted(vectors.fields.items())
                if name not in {field.name for field in declared}]
    for field in declared:
        seen = vectors.fields.get(field.name) or FieldSummary()
        _check_field(collection, field, document_count, seen, policy)
        if field.nullable and document_count and seen.documents_with_vector < document_count:
            warnings.append(f"{document_count - seen.documents_with_vector} of {document_count} document(s) have no "
                            f"value for nullable vector field {field.name!r} (NULL in the source)")
    return warnings


def _check_field(collection: str, field: VectorField, document_count: int, seen: FieldSummary,
                 policy: VectorLossPolicy) -> None:
    with_vector = seen.documents_with_vector
    facts = dict(field=field.name, declared=field.to_dict(), documents=document_count, documents_with_vector=with_vector,
                 dimensions_seen=dict(seen.dimensions), encodings_seen=dict(seen.encodings))
    invalid = seen.encodings.get(INVALID, 0)
    if invalid:
        raise VectorLossError(collection, f"{invalid} value(s) of vector field {field.name!r} are malformed; the stored "
                              f"vectors cannot be restored", **facts)
    expected = encoding_name(field.kind, field.dtype)
    other = {encoding: n for encoding, n in seen.encodings.items() if encoding != expected}
    if other:
        raise VectorLossError(collection, f"vector field {field.name!r} is declared {expected} but the dump saw "
                              f"{_describe_encodings(other)}; the values were converted or misread", **facts)
    wrong = field.wrong_dimensions(seen.dimensions)
    if wrong:
        raise VectorLossError(collection, f"vector field {field.name!r} declares {field.dimension} dimensions but "
                              f"the dump saw {_describe(wrong)}", **facts)
    if document_count == 0 or field.nullable:  # a NULL vector is the source's data, not a lost value
        return
    if with_vector == 0:
        raise VectorLossError(
            collection, f"vector field {field.name!r} is declared but none of the {document_count} dumped document(s) "
            f"carried it. Refusing to call a vectorless dump a backup: check that the scan reads vectors", **facts)
    missing = document_count - with_vector
    if missing / document_count > policy.max_missing_fraction:
        raise VectorLossError(
            collection, f"{missing} of {document_count} document(s) ({missing / document_count:.2%}) have no value "
            f"for vector field {field.name!r}, above the allowed {policy.max_missing_fraction:.2%}; if the "
            f"collection really holds documents without it, raise max_missing_vector_fraction (--max-missing-vector-fraction)", **facts)


def _describe_encodings(encodings: dict[str, int]) -> str:
    return ", ".join(f"{n} {encoding} value(s)" for encoding, n in sorted(encodings.items()))


def _describe(dimensions: dict[str, int]) -> str:
    return ", ".join(f"{n} document(s) of dimension {dim}" for dim, n in sorted(dimensions.items()))
