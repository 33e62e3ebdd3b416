"""Writes: inserts (ordered, unordered, documentResponses), counts, deletes, replace and update with upsert."""

from __future__ import annotations

import re
import uuid

import pytest
from astrapy.constants import ReturnDocument
from astrapy.exceptions import (
    CollectionInsertManyException, DataAPIResponseException, TooManyDocumentsToCountException,
)
from astrapy.ids import ObjectId

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _codes(info: pytest.ExceptionInfo) -> list[str]:
    return [e.error_code for e in info.value.error_descriptors]


def test_insert_one_generates_uuid4_string_ids_and_puts_id_first(astra_stand_in, plain_coll):
    result = plain_coll.insert_one({"a": 1})
    assert UUID4.match(result.inserted_id)
    raw = plain_coll.command({"insertOne": {"document": {"z": 1, "_id": "given"}}})
    assert raw == {"status": {"insertedIds": ["given"]}}
    assert list(astra_stand_in.dump_collection("default_keyspace", "plain")[1]) == ["_id", "z"]


@pytest.mark.parametrize(("id_type", "check"), [
    ("uuid", lambda v: isinstance(v, uuid.UUID) and v.version == 4),
    ("uuidv6", lambda v: isinstance(v, uuid.UUID) and v.version == 6),
    ("uuidv7", lambda v: isinstance(v, uuid.UUID) and v.version == 7),
    ("objectId", lambda v: isinstance(v, ObjectId)),
])
def test_default_id_types(astra_stand_in, db, id_type, check):
    coll = db.create_collection("ids", definition={"defaultId": {"type": id_type}})
    inserted = coll.insert_one({"a": 1}).inserted_id
    assert check(inserted)
    assert coll.find_one({"_id": inserted}) == {"_id": inserted, "a": 1}
    (stored,) = astra_stand_in.dump_collection("default_keyspace", "ids")
    assert list(stored["_id"]) == ["$objectId" if id_type == "objectId" else "$uuid"]


def test_insert_one_duplicate_is_document_already_exists(plain_coll):
    plain_coll.insert_one({"_id": "x"})
    with pytest.raises(DataAPIResponseException) as info:
        plain_coll.insert_one({"_id": "x"})
    assert _codes(info) == ["DOCUMENT_ALREADY_EXISTS"]
    raw = plain_coll.command({"insertOne": {"document": {"_id": "x"}}}, raise_api_errors=False)
    assert raw["status"] == {"insertedIds": []}
    assert raw["errors"][0]["scope"] == "DOCUMENT" and raw["errors"][0]["documentIds"] == ["x"]


def test_insert_many_over_100_is_refused(plain_coll):
    with pytest.raises(DataAPIResponseException) as info:
        plain_coll.command({"insertMany": {"documents": [{"i": i} for i in range(101)]}})
    assert _codes(info) == ["COMMAND_FIELD_VALUE_INVALID"]
    assert plain_coll.estimated_document_count() == 0
    assert len(plain_coll.command({"insertMany": {"documents": [{"i": i} for i in range(100)]}})
               ["status"]["insertedIds"]) == 100
    assert len(plain_coll.insert_many([{"i": i} for i in range(250)], chunk_size=100).inserted_ids) == 250


def test_insert_many_unordered_document_responses(plain_coll):
    plain_coll.insert_one({"_id": "x2"})
    raw = plain_coll.command({"insertMany": {
        "documents": [{"_id": "x1"}, {"_id": "x2"}, {"_id": "x3"}, {"_id": "x2"}],
        "options": {"ordered": False, "returnDocumentResponses": True}}}, raise_api_errors=False)
    assert raw["status"]["documentResponses"] == [
        {"_id": "x1", "status": "OK"}, {"_id": "x2", "status": "ERROR", "errorsIdx": 0},
        {"_id": "x3", "status": "OK"}, {"_id": "x2", "status": "ERROR", "errorsIdx": 1},
    ]
    assert [e["errorCode"] for e in raw["errors"]] == ["DOCUMENT_ALREADY_EXISTS"] * 2


def test_insert_many_ordered_stops_and_skips(plain_coll):
    plain_coll.insert_one({"_id": "x2"})
    raw = plain_coll.command({"insertMany": {
        "documents": [{"_id": "x1"}, {"_id": "x2"}, {"_id": "x3"}],
        "options": {"ordered": True, "returnDocumentResponses": True}}}, raise_api_errors=False)
    assert [r["status"] for r in raw["status"]["documentResponses"]] == ["OK", "ERROR", "SKIPPED"]
    raw = plain_coll.command({"insertMany": {
        "documents": [{"a": 1}, {"$bad": 1}, {"b": 2}],
        "options": {"ordered": True, "returnDocumentResponses": True}}}, raise_api_errors=False)
    ok, bad, skipped = raw["status"]["documentResponses"]
    assert (ok["status"], bad, skipped["status"]) == ("OK", {"status": "ERROR", "errorsIdx": 0}, "SKIPPED")
    assert UUID4.match(skipped["_id"])  # ids are generated for every document before any insert
    assert raw["errors"][0]["errorCode"] == "SHRED_BAD_FIELD_NAME"
    plain_coll.insert_one({"_id": "y"})
    raw = plain_coll.command({"insertMany": {"documents": [{"_id": "w"}, {"_id": "y"}, {"_id": "z"}],
                                             "options": {"ordered": True}}}, raise_api_errors=False)
    assert raw["status"] == {"insertedIds": ["w"]}
    assert {d["_id"] for d in plain_coll.find({"_id": {"$in": ["x1", "x2", "x3", "y", "w", "z"]}})} == {
        "x1", "x2", "y", "w"}


def test_astrapy_insert_many_reports_partial_failure(plain_coll):
    plain_coll.insert_one({"_id": 3})
    with pytest.raises(CollectionInsertManyException) as info:
        plain_coll.insert_many([{"_id": i} for i in range(6)])
    assert sorted(info.value.inserted_ids) == [0, 1, 2, 4, 5]
    assert [e.error_code for ex in info.value.exceptions for e in ex.error_descriptors] == ["DOCUMENT_ALREADY_EXISTS"]


def test_count_documents_capped_at_1000(astra_stand_in, plain_coll):
    astra_stand_in.seed("default_keyspace", "plain", [{"_id": i, "odd": i % 2} for i in range(1500)])
    assert plain_coll.command({"countDocuments": {"filter": {}}}) == {"status": {"count": 1000, "moreData": True}}
    assert plain_coll.command({"countDocuments": {"filter": {"odd": 1}}}) == {"status": {"count": 750}}
    assert plain_coll.count_documents({"odd": 1}, upper_bound=1000) == 750
    with pytest.raises(TooManyDocumentsToCountException):
        plain_coll.count_documents({}, upper_bound=5000)
    assert plain_coll.estimated_document_count() == 1500


def test_delete_many_20_per_call_and_truncate(astra_stand_in, plain_coll):
    astra_stand_in.seed("default_keyspace", "plain", [{"_id": i, "g": i < 50} for i in range(100)])
    assert plain_coll.command({"deleteMany": {"filter": {"g": True}}}) == {
        "status": {"deletedCount": 20, "moreData": True}}
    astra_stand_in.reset_request_counts()
    assert plain_coll.delete_many({"g": True}).deleted_count == 30
    assert astra_stand_in.request_counts["deleteMany"] == 2  # astrapy loops while moreData
    assert plain_coll.command({"deleteMany": {"filter": {}}}) == {"status": {"deletedCount": -1}}
    assert plain_coll.estimated_document_count() == 0


def test_delete_one(plain_coll):
    plain_coll.insert_many([{"_id": i, "k": i % 3} for i in range(9)])
    assert plain_coll.delete_one({"k": 1}).deleted_count == 1
    assert plain_coll.delete_one({"k": 7}).deleted_count == 0
    assert plain_coll.count_documents({"k": 1}, upper_bound=100) == 2


def test_replace_one_and_find_one_and_replace_with_upsert(astra_stand_in, plain_coll):
    plain_coll.insert_one({"_id": "r", "v": 1})
    astra_stand_in.reset_request_counts()
    result = plain_coll.replace_one({"_id": "r"}, {"v": 2, "w": True})
    assert (result.update_info["n"], result.update_info["nModified"]) == (1, 1)
    assert astra_stand_in.request_counts == {"findOneAndReplace": 1}
    assert plain_coll.find_one({"_id": "r"}) == {"_id": "r", "v": 2, "w": True}
    before = plain_coll.find_one_and_replace({"_id": "r"}, {"v": 3})
    assert before == {"_id": "r", "v": 2, "w": True}
    upserted = plain_coll.replace_one({"_id": "new"}, {"v": 9}, upsert=True)
    assert upserted.update_info["upserted"] == "new"
    raw = plain_coll.command({"findOneAndReplace": {"filter": {"_id": "nothing"}, "replacement": {"v": 0},
                                                    "options": {"upsert": True, "returnDocument": "after"}}})
    assert raw["data"]["document"]["v"] == 0 and raw["status"]["upsertedId"] == "nothing"
    with pytest.raises(DataAPIResponseException) as info:
        plain_coll.replace_one({"_id": "r"}, {"_id": "other", "v": 4})
    assert _codes(info) == ["DOCUMENT_REPLACE_DIFFERENT_DOCID"]


def test_update_one_set_unset_and_upsert(plain_coll):
    plain_coll.insert_one({"_id": "u", "a": 1, "b": 2})
    result = plain_coll.update_one({"_id": "u"}, {"$set": {"c.d": 3}, "$unset": {"b": ""}})
    assert result.update_info["nModified"] == 1
    assert plain_coll.find_one({"_id": "u"}) == {"_id": "u", "a": 1, "c": {"d": 3}}
    assert plain_coll.update_one({"_id": "u"}, {"$set": {"a": 1}}).update_info["nModified"] == 0
    upsert = plain_coll.update_one({"_id": "v", "kind": "k"}, {"$set": {"x": 1}, "$setOnInsert": {"y": 2}},
                                   upsert=True)
    assert upsert.update_info["upserted"] == "v"
    assert plain_coll.find_one({"_id": "v"}) == {"_id": "v", "kind": "k", "x": 1, "y": 2}
    with pytest.raises(DataAPIResponseException) as info:
        plain_coll.update_one({"_id": "u"}, {"$rename": {"a": "z"}})
    assert _codes(info) == ["UNSUPPORTED_UPDATE_OPERATION"]


def test_find_one_and_update_and_find_one_and_delete(plain_coll):
    plain_coll.insert_many([{"_id": 1, "n": 1}, {"_id": 2, "n": 5}])
    after = plain_coll.find_one_and_update({"_id": 1}, {"$inc": {"n": 10}}, return_document=ReturnDocument.AFTER)
    assert after == {"_id": 1, "n": 11}
    assert plain_coll.find_one_and_update({"_id": 9}, {"$set": {"n": 0}}) is None
    assert plain_coll.find_one_and_delete({}, sort={"n": -1}) == {"_id": 1, "n": 11}
    assert [d["_id"] for d in plain_coll.find({})] == [2]
