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
from collections.abc import Callable, Iterable
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


def exact_neighbours(documents: Callable[[], Iterable[dict[str, Any]]], queries: list[list[float]], metric: str,
                     k: int = 10) -> list[set[str]]:
    """For each query, the ``id_key`` of every document at least as close as its k-th nearest.

    Ties matter: with duplicate embeddings a store may return any of the equally close
    documents, and each of them is a correct answer. Two streaming passes over ``documents()``.
    """
    heaps: list[list[float]] = [[] for _ in queries]
    for vector in _vectors(documents()):
        for heap, query in zip(heaps, queries):
            score = similarity(metric, query, vector[1])
            if len(heap) < k:
                heapq.heappush(heap, score)
            elif score > heap[0]:
                heapq.heapreplace(heap, score)
    thresholds = [heap[0] - _TOLERANCE * max(1.0, abs(heap[0])) if heap else math.inf for heap in heaps]
    eligible: list[set[str]] = [set() for _ in queries]
    for key, vector in _vectors(documents()):
        for ids, query, threshold in zip(eligible, queries, thresholds):
            if similarity(metric, query, vector) >= threshold:
                ids.add(key)
    return eligible


_TOLERANCE = 1e-9


def _vectors(documents: Iterable[dict[str, Any]]) -> Iterable[tuple[str, list[float]]]:
    for document in documents:
        vector = vector_of(document)
        if vector is not None:
            yield id_key(document["_id"]), vector


def recall_at_k(eligible: list[set[str]], found: list[list[str]], k: int = 10) -> float:
    """Mean share of the k results the store returned that are among the exact nearest (ties included)."""
    if not eligible:
        return 1.0
    shares = []
    for ids, returned in zip(eligible, found):
        wanted = min(k, len(ids))
        shares.append(len(set(returned[:k]) & ids) / wanted if wanted else 1.0)
    return sum(shares) / len(shares)
