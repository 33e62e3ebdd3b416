"""find/findOne semantics: filters, projections, vector and field sorts, and their refusals."""

from __future__ import annotations

import datetime
import math
import uuid

import pytest
from astrapy.exceptions import DataAPIResponseException
from astrapy.ids import ObjectId


def _codes(info: pytest.ExceptionInfo) -> list[str]:
    return [e.error_code for e in info.value.error_descriptors]


def _ids(cursor) -> list:
    return [d["_id"] for d in cursor]


@pytest.fixture
def people(astra_stand_in, plain_coll):
    astra_stand_in.seed("default_keyspace", "plain", [
        {"_id": "a", "name": "Ann", "age": 30, "tags": ["x", "y"], "address": {"city": "Oslo", "zip": "0150"}},
        {"_id": "b", "name": "Bob", "age": 40, "tags": ["y"], "address": {"city": "Rome"}},
        {"_id": "c", "name": "Cid", "age": "40", "nick": None},
        {"_id": 1, "name": "One"},
        {"_id": 2.5, "name": "TwoAndAHalf"},
        {"_id": True, "name": "Yes"},
    ])
    return plain_coll


def test_equality_including_nested_paths_and_array_contains(people):
    assert _ids(people.find({"name": "Bob"})) == ["b"]
    assert _ids(people.find({"address.city": "Oslo"})) == ["a"]
    assert _ids(people.find({"tags": "y"})) == ["a", "b"]
    assert _ids(people.find({"tags": ["y"]})) == ["b"]
    assert _ids(people.find({"age": 40})) == ["b"]  # the string "40" is another type
    assert _ids(people.find({"_id": 1})) == [1]
    assert _ids(people.find({"_id": True})) == [True]  # booleans are not the number 1
    assert _ids(people.find({"nick": None})) == ["c"]
    assert _ids(people.find({"age": {"$ne": 40}})) == ["a", "c", 1, 2.5, True]
    assert _ids(people.find({"$or": [{"name": "Ann"}, {"age": "40"}]})) == ["a", "c"]


def test_in_and_exists(people):
    assert _ids(people.find({"_id": {"$in": ["a", 1, "zzz"]}})) == ["a", 1]
    assert _ids(people.find({"address": {"$exists": True}})) == ["a", "b"]
    assert _ids(people.find({"address.zip": {"$exists": False}, "name": {"$in": ["Bob", "Cid"]}})) == ["b", "c"]


def test_other_operators(people):
    assert _ids(people.find({"tags": {"$size": 2}})) == ["a"]
    assert _ids(people.find({"tags": {"$all": ["y", "x"]}})) == ["a"]
    assert _ids(people.find({"name": {"$nin": ["Ann", "Bob", "Cid"]}})) == [1, 2.5, True]
    assert _ids(people.find({"$and": [{"age": {"$gte": 30}}, {"$not": {"name": "Bob"}}]})) == ["a"]
    assert _ids(people.find({"age": {"$gt": "3"}})) == ["c"]  # ranges work on any path, per type


def test_filter_over_64_properties_is_refused(people):
    with pytest.raises(DataAPIResponseException) as info:
        people.find({f"f{i}": i for i in range(65)}).to_list()
    assert _codes(info) == ["FILTER_FIELDS_LIMIT_VIOLATION"]


def test_date_ranges(plain_coll):
    day = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    plain_coll.insert_many([{"_id": i, "at": day + datetime.timedelta(days=i)} for i in range(5)])
    assert _ids(plain_coll.find({"at": {"$gte": day + datetime.timedelta(days=3)}})) == [3, 4]


def test_in_over_100_values_is_refused(people):
    with pytest.raises(DataAPIResponseException) as info:
        people.find({"_id": {"$in": list(range(101))}}).to_list()
    assert _codes(info) == ["FILTER_INVALID_EXPRESSION"]
    assert len(people.find({"_id": {"$in": list(range(100))}}).to_list()) == 1


def test_id_ranges_are_type_specific(people):
    assert _ids(people.find({"_id": {"$gte": "a", "$lt": "c"}})) == ["a", "b"]
    assert _ids(people.find({"_id": {"$gt": 0}})) == [1, 2.5]  # numbers only, never True or strings
    assert _ids(people.find({"_id": {"$lte": 1}})) == [1]
    assert _ids(people.find({"_id": {"$gt": ""}})) == ["a", "b", "c"]


def test_uuid_and_object_id_ids_are_not_range_matchable(astra_stand_in, plain_coll):
    u, o = uuid.uuid4(), ObjectId()
    plain_coll.insert_many([{"_id": u}, {"_id": o}, {"_id": "s"}])
    assert _ids(plain_coll.find({"_id": {"$gt": ""}})) == ["s"]
    assert _ids(plain_coll.find({"_id": {"$gte": u}})) == []
    assert _ids(plain_coll.find({"_id": {"$gte": o}})) == []
    assert _ids(plain_coll.find({"_id": u})) == [u]  # equality still works
    with pytest.raises(DataAPIResponseException) as info:
        plain_coll.find({"_id": {"$gt": [1]}}).to_list()
    assert _codes(info) == ["FILTER_INVALID_EXPRESSION"]


def test_projections(astra_stand_in, vectors):
    vectors.insert_one({"_id": "p", "a": 1, "b": {"c": 2, "d": 3}, "$vector": [1, 0, 0]})
    assert vectors.find_one({}) == {"_id": "p", "a": 1, "b": {"c": 2, "d": 3}}
    assert vectors.find_one({}, projection={"*": False}) == {}
    assert vectors.find_one({}, projection={"a": True}) == {"_id": "p", "a": 1}
    assert vectors.find_one({}, projection={"b.c": 1, "_id": 0}) == {"b": {"c": 2}}
    assert vectors.find_one({}, projection={"a": False, "b.d": 0}) == {"_id": "p", "b": {"c": 2}}
    assert list(vectors.find_one({}, projection={"$vector": True})["$vector"]) == [1, 0, 0]
    assert vectors.find_one({}, projection=["a"]) == {"_id": "p", "a": 1}
    raw = vectors.command({"findOne": {"projection": {"*": 1}}})["data"]["document"]
    # astrapy writes vectors as $binary by default, and the stored form is what comes back
    assert raw == {"_id": "p", "a": 1, "b": {"c": 2, "d": 3}, "$vector": {"$binary": "P4AAAAAAAAAAAAAA"}}
    with pytest.raises(DataAPIResponseException) as info:
        vectors.find_one({}, projection={"a": True, "b": False})
    assert _codes(info) == ["UNSUPPORTED_PROJECTION_PARAM"]


def _similarities(coll, query):
    return {d["_id"]: d["$similarity"] for d in coll.find({}, sort={"$vector": query}, include_similarity=True)}


@pytest.mark.parametrize(("metric", "expected"), [
    ("cosine", lambda q, v: (1 + sum(a * b for a, b in zip(q, v)) / (math.hypot(*q) * math.hypot(*v))) / 2),
    ("dot_product", lambda q, v: (1 + sum(a * b for a, b in zip(q, v))) / 2),
    ("euclidean", lambda q, v: 1 / (1 + sum((a - b) ** 2 for a, b in zip(q, v)))),
])
def test_vector_sort_by_collection_metric(db, metric, expected):
    coll = db.create_collection(f"v_{metric}", definition={"vector": {"dimension": 2, "metric": metric}})
    stored = {"n": [0.6, 0.8], "e": [1.0, 0.0], "s": [0.0, -1.0], "w": [-0.8, 0.6]}
    coll.insert_many([{"_id": k, "$vector": v} for k, v in stored.items()] + [{"_id": "novector"}])
    query = [0.8, 0.6]
    sims = _similarities(coll, query)
    assert set(sims) == set(stored)  # documents without $vector are not in ANN results
    for key, vector in stored.items():
        assert sims[key] == pytest.approx(expected(query, vector), abs=1e-6)
    assert list(sims) == sorted(sims, key=lambda k: -sims[k])


def test_vector_sort_is_one_page_capped_at_1000(astra_stand_in, vectors):
    astra_stand_in.seed("default_keyspace", "vectors", [{"_id": i, "$vector": [1, i, 0]} for i in range(1100)])
    raw = vectors.command({"find": {"sort": {"$vector": [1, 0, 0]}}})["data"]
    assert len(raw["documents"]) == 1000 and raw["nextPageState"] is None
    assert len(vectors.find({}, sort={"$vector": [1, 0, 0]}, limit=5).to_list()) == 5
    with pytest.raises(DataAPIResponseException) as info:
        vectors.find({}, sort={"$vector": [1, 0, 0]}, limit=1001).to_list()
    assert _codes(info) == ["COMMAND_FIELD_VALUE_INVALID"]


def test_include_sort_vector(vectors):
    vectors.insert_one({"_id": 1, "$vector": [1, 0, 0]})
    cursor = vectors.find({}, sort={"$vector": [0.5, 0.5, 0]}, include_sort_vector=True)
    assert list(cursor.get_sort_vector()) == [0.5, 0.5, 0]
    raw = vectors.command({"find": {"sort": {"$vector": [0.5, 0.5, 0]}, "options": {"includeSortVector": True}}})
    assert raw["status"]["sortVector"] == [0.5, 0.5, 0] and raw["data"]["nextPageState"] is None


def test_sort_refusals(astra_stand_in, vectors, plain_coll):
    astra_stand_in.seed("default_keyspace", "vectors", [{"_id": i, "$vector": [1, i, 0]} for i in range(30)])
    state = vectors.command({"find": {}})["data"]["nextPageState"]
    with pytest.raises(DataAPIResponseException) as info:
        vectors.command({"find": {"sort": {"$vector": [1, 0, 0]}, "options": {"pageState": state}}})
    assert _codes(info) == ["SORT_CLAUSE_INVALID"]
    with pytest.raises(DataAPIResponseException) as info:
        vectors.find({}, sort={"$vector": [1, 0]}).to_list()
    assert _codes(info) == ["INVALID_VECTOR_LENGTH"]
    with pytest.raises(DataAPIResponseException) as info:
        plain_coll.find({}, sort={"$vector": [1, 0, 0]}).to_list()
    assert _codes(info) == ["VECTOR_SEARCH_NOT_SUPPORTED"]
    with pytest.raises(DataAPIResponseException) as info:
        vectors.command({"find": {"options": {"skip": 5}}})
    assert _codes(info) == ["COMMAND_FIELD_VALUE_INVALID"]
    with pytest.raises(DataAPIResponseException) as info:
        vectors.command({"find": {"options": {"limit": 0}}})
    assert _codes(info) == ["COMMAND_FIELD_VALUE_INVALID"]


def test_field_sort_with_skip_returns_one_page(astra_stand_in, plain_coll):
    astra_stand_in.seed("default_keyspace", "plain", [{"_id": i, "k": (i * 7) % 50} for i in range(50)])
    raw = plain_coll.command({"find": {"sort": {"k": -1}, "options": {"skip": 2}}})["data"]
    assert [d["k"] for d in raw["documents"]] == list(range(47, 27, -1))
    assert raw["nextPageState"] is None
    assert plain_coll.find_one({}, sort={"k": 1})["k"] == 0


def test_in_memory_sort_refuses_10000_candidates(astra_stand_in, plain_coll):
    astra_stand_in.seed("default_keyspace", "plain", [{"_id": i, "k": i % 7} for i in range(10_000)])
    with pytest.raises(DataAPIResponseException) as info:
        plain_coll.find({}, sort={"k": 1}).to_list()
    assert _codes(info) == ["OVERLOADED_SORT_ROW_LIMIT"]
    assert len(plain_coll.find({"k": 3}, sort={"_id": -1}).to_list()) == 20  # filtered below the cap: one page
