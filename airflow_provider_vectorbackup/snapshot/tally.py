"""What a pass over stored documents saw: counts, vector statistics and the content digest.

The writer keeps one tally per open segment and folds it into the collection's only when the
segment is safely on disk, so a failed collection's manifest entry describes exactly the
files it lists. The verifier recomputes the same tally from those files.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup.snapshot.digest import ContentDigest
from airflow_provider_vectorbackup.snapshot import vector_fields
from airflow_provider_vectorbackup.snapshot.manifest import FieldSummary, VectorSummary
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
            fields = document.get(vector_fields.VECTORS_FIELD)
            if fields is not None and self._add_fields(fields):
                vectors.documents_with_vector += 1
            return None
        encoding, dimension, canonical = read_vector(value)  # one decode serves the statistics and the digest
        self.digest.add(document, canonical)
        vectors.documents_with_vector += 1
        vectors.encodings[encoding] = vectors.encodings.get(encoding, 0) + 1
        if dimension:
            vectors.dimensions[str(dimension)] = vectors.dimensions.get(str(dimension), 0) + 1
        return encoding

    def _add_fields(self, fields: Any) -> bool:
        """Count each ``$vectors`` value; whether any is a valid vector (a malformed map counts as invalid)."""
        summaries = self.vectors.fields
        if type(fields) is not dict:
            fields = {vector_fields.VECTORS_FIELD: None}
        valid = False
        for name, value in fields.items():
            summary = summaries.get(name)
            if summary is None:
                summary = summaries[name] = FieldSummary()
            found = vector_fields.inspect(value)
            if found.valid:
                valid = True
                summary.documents_with_vector += 1
                if found.dimension is not None:
                    summary.dimensions[str(found.dimension)] = summary.dimensions.get(str(found.dimension), 0) + 1
            encoding = vector_fields.encoding_name(found.kind, found.dtype)
            summary.encodings[encoding] = summary.encodings.get(encoding, 0) + 1
        return valid

    def merge(self, other: Tally) -> None:
        self.documents += other.documents
        self.digest.merge(other.digest)
        merge_vector_summaries(self.vectors, other.vectors)


def merge_vector_summaries(mine: VectorSummary, theirs: VectorSummary) -> None:
    """Add ``theirs`` into ``mine``: the summary of two disjoint sets of documents is the sum of theirs."""
    mine.documents_with_vector += theirs.documents_with_vector
    mine.documents_with_vectorize += theirs.documents_with_vectorize
    pairs = [(mine.encodings, theirs.encodings), (mine.dimensions, theirs.dimensions)]
    for name, field in theirs.fields.items():
        into = mine.fields.setdefault(name, FieldSummary())
        into.documents_with_vector += field.documents_with_vector
        pairs += [(into.encodings, field.encodings), (into.dimensions, field.dimensions)]
    for counts, more in pairs:
        for key, n in more.items():
            counts[key] = counts.get(key, 0) + n
