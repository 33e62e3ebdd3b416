"""Schema commands: findCollections (with and without explain), createCollection, deleteCollection."""

from __future__ import annotations

import pytest
from astrapy.info import CollectionDefinition
from astrapy.exceptions import DataAPIResponseException

FULL_OPTIONS = {
    "defaultId": {"type": "uuidv7"},
    "vector": {"dimension": 1536, "metric": "dot_product", "sourceModel": "openai-v3-small",
               "service": {"provider": "openai", "modelName": "text-embedding-3-small",
                           "authentication": {"providerKey": "K"}}},
    "indexing": {"deny": ["blob"]},
    "lexical": {"enabled": True, "analyzer": "standard"},
    "rerank": {"enabled": True, "service": {"provider": "nvidia", "modelName": "nvidia/llama-3.2-nv-rerankqa-1b-v2"}},
}


def _codes(info: pytest.ExceptionInfo) -> list[str]:
    return [e.error_code for e in info.value.error_descriptors]


def test_ddl_status_is_exactly_ok(db):
    assert db.command({"createCollection": {"name": "c"}}) == {"status": {"ok": 1}}
    assert db.command({"createCollection": {"name": "c"}}) == {"status": {"ok": 1}}  # identical: idempotent
    assert db.command({"deleteCollection": {"name": "c"}}) == {"status": {"ok": 1}}
    assert db.command({"deleteCollection": {"name": "c"}}) == {"status": {"ok": 1}}  # absent: still ok


def test_find_collections_with_and_without_explain(db):
    db.command({"createCollection": {"name": "docs", "options": FULL_OPTIONS}})
    db.create_collection("plain")
    assert db.command({"findCollections": {}}) == {"status": {"collections": ["docs", "plain"]}}
    explained = db.command({"findCollections": {"options": {"explain": True}}})["status"]["collections"]
    assert explained == [{"name": "docs", "options": FULL_OPTIONS}, {"name": "plain", "options": {}}]


def test_astrapy_reads_full_definition(db, astra_stand_in):
    definition = (CollectionDefinition.builder().with_vector_dimension(8).with_vector_metric("euclidean")
                  .with_indexing("allow", ["a", "b.c"]).with_default_id("objectId").build())
    coll = db.create_collection("docs", definition=definition)
    options = coll.options()
    assert options.vector.dimension == 8 and options.vector.metric == "euclidean"
    assert options.vector.source_model == "other"  # server default filled in
    assert options.indexing == {"allow": ["a", "b.c"]}
    assert options.default_id.default_id_type == "objectId"
    (descriptor,) = db.list_collections()
    assert descriptor.name == "docs" and descriptor.definition == options
    assert astra_stand_in.collection_options("default_keyspace", "docs") == {
        "vector": {"dimension": 8, "metric": "euclidean", "sourceModel": "other"},
        "indexing": {"allow": ["a", "b.c"]}, "defaultId": {"type": "objectId"}}


def test_create_with_different_settings_is_refused(db):
    db.create_collection("docs", definition={"vector": {"dimension": 3}})
    db.create_collection("docs", definition={"vector": {"dimension": 3, "metric": "cosine"}})  # same after defaults
    with pytest.raises(DataAPIResponseException) as info:
        db.create_collection("docs", definition={"vector": {"dimension": 4}})
    assert _codes(info) == ["EXISTING_COLLECTION_DIFFERENT_SETTINGS"]


@pytest.mark.parametrize(("options", "code"), [
    ({"vector": {"dimension": 4097}}, "VECTOR_SEARCH_TOO_BIG_VALUE"),
    ({"vector": {"dimension": 3, "metric": "manhattan"}}, "COMMAND_FIELD_VALUE_INVALID"),
    ({"vector": {"metric": "cosine"}}, "INVALID_CREATE_COLLECTION_OPTIONS"),
    ({"indexing": {"allow": ["a"], "deny": ["b"]}}, "INVALID_INDEXING_DEFINITION"),
    ({"defaultId": {"type": "serial"}}, "COMMAND_FIELD_VALUE_INVALID"),
])
def test_invalid_options_are_refused(db, options, code):
    with pytest.raises(DataAPIResponseException) as info:
        db.create_collection("docs", definition=options)
    assert _codes(info) == [code]
    assert db.list_collection_names() == []


@pytest.mark.parametrize("name", ["bad-name", "x" * 49, ""])
def test_unsupported_collection_names_are_refused(db, name):
    with pytest.raises(DataAPIResponseException) as info:
        db.command({"createCollection": {"name": name}})
    assert _codes(info) == ["UNSUPPORTED_SCHEMA_NAME"]


def test_drop_and_unknown_collection(db, astra_stand_in):
    coll = db.create_collection("docs")
    coll.insert_one({"a": 1})
    coll.drop()
    assert db.list_collection_names() == []
    with pytest.raises(DataAPIResponseException) as info:
        coll.find_one({})
    assert _codes(info) == ["UNKNOWN_COLLECTION_OR_TABLE"]


def test_unknown_keyspace_and_unknown_command(db):
    with pytest.raises(DataAPIResponseException) as info:
        db.list_collection_names(keyspace="nope")
    assert _codes(info) == ["UNKNOWN_KEYSPACE"]
    coll = db.create_collection("docs")
    with pytest.raises(DataAPIResponseException) as info:
        coll.command({"aggregate": {}})
    assert _codes(info) == ["COMMAND_UNKNOWN"]


def test_keyspace_admin_commands(db):
    admin = db.get_database_admin()
    assert admin.list_keyspaces() == ["default_keyspace"]
    admin.create_keyspace("second")
    assert sorted(admin.list_keyspaces()) == ["default_keyspace", "second"]
    assert db.create_collection("x", keyspace="second").keyspace == "second"
