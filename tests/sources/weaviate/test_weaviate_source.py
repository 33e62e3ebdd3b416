"""WeaviateSource against the stand-in: tenants, several named vectors, typed values, paging by UUID cursor."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from typing import Any

import pytest

from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.snapshot.codec import DEFAULT_CODEC
from airflow_provider_vectorbackup.sources.base import CollectionDefinitionMismatch
from airflow_provider_vectorbackup.sources.weaviate.client import InactiveTenants, UnreadableCollection
from tests.sources.test_conformance import digest_of, scanned

VECTORS = {"title": {"vectorizer": {"none": {}}, "vectorIndexType": "hnsw",
                     "vectorIndexConfig": {"distance": "cosine"}},
           "body": {"vectorizer": {"none": {}}, "vectorIndexType": "flat",
                    "vectorIndexConfig": {"distance": "manhattan"}},
           "tokens": {"vectorizer": {"none": {}}, "vectorIndexType": "hnsw",
                      "vectorIndexConfig": {"distance": "dot", "multivector": {"enabled": True}}}}


def _create(source: Any, name: str, *, tenants: bool = False) -> None:
    source.client.collections.create_from_dict({
        "class": name, "description": "notes", "properties": [{"name": "n", "dataType": ["int"]},
                                                              {"name": "when", "dataType": ["date"]}],
        "vectorConfig": VECTORS, "multiTenancyConfig": {"enabled": tenants}})


def _document(i: int, tenant: str | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "_id": DEFAULT_CODEC.encode(uuid.UUID(int=i * 104729 + 1)),
        "$vectors": {"body": vf.dense([i, -i, 0.5]), "title": vf.dense([1.0, i / 3]),
                     "tokens": vf.multi([[1.0, 0.0], [0.25, i]])},
        "payload": DEFAULT_CODEC.encode({"n": i, "when": dt.datetime(2025, 1, 1, 8, tzinfo=dt.timezone(
            dt.timedelta(hours=-5))) + dt.timedelta(hours=i)})}
    if tenant is not None:
        document["tenant"] = tenant
    return document


def test_named_vectors_are_described_with_their_vectorizer_and_kept(weaviate_source) -> None:
    source = weaviate_source(page_size=7)
    _create(source, "Notes")
    empty = source.collection_definition("Notes")
    assert {name: spec["dimension"] for name, spec in empty["vectors"].items()} == {
        "body": None, "title": None, "tokens": None}  # Weaviate's schema records none; no vector written yet
    documents = [_document(i) for i in range(30)]  # five pages of 7, the last short
    assert source.insert_documents("Notes", documents).inserted == 30
    definition = source.collection_definition("Notes")
    assert definition["vectors"] == {
        "body": {"kind": "dense", "dtype": "float32", "dimension": 3, "metric": "manhattan", "nullable": True},
        "title": {"kind": "dense", "dtype": "float32", "dimension": 2, "metric": "cosine", "nullable": True},
        "tokens": {"kind": "multi", "dtype": "float32", "dimension": 2, "metric": "max_sim_dot_product",
                   "nullable": True}}
    assert definition["native"]["vectorConfig"]["title"]["vectorizer"] == {"none": {}}
    assert definition["native"]["description"] == "notes"
    read = scanned(source, "Notes", definition)
    assert len(read) == 30 and digest_of(read) == digest_of(documents)
    assert read[0]["payload"]["when"] == {"$backupType": "datetime", "value": "2025-01-01T08:00:00-05:00"}
    assert source.vector_search("Notes", vf.multi([[1.0, 0.0], [0.25, 29]]), limit=1, field="tokens") == \
        [documents[29]["_id"]]
    source.drop_collection("Notes")
    assert source.create_collection("Notes", definition) is True
    assert source.create_collection("Notes", definition) is False  # recognised before its first vector
    source.insert_documents("Notes", documents[:1])
    assert source.collection_definition("Notes") == definition
    other = {**definition, "vectors": {**definition["vectors"], "body": {**definition["vectors"]["body"],
                                                                          "dimension": 4}}}
    with pytest.raises(CollectionDefinitionMismatch):
        source.create_collection("Notes", other)


def test_every_active_tenant_is_backed_up_and_restored_with_its_tenant(weaviate_source) -> None:
    source = weaviate_source(page_size=4, partition_size=4)
    _create(source, "Shared", tenants=True)
    documents = [_document(i, tenant) for tenant in ("acme", "globex") for i in range(9)]  # same ids in both
    report = source.insert_documents("Shared", documents)
    assert report.ok and report.inserted == 18, report.summary()
    definition = source.collection_definition("Shared")
    assert definition["native"]["tenants"] == ["acme", "globex"]
    scan = source.scan("Shared", definition)
    read = [d for page in scan.pages() for d in page]
    assert digest_of(read) == digest_of(documents) and scan.record.to_dict()["tenants"] == 2
    partitions = source.partitions("Shared", definition)  # UUID ranges of 4, 4 and 1 objects in each tenant
    assert [p.spec["tenants"] for p in partitions] == [["acme"]] * 3 + [["globex"]] * 3
    parts = [[d for page in source.read_partition("Shared", p) for d in page] for p in partitions]
    assert [len(part) for part in parts] == [4, 4, 1] * 2
    assert digest_of([d for part in parts for d in part]) == digest_of(documents)
    assert source.count_documents("Shared").count == 18
    assert len(source.find_by_ids("Shared", [documents[0]["_id"]])) == 2  # one per tenant
    source.drop_collection("Shared")
    assert source.create_collection("Shared", definition) is True
    assert source.collection_definition("Shared")["native"]["tenants"] == ["acme", "globex"]  # recreated, active
    again = source.insert_documents("Shared", documents)
    assert again.inserted == 18 and again.ok
    assert source.collection_definition("Shared") == definition


@pytest.mark.parametrize("status", ["COLD", "FROZEN"])
def test_an_inactive_tenant_fails_the_collection_naming_it_and_how_to_activate_it(weaviate_source, weaviate_stand_in,
                                                                                    status: str) -> None:
    source = weaviate_source()
    _create(source, "Shared", tenants=True)
    source.insert_documents("Shared", [_document(1, "acme"), _document(2, "globex"), _document(3, "initech")])
    weaviate_stand_in.set_tenant_status("Shared", "globex", status)
    definition = source.collection_definition("Shared")
    expected = "INACTIVE" if status == "COLD" else "OFFLOADED"
    with pytest.raises(InactiveTenants, match=rf"'globex' \({expected}\).*activityStatus ACTIVE"):
        with contextlib.closing(source.scan("Shared", definition).pages()) as pages:
            next(pages)
    with pytest.raises(InactiveTenants, match="globex"):
        source.partitions("Shared", definition)
    with pytest.raises(InactiveTenants, match="globex"):
        source.count_documents("Shared")
    weaviate_stand_in.set_tenant_status("Shared", "globex", "HOT")
    assert len(scanned(source, "Shared", definition)) == 3


def test_what_weaviate_would_not_hand_back_is_refused_per_document(weaviate_source) -> None:
    source = weaviate_source()
    _create(source, "Notes")
    good = _document(1)
    bad = [{**_document(2), "payload": {"n": None}},
           {**_document(3), "payload": {"n": 2**53 + 1}},
           {**_document(4), "payload": {"when": {"$backupType": "datetime", "value": "2025-01-01T08:00:00"}}},
           {**_document(5), "payload": {"other": "x"}},
           {**_document(6), "tenant": "acme"}]
    report = source.insert_documents("Notes", [good, *bad])
    assert report.inserted == 1 and [f.error_code for f in report.failures] == ["UNWRITABLE"] * 5
    messages = " | ".join(f.message for f in report.failures)
    for expected in ("keeps no nulls", "exact only to 2**53", "without a UTC offset", "not in the collection's schema",
                     "has no tenants"):
        assert expected in messages
    changed = {**good, "payload": DEFAULT_CODEC.encode({"n": 99})}
    clash = source.insert_documents("Notes", [changed])
    assert clash.failures[0].error_code == "DIFFERENT_DOCUMENT_EXISTS"


def test_a_collection_with_what_a_backup_cannot_read_is_refused_by_name_before_reading(weaviate_source) -> None:
    source = weaviate_source()
    _create(source, "Places")
    definition = source.collection_definition("Places")
    definition["native"]["properties"].append({"name": "where", "dataType": ["geoCoordinates"]})
    with pytest.raises(UnreadableCollection, match="property 'where' is of type 'geoCoordinates'"):
        with contextlib.closing(source.scan("Places", definition).pages()) as pages:
            next(pages)
    legacy = {**definition, "native": {k: v for k, v in definition["native"].items() if k != "vectorConfig"}}
    with pytest.raises(UnreadableCollection, match="legacy unnamed vector"):
        source.partitions("Places", legacy)
