"""The writer's layout, rolling, atomic states and manifest, as docs/format.md specifies them."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from airflow_provider_vectorbackup.check import verify
from airflow_provider_vectorbackup.snapshot import (
    SnapshotError, SnapshotStateError, SnapshotWriter, UnsupportedTypeError, VectorLossError, describe_source,
    list_snapshots, open_snapshot,
)
from airflow_provider_vectorbackup.snapshot.layout import SnapshotState
from tests.snapshot.conftest import VECTOR_DEFINITION, sample_documents

SOURCE = describe_source("astra", "https://db.example", "ks")


def test_layout_matches_the_specification(write_snapshot) -> None:
    result = write_snapshot()
    root = result.path
    assert root.name == result.snapshot_id and result.status == "complete"
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files[0] == "collections/docs/definition.json"
    assert files[-1] == "manifest.json"
    segments = files[1:-1]
    assert len(segments) > 1, "300 documents at a 20 kB limit must roll over"
    assert segments == [f"collections/docs/part-{i:05d}.jsonl.gz" for i in range(len(segments))]
    assert json.loads((root / "collections/docs/definition.json").read_text()) == VECTOR_DEFINITION


def test_segments_roll_over_at_the_uncompressed_size_limit(write_snapshot) -> None:
    result = write_snapshot(segment_max_bytes=10_000)
    entry = result.manifest.collection("docs")
    assert sum(s.documents for s in entry.segments) == entry.document_count == 300
    for segment in entry.segments:
        raw = gzip.decompress((result.path / segment.path).read_bytes())
        assert len(raw) == segment.uncompressed_bytes <= 10_000
        assert raw.count(b"\n") == segment.documents


def test_documents_are_stored_as_the_source_returned_them(write_snapshot) -> None:
    docs = sample_documents(50)
    result = write_snapshot({"docs": (VECTOR_DEFINITION, docs)}, compression="none")
    lines = []
    for segment in result.manifest.collection("docs").segments:
        assert segment.path.endswith(".jsonl")
        lines += (result.path / segment.path).read_bytes().splitlines()
    assert [json.loads(line) for line in lines] == docs
    assert "ünïcødé".encode() in lines[0], "non-ASCII is written as UTF-8, not escaped"


def test_manifest_records_counts_vectors_versions_and_source(write_snapshot) -> None:
    definition = {"vector": {"dimension": 8, "metric": "dot_product", "sourceModel": "openai-v3-small",
                             "service": {"provider": "openai", "modelName": "text-embedding-3-small"}}}
    result = write_snapshot({"docs": (definition, sample_documents(40))})
    manifest = json.loads((result.path / "manifest.json").read_bytes())
    assert manifest["format"] == "vectorbackup-snapshot" and manifest["format_version"] == 1
    assert manifest["status"] == "complete" and manifest["duration_seconds"] >= 0
    assert manifest["started_at"] <= manifest["finished_at"]
    assert {"python", "airflow-provider-vectorbackup", "astrapy", "apache-airflow"} <= set(manifest["software"])
    assert manifest["source"] == {"kind": "astra", "endpoint": "https://db.example", "keyspace": "ks"}
    (collection,) = manifest["collections"]
    assert collection["document_count"] == 40
    assert collection["vectors"] == {"documents_with_vector": 40, "documents_with_vectorize": 0,
                                     "dimensions": {"8": 40}, "encodings": {"array": 20, "binary": 20}, "fields": {}}
    assert collection["embedding"] == {"dimension": 8, "metric": "dot_product", "source_model": "openai-v3-small",
                                       "provider": "openai", "model_name": "text-embedding-3-small"}
    assert collection["definition"] == definition
    assert len(collection["content_digest"]) == 64 and collection["digest_algorithm"] == "sha256-sum/v1"
    for entry in [collection["definition_file"], *collection["segments"]]:
        stored = (result.path / entry["path"]).read_bytes()
        assert entry["bytes"] == len(stored)
        assert entry["sha256"] == hashlib.sha256(stored).hexdigest() and entry["sha1"] == hashlib.sha1(stored).hexdigest()
    manifest_bytes = (result.path / "manifest.json").read_bytes()
    assert result.manifest_sha256 == hashlib.sha256(manifest_bytes).hexdigest()
    assert result.manifest_sha1 == hashlib.sha1(manifest_bytes).hexdigest()


def test_endpoint_credentials_never_reach_the_manifest(tmp_path: Path) -> None:
    canary = "AstraCS:CANARY-secret-0123456789"
    source = describe_source("astra", f"https://user:{canary}@db.example:8443/api/json?token={canary}#{canary}", "ks")
    with SnapshotWriter(tmp_path, source=source) as writer:
        with writer.collection("docs", VECTOR_DEFINITION) as collection:
            collection.write_many(sample_documents(3))
    raw = (writer.result.path / "manifest.json").read_text()
    assert canary not in raw and "CANARY" not in raw
    assert writer.result.manifest.source["endpoint"] == "https://db.example:8443"


def test_on_file_complete_sees_every_finished_file_with_its_checksum(tmp_path: Path) -> None:
    seen = []

    def uploaded(entry, local: Path) -> None:
        import hashlib
        assert hashlib.sha256(local.read_bytes()).hexdigest() == entry.sha256
        seen.append(entry.path)

    with SnapshotWriter(tmp_path, source=SOURCE, segment_max_bytes=5_000, on_file_complete=uploaded) as writer:
        with writer.collection("docs", VECTOR_DEFINITION) as collection:
            collection.write_many(sample_documents(100))
    assert seen == [entry.path for entry in writer.result.manifest.files]


def test_a_failed_collection_makes_the_snapshot_incomplete_but_keeps_the_others(tmp_path: Path) -> None:
    with SnapshotWriter(tmp_path, source=SOURCE, segment_max_bytes=5_000) as writer:
        with writer.collection("good", VECTOR_DEFINITION) as collection:
            collection.write_many(sample_documents(30))
        with pytest.raises(ConnectionError):
            with writer.collection("broken", VECTOR_DEFINITION) as collection:
                collection.write_many(sample_documents(80))
                raise ConnectionError("network fault mid-scan")
    result = writer.result
    assert result.status == "incomplete" and result.path.name == f"{result.snapshot_id}.INCOMPLETE"
    broken = result.manifest.collection("broken")
    assert broken.status == "failed" and "ConnectionError: network fault mid-scan" in broken.error
    assert result.manifest.collection("good").status == "complete"
    with pytest.raises(SnapshotStateError, match="INCOMPLETE.*broken.*allow_incomplete"):
        open_snapshot(result.path)
    readable = open_snapshot(result.path, allow_incomplete=True)
    assert len(list(readable.documents("good"))) == 30
    with pytest.raises(SnapshotStateError, match="failed"):
        list(readable.documents("broken"))
    # Finished segments of the failed collection stay listed and intact; the half-written one is gone.
    assert verify(result.path, "records", allow_incomplete=True).ok


def test_an_error_outside_any_collection_seals_the_snapshot_incomplete(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with SnapshotWriter(tmp_path, source=SOURCE) as writer:
            raise RuntimeError("source unreachable")
    assert writer.result.status == "incomplete"
    assert writer.result.manifest.error == "RuntimeError: source unreachable"
    assert [ref.state for ref in list_snapshots(tmp_path)] == [SnapshotState.INCOMPLETE]


def test_a_retried_collection_is_rewritten_from_scratch(tmp_path: Path) -> None:
    docs = sample_documents(120)
    with SnapshotWriter(tmp_path, source=SOURCE, segment_max_bytes=5_000) as writer:
        with pytest.raises(TimeoutError):
            with writer.collection("docs", VECTOR_DEFINITION) as collection:
                collection.write_many(docs[:90])
                raise TimeoutError("page timed out")
        with writer.collection("docs", VECTOR_DEFINITION) as collection:
            collection.write_many(docs)
    result = writer.result
    assert result.status == "complete"
    assert result.manifest.collection("docs").document_count == 120
    assert [d["_id"] for d in open_snapshot(result.path).documents("docs")] == [d["_id"] for d in docs]
    assert verify(result.path, "records").ok, "no file of the failed attempt may remain"


def test_an_unknown_type_fails_the_collection_loudly(tmp_path: Path) -> None:
    with SnapshotWriter(tmp_path, source=SOURCE) as writer:
        with pytest.raises(UnsupportedTypeError, match=r"document\.meta\.when.*'builtins.object'"):
            with writer.collection("docs", VECTOR_DEFINITION) as collection:
                collection.write({"_id": "1", "$vector": [0.0] * 8, "meta": {"when": object()}})
    assert writer.result.status == "incomplete"
    assert "UnsupportedTypeError" in writer.result.manifest.collection("docs").error


def test_strings_that_are_not_valid_unicode_are_refused(tmp_path: Path) -> None:
    with SnapshotWriter(tmp_path, source=SOURCE) as writer:
        with pytest.raises(SnapshotError, match="'bad'.*lone surrogate"):
            with writer.collection("docs", {}) as collection:
                collection.write({"_id": "bad", "text": "broken \ud800 text"})


def test_documents_without_id_are_refused(tmp_path: Path) -> None:
    with SnapshotWriter(tmp_path, source=SOURCE) as writer:
        with pytest.raises(SnapshotError, match="_id"):
            with writer.collection("docs", {}) as collection:
                collection.write({"title": "no id"})


def test_vector_loss_fails_the_collection_and_never_looks_complete(tmp_path: Path) -> None:
    docs = [{k: v for k, v in d.items() if k != "$vector"} for d in sample_documents(25)]
    with SnapshotWriter(tmp_path, source=SOURCE) as writer:
        with pytest.raises(VectorLossError, match="none of the 25"):
            with writer.collection("docs", VECTOR_DEFINITION) as collection:
                collection.write_many(docs)
    assert writer.result.status == "incomplete"
    assert writer.result.manifest.collection("docs").error.startswith("VectorLossError")
    assert not (tmp_path / writer.result.snapshot_id).exists()


def test_a_vectorize_collection_without_vectors_completes_with_a_recorded_warning(tmp_path: Path) -> None:
    definition = {"vector": {"dimension": 8, "metric": "cosine", "service": {"provider": "nvidia", "modelName": "nv-embed"}}}
    docs = [{"_id": str(i), "$vectorize": f"text {i}"} for i in range(5)]
    with SnapshotWriter(tmp_path, source=SOURCE) as writer:
        with writer.collection("docs", definition) as collection:
            collection.write_many(docs)
    entry = writer.result.manifest.collection("docs")
    assert writer.result.status == "complete" and entry.vectors.documents_with_vectorize == 5
    assert len(entry.warnings) == 1 and "regenerate" in entry.warnings[0]


def test_empty_collections_have_no_segments(write_snapshot) -> None:
    result = write_snapshot({"empty": ({}, [])})
    entry = result.manifest.collection("empty")
    assert entry.status == "complete" and entry.segments == [] and entry.document_count == 0
    assert verify(result.path, "records").ok


def test_an_existing_snapshot_id_is_never_overwritten(tmp_path: Path) -> None:
    with SnapshotWriter(tmp_path, source=SOURCE, snapshot_id="20260101T000000Z"):
        pass
    with pytest.raises(SnapshotError, match="already exists"):
        SnapshotWriter(tmp_path, source=SOURCE, snapshot_id="20260101T000000Z").open()


def test_a_collection_cannot_be_written_twice(tmp_path: Path) -> None:
    with SnapshotWriter(tmp_path, source=SOURCE) as writer:
        with writer.collection("docs", {}) as collection:
            collection.write({"_id": 1})
        with pytest.raises(SnapshotError, match="already in snapshot"):
            writer.collection("docs", {})


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "", "x" * 256, "a..b", "-dash"])
def test_unsafe_collection_names_are_refused(tmp_path: Path, name: str) -> None:
    with SnapshotWriter(tmp_path, source=SOURCE) as writer:
        with pytest.raises(ValueError, match="cannot be stored"):
            writer.collection(name, {})


def test_a_collection_whose_definition_cannot_be_stored_is_failed_not_forgotten(tmp_path: Path) -> None:
    def refuse_definitions(entry, local: Path) -> None:
        if entry.path.endswith("definition.json") and "/second/" in f"/{entry.path}":
            raise ConnectionError("upload failed")

    with SnapshotWriter(tmp_path, source=SOURCE, on_file_complete=refuse_definitions) as writer:
        with writer.collection("first", VECTOR_DEFINITION) as collection:
            collection.write_many(sample_documents(5))
        with pytest.raises(ConnectionError):
            writer.collection("second", VECTOR_DEFINITION)
    result = writer.result
    assert result.status == "incomplete", "a snapshot missing a collection must never look complete"
    assert result.manifest.collection("second").status == "failed"
    assert result.manifest.collection("second").definition_file is None
    assert verify(result.path, "records", allow_incomplete=True).ok


def test_a_segment_that_could_not_be_stored_is_not_listed(tmp_path: Path) -> None:
    stored = []

    def refuse_second_segment(entry, local: Path) -> None:
        if entry.path.endswith("part-00001.jsonl.gz"):
            raise ConnectionError("upload failed")
        stored.append(entry.path)

    with SnapshotWriter(tmp_path, source=SOURCE, segment_max_bytes=5_000,
                        on_file_complete=refuse_second_segment) as writer:
        with pytest.raises(ConnectionError):
            with writer.collection("docs", VECTOR_DEFINITION) as collection:
                collection.write_many(sample_documents(200))
    entry = writer.result.manifest.collection("docs")
    assert [s.path for s in entry.segments] == ["collections/docs/part-00000.jsonl.gz"]
    assert entry.document_count == entry.segments[0].documents
    assert verify(writer.result.path, "records", allow_incomplete=True).ok


@pytest.mark.parametrize("vector", [[], {"$binary": ""}, {"$binary": "################"}, "0.1,0.2"])
def test_empty_or_junk_vectors_trip_the_guard(tmp_path: Path, vector) -> None:
    with SnapshotWriter(tmp_path, source=SOURCE) as writer:
        with pytest.raises(VectorLossError, match="neither an array"):
            with writer.collection("docs", {"vector": {"dimension": 3}}) as collection:
                collection.write({"_id": 1, "$vector": vector})
