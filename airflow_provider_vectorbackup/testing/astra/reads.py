"""Read commands: ``find``, ``findOne``, ``countDocuments``, ``estimatedDocumentCount``.

Unsorted ``find`` pages through the collection ``page_size`` documents at a time with an
opaque ``pageState`` and always sends the ``data.nextPageState`` key (``null`` at the end).
Sorted finds (vector or in-memory) answer one page and no ``pageState``; a ``pageState`` sent
with a sort is refused with ``SORT_CLAUSE_INVALID``, as on the real service.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup.testing.astra.behaviour import Behaviour
from airflow_provider_vectorbackup.testing.astra.errors import DataAPIError, field_value_invalid, sort_invalid
from airflow_provider_vectorbackup.testing.astra.filters import Predicate, compile_filter
from airflow_provider_vectorbackup.testing.astra.paging import PageState, decode_page_state, encode_page_state
from airflow_provider_vectorbackup.testing.astra.projection import Projector, compile_projection
from airflow_provider_vectorbackup.testing.astra.sorting import (
    MAX_VECTOR_RESULTS, SortPlan, field_sorted, parse_sort, vector_ranked,
)
from airflow_provider_vectorbackup.testing.astra.store import Collection, StoredDoc

MAX_COUNT = 1000
MAX_SORT_CANDIDATES = 10_000


def positive_int(options: dict[str, Any], name: str, *, minimum: int) -> int | None:
    value = options.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        relation = "greater than `0`" if minimum > 0 else "greater than or equal to `0`"
        raise field_value_invalid(f"command.options.{name}", value, f"{name} should be {relation}")
    return value


def check_fields(body: dict[str, Any], command: str, allowed: tuple[str, ...]) -> None:
    for field in body:
        if field not in allowed:
            known = ", ".join(f"'{a}'" for a in sorted(allowed))
            raise DataAPIError("COMMAND_FIELD_UNKNOWN",
                               f"Command field '{field}' not recognized: not one of known fields ({known}) of "
                               f"'{command}'.\n\nResend the command with valid command fields.",
                               title="Command field unknown")


def matching(coll: Collection, predicate: Predicate) -> list[StoredDoc]:
    return [entry for entry in coll.scan() if predicate(entry.body)]


def ordered_matches(coll: Collection, predicate: Predicate, plan: SortPlan) -> list[tuple[StoredDoc, float | None]]:
    """All matches in the order a sorted read returns them (unsorted: storage order)."""
    entries = matching(coll, predicate)
    if plan.vector is not None:
        return [(e, s) for e, s in vector_ranked(entries, plan, coll.settings.metric)]
    if plan.fields:
        if len(entries) >= MAX_SORT_CANDIDATES:
            raise DataAPIError(
                "OVERLOADED_SORT_ROW_LIMIT",
                f"The command used in-memory sorting which has a limit of {MAX_SORT_CANDIDATES} documents.\n\n"
                "Consult any warnings included in the response for how to improve the sort performance.",
                scope="SORT", title="Sort aborted due to in-memory sort restriction")
        entries = field_sorted(entries, plan)
    return [(e, None) for e in entries]


def _render(entry: StoredDoc, similarity: float | None, project: Projector, include_similarity: bool) -> dict:
    doc = project(entry.body)
    if include_similarity and similarity is not None:
        doc["$similarity"] = similarity
    return doc


def find(coll: Collection, body: dict[str, Any], behaviour: Behaviour) -> dict[str, Any]:
    check_fields(body, "find", ("filter", "projection", "sort", "options"))
    options = body.get("options") or {}
    predicate = compile_filter(body.get("filter"))
    project = compile_projection(body.get("projection"), hide_vector=behaviour.regression_mode)
    plan = parse_sort(body.get("sort"), coll)
    limit = positive_int(options, "limit", minimum=1)
    skip = positive_int(options, "skip", minimum=0)
    page_state = options.get("pageState") or None
    include_similarity = bool(options.get("includeSimilarity"))
    include_sort_vector = bool(options.get("includeSortVector"))
    if not plan.empty and page_state is not None:
        raise sort_invalid("'pageState' is not supported with non-empty sort clause")
    if skip is not None and plan.empty:
        raise field_value_invalid("command.options.skip", skip, "skip options should be used with sort clause")
    status: dict[str, Any] = {}
    if include_sort_vector:
        status["sortVector"] = plan.sort_vector
    if plan.vector is not None:
        if skip is not None:
            raise field_value_invalid("command.options.skip", skip,
                                      "skip options should not be used with vector search")
        if limit is not None and limit > MAX_VECTOR_RESULTS:
            raise field_value_invalid("command.options.limit", limit,
                                      f"limit options should not be greater than {MAX_VECTOR_RESULTS} for vector "
                                      "search")
        ranked = ordered_matches(coll, predicate, plan)[: limit or MAX_VECTOR_RESULTS]
        docs = [_render(e, s, project, include_similarity) for e, s in ranked]
        return _page(docs, None, status)
    if plan.fields:
        take = min(limit or behaviour.page_size, behaviour.page_size)
        ordered = ordered_matches(coll, predicate, plan)[skip or 0:][:take]
        return _page([_render(e, None, project, False) for e, _ in ordered], None, status)
    state = decode_page_state(page_state) if page_state else PageState(0, limit)
    docs, next_state = _unsorted_page(coll, predicate, state, behaviour.page_size)
    if docs and next_state is not None and behaviour.empty_page_due():
        return _page([], encode_page_state(state), status)
    rendered = [_render(e, None, project, False) for e in docs]
    return _page(rendered, None if include_sort_vector or next_state is None else encode_page_state(next_state), status)


def _unsorted_page(coll: Collection, predicate: Predicate, state: PageState,
                   page_size: int) -> tuple[list[StoredDoc], PageState | None]:
    take = page_size if state.remaining is None else min(page_size, state.remaining)
    docs: list[StoredDoc] = []
    more = False
    for entry in coll.scan(state.after):
        if not predicate(entry.body):
            continue
        if len(docs) == take:
            more = True
            break
        docs.append(entry)
    remaining = None if state.remaining is None else state.remaining - len(docs)
    if not more or remaining == 0:
        return docs, None
    return docs, PageState(docs[-1].seq, remaining)


def _page(docs: list[dict[str, Any]], next_state: str | None, status: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"data": {"documents": docs, "nextPageState": next_state}}
    if status:
        result["status"] = status
    return result


def find_one(coll: Collection, body: dict[str, Any], behaviour: Behaviour) -> dict[str, Any]:
    check_fields(body, "findOne", ("filter", "projection", "sort", "options"))
    options = body.get("options") or {}
    predicate = compile_filter(body.get("filter"))
    project = compile_projection(body.get("projection"), hide_vector=behaviour.regression_mode)
    plan = parse_sort(body.get("sort"), coll)
    skip = positive_int(options, "skip", minimum=0) or 0
    found = ordered_matches(coll, predicate, plan)[skip:][:1]
    doc = _render(found[0][0], found[0][1], project, bool(options.get("includeSimilarity"))) if found else None
    result: dict[str, Any] = {"data": {"document": doc}}
    if options.get("includeSortVector"):
        result["status"] = {"sortVector": plan.sort_vector}
    return result


def count_documents(coll: Collection, body: dict[str, Any]) -> dict[str, Any]:
    check_fields(body, "countDocuments", ("filter",))
    predicate = compile_filter(body.get("filter"))
    count = 0
    for entry in coll.scan():
        if predicate(entry.body):
            count += 1
            if count > MAX_COUNT:
                return {"status": {"count": MAX_COUNT, "moreData": True}}
    return {"status": {"count": count}}


def estimated_document_count(coll: Collection, body: dict[str, Any]) -> dict[str, Any]:
    return {"status": {"count": len(coll)}}
