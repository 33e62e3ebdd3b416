"""What a pass over stored documents saw: counts, vector statistics and the content digest.

The writer keeps one tally per open segment and folds it into the collection's only when the
segment is safely on disk, so a failed collection's manifest entry describes exactly the
files it lists. The verifier recomputes the same tally from those files.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup.snapshot.digest import ContentDigest
from airflow_provider_vectorbackup.snapshot.manifest import VectorSummary
from airflow_provider_vectorbackup.snapshot.vectors import VECTOR_FIELD, VECTORIZE_FIELD, read_vector


class Tally:
    def __init__(self) -> None:
        self.documents = 0
        self.vectors = VectorSummary()
        self.digest = ContentDigest()

    def add(self, document: dict[str, Any]) -> str | None:
        """Count one stored-form document; return its vector encoding (``None`` without ``$vector``)."""
        self.documents += 1
        vectors = self.vectors
        if document.get(VECTORIZE_FIELD) is not None:
            vectors.documents_with_vectorize += 1
        value = document.get(VECTOR_FIELD)
        if value is None:
            self.digest.add(document, None)
            return None
        encoding, dimension, canonical = read_vector(value)  # one decode serves the statistics and the digest
        self.digest.add(document, canonical)
        vectors.documents_with_vector += 1
        vectors.encodings[encoding] = vectors.encodings.get(encoding, 0) + 1
        if dimension:
            vectors.dimensions[str(dimension)] = vectors.dimensions.get(str(dimension), 0) + 1
        return encoding

    def merge(self, other: Tally) -> None:
        self.documents += other.documents
        self.digest.merge(other.digest)
        mine, theirs = self.vectors, other.vectors
        mine.documents_with_vector += theirs.documents_with_vector
        mine.documents_with_vectorize += theirs.documents_with_vectorize
        for counts, more in ((mine.encodings, theirs.encodings), (mine.dimensions, theirs.dimensions)):
            for key, n in more.items():
                counts[key] = counts.get(key, 0) + n
