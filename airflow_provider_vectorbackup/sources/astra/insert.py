"""Idempotent bulk inserts for restores: bounded concurrency, per-document outcomes, safe re-runs.

A restore that crashed half-way must be able to run again and end with the same collection.
``insertMany`` is unordered here, so a chunk whose response was lost is simply sent again:
documents that made it the first time come back ``DOCUMENT_ALREADY_EXISTS``, and count as
present once the stored copy is confirmed identical.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from airflow_provider_vectorbackup.snapshot.digest import canonical_json
from airflow_provider_vectorbackup.snapshot.vectors import VECTOR_FIELD, VECTORIZE_FIELD
from airflow_provider_vectorbackup.sources.base import DocumentFailure, InsertReport

if TYPE_CHECKING:
    from airflow_provider_vectorbackup.sources.astra.client import AstraSource

log = logging.getLogger(__name__)

MAX_CHUNK = 100
"""The Data API refuses ``insertMany`` with more documents."""
ALREADY_EXISTS = "DOCUMENT_ALREADY_EXISTS"


def insert_documents(source: AstraSource, collection: str, documents: Iterable[dict[str, Any]], *,
                     chunk_size: int, concurrency: int) -> InsertReport:
    if not 1 <= chunk_size <= MAX_CHUNK:
        raise ValueError(f"chunk_size must be between 1 and {MAX_CHUNK}")
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    report = InsertReport()
    window = InFlightWindow(concurrency)
    throttled_before = seen = source.throttled.of(collection)
    in_flight: set[Future[InsertReport]] = set()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"insert-{collection}") as pool:
        for chunk in _chunks(documents, chunk_size):
            while len(in_flight) >= window.limit:  # bounded: never more than `concurrency` chunks in memory
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    report.merge(future.result())
                    now = source.throttled.of(collection)
                    window.completed(throttled=now > seen)
                    seen = now
            in_flight.add(pool.submit(_insert_chunk, source, collection, chunk))
        for future in in_flight:
            report.merge(future.result())
    report.throttled = source.throttled.of(collection) - throttled_before
    report.fewest_in_flight = window.fewest if window.fewest < concurrency else None
    if report.throttled:
        log.warning("The Data API throttled %d insert request(s) into %r (HTTP 429): they were sent again, with "
                    "as few as %d in flight", report.throttled, collection, window.fewest)
    return report


class InFlightWindow:
    """How many insert requests may be in flight: halved when the server throttles, then grown back by one
    for every window's worth of requests answered without throttling (additive increase, multiplicative decrease).
    """

    def __init__(self, ceiling: int) -> None:
        self.ceiling = ceiling
        self.limit = ceiling
        self.fewest = ceiling
        self._calm = 0

    def completed(self, *, throttled: bool) -> None:
        if throttled:
            self.limit = max(1, self.limit // 2)
            self.fewest = min(self.fewest, self.limit)
            self._calm = 0
            return
        self._calm += 1
        if self._calm >= self.limit and self.limit < self.ceiling:
            self.limit += 1
            self._calm = 0


def _chunks(documents: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(documents)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _insert_chunk(source: AstraSource, collection: str, chunk: list[dict[str, Any]]) -> InsertReport:
    body = {"insertMany": {"documents": chunk, "options": {"ordered": False, "returnDocumentResponses": True}}}
    response = source.command(body, collection=collection, timeout_ms=source.insert_timeout_ms, raise_api_errors=False)
    errors = response.get("errors") or []
    outcomes = (response.get("status") or {}).get("documentResponses")
    report = InsertReport()
    if outcomes is None:
        # The whole request was refused (e.g. a malformed document): every document failed alike.
        error = errors[0] if errors else {"errorCode": "UNKNOWN", "message": "no documentResponses in the answer"}
        report.failures = [DocumentFailure(doc.get("_id"), error.get("errorCode", "UNKNOWN"), error.get("message", ""))
                           for doc in chunk]
        return report
    existing: list[dict[str, Any]] = []
    for document, outcome in zip(chunk, outcomes):
        if outcome.get("status") == "OK":
            report.inserted += 1
            continue
        error = errors[outcome["errorsIdx"]] if "errorsIdx" in outcome else {}
        code = error.get("errorCode", outcome.get("status", "UNKNOWN"))
        if code == ALREADY_EXISTS:
            existing.append(document)
        else:
            report.failures.append(DocumentFailure(document.get("_id"), code, error.get("message", "")))
    if existing:
        _confirm_identical(source, collection, existing, report)
    return report


def _confirm_identical(source: AstraSource, collection: str, documents: list[dict[str, Any]], report: InsertReport) -> None:
    stored = {canonical_json({"_id": d["_id"]}): d for d in source.find_by_ids(collection, [d["_id"] for d in documents])}
    for document in documents:
        found = stored.get(canonical_json({"_id": document["_id"]}))
        if found is not None and VECTOR_FIELD not in document and VECTORIZE_FIELD in document:
            found = {k: v for k, v in found.items() if k != VECTOR_FIELD}  # the server embedded it on insert
        if found is not None and canonical_json(found) == canonical_json(document):
            report.already_present += 1
        else:
            report.failures.append(DocumentFailure(
                document["_id"], ALREADY_EXISTS,
                "a different document with this _id is already in the collection; restore into an empty "
                "collection or replace it explicitly"))
