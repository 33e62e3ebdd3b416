"""The Chroma source against a real embedded Chroma (PersistentClient): fidelity, Chroma's quirks, faults, secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from airflow_provider_vectorbackup.connection import ConnectionSettings
from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.jobs.restore import RestoreNotValidated, RestoreOptions, restore_snapshot
from airflow_provider_vectorbackup.snapshot.tolerance import ulps_apart
from airflow_provider_vectorbackup.snapshot import vector_fields
from airflow_provider_vectorbackup.snapshot.digest import ContentDigest, canonical_json
from airflow_provider_vectorbackup.snapshot.reader import open_snapshot
from airflow_provider_vectorbackup.sources.base import UnsupportedDefinition
from airflow_provider_vectorbackup.sources.chroma.client import ChromaSource
from airflow_provider_vectorbackup.sources.chroma.definition import new_definition
from airflow_provider_vectorbackup.sources.chroma.scan import ScanFailed
from airflow_provider_vectorbackup.sources.registry import open_source
from airflow_provider_vectorbackup.stores.local import LocalStore
from tests.sources.chroma.dataset import records
from tests.sources.chroma.engine import settings_for

DIMENSION = 16
COUNT = 240
HNSW = {"ef_construction": 64, "ef_search": 37, "max_neighbors": 12, "resize_factor": 1.5, "sync_threshold": 500}


def make_collections(client: Any) -> None:
    """One collection per way of defining one: legacy metadata keys, a configuration, Chroma's default embedder."""
    from chromadb.utils.embedding_functions import DefaultEmbeddingFunction

    client.create_collection("legacy-l2", embedding_function=None,
                             metadata={"hnsw:space": "l2", "hnsw:construction_ef": 50, "hnsw:M": 8, "hnsw:search_ef": 20,
                                       "owner": "team é", "version": 3, "ratio": 0.5, "live": True})
    client.create_collection("config_ip", embedding_function=None, configuration={"hnsw": {"space": "ip", **HNSW}})
    client.create_collection("cosine_default", metadata={"topic": "news"},
                             configuration={"hnsw": {"space": "cosine", **HNSW},
                                            "embedding_function": DefaultEmbeddingFunction()})
    client.get_collection("legacy-l2", embedding_function=None).modify(configuration={"hnsw": {"ef_search": 9}})
    for seed, name in enumerate(["legacy-l2", "config_ip", "cosine_default"]):
        client.get_collection(name, embedding_function=None).add(**records(COUNT, DIMENSION, seed))


def digest(documents: list[dict[str, Any]]) -> str:
    total = ContentDigest()
    for document in documents:
        total.add(document)
    return total.hexdigest()


def read_all(source: ChromaSource, name: str) -> list[dict[str, Any]]:
    return [document for page in source.scan(name, {}).pages() for document in page]


def described(client: Any, name: str) -> tuple[Any, Any]:
    """The engine's own description of a collection."""
    collection = client.get_collection(name, embedding_function=None)
    return collection.configuration_json, collection.metadata


def exact_neighbours(documents: list[dict[str, Any]], query: np.ndarray, metric: str, k: int = 10) -> list[str]:
    ids = [d["_id"] for d in documents]
    matrix = np.stack([np.asarray(vector_fields.values_of(d["$vectors"]["embedding"])) for d in documents])
    if metric == "euclidean":
        score = -((matrix - query) ** 2).sum(axis=1)
    elif metric == "dot_product":
        score = matrix @ query
    else:
        score = (matrix @ query) / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))
    return [ids[i] for i in np.argsort(-score, kind="stable")[:k]]


def test_dump_then_restore_keeps_every_record_definition_and_neighbour(chroma: ChromaSource, chroma_client: Any,
                                                                        tmp_path: Path) -> None:
    make_collections(chroma_client)
    store = LocalStore(tmp_path / "store")
    outcome = dump_snapshot(chroma, store, "20260401T000000Z-chroma")
    assert outcome.manifest.status == "complete" and not outcome.failures
    snapshot = open_snapshot(store.get("20260401T000000Z-chroma").location)
    for name in ["legacy-l2", "config_ip", "cosine_default"]:
        original = read_all(chroma, name)
        stored = list(snapshot.records(name))
        assert len(stored) == COUNT and digest(stored) == digest(original)
        definition = snapshot.definition(name)
        assert definition == chroma.collection_definition(name)
        target = f"restored-{name}"
        assert chroma.create_collection(target, definition) is True
        report = chroma.insert_documents(target, stored, chunk_size=100)
        assert (report.inserted, report.failures) == (COUNT, [])
        assert described(chroma_client, target) == described(chroma_client, name)
        assert chroma.collection_definition(target) == definition, "stable under another name"
        restored = {d["_id"]: d for d in read_all(chroma, target)}
        metric = definition["vectors"]["embedding"]["metric"]
        if metric == "cosine":  # Chroma hands cosine vectors back renormalized: equal but for a few ulps
            assert_equal_but_cosine_drift(stored, restored)
        else:
            assert digest(list(restored.values())) == digest(stored)
        hits = 0
        for document in stored[:20]:
            query = np.asarray(vector_fields.values_of(document["$vectors"]["embedding"]))
            found = chroma.vector_search(target, document["$vectors"]["embedding"], limit=10, field="embedding")
            hits += len(set(found) & set(exact_neighbours(stored, query, metric)))
        assert hits / 200 >= 0.9


def assert_equal_but_cosine_drift(stored: list[dict[str, Any]], restored: dict[str, dict[str, Any]]) -> None:
    assert len(restored) == len(stored)
    for document in stored:
        there = restored[document["_id"]]
        assert {k: v for k, v in there.items() if k != "$vectors"} == {k: v for k, v in document.items() if k != "$vectors"}
        apart = ulps_apart(document["$vectors"], there["$vectors"])
        assert apart is not None and apart <= 2


def test_the_restore_job_validates_a_euclidean_collection(chroma: ChromaSource, chroma_client: Any,
                                                          tmp_path: Path) -> None:
    make_collections(chroma_client)
    store = LocalStore(tmp_path / "store")
    dump_snapshot(chroma, store, "20260401T000000Z-job", DumpOptions(collections=["legacy-l2", "config_ip"]))
    summary = restore_snapshot(store, "20260401T000000Z-job", chroma, RestoreOptions(target_prefix="copy-"))
    assert summary["ok"]
    for result in summary["collections"].values():
        assert result["documents_restored"] == COUNT and result["digest_restored"] == result["digest_expected"]
        assert result["recall_by_field"]["embedding"] >= 0.9


def test_the_restore_job_validates_a_cosine_collection_within_the_ulps_chroma_moves(
        chroma: ChromaSource, chroma_client: Any, tmp_path: Path) -> None:
    """Chroma renormalizes cosine vectors on every write: exact but for their floats, which stay within 4 ulps."""
    make_collections(chroma_client)
    store = LocalStore(tmp_path / "store")
    dump_snapshot(chroma, store, "20260401T000000Z-cos", DumpOptions(collections=["cosine_default"]))
    summary = restore_snapshot(store, "20260401T000000Z-cos", chroma, RestoreOptions(target_prefix="copy-"))
    result = summary["collections"]["cosine_default"]
    assert summary["ok"] and (result["documents_restored"], result["failures"]) == (COUNT, [])
    assert result["digest_scope"].startswith("shape") and 0 < result["most_ulps_apart"] <= result["tolerance_ulps"] == 4
    assert result["digest_restored"] == result["digest_expected"] and result["recall_by_field"]["embedding"] >= 0.9


def test_without_the_tolerance_the_cosine_restore_fails_on_its_digest(chroma: ChromaSource, chroma_client: Any,
                                                                      tmp_path: Path, monkeypatch) -> None:
    make_collections(chroma_client)
    store = LocalStore(tmp_path / "store")
    dump_snapshot(chroma, store, "20260401T000000Z-tol", DumpOptions(collections=["cosine_default"]))
    monkeypatch.setattr(ChromaSource, "restore_tolerance", lambda self, definition: 0)
    with pytest.raises(RestoreNotValidated) as raised:
        restore_snapshot(store, "20260401T000000Z-tol", chroma, RestoreOptions(target_prefix="copy-"))
    result = raised.value.report["collections"]["cosine_default"]
    assert result["digest_restored"] != result["digest_expected"] and "most_ulps_apart" not in result


def test_embeddings_are_stored_bit_for_bit(chroma: ChromaSource, chroma_client: Any) -> None:
    """Chroma answers float64 arrays of float32 values: the stored float32 bits are exactly what was written."""
    vectors = np.random.default_rng(3).standard_normal((50, DIMENSION)).astype(np.float32)
    for space in ("l2", "ip"):
        collection = chroma_client.create_collection(f"bits-{space}", embedding_function=None,
                                                     metadata={"hnsw:space": space})
        collection.add(ids=[str(i) for i in range(50)], embeddings=vectors)
        for document in read_all(chroma, f"bits-{space}"):
            raw = vector_fields.values_of(document["$vectors"]["embedding"])
            assert np.asarray(raw, dtype=np.float32).tobytes() == vectors[int(document["_id"])].tobytes()


def test_quirk_cosine_space_moves_vectors_a_few_ulps(chroma: ChromaSource, chroma_client: Any) -> None:
    """Chroma renormalizes cosine vectors: they read back up to 2 ulps off, so a re-run counts them as present."""
    vectors = np.random.default_rng(5).standard_normal((100, DIMENSION)).astype(np.float32)
    collection = chroma_client.create_collection("cosine", embedding_function=None, metadata={"hnsw:space": "cosine"})
    collection.add(ids=[str(i) for i in range(100)], embeddings=vectors)
    read = read_all(chroma, "cosine")
    wanted = [{"_id": str(i), "$vectors": {"embedding": vector_fields.dense(vectors[i].tolist())}} for i in range(100)]
    drift = [ulps_apart(wanted[int(d["_id"])]["$vectors"], d["$vectors"]) for d in read]
    assert None not in drift and 0 < max(drift) <= 2
    again = chroma.insert_documents("cosine", wanted, chunk_size=30)
    assert (again.inserted, again.already_present, again.failures) == (0, 100, [])


def test_quirk_add_keeps_the_old_record_so_a_different_one_is_a_failure_never_merged(
        chroma: ChromaSource, chroma_client: Any) -> None:
    collection = chroma_client.create_collection("clash", embedding_function=None)
    collection.add(ids=["a"], embeddings=[[1.0, 2.0]], metadatas=[{"x": 1, "keep": "old"}], documents=["old"])
    collection.add(ids=["a"], embeddings=[[3.0, 4.0]], metadatas=[{"x": 2}], documents=["new"])  # silently ignored
    assert collection.get(ids=["a"])["documents"] == ["old"]
    before = read_all(chroma, "clash")
    different = {"_id": "a", "$vectors": {"embedding": vector_fields.dense([1.0, 2.0])}, "payload": {"x": 2}}
    same = before[0]
    report = chroma.insert_documents("clash", [different])
    assert report.inserted == 0 and [(f.id, f.error_code) for f in report.failures] == [("a", "DIFFERENT_DOCUMENT_EXISTS")]
    assert chroma.insert_documents("clash", [same]).already_present == 1
    assert read_all(chroma, "clash") == before, "neither replaced nor merged"


@pytest.mark.parametrize(("payload", "code", "words"), [
    ({"big": 2**63}, "METADATA_CHANGED", "beyond int64"),
    ({"list": [1, 2**64]}, "METADATA_CHANGED", "beyond int64"),
    ({"nan": {"$backupType": "float", "value": "nan"}}, "METADATA_CHANGED", "drops the key"),
    ({"inf": {"$backupType": "float", "value": "-inf"}}, "METADATA_CHANGED", "drops the key"),
    ({"zero": -0.0}, "METADATA_CHANGED", "0.0"),
    ({"gone": None}, "METADATA_VALUE", "None"),
    ({}, "METADATA_CHANGED", "none"),
    ({"chroma:uri": "s3://x"}, "METADATA_KEY", "uri"),
    ({"$dollar": 1}, "METADATA_KEY", "starting with"),
    ({"mixed": [1, "a"]}, "METADATA_VALUE", "one type"),
    ({"empty": []}, "METADATA_VALUE", "non-empty"),
    ({"nested": {"a": 1}}, "METADATA_VALUE", "dict"),
])
def test_what_chroma_would_change_or_refuse_is_a_clear_failure_and_nothing_is_written(
        chroma: ChromaSource, payload: dict[str, Any], code: str, words: str) -> None:
    chroma.create_collection("refused", new_definition(2, "euclidean"))
    document = {"_id": "x", "$vectors": {"embedding": vector_fields.dense([1.0, 2.0])}, "payload": payload}
    fine = {"_id": "y", "$vectors": {"embedding": vector_fields.dense([1.0, 2.0])}, "payload": {"ok": 1}}
    report = chroma.insert_documents("refused", [document, fine])
    assert report.inserted == 1 and len(report.failures) == 1
    failure = report.failures[0]
    assert (failure.id, failure.error_code) == ("x", code) and words in failure.message
    assert [d["_id"] for d in read_all(chroma, "refused")] == ["y"]


def test_quirk_chroma_itself_turns_big_ints_into_floats_and_drops_nan_keys(chroma: ChromaSource,
                                                                           chroma_client: Any) -> None:
    """Why the insert refuses those: Chroma would change them silently. The dump reads what Chroma kept."""
    collection = chroma_client.create_collection("lossy", embedding_function=None)
    collection.add(ids=["a"], embeddings=[[1.0, 2.0]], metadatas=[{"big": 2**63, "nan": float("nan"), "k": 1}])
    assert read_all(chroma, "lossy")[0]["payload"] == {"big": float(2**63), "k": 1}


def test_quirk_chroma_moves_some_float_metadata_by_an_ulp(chroma: ChromaSource, chroma_client: Any) -> None:
    """Chroma 1.5.9 stores about one arbitrary float64 in ten one ulp off: the dump keeps what Chroma answers,
    a restore's digest check shows the difference, and writing the same records again counts them present."""
    import random

    rng = random.Random(9)
    values = [rng.random() * 10.0 ** rng.randint(-300, 300) for _ in range(300)]
    collection = chroma_client.create_collection("floats", embedding_function=None)
    collection.add(ids=[str(i) for i in range(300)], embeddings=[[1.0, 0.0]] * 300,
                   metadatas=[{"f": v} for v in values])
    read = read_all(chroma, "floats")
    moved = [d for d in read if d["payload"]["f"] != values[int(d["_id"])]]
    assert moved and all(ulps_apart(d["payload"]["f"], values[int(d["_id"])]) == 1 for d in moved)
    again = chroma.insert_documents("floats", [{"_id": str(i), "$vectors": {"embedding": vector_fields.dense([1.0, 0.0])},
                                                "payload": {"f": v}} for i, v in enumerate(values)], chunk_size=100)
    assert (again.inserted, again.already_present, again.failures) == (0, 300, [])


def test_records_without_metadata_document_or_uri_read_and_restore_as_none(chroma: ChromaSource,
                                                                            chroma_client: Any) -> None:
    collection = chroma_client.create_collection("bare", embedding_function=None)
    collection.add(ids=["plain", "uri-only"], embeddings=[[1.0, 0.0], [0.0, 1.0]], uris=[None, "file:///x"])
    read = sorted(read_all(chroma, "bare"), key=lambda d: d["_id"])
    assert [set(d) for d in read] == [{"_id", "$vectors"}, {"_id", "$vectors", "uri"}]
    chroma.create_collection("bare-copy", chroma.collection_definition("bare"))
    assert chroma.insert_documents("bare-copy", read).inserted == 2
    back = chroma_client.get_collection("bare-copy", embedding_function=None).get(ids=["plain"],
                                                                                  include=["metadatas", "documents"])
    assert back["metadatas"] == [None] and back["documents"] == [None]


@pytest.mark.parametrize("name", ["ab", "-abc", "abc-", "a..b", "192.168.0.1", "sp ace", "x" * 513])
def test_names_chroma_forbids_are_refused_up_front(chroma: ChromaSource, name: str) -> None:
    with pytest.raises(UnsupportedDefinition, match="nothing was created"):
        chroma.create_collection(name, new_definition(4))


@pytest.mark.parametrize(("change", "item"), [
    (lambda d: d.update(engine="qdrant"), "engine"),
    (lambda d: d["native"]["configuration"].update(embedding_function={"type": "known", "name": "openai",
                                                                       "config": {}}), "embedding_function"),
    (lambda d: d["native"].update(indexes={"*": {"string": {"fts_index": True}}}), "native.indexes"),
    (lambda d: d["vectors"]["embedding"].update(dtype="float16"), "vectors"),
    (lambda d: d["native"].update(metadata={"topics": ["a", "b"]}), "native.metadata"),  # Chroma would panic
])
def test_definitions_chroma_cannot_recreate_are_refused_naming_the_item(chroma: ChromaSource, change: Any,
                                                                         item: str) -> None:
    definition = new_definition(4)
    change(definition)
    with pytest.raises(UnsupportedDefinition, match=f"'target'.*{item}"):
        chroma.create_collection("target", definition)
    assert chroma.collection_definition("target") is None


def test_a_collection_deleted_mid_scan_fails_the_dump_naming_it(chroma: ChromaSource, chroma_client: Any,
                                                                tmp_path: Path) -> None:
    chroma_client.create_collection("doomed", embedding_function=None).add(**records(COUNT, 4))
    store = LocalStore(tmp_path / "store")

    def delete_after_first_page(progress: Any) -> None:
        if progress.documents and chroma.collection_definition("doomed") is not None:
            chroma_client.delete_collection("doomed")

    outcome = dump_snapshot(chroma, store, "20260401T000000Z-fault", on_progress=delete_after_first_page)
    assert outcome.manifest.status != "complete"
    error = outcome.failures["doomed"]
    assert isinstance(error, ScanFailed) and "'doomed'" in str(error) and "run the dump again" in str(error)


def test_a_collection_written_to_mid_scan_fails_rather_than_miss_records(chroma: ChromaSource,
                                                                        chroma_client: Any) -> None:
    collection = chroma_client.create_collection("busy", embedding_function=None)
    collection.add(**records(COUNT, 4))
    pages = chroma.scan("busy", {}).pages()
    next(pages)
    collection.delete(ids=collection.get(limit=3)["ids"])
    with pytest.raises(ScanFailed, match="changed while it was read"):
        list(pages)


def test_the_token_never_shows(tmp_path: Path) -> None:
    canary = "canary-token-5f1e2d"
    settings = ConnectionSettings("chroma_http", conn_type="chroma", host="127.0.0.1", port=9, password=canary)
    source = open_source(settings)
    assert isinstance(source, ChromaSource)
    assert canary not in repr(source) and canary not in json.dumps(source.describe_source())
    with pytest.raises(Exception) as raised:
        source.list_collections()
    assert canary not in str(raised.value) and canary not in repr(raised.value)


def test_connection_settings_pick_the_client_and_namespace(chroma_path: Path) -> None:
    source = ChromaSource.from_connection(settings_for(chroma_path, tenant="t1", database="db1"))
    assert source.namespace == "t1/db1" and source.describe_source()["where"] == str(chroma_path)
    assert source.describe_source()["client"] == "persistent"
    remote = ChromaSource.from_connection(ConnectionSettings("c", conn_type="chroma", host="chroma.internal",
                                                             port=8443, extra={"ssl": "true"}))
    assert remote.where == "https://chroma.internal:8443" and remote.namespace == "default_tenant/default_database"


def test_a_dropped_collections_list_metadata_does_not_reappear_in_a_later_one(chroma: ChromaSource,
                                                                              chroma_client: Any) -> None:
    """Chroma 1.5 keeps a deleted collection's list-valued metadata; our drop deletes the records first."""
    old = chroma_client.create_collection("old_one", embedding_function=None)
    old.add(ids=["a"], embeddings=[[1.0, 2.0]], metadatas=[{"n": 1, "tags": ["stale"]}])
    chroma.drop_collection("old_one")
    new = chroma_client.create_collection("new_one", embedding_function=None)
    new.add(ids=["b"], embeddings=[[1.0, 2.0]], metadatas=[{"n": 2}])
    assert new.get(include=["metadatas"])["metadatas"] == [{"n": 2}]
