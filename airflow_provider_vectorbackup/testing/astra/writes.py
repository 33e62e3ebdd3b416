"""Write commands: inserts, deletes, replacements and updates (with upsert).

``insertMany`` takes at most 100 documents, is unordered unless ``ordered: true`` (then it stops
at the first failure and reports the rest ``SKIPPED``), and with ``returnDocumentResponses``
answers ``status.documentResponses`` with one error per failed document and ``errorsIdx``.
``deleteMany`` deletes at most 20 documents per call and says ``moreData``; an empty filter
truncates and reports ``deletedCount: -1``.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_vectorbackup.testing.astra.behaviour import Behaviour
from airflow_provider_vectorbackup.testing.astra.ejson import ejson_tag, typed
from airflow_provider_vectorbackup.testing.astra.errors import (
    DataAPIError, document_error, field_value_invalid, transient_server_error,
)
from airflow_provider_vectorbackup.testing.astra.filters import compile_filter
from airflow_provider_vectorbackup.testing.astra.projection import compile_projection
from airflow_provider_vectorbackup.testing.astra.reads import check_fields, ordered_matches
from airflow_provider_vectorbackup.testing.astra.shredder import shred
from airflow_provider_vectorbackup.testing.astra.sorting import parse_sort
from airflow_provider_vectorbackup.testing.astra.store import Collection, StoredDoc
from airflow_provider_vectorbackup.testing.astra.updates import apply_update, check_update, plain

MAX_INSERT_MANY = 100
MAX_DELETE_MANY = 20
_UNKNOWN = object()  # a document whose _id could not be determined: the service omits "_id" then


def _try_shred(coll: Collection, doc: Any) -> tuple[dict[str, Any] | None, DataAPIError | None]:
    try:
        return shred(doc, coll.settings, coll.keyspace, coll.name), None
    except DataAPIError as exc:
        return None, exc


def _insert(coll: Collection, doc: Any) -> Any:
    stored = shred(doc, coll.settings, coll.keyspace, coll.name)
    coll.insert(stored)
    return stored["_id"]


def insert_one(coll: Collection, body: dict[str, Any]) -> dict[str, Any]:
    check_fields(body, "insertOne", ("document",))
    try:
        doc_id = _insert(coll, body.get("document"))
    except DataAPIError as exc:
        return {"status": {"insertedIds": []}, "errors": [exc.to_json()]}
    return {"status": {"insertedIds": [doc_id]}}


def insert_many(coll: Collection, body: dict[str, Any], behaviour: Behaviour) -> dict[str, Any]:
    check_fields(body, "insertMany", ("documents", "options"))
    docs = body.get("documents")
    if not isinstance(docs, list):
        raise field_value_invalid("command.documents", "`null`", "must not be null")
    if len(docs) > MAX_INSERT_MANY:
        raise field_value_invalid("command.documents", f"<JSON value of {len(docs)} documents>",
                                  f"amount of documents to insert is over the max limit ({len(docs)} vs "
                                  f"{MAX_INSERT_MANY})")
    options = body.get("options") or {}
    ordered = bool(options.get("ordered", False))
    if behaviour.partial_insert_due():
        for stored, _ in [_try_shred(coll, doc) for doc in docs[: (len(docs) + 1) // 2]]:
            try:
                if stored is not None:
                    coll.insert(stored)
            except DataAPIError:
                pass  # already there: this answer reports nothing per document anyway
        raise transient_server_error("FAILED_CONCURRENT_OPERATIONS", coll.keyspace, coll.name)
    shredded = [_try_shred(coll, doc) for doc in docs]  # as the service does: every id is known up front
    responses: list[dict[str, Any]] = []
    inserted: list[Any] = []
    errors: list[dict[str, Any]] = []
    stopped = False
    for doc, (stored, failure) in zip(docs, shredded):
        if stored is not None:
            doc_id = stored["_id"]
        else:
            doc_id = doc.get("_id", _UNKNOWN) if isinstance(doc, dict) else _UNKNOWN
        if stopped:
            responses.append(_response(doc_id, "SKIPPED"))
            continue
        if stored is not None:
            try:
                coll.insert(stored)
            except DataAPIError as exc:
                failure = exc
        if failure is not None:
            if failure.document_ids is None and doc_id is not _UNKNOWN:
                failure.document_ids = [doc_id]
            responses.append(_response(doc_id, "ERROR", len(errors)))
            errors.append(failure.to_json())
            stopped = ordered
            continue
        inserted.append(doc_id)
        responses.append(_response(doc_id, "OK"))
    status = {"documentResponses": responses} if options.get("returnDocumentResponses") else {"insertedIds": inserted}
    result: dict[str, Any] = {"status": status}
    if errors:
        result["errors"] = errors
    return result


def _response(doc_id: Any, status: str, errors_idx: int | None = None) -> dict[str, Any]:
    response = {"status": status} if doc_id is _UNKNOWN else {"_id": doc_id, "status": status}
    if errors_idx is not None:
        response["errorsIdx"] = errors_idx
    return response


def delete_one(coll: Collection, body: dict[str, Any]) -> dict[str, Any]:
    check_fields(body, "deleteOne", ("filter", "sort"))
    found = ordered_matches(coll, compile_filter(body.get("filter")), parse_sort(body.get("sort"), coll))[:1]
    for entry, _ in found:
        coll.delete(entry)
    return {"status": {"deletedCount": len(found)}}


def delete_many(coll: Collection, body: dict[str, Any]) -> dict[str, Any]:
    check_fields(body, "deleteMany", ("filter",))
    if not body.get("filter"):
        coll.truncate()
        return {"status": {"deletedCount": -1}}
    predicate = compile_filter(body.get("filter"))
    victims: list[StoredDoc] = []
    more = False
    for entry in coll.scan():
        if predicate(entry.body):
            if len(victims) == MAX_DELETE_MANY:
                more = True
                break
            victims.append(entry)
    for entry in victims:
        coll.delete(entry)
    status: dict[str, Any] = {"deletedCount": len(victims)}
    if more:
        status["moreData"] = True
    return {"status": status}


def _first(coll: Collection, body: dict[str, Any]) -> StoredDoc | None:
    found = ordered_matches(coll, compile_filter(body.get("filter")), parse_sort(body.get("sort"), coll))[:1]
    return found[0][0] if found else None


def _upsert_seed(filter_clause: Any) -> dict[str, Any]:
    """Fields an upsert copies from the filter's top-level equalities."""
    seed: dict[str, Any] = {}
    for key, value in (filter_clause or {}).items():
        if key.startswith("$"):
            continue
        if isinstance(value, dict) and value and next(iter(value)).startswith("$") and ejson_tag(value) is None:
            if "$eq" not in value:
                continue
            value = value["$eq"]
        node = seed
        *heads, leaf = key.split(".")
        for head in heads:
            node = node.setdefault(head, {})
        node[leaf] = value
    return seed


def _return_after(options: dict[str, Any]) -> bool:
    which = options.get("returnDocument", "before")
    if which not in ("before", "after"):
        raise field_value_invalid("command.options.returnDocument", f'"{which}"',
                                  "value must be 'before' or 'after'")
    return which == "after"


def find_one_and_replace(coll: Collection, body: dict[str, Any], behaviour: Behaviour) -> dict[str, Any]:
    check_fields(body, "findOneAndReplace", ("filter", "sort", "projection", "replacement", "options"))
    options = body.get("options") or {}
    replacement = body.get("replacement")
    if not isinstance(replacement, dict):
        raise field_value_invalid("command.replacement", "`null`", "must be an Object")
    project = compile_projection(body.get("projection"), hide_vector=behaviour.regression_mode)
    after = _return_after(options)
    entry = _first(coll, body)
    if entry is None:
        return _upsert(coll, body, options, project, after, lambda seed: {**seed, **replacement})
    current_id = entry.body["_id"]
    if "_id" in replacement and typed(replacement["_id"]) != typed(current_id):
        raise document_error(
            "DOCUMENT_REPLACE_DIFFERENT_DOCID",
            f"The replace document and document resolved using filter have different '_id's: "
            f"{replacement['_id']} (replace document) vs. {current_id} (document that filter matches).\n\n"
            "Resend the update command with a document that has same '_id' as document being replaced.",
            "Document the given _id already exists")
    new_body = shred({**replacement, "_id": current_id}, coll.settings, coll.keyspace, coll.name)
    return _modified(coll, entry, new_body, project, after)


def _modified(coll: Collection, entry: StoredDoc, new_body: dict[str, Any], project: Any,
              after: bool) -> dict[str, Any]:
    before_body = entry.body
    changed = typed(plain(before_body)) != typed(plain(new_body))
    if changed:
        coll.replace(entry, new_body)
    return {"data": {"document": project(new_body if after else before_body)},
            "status": {"matchedCount": 1, "modifiedCount": int(changed)}}


def _upsert(coll: Collection, body: dict[str, Any], options: dict[str, Any], project: Any, after: bool,
            build: Any) -> dict[str, Any]:
    if not options.get("upsert"):
        return {"data": {"document": None}, "status": {"matchedCount": 0, "modifiedCount": 0}}
    new_doc = build(_upsert_seed(body.get("filter")))
    stored = shred(new_doc, coll.settings, coll.keyspace, coll.name)
    coll.insert(stored)
    return {"data": {"document": project(stored) if after else None},
            "status": {"matchedCount": 0, "modifiedCount": 0, "upsertedId": stored["_id"]}}


def find_one_and_update(coll: Collection, body: dict[str, Any], behaviour: Behaviour) -> dict[str, Any]:
    check_fields(body, "findOneAndUpdate", ("filter", "sort", "projection", "update", "options"))
    options = body.get("options") or {}
    update = check_update(body.get("update"))
    project = compile_projection(body.get("projection"), hide_vector=behaviour.regression_mode)
    after = _return_after(options)
    entry = _first(coll, body)
    if entry is None:
        return _upsert(coll, body, options, project, after,
                       lambda seed: apply_update(seed, update, inserting=True))
    new_doc = apply_update(plain(entry.body), update, inserting=False)
    new_body = shred(new_doc, coll.settings, coll.keyspace, coll.name)
    return _modified(coll, entry, new_body, project, after)


def update_one(coll: Collection, body: dict[str, Any], behaviour: Behaviour) -> dict[str, Any]:
    check_fields(body, "updateOne", ("filter", "sort", "update", "options"))
    result = find_one_and_update(coll, {**body, "options": {"upsert": (body.get("options") or {}).get("upsert")}},
                                 behaviour)
    return {"status": result["status"]}


def find_one_and_delete(coll: Collection, body: dict[str, Any], behaviour: Behaviour) -> dict[str, Any]:
    check_fields(body, "findOneAndDelete", ("filter", "sort", "projection"))
    project = compile_projection(body.get("projection"), hide_vector=behaviour.regression_mode)
    entry = _first(coll, body)
    if entry is None:
        return {"data": {"document": None}, "status": {"deletedCount": 0}}
    coll.delete(entry)
    return {"data": {"document": project(entry.body)}, "status": {"deletedCount": 1}}
