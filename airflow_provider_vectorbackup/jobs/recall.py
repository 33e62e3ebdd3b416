"""Exact nearest neighbours, to check a restored collection's vector search, one vector field at a time.

A restore that brings back every document can still serve different search results (a wrong
metric or dimension in the recreated collection, vectors altered in transit). Comparing the
store's top-k with a brute-force top-k over the same documents (the restore feeds it its
read-back of the target, whose digest must equal the snapshot's) gives recall@k, measured
rather than assumed. One pass: a handful of sample queries against every document.
Each vector field is compared by its own metric: the Data API's ``$vector``, and every field of
a ``$vectors`` map (dense, sparse, multivector, bit) that its definition gives a metric.
"""

from __future__ import annotations

import binascii
import heapq
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy

from airflow_provider_vectorbackup.snapshot import vector_fields
from airflow_provider_vectorbackup.snapshot.digest import canonical_json
from airflow_provider_vectorbackup.snapshot.vectors import ARRAY, BINARY, VECTOR_FIELD, binary_to_floats, inspect_vector

METRICS = ("cosine", "dot_product", "euclidean")
"""The Data API's metrics."""
_MEASURABLE = {
    vector_fields.DENSE: {"cosine", "dot_product", "euclidean", "manhattan"},
    vector_fields.SPARSE: {"cosine", "dot_product", "euclidean", "manhattan"},
    vector_fields.MULTI: {"max_sim_cosine", "max_sim_dot_product", "max_sim_euclidean"},
    vector_fields.BIT: {"hamming", "jaccard"},
}
"""Which metric each kind of vector field is compared by, here as in the engines."""


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


@dataclass(frozen=True)
class VectorComparison:
    """How one vector field is read from stored documents and compared; a higher score is closer.

    ``field`` is ``None`` for the Data API's ``$vector``, else the name in ``$vectors``.
    :meth:`prepare` decodes a stored value once (with its norm), so each document costs one
    decode whatever the number of queries.
    """

    field: str | None
    kind: str
    metric: str

    def query(self, document: dict[str, Any]) -> Any | None:
        """The field's stored value in ``document`` (what a source's ``vector_search`` takes), or ``None``."""
        if self.field is None:
            return vector_of(document)
        value = (document.get(vector_fields.VECTORS_FIELD) or {}).get(self.field)
        return value if value is not None and vector_fields.inspect(value).kind == self.kind else None

    def present(self, document: dict[str, Any]) -> bool:
        """Whether ``document`` holds a value for this field, without decoding it (cheap)."""
        if self.field is None:
            return document.get(VECTOR_FIELD) is not None
        value = (document.get(vector_fields.VECTORS_FIELD) or {}).get(self.field)
        return isinstance(value, dict) and value.get("kind") == self.kind

    def read(self, document: dict[str, Any]) -> Any | None:
        value = self.query(document)
        return None if value is None else self.prepare(value)

    def prepare(self, value: Any) -> Any:
        if self.field is None:
            return _with_norm(list(map(float, value)))
        if self.kind == vector_fields.DENSE:
            return _with_norm(vector_fields.values_of(value))
        if self.kind == vector_fields.MULTI:
            return [_with_norm(row) for row in vector_fields.rows_of(value)]
        if self.kind == vector_fields.SPARSE:
            pairs = vector_fields.sparse_of(value)
            return pairs, math.sqrt(sum(v * v for v in pairs.values()))
        bits = vector_fields.bits_of(value)
        return bits, bits.bit_count()

    def score(self, query: Any, stored: Any) -> float:
        metric = self.metric
        if self.kind == vector_fields.MULTI:
            single = metric.removeprefix("max_sim_")
            return sum(max(_dense_score(single, row, other) for other in stored) for row in query)
        if self.kind == vector_fields.SPARSE:
            return _sparse_score(metric, query, stored)
        if self.kind == vector_fields.BIT:
            if metric == "hamming":
                return -(query[0] ^ stored[0]).bit_count()
            union = (query[0] | stored[0]).bit_count()
            return (query[0] & stored[0]).bit_count() / union if union else 1.0
        return _dense_score(metric, query, stored)


def comparisons(definition: Mapping[str, Any] | None) -> tuple[list[VectorComparison], dict[str, str]]:
    """The vector fields of a collection that recall can be measured on, and why each other field cannot."""
    definition = definition or {}
    if isinstance(definition.get("vector"), Mapping) and definition["vector"].get("dimension"):
        return [VectorComparison(None, vector_fields.DENSE, definition["vector"].get("metric") or "cosine")], {}
    found, skipped = [], {}
    for field in vector_fields.declared_fields(definition):
        measurable = _MEASURABLE.get(field.kind, set())
        if field.metric in measurable:
            found.append(VectorComparison(field.name, field.kind, field.metric))
        else:
            skipped[field.name] = (f"no metric declared for this {field.kind} field" if not field.metric else
                                   f"metric {field.metric!r} is not comparable for a {field.kind} field")
    return found, skipped


def _with_norm(values: list[float]) -> tuple[list[float], float]:
    return values, _norm(values)


def _dense_score(metric: str, query: tuple[list[float], float], stored: tuple[list[float], float]) -> float:
    if metric == "dot_product":
        return _dot(query[0], stored[0])
    if metric == "cosine":
        norms = query[1] * stored[1]
        return _dot(query[0], stored[0]) / norms if norms else 0.0
    if metric == "euclidean":
        return -math.dist(query[0], stored[0])
    return -sum(abs(x - y) for x, y in zip(query[0], stored[0]))


def _sparse_score(metric: str, query: tuple[dict[int, float], float], stored: tuple[dict[int, float], float]) -> float:
    if metric == "manhattan":
        a, b = query[0], stored[0]
        return -sum(abs(a.get(index, 0.0) - b.get(index, 0.0)) for index in a.keys() | b.keys())
    small, large = sorted((query[0], stored[0]), key=len)
    dot = sum(value * large[index] for index, value in small.items() if index in large)
    if metric == "dot_product":
        return dot
    if metric == "cosine":
        norms = query[1] * stored[1]
        return dot / norms if norms else 0.0
    return -math.sqrt(max(0.0, query[1] ** 2 + stored[1] ** 2 - 2 * dot))


def id_key(document_id: Any) -> str:
    """A hashable, type-exact key for an ``_id`` (ids may be strings, numbers or EJSON objects)."""
    return canonical_json({"_id": document_id}).decode()


class NearestNeighbours:
    """Exact, tie-aware top-k for a few queries on one vector field, fed one document at a time (flat memory).

    Ties matter: with duplicate embeddings a store may return any of the equally close
    documents, and each of them is a correct answer. Each document's vector is decoded and its
    norm taken once, whatever the number of queries. Dense vectors are scored with numpy in
    batches of :data:`BATCH` documents (a restore reads back every document, and scoring them one
    by one in Python cost more than the read-back itself); the other kinds one by one.

    :param queries: stored-form values of the field (for ``$vector``, lists of floats).
    """

    def __init__(self, queries: list[Any], comparison: VectorComparison, k: int = 10) -> None:
        self.comparison = comparison
        self.k = k
        self._queries = [comparison.prepare(q) for q in queries]
        self._top: list[list[float]] = [[] for _ in queries]  # min-heaps of the k best scores
        self._candidates: list[list[tuple[float, str]]] = [[] for _ in queries]
        self._prune_at = [4 * k for _ in queries]  # doubles past what survives a pruning: linear time even with ties
        self._batch = _DenseBatch.for_queries(comparison, self._queries)

    def add(self, document: dict[str, Any]) -> None:
        if self._batch is not None and self._batch.offer(document):
            if self._batch.pending >= BATCH:
                self._flush()
            return
        vector = self.comparison.read(document)  # other kinds, and whatever the batch cannot take as it is
        if vector is None:
            return
        key = id_key(document["_id"])
        for index, query in enumerate(self._queries):
            self._offer(index, self.comparison.score(query, vector), key)

    def eligible(self) -> list[set[str]]:
        """For each query, the ``id_key`` of every document at least as close as its k-th nearest."""
        self._flush()
        result = []
        for top, candidates in zip(self._top, self._candidates):
            floor = _threshold(top) if top else math.inf
            result.append({key for score, key in candidates if score >= floor})
        return result

    def _flush(self) -> None:
        if self._batch is None or not self._batch.pending:
            return
        keys, scores = self._batch.take()
        for index, column in enumerate(scores):
            top = self._top[index]
            # The floor only rises, so a score below it now can never become eligible: skip it in bulk.
            picked = range(len(keys)) if len(top) < self.k else numpy.flatnonzero(column >= _threshold(top))
            for row in picked:
                self._offer(index, float(column[row]), keys[row])

    def _offer(self, index: int, score: float, key: str) -> None:
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


BATCH = 512
"""Dense documents scored together in one numpy product."""


class _DenseBatch:
    """Buffered dense vectors of one field, kept as their raw bytes per element type, and the queries' matrix,
    scored all at once in float64 (as the one-by-one path computes)."""

    def __init__(self, comparison: VectorComparison, queries: Any) -> None:
        self.comparison = comparison
        self.queries = queries
        self.dimension = queries.shape[1]
        self.query_norms = numpy.linalg.norm(queries, axis=1)
        self.pending = 0
        self._rows: dict[str, tuple[list[str], list[bytes]]] = {}  # element type -> keys, raw rows

    @classmethod
    def for_queries(cls, comparison: VectorComparison, prepared: list[Any]) -> _DenseBatch | None:
        if comparison.kind != vector_fields.DENSE or not prepared:
            return None
        if comparison.metric not in ("cosine", "dot_product", "euclidean", "manhattan"):
            return None
        dimensions = {len(values) for values, _ in prepared}
        if len(dimensions) != 1:
            return None
        return cls(comparison, numpy.array([values for values, _ in prepared], dtype=numpy.float64))

    def offer(self, document: dict[str, Any]) -> bool:
        """Buffer the field's vector if it is a well-formed one of the queries' dimension; ``False`` otherwise
        (no value, another shape, anything unusual), for the one-by-one path to decide."""
        found = self._raw(document)
        if found is None:
            return False
        element, raw = found
        if len(raw) != self.dimension * numpy.dtype(element).itemsize:
            return False
        keys, rows = self._rows.setdefault(element, ([], []))
        keys.append(id_key(document["_id"]))
        rows.append(raw)
        self.pending += 1
        return True

    def _raw(self, document: dict[str, Any]) -> tuple[str, bytes] | None:
        if self.comparison.field is None:
            value = document.get(VECTOR_FIELD)
            if type(value) is dict and len(value) == 1 and type(value.get("$binary")) is str:
                try:
                    return ">f4", binascii.a2b_base64(value["$binary"])
                except (binascii.Error, ValueError):
                    return None
            if type(value) is list and inspect_vector(value)[0] == ARRAY:
                return "<f8", numpy.asarray(value, dtype="<f8").tobytes()
            return None
        value = self.comparison.query(document)
        if value is None:
            return None
        if value.get("dtype") == "float32":
            try:
                return "<f4", binascii.a2b_base64(value["data"])
            except (binascii.Error, ValueError, TypeError):
                return None
        return "<f8", numpy.asarray(vector_fields.values_of(value), dtype="<f8").tobytes()

    def take(self) -> tuple[list[str], Any]:
        """The buffered keys and a (queries × documents) matrix of scores, higher closer; empties the buffer."""
        keys: list[str] = []
        parts = []
        for element, (element_keys, rows) in self._rows.items():
            keys.extend(element_keys)
            stored = numpy.frombuffer(b"".join(rows), dtype=element).reshape(len(rows), self.dimension)
            parts.append(self._scores(stored.astype(numpy.float64)))
        self._rows, self.pending = {}, 0
        return keys, numpy.concatenate(parts, axis=1)

    def _scores(self, stored: Any) -> Any:
        metric = self.comparison.metric
        if metric in ("dot_product", "cosine"):
            scores = self.queries @ stored.T
            if metric == "cosine":
                norms = numpy.outer(self.query_norms, numpy.linalg.norm(stored, axis=1))
                scores = numpy.divide(scores, norms, out=numpy.zeros_like(scores), where=norms != 0)
            return scores
        differences = stored[numpy.newaxis, :, :] - self.queries[:, numpy.newaxis, :]
        if metric == "euclidean":
            return -numpy.sqrt(numpy.einsum("qdk,qdk->qd", differences, differences))
        return -numpy.abs(differences).sum(axis=2)


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
