"""The vector-loss guard: a pure check over what a dump saw, run before a collection may count as backed up.

A dump that silently lost its embeddings looks complete: every document and every metadata
field is there. Only the vectors are gone, and re-embedding is a rebuild, not a restore.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_vectorbackup.snapshot.errors import VectorLossError
from airflow_provider_vectorbackup.snapshot.manifest import VectorSummary
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
        raise VectorLossError(collection, message + "; if the collection really holds documents without "
                              "embeddings, raise max_missing_fraction for it", **facts)
    return []


def _describe(dimensions: dict[str, int]) -> str:
    return ", ".join(f"{n} document(s) of dimension {dim}" for dim, n in sorted(dimensions.items()))
