"""Sort clauses: vector (ANN) sorts by the collection's metric, and in-memory field sorts.

As on the real service, a vector sort returns at most 1000 documents in one page, skips
documents without ``$vector``, and ``$vectorize`` sorts embed the query with the collection's
(stand-in) provider. Field sorts order values by type first (null, numbers, strings, booleans,
dates, others), then by value.
"""

from __future__ import annotations

import dataclasses
from array import array
from typing import Any

import msgspec
import numpy

from airflow_provider_vectorbackup.testing.astra.ejson import typed
from airflow_provider_vectorbackup.testing.astra.errors import schema_error, sort_invalid
from airflow_provider_vectorbackup.testing.astra.store import Collection, StoredDoc
from airflow_provider_vectorbackup.testing.astra.vectors import (
    as_json_floats, check_dimension, decode_vector, not_vector_enabled, pseudo_embedding, similarities,
)

MAX_VECTOR_RESULTS = 1000
_TYPE_ORDER = {"null": 0, "number": 1, "string": 2, "boolean": 3, "date": 4}


@dataclasses.dataclass(frozen=True)
class SortPlan:
    vector: array | None = None
    sort_vector: list[float] | None = None  # for ``status.sortVector``: always a float array, as the service sends
    fields: tuple[tuple[str, int], ...] = ()

    @property
    def empty(self) -> bool:
        return self.vector is None and not self.fields


def parse_sort(spec: Any, coll: Collection) -> SortPlan:
    if spec is None or spec == {}:
        return SortPlan()
    if not isinstance(spec, dict):
        raise sort_invalid("sort clause must be an Object")
    if "$vector" in spec or "$vectorize" in spec:
        if len(spec) != 1:
            raise sort_invalid("if sorting by '$vector' or '$vectorize' no other sort expressions allowed")
        settings = coll.settings
        if settings.dimension is None:
            raise not_vector_enabled(coll.keyspace, coll.name)
        if "$vectorize" in spec:
            text = spec["$vectorize"]
            if not settings.vectorize:
                raise schema_error("EMBEDDING_SERVICE_NOT_CONFIGURED",
                                   f"Unable to vectorize data, embedding service not configured for the collection "
                                   f": {coll.name}", "Embedding service not configured")
            if not isinstance(text, str) or not text.strip():
                raise sort_invalid("'$vectorize' sort value must be a non-blank String")
            query_list = pseudo_embedding(text, settings.dimension)
            query = array("f", query_list)
            return SortPlan(vector=query, sort_vector=as_json_floats(query))
        query = decode_vector(spec["$vector"])
        check_dimension(query, settings.dimension, coll.keyspace, coll.name)
        return SortPlan(vector=query, sort_vector=as_json_floats(query))
    fields = []
    for path, direction in spec.items():
        if direction not in (1, -1) or isinstance(direction, bool):
            raise sort_invalid(f"sort ordering value can only be `1` for ascending or `-1` for descending "
                               f"(path '{path}')")
        if path.startswith("$"):
            raise sort_invalid(f"sort path '{path}' is not valid")
        fields.append((path, direction))
    return SortPlan(fields=tuple(fields))


def stored_vector(body: dict[str, Any]) -> array | None:
    raw = body.get("$vector")
    if raw is None:
        return None
    value = msgspec.json.decode(raw) if isinstance(raw, msgspec.Raw) else raw
    if isinstance(value, list):
        return array("f", value)  # validated when stored; seeded vectors are trusted as given
    return None if value is None else decode_vector(value)


def vector_ranked(entries: list[StoredDoc], plan: SortPlan, metric: str) -> list[tuple[StoredDoc, float]]:
    """Entries with a vector, best first (ties in storage order), with their similarity; at most 1000.

    Scored with numpy in one pass, as the real service answers from an index: the stand-in shares the
    machine's cores with the client under test, so a search must not cost it seconds of Python.
    """
    assert plan.vector is not None
    with_vectors, rows = [], []
    for entry in entries:
        raw = entry.body.get("$vector")
        cached = entry.decoded_vector
        if cached is None or cached[0] is not raw:  # a replaced document has a new $vector object
            vec = stored_vector(entry.body)
            cached = entry.decoded_vector = (raw, None if vec is None else numpy.frombuffer(vec, dtype=numpy.float32))
        if cached[1] is not None:
            with_vectors.append(entry)
            rows.append(cached[1])
    if not rows:
        return []
    scores = similarities(metric, numpy.frombuffer(plan.vector, dtype=numpy.float32), numpy.stack(rows))
    best = numpy.argsort(-scores, kind="stable")[:MAX_VECTOR_RESULTS]
    return [(with_vectors[i], float(scores[i])) for i in best]


def field_sorted(entries: list[StoredDoc], plan: SortPlan) -> list[StoredDoc]:
    ordered = list(entries)
    for path, direction in reversed(plan.fields):
        ordered.sort(key=lambda e, p=path: _sort_key(_lookup(e.body, p)), reverse=direction == -1)
    return ordered


def _lookup(doc: Any, path: str) -> Any:
    for segment in path.split("."):
        if not isinstance(doc, dict) or segment not in doc:
            return None
        doc = doc[segment]
    return doc


def _sort_key(value: Any) -> tuple[int, Any]:
    kind, inner = typed(value)
    rank = _TYPE_ORDER.get(kind, 5)
    return (rank, inner if rank < 5 else repr(inner))
