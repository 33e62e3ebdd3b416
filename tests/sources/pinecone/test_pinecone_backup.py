"""A Pinecone project through the dump and restore jobs: namespaces chosen as collections, a pod index refused."""

from __future__ import annotations

import random
from typing import Any

from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot
from airflow_provider_vectorbackup.snapshot import vector_fields
from airflow_provider_vectorbackup.sources.pinecone.client import PineconeSource
from airflow_provider_vectorbackup.sources.pinecone.definition import new_definition
from airflow_provider_vectorbackup.stores.local import LocalStore
from airflow_provider_vectorbackup.testing.pinecone import PineconeStandIn
from tests.sources.test_conformance import digest_of

POD = {"deployment_type": "pod", "environment": "us-east1-gcp", "pod_type": "p1.x1", "replicas": 1, "shards": 1}


def _records(prefix: str, count: int, rng: random.Random) -> list[dict[str, Any]]:
    documents = []
    for i in range(count):
        vectors = {"values": vector_fields.dense([rng.uniform(-1, 1) for _ in range(6)])}
        if i % 2:
            indices = sorted(rng.sample(range(50_000), 3))
            vectors["sparse_values"] = vector_fields.sparse(indices, [rng.uniform(0.1, 1) for _ in indices])
        documents.append({"_id": f"{prefix}-{i:03d}", "$vectors": vectors,
                          "payload": {"lang": prefix, "rank": float(i), "tags": ["x", prefix], "new": i % 3 == 0}})
    return documents


def test_chosen_namespaces_dump_and_restore_into_another_index(pinecone: PineconeSource,
                                                              pinecone_stand_in: PineconeStandIn, tmp_path) -> None:
    rng = random.Random(8)
    definition = new_definition(6, "dot_product", sparse=True)
    data = {"shop": _records("default", 12, rng), "shop.en": _records("en", 40, rng),
            "shop.fr-ca": _records("fr", 9, rng)}
    for name, documents in data.items():
        pinecone.create_collection(name, definition)
        assert pinecone.insert_documents(name, documents).ok
    pinecone_stand_in.create_index("legacy", dimension=6, deployment=POD)
    store = LocalStore(tmp_path / "store")

    everything = dump_snapshot(pinecone, store, "20260101T000000Z-all", DumpOptions())
    assert everything.manifest.status != "complete"
    assert "legacy" in str(everything.failures) and "pod-based index" in str(everything.failures)

    outcome = dump_snapshot(pinecone, store, "20260101T000000Z-shop",
                            DumpOptions(collections=["shop", "shop.en", "shop.fr-ca"]))
    assert outcome.manifest.status == "complete", outcome.failures
    for name, documents in data.items():
        entry = outcome.manifest.collection(name)
        assert (entry.document_count, entry.content_digest) == (len(documents), digest_of(
            sorted(documents, key=lambda d: d["_id"])))

    report = restore_snapshot(store, "20260101T000000Z-shop", pinecone,
                              RestoreOptions(collections=["shop.en"], name_mapping={"shop.en": "copy.en"},
                                             chunk_size=16))
    assert report["ok"], report
    (result,) = report["collections"].values()
    assert (result["inserted"], result["documents_restored"]) == (40, 40)
    assert result["digest_restored"] == outcome.manifest.collection("shop.en").content_digest
    assert result["recall_by_field"] == {"values": 1.0, "sparse_values": 1.0}
    assert {info.name for info in pinecone.list_collections() if info.name.startswith("copy")} == {"copy", "copy.en"}
    assert pinecone.count_documents("copy").count == 0, "only the chosen namespace was restored"
    assert pinecone.collection_definition("copy.en") == definition
