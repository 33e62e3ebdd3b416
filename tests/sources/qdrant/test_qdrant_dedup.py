"""A deduplicated snapshot of a real Qdrant collection (local mode): the engine's own stored form, keyed and packed,
restores exactly; a second dump after one point changed stores only that point."""

from __future__ import annotations

from airflow_provider_vectorbackup.check import check_stored
from airflow_provider_vectorbackup.jobs.dump import DumpOptions, dump_snapshot
from airflow_provider_vectorbackup.jobs.restore import RestoreOptions, restore_snapshot
from airflow_provider_vectorbackup.snapshot.guard import VectorLossPolicy
from airflow_provider_vectorbackup.stores.local import LocalStore
from tests.sources.qdrant.test_qdrant_source import tricky_collection

DEDUP = DumpOptions(deduplicate=True, lock_wait=0, segment_max_bytes=8_000,
                    vector_policy=VectorLossPolicy(max_missing_fraction=0.25))  # the tricky points lack some vectors


def test_a_qdrant_collection_dumps_deduplicated_restores_exactly_and_a_change_stores_one_point(
        qdrant_local, tmp_path) -> None:
    tricky_collection(qdrant_local.client)
    source = qdrant_local.source()
    store = LocalStore(tmp_path / "store")
    first = dump_snapshot(source, store, "20261101T000000Z", DEDUP).manifest
    assert first.format_version == 4 and first.status == "complete"
    assert first.collection("tricky").deduplication["new_documents"] == 61

    qdrant_local.client.set_payload("tricky", payload={"i": -1}, points=[1_000_003], wait=True)
    second = dump_snapshot(source, store, "20261102T000000Z", DEDUP).manifest
    record = second.collection("tricky").deduplication
    assert record["parent"] == "20261101T000000Z"
    assert (record["reused_documents"], record["new_documents"]) == (60, 1)
    assert second.collection("tricky").content_digest != first.collection("tricky").content_digest

    for day, manifest in (("20261101T000000Z", first), ("20261102T000000Z", second)):
        assert check_stored(store, store.get(day), "records").ok
        report = restore_snapshot(store, day, source, RestoreOptions(target_prefix=f"r{day[6:8]}_"))
        assert report["ok"], report  # within Qdrant's ulps for its Cosine fields (docs/sources.md)
        restored = report["collections"]["tricky"]
        assert restored["documents_restored"] == manifest.collection("tricky").document_count == 61
