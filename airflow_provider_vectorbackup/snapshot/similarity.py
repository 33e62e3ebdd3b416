"""Exact nearest neighbours over a snapshot's vectors, to check a restored collection's vector search.

A restore that brings back every document can still serve different search results (a wrong
metric or dimension in the recreated collection, vectors altered in transit). Comparing the
store's top-k with a brute-force top-k over the snapshot gives recall@k, measured rather than
assumed. Pure Python: it runs on a handful of sample queries, not on the whole collection.
"""

from __future__ import annotations

import heapq
import math
import operator
from collections.abc import Iterable
from typing import Any

from airflow_provider_vectorbackup.snapshot.digest import canonical_json
from airflow_provider_vectorbackup.snapshot.vectors import ARRAY, BINARY, VECTOR_FIELD, binary_to_floats, inspect_vector

METRICS = ("cosine", "dot_product", "euclidean")


def vector_of(document: dict[str, Any]) -> list[float] | None:
    """A document's ``$vector`` as floats, whichever encoding it is stored in."""
    value = document.get(VECTOR_FIELD)
    encoding, _ = inspect_vector(value) if value is not None else (None, 0)
    if encoding == ARRAY:
        return [float(x) for x in value]
    if encoding == BINARY:
        return binary_to_floats(value["$binary"])
    return None


def similarity(metric: str, a: list[float], b: list[float]) -> float:
    """Higher is closer, for every metric (Euclidean distance is negated)."""
    if metric == "dot_product":
        return math.fsum(map(operator.mul, a, b))
    if metric == "cosine":
        norms = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(x * x for x in b))
        return math.fsum(map(operator.mul, a, b)) / norms if norms else 0.0
    if metric == "euclidean":
        return -math.dist(a, b)
    raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")


def id_key(document_id: Any) -> str:
    """A hashable, type-exact key for an ``_id`` (ids may be strings, numbers or EJSON objects)."""
    return canonical_json({"_id": document_id}).decode()


def exact_top_k(documents: Iterable[dict[str, Any]], queries: list[list[float]], metric: str,
                k: int = 10) -> list[list[str]]:
    """For each query, the ``id_key`` of its ``k`` nearest documents, in one streaming pass."""
    heaps: list[list[tuple[float, str]]] = [[] for _ in queries]
    for document in documents:
        vector = vector_of(document)
        if vector is None:
            continue
        key = id_key(document["_id"])
        for heap, query in zip(heaps, queries):
            entry = (similarity(metric, query, vector), key)
            if len(heap) < k:
                heapq.heappush(heap, entry)
            elif entry > heap[0]:
                heapq.heapreplace(heap, entry)
    return [[key for _, key in sorted(heap, reverse=True)] for heap in heaps]


def recall_at_k(expected: list[list[str]], found: list[list[str]]) -> float:
    """Mean share of each query's exact top-k that the store also returned."""
    if not expected:
        return 1.0
    shares = [len(set(e) & set(f)) / len(e) if e else 1.0 for e, f in zip(expected, found)]
    return sum(shares) / len(shares)
