"""Reading snapshots: states are respected, documents come back exactly, damage is raised."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.snapshot import (
    IntegrityError, ManifestError, SnapshotState, SnapshotStateError, latest_snapshot, list_snapshots, open_snapshot,
)
from tests.snapshot.conftest import VECTOR_DEFINITION, sample_documents
from tests.snapshot.tamper import edit_manifest, flip_byte, rewrite_segment_consistently, segment_lines

SEGMENT = "collections/docs/part-00001.jsonl.gz"


def test_documents_come_back_in_order_and_identical(write_snapshot) -> None:
    docs = sample_documents(300)
    snapshot = open_snapshot(write_snapshot({"docs": (VECTOR_DEFINITION, docs)}).path)
    assert list(snapshot.documents("docs")) == docs
    assert snapshot.state is SnapshotState.COMPLETE


def test_a_damaged_segment_raises_naming_the_file(write_snapshot) -> None:
    path = write_snapshot().path
    lines = segment_lines(path, SEGMENT)
    (path / SEGMENT).write_bytes((path / SEGMENT).read_bytes()[:-30])
    with pytest.raises(IntegrityError, match=f"{SEGMENT}: truncated or corrupt gzip"):
        list(open_snapshot(path).documents("docs"))
    rewrite_segment_consistently(path, SEGMENT, lines)
    edit_manifest(path, lambda m: m["collections"][0]["segments"][1].update(sha256="0" * 64))
    with pytest.raises(IntegrityError, match=f"{SEGMENT}: SHA-256 is .* the manifest says 0000"):
        list(open_snapshot(path).documents("docs"))


def test_a_bit_flip_is_never_read_as_good_data(write_snapshot) -> None:
    path = write_snapshot().path
    flip_byte(path / SEGMENT, 60)
    with pytest.raises(IntegrityError, match=SEGMENT):
        list(open_snapshot(path).documents("docs"))


def test_in_progress_snapshots_are_always_refused(write_snapshot) -> None:
    path = write_snapshot().path
    hidden = path.parent / f".{path.name}.inprogress"
    shutil.move(path, hidden)
    with pytest.raises(SnapshotStateError, match="never restorable"):
        open_snapshot(hidden, allow_incomplete=True)


def test_a_complete_name_with_an_incomplete_manifest_is_refused(write_snapshot) -> None:
    path = write_snapshot().path
    edit_manifest(path, lambda m: m.update(status="incomplete"))
    with pytest.raises(SnapshotStateError, match="INCOMPLETE"):
        open_snapshot(path)


def test_a_missing_manifest_is_explained(tmp_path: Path) -> None:
    (tmp_path / "20260101T000000Z").mkdir()
    with pytest.raises(ManifestError, match="not a finished snapshot"):
        open_snapshot(tmp_path / "20260101T000000Z")


def test_unknown_collection_lists_the_known_ones(write_snapshot) -> None:
    snapshot = open_snapshot(write_snapshot().path)
    with pytest.raises(KeyError, match="has: docs"):
        list(snapshot.documents("nope"))


def test_listing_finds_every_state_and_latest_skips_unfinished(tmp_path: Path) -> None:
    for name in ["20260101T000000Z", ".20260103T000000Z.inprogress", "20260102T000000Z.INCOMPLETE",
                 "20251231T235959Z-nightly", "not-a-snapshot"]:
        (tmp_path / name).mkdir()
    refs = list_snapshots(tmp_path)
    assert [(r.snapshot_id, r.state.value) for r in refs] == [
        ("20251231T235959Z-nightly", "complete"), ("20260101T000000Z", "complete"),
        ("20260102T000000Z", "incomplete"), ("20260103T000000Z", "inprogress"),
    ]
    assert latest_snapshot(tmp_path).snapshot_id == "20260101T000000Z"
    with pytest.raises(SnapshotStateError, match="no complete snapshot"):
        latest_snapshot(tmp_path / "empty")
