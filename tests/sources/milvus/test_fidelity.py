"""Dump -> restore through the jobs (LocalStore) on Milvus Lite: documents by digest, definitions by Milvus's own
describe calls, rows back in their partitions, and recall@10 of every float vector field against exact search."""

from __future__ import annotations

import math

from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot
from airflow_provider_vectorbackup.snapshot import vector_fields as vf
from airflow_provider_vectorbackup.stores.local import LocalStore
from tests.sources.test_conformance import digest_of
from tests.sources.milvus.dataset import every_type_collection, string_key_collection

IGNORED = {"collection_name", "collection_id", "aliases", "schema_version", "created_timestamp", "update_timestamp"}


def test_every_type_survives_dump_and_restore(lite, milvus_source, tmp_path) -> None:
    every_type_collection(lite, "every")
    string_key_collection(lite, "strings")
    source = milvus_source(page_size=16)
    originals = {name: source.collection_definition(name) for name in ("every", "strings")}
    read = {name: _scanned(source, name) for name in originals}
    store = LocalStore(tmp_path / "store")

    outcome = dump_snapshot(source, store, "20260101T000000Z-milvus", DumpOptions(scan_streams=3))
    assert outcome.manifest.status == "complete", outcome.failures
    for name in originals:
        entry = outcome.manifest.collection(name)
        assert entry.document_count == 120 and entry.content_digest == digest_of(read[name])
        assert entry.scan["reconciliation"] == "count(*) equals the rows read" and entry.scan["mode"] == "pk-ranges"

    report = restore_snapshot(store, "20260101T000000Z-milvus", source,
                              RestoreOptions(target_prefix="back_", chunk_size=25))
    assert report["ok"], report
    recall = {name: (r["recall_by_field"], r["recall_not_measured"]) for name, r in report["collections"].items()}
    assert recall == {"every": ({"v": 1.0, "sp": 1.0}, {}),
                      "strings": ({"near": 1.0, "far": 1.0}, {"bm25": "no metric declared for this sparse field"})}, \
        "BM25 is searched with text, so its field has no metric and no recall"
    for name, definition in originals.items():
        result = report["collections"][name]
        assert (result["inserted"], result["documents_restored"]) == (120, 120)
        assert result["digest_restored"] == result["digest_expected"] == outcome.manifest.collection(name).content_digest
        assert source.collection_definition(f"back_{name}") == definition
        assert _described(lite, f"back_{name}") == _described(lite, name), "Milvus describes the copy alike"

    in_p1 = lite.query("every", filter="id >= -9223372036854775808", output_fields=["id"], partition_names=["p1"])
    back_p1 = lite.query("back_every", filter="id >= -9223372036854775808", output_fields=["id"], partition_names=["p1"])
    assert sorted(r["id"] for r in back_p1) == sorted(r["id"] for r in in_p1) and len(in_p1) == 60

    restored = {d["_id"]: d for d in _scanned(source, "back_strings")}
    for field in ("near", "far"):
        assert _recall_at_10(source, "back_strings", restored, field, definition=originals["strings"]) >= 0.9
    restored = {d["_id"]: d for d in _scanned(source, "back_every")}
    assert _recall_at_10(source, "back_every", restored, "v", definition=originals["every"]) >= 0.9


def _scanned(source, name):
    scan = source.scan(name, source.collection_definition(name), streams=3)
    return [document for page in scan.pages() for document in page]


def _described(client, name):
    description = {k: v for k, v in client.describe_collection(name).items() if k not in IGNORED}
    indexes = {i: {k: v for k, v in client.describe_index(name, i).items() if k not in ("total_rows", "indexed_rows")}
               for i in client.list_indexes(name)}
    return repr(description), indexes, client.list_partitions(name)


def _recall_at_10(source, name, documents, field, *, definition) -> float:
    metric = definition["vectors"][field]["metric"]
    queries = list(documents.values())[::12]
    hits = 0
    for query in queries:
        target = vf.values_of(query["$vectors"][field])
        exact = sorted(documents, key=lambda i: _distance(metric, target, vf.values_of(documents[i]["$vectors"][field])))
        found = source.vector_search(name, query["$vectors"][field], limit=10, field=field)
        hits += len(set(found) & set(exact[:10]))
    return hits / (10 * len(queries))


def _distance(metric, a, b) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    if metric == "euclidean":
        return math.dist(a, b)
    if metric == "cosine":
        return -dot / (math.hypot(*a) * math.hypot(*b))
    return -dot
