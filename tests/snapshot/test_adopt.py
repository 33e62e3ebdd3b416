"""SnapshotWriter.adopt and backdate: sealing one manifest from collections that other writers wrote."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import pytest
from pyrage import x25519

from airflow_provider_vectorbackup.check import verify
from airflow_provider_vectorbackup.snapshot import AgeEncryption, SnapshotError, SnapshotWriter, describe_source
from tests.snapshot.conftest import VECTOR_DEFINITION, sample_documents

SOURCE = describe_source("astra", "https://db.example.com", "ks")
SID = "20260301T120000Z"


def worker_entry(tmp_path: Path, name: str, **options):
    """A collection written by a writer of its own, as on another worker; its files end up in ``shared``."""
    shared = tmp_path / "shared"

    def put(entry, local: Path) -> None:
        target = shared / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(local, target)

    writer = SnapshotWriter(tmp_path / f"worker-{name}", source=SOURCE, snapshot_id=SID, segment_max_bytes=5_000,
                            on_file_complete=put, **options).open()
    with writer.collection(name, VECTOR_DEFINITION) as collection:
        collection.write_many(sample_documents(60))
    writer.close_unsealed()
    return writer.recorded(name), shared


def test_adopted_collections_seal_a_snapshot_that_verifies(tmp_path: Path) -> None:
    docs, shared = worker_entry(tmp_path, "docs")
    more, _ = worker_entry(tmp_path, "more")
    assert len(docs.segments) > 1
    commit = SnapshotWriter(tmp_path / "commit", source=SOURCE, snapshot_id=SID, segment_max_bytes=5_000).open()
    started = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
    commit.backdate(started)
    commit.adopt(docs)
    commit.adopt(more)
    result = commit.finish()
    assert result.status == "complete" and [c.name for c in result.manifest.collections] == ["docs", "more"]
    assert result.manifest.started_at == "2026-03-01T12:00:00.000+00:00"
    assert result.manifest.duration_seconds >= (dt.datetime.now(dt.timezone.utc) - started).total_seconds() - 5
    shutil.move(result.path / "manifest.json", shared / "manifest.json")
    assert verify(shared, "records").ok  # the shared folder now reads as one snapshot


def test_adopt_refuses_entries_this_writer_would_not_have_written(tmp_path: Path) -> None:
    docs, _ = worker_entry(tmp_path, "docs")
    commit = SnapshotWriter(tmp_path / "commit", source=SOURCE, snapshot_id=SID)
    with pytest.raises(SnapshotError, match="open snapshot writer"):
        commit.adopt(docs)
    commit.open()
    with pytest.raises(SnapshotError, match="compression 'gzip', not encrypted"):
        commit.adopt(dataclasses.replace(docs, segments=docs.segments[1:]))  # a gap in the segment numbers
    with pytest.raises(SnapshotError, match="writes"):
        SnapshotWriter(tmp_path / "plain", source=SOURCE, snapshot_id=SID, compression="none").open().adopt(docs)
    encrypted = AgeEncryption.from_recipients([str(x25519.Identity.generate().to_public())])
    with pytest.raises(SnapshotError, match="encrypted"):
        SnapshotWriter(tmp_path / "enc", source=SOURCE, snapshot_id=SID, encryption=encrypted).open().adopt(docs)
    with pytest.raises(SnapshotError, match="document_count"):
        commit.adopt(dataclasses.replace(docs, document_count=docs.document_count + 1))
    with pytest.raises(SnapshotError, match="digested with"):
        commit.adopt(dataclasses.replace(docs, digest_algorithm="md5-sum/v0"))
    with pytest.raises(SnapshotError, match="no definition file"):
        commit.adopt(dataclasses.replace(docs, definition_file=None, segments=[], document_count=0))
    with pytest.raises(ValueError, match="cannot be stored"):
        commit.adopt(dataclasses.replace(docs, name="../escape"))
    commit.adopt(docs)
    with pytest.raises(SnapshotError, match="already in snapshot"):
        commit.adopt(docs)
    assert commit.finish().status == "complete"
    with pytest.raises(SnapshotError, match="before it is sealed"):
        commit.adopt(docs)


def test_a_failed_entry_with_nothing_stored_makes_the_snapshot_incomplete(tmp_path: Path) -> None:
    docs, _ = worker_entry(tmp_path, "docs")
    failed = dataclasses.replace(docs, status="failed", definition_file=None, segments=[], document_count=0,
                                 error="CollectionNotReported: its dump task reported no result")
    commit = SnapshotWriter(tmp_path / "commit", source=SOURCE, snapshot_id=SID).open()
    commit.adopt(failed)
    result = commit.finish()
    assert result.status == "incomplete" and result.path.name == f"{SID}.INCOMPLETE"
    assert commit.recorded("docs").error.startswith("CollectionNotReported")


def test_a_failed_entry_may_skip_the_segment_whose_upload_failed_but_a_complete_one_may_not(tmp_path: Path) -> None:
    docs, _ = worker_entry(tmp_path, "docs")
    assert len(docs.segments) >= 3
    kept = [docs.segments[0], *docs.segments[2:]]  # part-00001 never reached the store
    failed = dataclasses.replace(docs, status="failed", segments=kept,
                                 document_count=sum(s.documents for s in kept), error="OSError: upload failed")
    commit = SnapshotWriter(tmp_path / "commit", source=SOURCE, snapshot_id=SID).open()
    commit.adopt(failed)
    assert commit.recorded("docs").error == "OSError: upload failed", "the real cause is kept"
    complete = dataclasses.replace(failed, status="complete", error=None)
    with pytest.raises(SnapshotError, match="lists files"):
        SnapshotWriter(tmp_path / "commit2", source=SOURCE, snapshot_id=SID).open().adopt(complete)
    shuffled = dataclasses.replace(failed, segments=list(reversed(kept)))
    with pytest.raises(SnapshotError, match="lists files"):
        SnapshotWriter(tmp_path / "commit3", source=SOURCE, snapshot_id=SID).open().adopt(shuffled)
