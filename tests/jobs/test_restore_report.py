"""A restore reports its phases and its progress, and its proof still fails when the target differs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.hooks.astra import AstraDBHook
from airflow_provider_vectorbackup.jobs.restore import RestoreNotValidated, RestoreOptions, restore_snapshot
from airflow_provider_vectorbackup.snapshot import SnapshotWriter
from airflow_provider_vectorbackup.snapshot.reader import open_snapshot
from airflow_provider_vectorbackup.snapshot.vectors import floats_to_binary
from airflow_provider_vectorbackup.stores.local import LocalStore

KS = "default_keyspace"
DOCUMENTS = 2_500
SNAPSHOT = "20260701T000000Z"


@pytest.fixture
def snapshot(tmp_path: Path) -> LocalStore:
    rng = random.Random(18)
    with SnapshotWriter(tmp_path, source={"kind": "astra"}, snapshot_id=SNAPSHOT) as writer:
        with writer.collection("articles", {"vector": {"dimension": 8, "metric": "cosine"}}) as collection:
            collection.write_many([{"_id": f"doc-{i:05d}", "title": f"t{i}", "rank": i,
                                    "$vector": {"$binary": floats_to_binary([rng.uniform(-1, 1) for _ in range(8)])}}
                                   for i in range(DOCUMENTS)])
    return LocalStore(tmp_path)


def test_the_report_times_each_phase_and_progress_reaches_the_total(astra_stand_in, astra_connection,
                                                                     snapshot) -> None:
    seen = []
    report = restore_snapshot(snapshot, SNAPSHOT, AstraDBHook().get_conn(), RestoreOptions(target_prefix="r_"),
                              on_progress=lambda p: seen.append((p.documents, p.expected, p.line())))
    result = report["collections"]["articles"]
    assert report["ok"] and result["documents_restored"] == DOCUMENTS
    assert set(report["phases"]) == {"prepare", "write", "validate"}
    assert all(seconds > 0 for seconds in report["phases"].values())
    for phase in ("write", "validate"):  # one collection: its phases are the restore's
        assert report["phases"][phase] == pytest.approx(result["phases"][phase], abs=0.002)
    # the download and verification count once, for the whole restore, beside creating the target
    assert report["phases"]["prepare"] > result["phases"]["prepare"]
    counts = [documents for documents, _, _ in seen]
    assert counts == sorted(counts) and counts[-1] == DOCUMENTS and len(counts) >= DOCUMENTS // 1000
    assert all(expected == DOCUMENTS for _, expected, _ in seen)
    assert any("ETA" in line for documents, _, line in seen if documents < DOCUMENTS)
    assert result["throttled_requests"] == 0 and result["fewest_in_flight"] is None


def test_a_document_changed_in_the_target_after_writing_fails_the_digest(astra_stand_in, astra_connection,
                                                                         snapshot) -> None:
    source = AstraDBHook().get_conn()
    insert = source.insert_documents

    def insert_then_tamper(name, documents, **kwargs):
        report = insert(name, documents, **kwargs)
        with astra_stand_in.store.lock:
            collection = astra_stand_in.store.collection(KS, name)
            entry = next(iter(collection.scan()))
            collection.replace(entry, {**entry.body, "title": "changed after the write"})
        return report

    source.insert_documents = insert_then_tamper
    with pytest.raises(RestoreNotValidated) as raised:
        restore_snapshot(snapshot, SNAPSHOT, source, RestoreOptions(target_prefix="r_"))
    result = raised.value.report["collections"]["articles"]
    assert result["documents_restored"] == DOCUMENTS and result["digest_restored"] != result["digest_expected"]
    manifest = open_snapshot(snapshot.root / SNAPSHOT).manifest
    assert result["digest_expected"] == manifest.collection("articles").content_digest  # the proof's reference


@pytest.mark.parametrize("option", ["chunk_size", "concurrency", "read_streams"])
def test_nonsense_write_and_read_settings_are_refused_before_anything_runs(option: str) -> None:
    with pytest.raises(ValueError, match=f"{option} must be at least 1"):
        RestoreOptions(**{option: 0})
