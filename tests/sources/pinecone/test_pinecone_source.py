"""PineconeSource against the stand-in through the real ``pinecone`` client: list paging, namespaces as collections,
sparse values, Pinecone's metadata limits, and the pod index it refuses to read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_vectorbackup.snapshot import vector_fields
from airflow_provider_vectorbackup.sources.base import CollectionDefinitionMismatch, UnsupportedDefinition
from airflow_provider_vectorbackup.sources.pinecone.client import PineconeSource
from airflow_provider_vectorbackup.sources.pinecone.definition import new_definition
from airflow_provider_vectorbackup.sources.pinecone.scan import PodIndexNotListable
from airflow_provider_vectorbackup.sources.portable import PortableCollection
from airflow_provider_vectorbackup.testing.pinecone import PineconeStandIn
from tests.sources.pinecone.standin import pinecone_source

POD = {"deployment_type": "pod", "environment": "us-east1-gcp", "pod_type": "p1.x1", "replicas": 1, "shards": 1}


def _dense(i: int, dimension: int = 4) -> dict[str, Any]:
    return vector_fields.dense([(i + k) / 10 for k in range(dimension)])


def _read(source: PineconeSource, name: str) -> list[dict[str, Any]]:
    return [d for page in source.scan(name, source.collection_definition(name)).pages() for d in page]


def test_a_namespace_is_read_through_several_list_pages_in_id_order(pinecone: PineconeSource,
                                                                    pinecone_stand_in: PineconeStandIn) -> None:
    assert pinecone.create_collection("paged", new_definition(4, "euclidean")) is True
    documents = [{"_id": f"id-{i:02d}", "$vectors": {"values": _dense(i)}} for i in range(30)]
    assert pinecone.insert_documents("paged", documents[::-1], chunk_size=9).inserted == 30
    before = pinecone_stand_in.request_counts
    scan = pinecone.scan("paged", new_definition(4, "euclidean"))
    pages = list(scan.pages())
    assert [len(page) for page in pages] == [7, 7, 7, 7, 2], "pages of page_size=7, the last one short"
    assert [d for page in pages for d in page] == documents, "every record once, in id order"
    assert pinecone_stand_in.request_counts["list"] - before.get("list", 0) == 5
    assert pinecone_stand_in.request_counts["fetch"] - before.get("fetch", 0) == 5
    assert scan.record.to_dict() == {"mode": "single", "streams": 1, "reason": scan.record.reason, "page_size": 7,
                                     "documents": 30, "count_before": 30, "count_after": 30}


def test_long_ids_are_fetched_in_several_requests_so_no_url_grows_too_long(
        pinecone_stand_in: PineconeStandIn) -> None:
    source = pinecone_source(pinecone_stand_in)  # list pages of 100
    source.create_collection("long", new_definition(4))
    documents = [{"_id": f"{i:03d}" + "~" * 509, "$vectors": {"values": _dense(i)}} for i in range(100)]
    assert source.insert_documents("long", documents, chunk_size=100).inserted == 100
    before = pinecone_stand_in.request_counts["fetch"]
    assert _read(source, "long") == documents
    assert pinecone_stand_in.request_counts["fetch"] - before == 7, "15 ids of 517 URL characters per fetch"
    source.close()


def test_a_pod_index_is_listed_but_reading_it_is_refused_with_the_reason(pinecone: PineconeSource,
                                                                         pinecone_stand_in: PineconeStandIn) -> None:
    pinecone_stand_in.create_index("legacy", dimension=4, deployment=POD)
    pinecone_stand_in.seed("legacy", [{"id": "a", "values": [0.1, 0.2, 0.3, 0.4]}], namespace="old")
    collections = {info.name: info.definition for info in pinecone.list_collections()}
    assert set(collections) == {"legacy", "legacy.old"}
    assert collections["legacy"]["native"]["deployment"] == POD
    assert pinecone.count_documents("legacy.old").count == 1
    with pytest.raises(PodIndexNotListable, match=r"'legacy.old'.*index 'legacy' is a pod-based index.*serverless"):
        list(pinecone.scan("legacy.old", collections["legacy.old"]).pages())
    with pytest.raises(PodIndexNotListable, match="'legacy'"):
        pinecone.partitions("legacy", collections["legacy"])  # a scale-out plan is refused as early
    assert "list" not in pinecone_stand_in.request_counts, "refused before asking"
    assert "a restore creates serverless (managed) indexes only" in pinecone.unsupported(collections["legacy"])[0]


def test_the_stand_in_answers_list_on_a_pod_index_with_pinecones_refusal(pinecone: PineconeSource,
                                                                         pinecone_stand_in: PineconeStandIn) -> None:
    from pinecone.errors.exceptions import ApiError

    pinecone_stand_in.create_index("legacy", dimension=4, deployment=POD)
    with pytest.raises(ApiError, match="only supported for serverless indexes") as refused:
        list(pinecone.index("legacy").list())
    assert refused.value.status_code == 400


@pytest.mark.parametrize(("payload", "code", "reason"), [
    ({"blob": "x" * 40_950}, "METADATA_TOO_LARGE", r"at most 40960 bytes of metadata"),
    ({"gone": None}, "METADATA_VALUE", r"'gone' is null"),
    ({"nested": {"a": 1.0}}, "METADATA_VALUE", r"'nested' is an object"),
    ({"mixed": ["a", 1.0]}, "METADATA_VALUE", r"'mixed' is a list of other than strings"),
    ({"count": 5}, "METADATA_CHANGED", r"integers back as floats, so 5 would read back as 5\.0"),
    ({}, "METADATA_CHANGED", r"non-empty map"),
], ids=["too-large", "null", "object", "mixed-list", "int", "empty"])
def test_metadata_pinecone_would_refuse_or_change_is_refused_with_the_reason(
        pinecone: PineconeSource, payload: dict[str, Any], code: str, reason: str) -> None:
    pinecone.create_collection("meta", new_definition(4))
    good = {"_id": "good", "$vectors": {"values": _dense(1)}, "payload": {"ok": "yes"}}
    report = pinecone.insert_documents("meta", [good, {"_id": "bad", "$vectors": {"values": _dense(2)},
                                                       "payload": payload}])
    assert report.inserted == 1 and [(f.id, f.error_code) for f in report.failures] == [("bad", code)]
    assert report.failures[0].message and __import__("re").search(reason, report.failures[0].message)
    assert _read(pinecone, "meta") == [good]


def test_the_stand_in_itself_refuses_metadata_over_40_kb_and_nulls_as_pinecone_does(
        pinecone: PineconeSource) -> None:
    """The same limits on the wire, for a client that does not check first."""
    from pinecone.errors.exceptions import ApiError

    pinecone.create_collection("wire", new_definition(4))
    index = pinecone.index("wire")
    with pytest.raises(ApiError, match="exceeds the limit of 40960 bytes"):
        index.upsert(vectors=[{"id": "a", "values": [0.1] * 4, "metadata": {"blob": "x" * 41_000}}])
    with pytest.raises(ApiError, match="string, number, boolean or list of strings, got null"):
        index.upsert(vectors=[{"id": "a", "values": [0.1] * 4, "metadata": {"gone": None}}])
    index.upsert(vectors=[{"id": "a", "values": [0.1] * 4, "metadata": {"n": 5, "tags": ["x"]}}])
    assert index.fetch(ids=["a"]).vectors["a"].metadata == {"n": 5.0, "tags": ["x"]}
    assert type(index.fetch(ids=["a"]).vectors["a"].metadata["n"]) is float


def test_sparse_values_round_trip_in_a_sparse_index_and_beside_dense_ones(pinecone: PineconeSource) -> None:
    sparse_only = new_definition(None, sparse=True)
    assert sparse_only["vectors"] == {"sparse_values": {"kind": "sparse", "dtype": "float32", "dimension": None,
                                                        "metric": "dot_product", "nullable": False}}
    assert pinecone.create_collection("terms", sparse_only) is True
    assert pinecone.collection_definition("terms") == sparse_only
    documents = [{"_id": f"t{i}", "$vectors": {"sparse_values": vector_fields.sparse(
        [i, 1000 + i, 2**32 - 1 - i], [0.5 + i, 1 / 3, -2.25])}} for i in range(10)]
    assert pinecone.insert_documents("terms", documents).inserted == 10
    assert _read(pinecone, "terms") == documents
    query = documents[4]["$vectors"]["sparse_values"]
    assert pinecone.vector_search("terms", query, limit=3, field="sparse_values")[0] == "t4", "its own first"

    hybrid = new_definition(4, "dot_product", sparse=True)
    pinecone.create_collection("hybrid", hybrid)
    mixed = [{"_id": "dense-only", "$vectors": {"values": _dense(1)}},
             {"_id": "both", "$vectors": {"values": _dense(2), "sparse_values": vector_fields.sparse([7], [1.5])}}]
    assert pinecone.insert_documents("hybrid", mixed).inserted == 2
    assert _read(pinecone, "hybrid") == [mixed[1], mixed[0]]


def test_sparse_values_beside_a_cosine_field_are_refused_before_anything_is_created(pinecone: PineconeSource) -> None:
    definition = new_definition(4, "cosine", sparse=True)
    with pytest.raises(UnsupportedDefinition, match="'cosine-hybrid'.*only with metric dotproduct"):
        pinecone.create_collection("cosine-hybrid", definition)
    assert pinecone.collection_definition("cosine-hybrid") is None
    sparse = {"kind": "sparse", "dtype": "float32", "dimension": None, "metric": "dot_product", "nullable": True}
    dense = {"kind": "dense", "dtype": "float32", "dimension": 4, "metric": "cosine", "nullable": False}
    with pytest.raises(UnsupportedDefinition, match="only in a dot-product index"):
        pinecone.portable_definition(PortableCollection("string", {"values": dense, "sparse_values": sparse}))


def test_each_namespace_is_a_collection_and_one_can_be_restored_alone(pinecone: PineconeSource,
                                                                      pinecone_stand_in: PineconeStandIn) -> None:
    definition = new_definition(4)
    for name in ("shop", "shop.en", "shop.fr-ca"):
        assert pinecone.create_collection(name, definition) is True
    pinecone.insert_documents("shop", [{"_id": "d", "$vectors": {"values": _dense(0)}}])
    english = [{"_id": f"en{i}", "$vectors": {"values": _dense(i)}, "payload": {"lang": "en"}} for i in range(3)]
    pinecone.insert_documents("shop.en", english)
    pinecone.insert_documents("shop.fr-ca", [{"_id": "fr", "$vectors": {"values": _dense(9)}}])
    listed = {info.name: info.definition for info in pinecone.list_collections()}
    assert listed == {"shop": definition, "shop.en": definition, "shop.fr-ca": definition}
    assert [pinecone.count_documents(n).count for n in ("shop", "shop.en", "shop.fr-ca")] == [1, 3, 1]

    # Restoring only the English namespace into another index: choosing that one collection.
    assert pinecone.create_collection("copy.en", listed["shop.en"]) is True
    assert pinecone.insert_documents("copy.en", _read(pinecone, "shop.en")).inserted == 3
    assert {info.name for info in pinecone.list_collections()} >= {"copy", "copy.en"}
    assert _read(pinecone, "copy.en") == english and _read(pinecone, "copy") == []
    only_copy = pinecone_source(pinecone_stand_in, index="copy")  # the connection's index extra
    assert [info.name for info in only_copy.list_collections()] == ["copy", "copy.en"]
    assert only_copy.describe_source()["index"] == "copy" and "(index copy)" in only_copy.namespace
    assert pinecone.find_by_ids("copy.en", ["en1", "missing"]) == [english[1]]

    pinecone.drop_collection("shop.fr-ca")
    assert pinecone.collection_definition("shop.fr-ca") is None and pinecone.count_documents("shop").count == 1
    pinecone.drop_collection("shop")  # other namespaces remain: the default one is emptied, the index kept
    assert pinecone.collection_definition("shop.en") == definition and pinecone.count_documents("shop").count == 0
    pinecone.drop_collection("shop.en")
    pinecone.drop_collection("shop")  # now the last: the index goes
    assert pinecone.collection_definition("shop") is None


@pytest.mark.parametrize("name", ["Upper", "under_score", "shop.", "shop.__default__", "-dash"])
def test_a_name_pinecone_cannot_hold_is_refused_before_anything_is_created(pinecone: PineconeSource,
                                                                          name: str) -> None:
    with pytest.raises(UnsupportedDefinition, match=repr(name).replace(".", r"\.")):
        pinecone.create_collection(name, new_definition(4))
    assert not pinecone.list_collections()


def test_a_different_record_already_there_is_left_alone_and_reported(pinecone: PineconeSource) -> None:
    pinecone.create_collection("kept", new_definition(4))
    original = {"_id": "a", "$vectors": {"values": _dense(1)}, "payload": {"v": 1.0}}
    pinecone.insert_documents("kept", [original])
    report = pinecone.insert_documents("kept", [{**original, "payload": {"v": 2.0}}])
    report.merge(pinecone.insert_documents("kept", [original]))
    assert (report.inserted, report.already_present) == (0, 1)
    assert [(f.id, f.error_code) for f in report.failures] == [("a", "DIFFERENT_DOCUMENT_EXISTS")]
    assert _read(pinecone, "kept") == [original]


def test_an_index_defined_otherwise_is_refused_for_a_namespace_too(pinecone: PineconeSource) -> None:
    pinecone.create_collection("taken", new_definition(4))
    with pytest.raises(CollectionDefinitionMismatch, match=r"'taken.ns'.*native.schema"):
        pinecone.create_collection("taken.ns", new_definition(5))
    assert pinecone.collection_definition("taken.ns") is None


def test_the_connection_opens_it_through_the_hook_and_the_key_stays_out_of_errors(
        pinecone_connection: str, pinecone_stand_in: PineconeStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_vectorbackup.hooks.source import VectorSourceHook

    pinecone_stand_in.create_index("via-hook", dimension=4)
    hook = VectorSourceHook(pinecone_connection)
    source = hook.get_conn()
    assert isinstance(source, PineconeSource) and [c.name for c in source.list_collections()] == ["via-hook"]
    assert source.describe_source() == {"kind": "pinecone", "version": source.describe_source()["version"],
                                        "where": pinecone_stand_in.url}
    assert pinecone_stand_in.api_key not in json.dumps(source.describe_source()) + repr(source)
    assert source.safe_message(RuntimeError(f"key {pinecone_stand_in.api_key}")) == "key ***"


def test_a_scan_and_an_insert_ride_out_throttling_and_server_errors_through_the_clients_retries(
        pinecone: PineconeSource, pinecone_stand_in: PineconeStandIn) -> None:
    """An index's client retries 429 and 5xx (three times, 0.25 s apart at least): sparse faults are ridden out."""
    pinecone.create_collection("flaky", new_definition(4))
    documents = [{"_id": f"r{i:02d}", "$vectors": {"values": _dense(i)}, "payload": {"n": float(i)}} for i in range(23)]
    pinecone_stand_in.faults.configure(rate_limit_every=9, server_error_every=7, server_error_status=503)
    assert pinecone.insert_documents("flaky", documents, chunk_size=6).inserted == 23
    assert _read(pinecone, "flaky") == documents
    assert pinecone_stand_in.faults.injected["rate_limit"] > 0 and pinecone_stand_in.faults.injected["server_error"] > 0
