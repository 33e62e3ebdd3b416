"""Exact nearest neighbours, to check a restored collection's vector search.

A restore that brings back every document can still serve different search results (a wrong
metric or dimension in the recreated collection, vectors altered in transit). Comparing the
store's top-k with a brute-force top-k over the same documents (the restore feeds it its
read-back of the target, whose digest must equal the snapshot's) gives recall@k, measured
rather than assumed. Pure Python, one pass: a handful of sample queries against every document.
"""

from __future__ import annotations

import heapq
import math
import operator
from collections.abc import Callable
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
        return _dot(a, b)
    if metric == "cosine":
        norms = _norm(a) * _norm(b)
        return _dot(a, b) / norms if norms else 0.0
    if metric == "euclidean":
        return -math.dist(a, b)
    raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")


def id_key(document_id: Any) -> str:
    """A hashable, type-exact key for an ``_id`` (ids may be strings, numbers or EJSON objects)."""
    return canonical_json({"_id": document_id}).decode()


class NearestNeighbours:
    """Exact, tie-aware top-k for a few queries, fed one document at a time (one pass, flat memory).

    Ties matter: with duplicate embeddings a store may return any of the equally close
    documents, and each of them is a correct answer. Each document's vector is decoded and its
    norm taken once, whatever the number of queries.
    """

    def __init__(self, queries: list[list[float]], metric: str, k: int = 10) -> None:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
        self.metric = metric
        self.k = k
        self._queries = [list(map(float, q)) for q in queries]
        self._query_norms = [_norm(q) for q in self._queries]
        self._top: list[list[float]] = [[] for _ in queries]  # min-heaps of the k best scores
        self._candidates: list[list[tuple[float, str]]] = [[] for _ in queries]
        self._prune_at = [4 * k for _ in queries]  # doubles past what survives a pruning: linear time even with ties

    def add(self, document: dict[str, Any]) -> None:
        vector = vector_of(document)
        if vector is None:
            return
        key = id_key(document["_id"])
        norm = _norm(vector) if self.metric == "cosine" else 0.0
        for index, query in enumerate(self._queries):
            score = self._score(index, query, vector, norm)
            top = self._top[index]
            if len(top) < self.k:
                heapq.heappush(top, score)
            elif score > top[0]:
                heapq.heapreplace(top, score)
            if len(top) < self.k or score >= _threshold(top):
                candidates = self._candidates[index]
                candidates.append((score, key))
                if len(candidates) > self._prune_at[index]:  # the threshold only rises: drop what fell below it
                    floor = _threshold(top)
                    candidates[:] = [c for c in candidates if c[0] >= floor]
                    self._prune_at[index] = max(4 * self.k, 2 * len(candidates))

    def _score(self, index: int, query: list[float], vector: list[float], norm: float) -> float:
        if self.metric == "dot_product":
            return _dot(query, vector)
        if self.metric == "cosine":
            norms = self._query_norms[index] * norm
            return _dot(query, vector) / norms if norms else 0.0
        return -math.dist(query, vector)

    def eligible(self) -> list[set[str]]:
        """For each query, the ``id_key`` of every document at least as close as its k-th nearest."""
        result = []
        for top, candidates in zip(self._top, self._candidates):
            floor = _threshold(top) if top else math.inf
            result.append({key for score, key in candidates if score >= floor})
        return result


_TOLERANCE = 1e-9


def _threshold(top: list[float]) -> float:
    """The k-th best score, widened by a relative tolerance so float rounding cannot break a tie."""
    return top[0] - _TOLERANCE * max(1.0, abs(top[0]))


def _norm(vector: list[float]) -> float:
    return math.sqrt(_dot(vector, vector))


_dot: Callable[[list[float], list[float]], float] = getattr(
    math, "sumprod", lambda a, b: sum(map(operator.mul, a, b)))
"""``math.sumprod`` (Python 3.12+, exact-rounded), else a plain sum of products."""


def recall_at_k(eligible: list[set[str]], found: list[list[str]], k: int = 10) -> float:
    """Mean share of the k results the store returned that are among the exact nearest (ties included)."""
    if not eligible:
        return 1.0
    shares = []
    for ids, returned in zip(eligible, found):
        wanted = min(k, len(ids))
        shares.append(len(set(returned[:k]) & ids) / wanted if wanted else 1.0)
    return sum(shares) / len(shares)
