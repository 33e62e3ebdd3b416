"""Documents: $vector forms and checks, EJSON types stored verbatim, and the per-document limits."""

from __future__ import annotations

import base64
import datetime
import struct
import uuid

import pytest
from astrapy.data_types import DataAPITimestamp, DataAPIVector
from astrapy.exceptions import DataAPIResponseException
from astrapy.ids import ObjectId


def _codes(info: pytest.ExceptionInfo) -> list[str]:
    return [e.error_code for e in info.value.error_descriptors]


def _refused(coll, doc) -> list[str]:
    with pytest.raises(DataAPIResponseException) as info:
        coll.insert_one(doc)
    return _codes(info)


def test_vector_forms_are_stored_and_echoed_verbatim(astra_stand_in, vectors):
    binary = {"$binary": base64.b64encode(struct.pack(">3f", 0.1, 0.2, 0.3)).decode()}
    assert binary == {"$binary": "PczMzT5MzM0+mZma"}
    vectors.command({"insertMany": {"documents": [{"_id": "arr", "$vector": [0.1, 0.2, 0.3]},
                                                  {"_id": "bin", "$vector": binary}]}})
    vectors.insert_one({"_id": "astrapy", "$vector": DataAPIVector([0.1, 0.2, 0.3])})
    stored = {d["_id"]: d["$vector"] for d in astra_stand_in.dump_collection("default_keyspace", "vectors")}
    assert stored == {"arr": [0.1, 0.2, 0.3], "bin": binary, "astrapy": binary}
    echoed = vectors.command({"find": {"projection": {"*": True}}})["data"]["documents"]
    assert {d["_id"]: d["$vector"] for d in echoed} == stored
    for doc in vectors.find({}, projection={"*": True}):
        assert list(doc["$vector"]) == pytest.approx([0.1, 0.2, 0.3], abs=1e-7)


def test_vector_refusals(db, vectors, plain_coll):
    assert _refused(vectors, {"$vector": [1, 2]}) == ["INVALID_VECTOR_LENGTH"]
    assert _refused(vectors, {"$vector": DataAPIVector([1.0, 2.0, 3.0, 4.0])}) == ["INVALID_VECTOR_LENGTH"]
    with pytest.raises(DataAPIResponseException) as info:  # astrapy would send [] as an empty $binary
        vectors.command({"insertOne": {"document": {"$vector": []}}})
    assert _codes(info) == ["SHRED_BAD_VECTOR_SIZE"]
    with pytest.raises(DataAPIResponseException) as info:
        vectors.command({"insertOne": {"document": {"$vector": [1, "2", 3]}}})
    assert _codes(info) == ["SHRED_BAD_VECTOR_VALUE"]
    assert _refused(vectors, {"$vector": {"$binary": "AAAAAAA="}}) == ["SHRED_BAD_BINARY_VECTOR_VALUE"]
    assert _refused(vectors, {"$vector": "0.1,0.2"}) == ["SHRED_BAD_DOCUMENT_VECTOR_TYPE"]
    assert _refused(vectors, {"$vector": [1, 2, 3], "$vectorize": "text"}) == ["INVALID_USAGE_OF_VECTORIZE"]
    assert _refused(plain_coll, {"$vector": [1, 2, 3]}) == ["VECTOR_SEARCH_NOT_SUPPORTED"]
    assert _refused(vectors, {"$vectorize": "no provider"}) == ["EMBEDDING_SERVICE_NOT_CONFIGURED"]
    big = db.create_collection("big", definition={"vector": {"dimension": 4096}})
    big.insert_one({"$vector": [0.5] * 4096})
    assert _refused(big, {"$vector": [0.5] * 4097}) == ["INVALID_VECTOR_LENGTH"]  # sent as $binary
    with pytest.raises(DataAPIResponseException) as info:
        big.command({"insertOne": {"document": {"$vector": [0.5] * 4097}}})
    assert _codes(info) == ["SHRED_DOC_LIMIT_VIOLATION"]  # an array over 4096 hits the shredder limit first
    assert vectors.estimated_document_count() == 0


def test_vectorize_collection_embeds_deterministically(astra_stand_in, db):
    coll = db.create_collection("vz", definition={"vector": {"dimension": 8, "service": {
        "provider": "openai", "modelName": "text-embedding-3-small"}}})
    coll.insert_many([{"_id": "a", "$vectorize": "hello"}, {"_id": "b", "$vectorize": "world"}])
    (stored_a, stored_b) = astra_stand_in.dump_collection("default_keyspace", "vz")
    assert stored_a["$vectorize"] == "hello" and len(stored_a["$vector"]) == 8
    assert coll.find_one({}, sort={"$vectorize": "hello"})["_id"] == "a"
    assert _refused(coll, {"$vectorize": "x", "$vector": [0] * 8}) == ["INVALID_USAGE_OF_VECTORIZE"]
    assert coll.find_one({"_id": "a"}) == {"_id": "a"}  # $vectorize is not in the default projection


def test_ejson_values_stored_verbatim_and_typed_by_astrapy(astra_stand_in, plain_coll):
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)
    u, o = uuid.UUID("12345678-1234-4234-8234-123456789abc"), ObjectId("65f0c0ffee0123456789abcd")
    plain_coll.insert_one({"_id": "e", "when": when, "u": u, "o": o, "blob": b"\x00\x01\xff"})
    (stored,) = astra_stand_in.dump_collection("default_keyspace", "plain")
    assert stored == {"_id": "e", "when": {"$date": 1767323045678}, "u": {"$uuid": str(u)},
                      "o": {"$objectId": str(o)}, "blob": {"$binary": "AAH/"}}
    doc = plain_coll.find_one({"_id": "e"})
    assert isinstance(doc["when"], DataAPITimestamp) and doc["when"].to_datetime(tz=datetime.timezone.utc) == when
    assert doc["u"] == u and doc["o"] == o and doc["blob"] == b"\x00\x01\xff"
    assert plain_coll.find_one({"when": when})["_id"] == "e"
    assert plain_coll.command({"findOne": {"filter": {"_id": "e"}}})["data"]["document"] == stored
    assert _refused(plain_coll, {"d": {"$date": "yesterday"}}) == ["SHRED_BAD_EJSON_VALUE"]
    assert _refused(plain_coll, {"_id": [1]}) == ["SHRED_BAD_DOCID_TYPE"]
    assert _refused(plain_coll, {"$weird": 1}) == ["SHRED_BAD_FIELD_NAME"]


def test_lexical_content(db):
    coll = db.create_collection("lex", definition={"lexical": {"enabled": True, "analyzer": "standard"}})
    coll.insert_one({"_id": 1, "$lexical": "some words"})
    assert coll.find_one({}) == {"_id": 1}  # $lexical is not in the default projection
    assert coll.find_one({}, projection={"*": True}) == {"_id": 1, "$lexical": "some words"}
    assert _refused(coll, {"$lexical": 42}) == ["SHRED_BAD_DOCUMENT_LEXICAL_TYPE"]
    off = db.create_collection("nolex", definition={"lexical": {"enabled": False}})
    assert _refused(off, {"$lexical": "words"}) == ["LEXICAL_NOT_ENABLED_FOR_COLLECTION"]


def _nested(depth: int) -> dict:
    doc: dict = {"leaf": 1}
    for _ in range(depth - 1):
        doc = {"n": doc}
    return doc


@pytest.mark.parametrize(("ok", "too_big", "problem"), [
    ({"big1": "x" * 3_990_000}, {"big1": "x" * 3_990_000, "big2": "y" * 20_000}, "document size (4010"),
    (_nested(16), _nested(17), "document depth exceeds maximum allowed (16)"),
    ({"o": {f"k{i}": i for i in range(1000)}}, {"o": {f"k{i}": i for i in range(1001)}}, "indexable Object"),
    ({f"k{i}": {"a": 1, "b": 2, "c": 3} for i in range(499)}, {f"k{i}": {"a": 1, "b": 2, "c": 3} for i in range(500)},
     "total number of indexed properties (2001)"),  # the generated _id counts too
    ({"s": "é" * 4000}, {"s": "é" * 4001}, "(8002 bytes) exceeds maximum allowed (8000 bytes)"),
    ({"a": list(range(1000))}, {"a": list(range(1001))}, "indexable Array (field 'a') has (1001)"),
])
def test_document_limits(db, ok, too_big, problem):
    coll = db.create_collection("limits", definition={"indexing": {"deny": ["big1", "big2"]}})
    coll.insert_one(ok)
    with pytest.raises(DataAPIResponseException) as info:
        coll.insert_one(too_big)
    assert _codes(info) == ["SHRED_DOC_LIMIT_VIOLATION"]
    assert problem in info.value.error_descriptors[0].message
    assert coll.estimated_document_count() == 1


def test_string_and_array_limits_skip_unindexed_paths_and_binary(db):
    coll = db.create_collection("unindexed", definition={"indexing": {"deny": ["blob", "arr"]}})
    coll.insert_one({"blob": "x" * 20_000, "arr": list(range(5000)), "ok": "y"})
    coll.insert_one({"bytes": b"\x00" * 30_000})  # a $binary body is not an indexed string
    assert coll.estimated_document_count() == 2


def test_seed_bypasses_limits_and_handles_10k_vector_docs(astra_stand_in, db):
    coll = db.create_collection("seeded", definition={"vector": {"dimension": 768}})
    vector = [0.001 * i for i in range(768)]
    astra_stand_in.seed("default_keyspace", "seeded",
                        [{"_id": i, "$vector": vector, "big": list(range(1500))} for i in range(10_000)])
    assert coll.estimated_document_count() == 10_000
    page = coll.find({"_id": {"$gte": 9990}}, projection={"*": True}).to_list()
    assert [d["_id"] for d in page] == list(range(9990, 10_000))
    assert list(page[0]["$vector"]) == pytest.approx(vector)
